#!/usr/bin/env node
// The `dcctl` bin npm links into node_modules/.bin. It is a committed file (npm links only bins that
// exist at install time) that runs the compiled CLI, which `npm ci` builds afterwards (prepare).
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('dcctl: not built yet; run "npm run build" at the repository root\n');
  process.exit(2);
}
await import(main.href);
