// dc-api serves the built dashboard at /dashboard/ with the CSP header, SPA fallback for deep
// links, long-cached hashed assets, / → the pools page, and a 503 that says how to build it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import Fastify from 'fastify';
import { DASHBOARD_CSP, dashboardRoutes } from '@dc/server/dist/src/routes/dashboard.js';
import type { AppContext } from '@dc/server/dist/src/context.js';
import { startLiveServer, WEB_DIST, type LiveServer } from './support.js';

let live: LiveServer;
before(async () => {
  assert.ok(existsSync(`${WEB_DIST}index.html`), 'run `npm run build -w @dc/web` first (packages/web/dist/index.html)');
  live = await startLiveServer();
});
after(async () => live?.close());

const CSP = "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";

test('the CSP constant is exactly DESIGN.md\'s', () => {
  assert.equal(DASHBOARD_CSP, CSP);
});

test('every dashboard page, including deep links, is index.html with the CSP header and no caching', async () => {
  for (const path of ['/dashboard/provider/pools', '/dashboard/provider/pools/europe-proxmox-1a2b3c4d', '/dashboard/provider/offerings?page=3', '/dashboard/provider/contracts']) {
    const r = await fetch(live.baseUrl + path, { redirect: 'manual' });
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-security-policy'), CSP, path);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    const html = await r.text();
    assert.match(html, /<div id="root"><\/div>/);
    // The build must not need anything the CSP blocks: no inline scripts, styles or handlers.
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline <script>');
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'no inline styles or handlers');
  }
});

test('hashed assets are served with a long immutable cache, their content type and the CSP', async () => {
  const assets = readdirSync(`${WEB_DIST}assets`);
  const js = assets.find((f) => f.endsWith('.js'))!;
  const css = assets.find((f) => f.endsWith('.css'))!;
  const r = await fetch(`${live.baseUrl}/dashboard/assets/${js}`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.match(r.headers.get('cache-control') ?? '', /max-age=31536000, immutable/);
  assert.equal(r.headers.get('content-security-policy'), CSP);
  const c = await fetch(`${live.baseUrl}/dashboard/assets/${css}`);
  assert.match(c.headers.get('content-type') ?? '', /^text\/css/);
  const missing = await fetch(`${live.baseUrl}/dashboard/assets/nope-123.js`);
  assert.equal(missing.status, 404, 'a missing asset is a 404, not index.html');
});

test('path traversal out of dist is refused', async () => {
  for (const p of ['/dashboard/assets/..%2F..%2Fpackage.json', '/dashboard/assets/%2e%2e/%2e%2e/package.json', '/dashboard/assets/../../../server/package.json']) {
    const r = await fetch(live.baseUrl + p);
    const text = await r.text();
    assert.doesNotMatch(text, /"name": ?"@dc\//, p);
  }
});

test('/ and /dashboard redirect to the pools page', async () => {
  for (const p of ['/', '/dashboard']) {
    const r = await fetch(live.baseUrl + p, { redirect: 'manual' });
    assert.equal(r.status, 302, p);
    assert.equal(r.headers.get('location'), '/dashboard/provider/pools');
  }
});

test('the API keeps answering JSON errors under /api (no SPA fallback there)', async () => {
  const r = await fetch(`${live.baseUrl}/api/v1/nope`);
  assert.equal(r.status, 404);
  assert.equal((await r.json()).error.code, 'not_found');
});

test('without a build, dashboard pages answer 503 with a JSON error saying to run npm run build', async () => {
  const app = Fastify();
  await app.register(dashboardRoutes({} as AppContext, '/nonexistent/dc-web-dist/'));
  const r = await app.inject({ method: 'GET', url: '/dashboard/provider/pools' });
  assert.equal(r.statusCode, 503);
  assert.equal(r.headers['content-security-policy'], CSP);
  const body = r.json() as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'dashboard_not_built');
  assert.match(body.error.message, /npm run build/);
  await app.close();
});
