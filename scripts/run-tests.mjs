// Runs every compiled test file with node's test runner. Usage: node scripts/run-tests.mjs [filter]
// TEST_DATABASE_URL=postgres://… runs the suite against that server (a new database per file).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

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
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files.sort()], { stdio: 'inherit' });
process.exit(r.status ?? 1);
