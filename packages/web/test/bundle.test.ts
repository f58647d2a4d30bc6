// The built dashboard bundles @dc/core (the endpoint table and the field rules come from it) and
// nothing node-only: no `node:` import and no Vite stub for a node builtin. vite.config.ts refuses
// such imports at build time; this checks the output that is actually served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { POOL_NAME } from '@dc/core';

const WEB_DIST = fileURLToPath(new URL('../', import.meta.url));

function bundle(): string {
  assert.ok(existsSync(`${WEB_DIST}index.html`), 'run `npm run build -w @dc/web` first (packages/web/dist/index.html)');
  const js = readdirSync(`${WEB_DIST}assets`).filter((f) => f.endsWith('.js'));
  assert.ok(js.length > 0);
  return js.map((f) => readFileSync(`${WEB_DIST}assets/${f}`, 'utf8')).join('\n');
}

test('the bundle imports no node: module and carries no browser stub of one', () => {
  const code = bundle();
  assert.doesNotMatch(code, /\b(?:from|import)\s*\(?\s*["'`]node:/, 'no import of a node: module');
  assert.doesNotMatch(code, /require\(\s*["'`]node:/, 'no require of a node: module');
  assert.doesNotMatch(code, /__vite-browser-external|has been externalized for browser compatibility/, 'no stubbed node builtin');
});

test('the bundle carries core itself: the endpoint paths and the field rules in words', () => {
  const code = bundle();
  assert.match(code, /\/pools\/:pool_id\/setup-tokens/, "core's ENDPOINTS table");
  assert.ok(code.includes(POOL_NAME.rule), "core's POOL_NAME rule text");
});
