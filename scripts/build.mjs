// Builds every workspace: TypeScript project references first (core, server, agent, cli), then each
// workspace's own "build" script (the agent bundle, the dashboard). `--if-missing` skips a
// workspace build whose output already exists (used by `npm start`).
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const ifMissing = process.argv.includes('--if-missing');
const order = ['core', 'testkit', 'server', 'agent', 'cli', 'web'];
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

const tsProjects = order.filter((p) => p !== 'web' && existsSync(`packages/${p}/tsconfig.json`)).map((p) => `packages/${p}`);
run(process.execPath, ['node_modules/typescript/bin/tsc', '-b', ...tsProjects]);

for (const p of order) {
  const pkg = JSON.parse(readFileSync(`packages/${p}/package.json`, 'utf8'));
  if (!pkg.scripts?.build) continue;
  const output = pkg.buildOutput; // a file the build creates, checked by --if-missing
  if (ifMissing && output && existsSync(`packages/${p}/${output}`)) continue;
  run('npm', ['run', 'build', '-w', `@dc/${p}`]);
}

// The dashboard's tests (node --test, Chromium) compile separately from its Vite bundle.
if (!ifMissing && existsSync('packages/web/tsconfig.test.json')) {
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-b', 'packages/web/tsconfig.test.json']);
}
