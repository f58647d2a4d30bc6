// Runs every compiled test file with node's test runner. Usage: node scripts/run-tests.mjs [filter]
// TEST_DATABASE_URL=postgres://… runs the suite against that server (a new database per file).
// Prints `N passed, N failed` last.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

const filter = process.argv[2] ?? '';
const files = [];
for (const pkg of readdirSync('packages')) {
  const dir = join('packages', pkg, 'dist', 'test');
  try {
    statSync(dir);
  } catch {
    continue;
  }
  for (const f of readdirSync(dir, { recursive: true })) {
    const p = join(dir, String(f));
    // `*.pg.test.js` files need a PostgreSQL server (multi-process tests): only with TEST_DATABASE_URL.
    if (p.endsWith('.pg.test.js') && !process.env.TEST_DATABASE_URL) continue;
    if (p.endsWith('.test.js') && p.includes(filter)) files.push(p);
  }
}
if (files.length === 0) {
  console.error(`no test files match "${filter}"`);
  process.exit(1);
}
const db = process.env.TEST_DATABASE_URL ? 'PostgreSQL server' : 'embedded PGlite';
console.log(`# running ${files.length} test files on ${db}`);

// The multi-process drills (three API replicas and a dozen or more agent processes each) run one at
// a time, before the rest: two of them at once on a 2-core machine starve each other's heartbeats
// and leases, which measures the machine instead of the product.
const DRILLS = /(concurrency|drills|fleet-drill)\.pg\.test\.js$/;
const drills = files.filter((f) => DRILLS.test(f)).sort();
const others = files.filter((f) => !DRILLS.test(f)).sort();

/** Runs node's test runner, echoing its output, and returns its pass/fail counts. */
function run(list, concurrency) {
  return new Promise((resolve) => {
    const counts = { pass: 0, fail: 0, ok: true };
    const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...list], { stdio: ['ignore', 'pipe', 'inherit'] });
    let rest = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^ℹ (pass|fail) (\d+)$/.exec(line);
        if (m) counts[m[1]] += Number(m[2]);
      }
    });
    child.on('exit', (code) => {
      counts.ok = code === 0;
      resolve(counts);
    });
  });
}

const results = [];
if (drills.length > 0) results.push(await run(drills, 1));
if (others.length > 0) results.push(await run(others, 2));
const passed = results.reduce((a, r) => a + r.pass, 0);
const failed = results.reduce((a, r) => a + r.fail, 0);
// One line CI can read, printed last.
console.log(`${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.ok) && failed === 0 ? 0 : 1);
