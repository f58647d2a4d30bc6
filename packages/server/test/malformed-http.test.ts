// Error-shape hygiene below the routes: malformed HTTP sent over a raw socket to a listening dc-api,
// to every route (every core endpoint and every operational, installer and dashboard path). Every
// non-2xx answer, the framework's and Node's own included, must be DESIGN.md's error body
// `{"error": {code, message}}` as JSON with a fitting 4xx status, never a 5xx, never an empty body.
// A GET carrying a body with `Connection: close` must get its (large) response complete.
// robustness.test.ts covers malformed input inside well-formed HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ENDPOINTS, pathOf } from '@dc/core';
import { generateIdentity } from '@dc/core/node';
import { startServer, type RunningServer } from '../src/server.js';
import { createTestDb, testConfig, type TestDb } from './helpers.js';

let testDb: TestDb;
let server: RunningServer;
let port = 0;

before(async () => {
  testDb = await createTestDb();
  server = await startServer(testConfig({ PORT: '0', HOST: '127.0.0.1' }), { db: testDb.db, jobs: false, logger: false });
  port = (server.app.server.address() as { port: number }).port;
});
after(async () => {
  await server.close();
  await testDb.drop();
});

const key = generateIdentity().publicKey;
const PARAMS: Record<string, string> = {
  pubkey: key, provider_pubkey: key, agent_pubkey: key, pool_id: 'europe-proxmox-3f2a9c1b', token_id: 'tok_1', offering_id: 'vps-1',
  id: '00000000-0000-4000-8000-000000000000',
};

/** Every route: the core endpoints with plausible parameters, and the paths outside /api/v1. */
function allRoutes(): { method: string; path: string }[] {
  const out = Object.values(ENDPOINTS).map((e) => {
    const params: Record<string, string> = {};
    for (const m of e.path.matchAll(/:([a-z_]+)/g)) params[m[1]!] = PARAMS[m[1]!] ?? 'x';
    return { method: e.method, path: pathOf(e, params) };
  });
  for (const path of ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json', '/api/docs', '/setup', '/downloads/dc-agent.mjs',
    '/downloads/dc-agent.mjs.sha256', '/dashboard', '/dashboard/provider/pools', '/no/such/route']) {
    out.push({ method: 'GET', path });
  }
  return out;
}

interface RawAnswer {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
  /** The socket ended in a reset (or another error) instead of a clean close. */
  reset: boolean;
}

/** Writes raw bytes and reads until the server closes the connection (or 5 s pass). */
function raw(bytes: string | Buffer, opts: { halfClose?: boolean; readDelayMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let reset = false;
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => (reset = true));
    s.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no HTTP answer (${all.length} bytes${reset ? ', reset' : ''}): ${JSON.stringify(all.toString('latin1').slice(0, 200))}`));
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const l of lines) {
        const i = l.indexOf(':');
        headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      let body: Buffer = Buffer.from(all.subarray(end + 4));
      if (headers.get('transfer-encoding') === 'chunked') body = dechunk(body);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1] ?? 0), headers, body, reset });
    });
    // A client that reads a moment later (a slow network) loses whatever a reset overtakes.
    if (opts.readDelayMs) {
      s.pause();
      setTimeout(() => s.resume(), opts.readDelayMs);
    }
    s.write(bytes);
    if (opts.halfClose) s.end();
  });
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    if (eol < 0) break;
    const n = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (!n) break;
    out.push(b.subarray(eol + 2, eol + 2 + n));
    i = eol + 2 + n + 2;
  }
  return Buffer.concat(out);
}

/** DESIGN.md's error body with a 4xx status (no 5xx for a client's malformed request). */
function assertErrorAnswer(a: RawAnswer, what: string, statuses: number[]): void {
  assert.ok(statuses.includes(a.status), `${what}: status ${a.status}, wanted one of ${statuses.join('/')}: ${a.body.toString().slice(0, 300)}`);
  assert.match(a.headers.get('content-type') ?? '', /^application\/json/, `${what}: JSON error body`);
  let body: { error?: { code?: unknown; message?: unknown } };
  try {
    body = JSON.parse(a.body.toString('utf8'));
  } catch {
    assert.fail(`${what}: body is not JSON: ${JSON.stringify(a.body.toString('latin1').slice(0, 200))}`);
  }
  assert.deepEqual(Object.keys(body), ['error'], `${what}: ${a.body}`);
  assert.match(String(body.error?.code), /^[a-z][a-z0-9_]*$/, `${what}: code`);
  assert.ok(typeof body.error?.message === 'string' && body.error.message.length > 10, `${what}: a message a person can act on`);
  if (a.headers.has('content-length')) assert.equal(Number(a.headers.get('content-length')), a.body.length, `${what}: complete body`);
}

const host = () => `Host: 127.0.0.1:${port}\r\n`;

/** Malformed requests of every kind, for one route; each with the statuses that fit it. */
function malformed(method: string, path: string): { what: string; bytes: string; statuses: number[] }[] {
  const bigHeader = `X-Filler: ${'a'.repeat(20 * 1024)}\r\n`;
  return [
    { what: 'bad request line', bytes: `${method} ${path} HTTP/1.1 extra\r\n${host()}\r\n`, statuses: [400] },
    { what: 'bad HTTP version', bytes: `${method} ${path} HTTP/9.9\r\n${host()}\r\n`, statuses: [400, 505] },
    { what: 'unknown method', bytes: `FROBNICATE ${path} HTTP/1.1\r\n${host()}\r\n`, statuses: [400, 404, 405, 501] },
    { what: 'space in the target', bytes: `${method} ${path} x HTTP/1.1\r\n${host()}\r\n`, statuses: [400] },
    { what: 'bare LF line endings', bytes: `${method} ${path} HTTP/1.1\n${host().trim()}\nConnection: close\n\n`, statuses: [400] },
    { what: 'two Content-Lengths', bytes: `${method} ${path} HTTP/1.1\r\n${host()}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, statuses: [400] },
    { what: 'Transfer-Encoding: identity', bytes: `${method} ${path} HTTP/1.1\r\n${host()}Content-Type: application/json\r\nTransfer-Encoding: identity\r\n\r\n{}`, statuses: [400, 501] },
    { what: 'a bad chunk', bytes: `${method} ${path} HTTP/1.1\r\n${host()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, statuses: [400] },
    { what: 'Content-Length and chunked together', bytes: `${method} ${path} HTTP/1.1\r\n${host()}Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, statuses: [400] },
    { what: 'a 20 KB header', bytes: `${method} ${path} HTTP/1.1\r\n${host()}${bigHeader}\r\n`, statuses: [431] },
    { what: 'a header without a colon', bytes: `${method} ${path} HTTP/1.1\r\n${host()}NoColonHere\r\n\r\n`, statuses: [400] },
    { what: 'a control character in a header', bytes: `${method} ${path} HTTP/1.1\r\n${host()}X-Bad: a\u0001b\r\n\r\n`, statuses: [400] },
    { what: 'no Host (HTTP/1.1)', bytes: `${method} ${path} HTTP/1.1\r\nConnection: close\r\n\r\n`, statuses: [400] },
    { what: 'two Hosts', bytes: `${method} ${path} HTTP/1.1\r\n${host()}${host()}Connection: close\r\n\r\n`, statuses: [400] },
    { what: 'Expect: 999-nope', bytes: `${method} ${path} HTTP/1.1\r\n${host()}Expect: 999-nope\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`, statuses: [417] },
  ];
}

test('malformed HTTP of every kind to every route gets the error body and a 4xx', async () => {
  const routes = allRoutes();
  assert.ok(routes.length >= 40, `${routes.length} routes`);
  let n = 0;
  const failures: string[] = [];
  for (const r of routes) {
    for (const m of malformed(r.method, r.path)) {
      const what = `${m.what} → ${r.method} ${r.path}`;
      try {
        assertErrorAnswer(await raw(m.bytes, { halfClose: m.what === 'bare LF line endings' }), what, m.statuses);
      } catch (err) {
        failures.push((err as Error).message.split('\n')[0]!);
      }
      n++;
    }
  }
  assert.equal(failures.length, 0, `${failures.length} of ${n} malformed requests were answered wrongly:\n${failures.slice(0, 30).join('\n')}`);
  // The server is unharmed.
  const ok = await raw(`GET /healthz HTTP/1.1\r\n${host()}Connection: close\r\n\r\n`);
  assert.equal(ok.status, 200);
});

test('an HTTP/1.0 request without Host is served (Host is only required from HTTP/1.1 on)', async () => {
  const a = await raw('GET /healthz HTTP/1.0\r\n\r\n');
  assert.equal(a.status, 200, a.body.toString());
});

test('Expect: 100-continue still works', async () => {
  const a = await raw(`GET /healthz HTTP/1.1\r\n${host()}Expect: 100-continue\r\nConnection: close\r\n\r\n`);
  assert.ok(a.status === 100 || a.status === 200, String(a.status));
});

test('a GET with a body and Connection: close gets its large response complete, every time', async () => {
  const bundlePath = fileURLToPath(new URL('../../../agent/dist/dc-agent.mjs', import.meta.url));
  const bundle = readFileSync(bundlePath);
  assert.ok(bundle.length > 100_000, 'the agent bundle is built (npm run build)');
  const assetsDir = fileURLToPath(new URL('../../../web/dist/assets/', import.meta.url));
  const biggest = readdirSync(assetsDir).map((f) => ({ f, size: readFileSync(assetsDir + f).length })).sort((a, b) => b.size - a.size)[0]!;
  const targets = [
    { path: '/downloads/dc-agent.mjs', sha: createHash('sha256').update(bundle).digest('hex') },
    { path: `/dashboard/assets/${biggest.f}`, sha: createHash('sha256').update(readFileSync(assetsDir + biggest.f)).digest('hex') },
  ];
  for (const t of targets) {
    for (let i = 0; i < 8; i++) {
      const body = 'x'.repeat(1000 + i * 300_000);
      const a = await raw(`GET ${t.path} HTTP/1.1\r\n${host()}Content-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, { readDelayMs: 150 });
      if (a.status === 200) {
        assert.equal(createHash('sha256').update(a.body).digest('hex'), t.sha, `${t.path} try ${i}: complete (${a.body.length} bytes${a.reset ? ', reset' : ''})`);
      } else {
        assertErrorAnswer(a, `${t.path} try ${i}`, [400, 413]);
      }
      assert.equal(a.reset, false, `${t.path} try ${i}: no reset`);
    }
  }
});
