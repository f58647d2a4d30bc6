// Never a 500 for bad input, never a stack trace (DESIGN.md "HTTP conventions"). Every route of
// the OpenAPI document is called, signed by the provider, its agent and the operator, with
// garbage bodies, content types, path parameters and query strings. Every answer must be < 500
// and every error must be {"error": {"code", "message"}} without stack-trace text.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type KeyHeader } from '@dc/core';
import { generateIdentity, signRequestHeaders, type Identity } from '@dc/core/node';
import { TEST_HOST, call, mustOk, offeringInput, operator, paidContract, providerWithPool, registerAgent, startHarness, type Harness } from './helpers.js';

let h: Harness;
let provider: Identity;
let agent: Identity;
let spareAgent: Identity;
let poolId: string;
let tokenId: string;
let contractId: string;
let routes: { method: string; path: string; bodySchema: any; query: string[] }[] = [];
const customer = generateIdentity();

before(async () => {
  h = await startHarness();
  ({ provider, poolId } = await providerWithPool(h));
  agent = await registerAgent(h, provider, poolId, 'fuzz-agent');
  spareAgent = await registerAgent(h, provider, poolId, 'spare');
  const base = `/api/v1/providers/${provider.publicKey}`;
  tokenId = (await mustOk(call(h, provider, 'POST', `${base}/pools/${poolId}/setup-tokens`, {}))).body.token_id;
  await mustOk(call(h, provider, 'POST', `${base}/offerings`, offeringInput('o1')));
  // Paid and accepted, so the agent's lease endpoints get past the status checks.
  contractId = await paidContract(h, provider, { offering_id: 'o1' }, customer);
  const doc = (await mustOk(call(h, null, 'GET', '/api/v1/openapi.json'))).body;
  for (const [path, ops] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) {
      routes.push({
        method: method.toUpperCase(),
        path,
        bodySchema: op.requestBody?.content?.['application/json']?.schema ?? null,
        query: (op.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name),
      });
    }
  }
  routes = routes.sort((a, b) => (a.path + a.method).localeCompare(b.path + b.method));
});
after(async () => {
  await h?.close();
});

interface Sent {
  status: number;
  text: string;
  what: string;
}

/** A request with any body bytes and content type, signed by `who` (or unsigned). */
async function send(who: Identity | null, keyHeader: KeyHeader, method: string, url: string, body?: Buffer | string, contentType?: string): Promise<Sent> {
  const headers: Record<string, string> = { host: TEST_HOST };
  if (contentType !== undefined) headers['content-type'] = contentType;
  const raw = body === undefined ? '' : body;
  if (who) Object.assign(headers, signRequestHeaders(who, { method, host: TEST_HOST, path: url, body: raw }, { keyHeader }));
  const r = await h.server.app.inject({ method: method as 'GET', url, headers, payload: body });
  const what = `${who === null ? 'unsigned' : keyHeader === 'X-Agent-Pubkey' ? 'agent' : who === operator ? 'operator' : 'provider'} ${method} ${url.slice(0, 160)} [${contentType ?? '-'}] ${typeof body === 'string' ? JSON.stringify(body.slice(0, 80)) : body ? `<${body.length} bytes>` : ''}`;
  return { status: r.statusCode, text: r.body, what };
}

const STACK_PATTERNS = [/\n\s*at /, /\bat [\w$.<>]+ \(/, /Error:/, /\.(?:ts|js|mjs):\d+/, /node_modules/, /node:internal/];

function check(r: Sent): void {
  assert.ok(r.status < 500, `${r.what} → ${r.status}: ${r.text.slice(0, 300)}`);
  for (const re of STACK_PATTERNS) assert.doesNotMatch(r.text, re, `${r.what}: stack-trace text in ${r.text.slice(0, 300)}`);
  if (r.status >= 400) {
    let body: any;
    try {
      body = JSON.parse(r.text);
    } catch {
      assert.fail(`${r.what} → ${r.status} with a non-JSON error body: ${r.text.slice(0, 200)}`);
    }
    assert.equal(typeof body?.error?.code, 'string', `${r.what}: ${r.text.slice(0, 300)}`);
    assert.match(body.error.code, /^[a-z][a-z0-9_]*$/, `${r.what}: ${r.text.slice(0, 300)}`);
    assert.equal(typeof body.error.message, 'string', `${r.what}: ${r.text.slice(0, 300)}`);
  }
}

function validParams(): Record<string, string> {
  return {
    pubkey: provider.publicKey,
    pool_id: poolId,
    offering_id: 'o1',
    id: contractId,
    token_id: tokenId,
    agent_pubkey: spareAgent.publicKey,
  };
}

const GARBAGE_PARAMS = [
  '%00',
  'a%00b',
  '..',
  '%2e%2e',
  '%2F',
  'x'.repeat(100), // the router's longest parameter (longer ones: see the router-level test)
  'A'.repeat(64),
  'f'.repeat(63),
  'f'.repeat(65),
  '%C3%A9',
  '%F0%9F%92%A9',
  '%20',
  "'%3B%20DROP%20TABLE%20agent_pools%3B--",
  '-1',
  '0',
  '1e999',
  'null',
  '__proto__',
  'constructor',
  '%25',
];

function fill(template: string, params: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? 'unknown');
}

function pathVariants(template: string): string[] {
  const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const out = [fill(template, validParams())];
  for (const name of names) {
    for (const g of GARBAGE_PARAMS) out.push(fill(template, { ...validParams(), [name]: g }));
  }
  return out;
}

const QUERY_VARIANTS = [
  '?limit=abc',
  '?limit=0',
  '?limit=-1',
  '?limit=1e309',
  '?limit=99999999999999999999999',
  '?limit=1.5',
  '?limit=1&limit=2',
  '?offset=-1',
  '?offset=1e20',
  '?status=%00',
  '?status=__proto__',
  `?q=${'x'.repeat(5000)}`,
  '?q=%25%5F%5C',
  '?q=%00',
  '?pool_id=%00',
  `?pool_id=${'p'.repeat(500)}`,
  '?product_type[]=a',
  '?wait=-1',
  '?wait=abc',
  '?wait=51',
  '?wait=1e9',
  '?max=abc',
  '?__proto__[x]=1',
  '?constructor=1',
  '?=&&=',
];

/** A plausible value per property type, so one mutated property is checked at a time. */
function baseValue(schema: any): unknown {
  const type = Array.isArray(schema?.type) ? schema.type[0] : schema?.type;
  if (schema?.enum) return schema.enum[0];
  switch (type) {
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return {};
    default:
      return 'a';
  }
}

function deepObject(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

const HUGE = 'x'.repeat(900_000);
const WRONG_VALUES: unknown[] = [
  12345,
  -1,
  1.5,
  1e308,
  '1',
  '',
  HUGE,
  null,
  true,
  [],
  ['a', 1],
  {},
  { $gt: '' },
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\u202e\u0007\u001b[31m',
  '../../etc/passwd',
  '$(reboot)',
  deepObject(200),
];

/** Raw bodies with content types, for every route that takes a body. */
function rawBodies(): [string | Buffer, string | undefined][] {
  const json = 'application/json';
  return [
    ['{', json],
    ['{"a":', json],
    ['[]', json],
    ['[1,2,3]', json],
    ['null', json],
    ['"just a string"', json],
    ['42', json],
    ['true', json],
    ['{}', json],
    ['{"__proto__":{"polluted":true}}', json],
    ['{"constructor":{"prototype":{"polluted":true}}}', json],
    [JSON.stringify({ unknown_field: 1 }), json],
    ['{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000), json],
    ['['.repeat(200_000) + ']'.repeat(200_000), json],
    [JSON.stringify({ x: HUGE }), json],
    [JSON.stringify({ x: 'y'.repeat(1_100_000) }), json], // over 1 MiB: 413
    [Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), json],
    [Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), json], // invalid UTF-8 inside a string
    ['{"a":1}', 'application/json; charset=utf-16'],
    ['{"a":1}', 'text/plain'],
    ['<a>1</a>', 'application/xml'],
    ['a=1&b=2', 'application/x-www-form-urlencoded'],
    ['--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--', 'multipart/form-data; boundary=x'],
    ['offering_id\n\u0000', 'text/csv'],
    ['{"a":1}', 'garbage'],
    ['{"a":1}', ''],
    ['{"a":1}', undefined],
  ];
}

function fieldBodies(schema: any): string[] {
  if (!schema || typeof schema !== 'object' || !schema.properties) return [];
  const props = Object.entries<any>(schema.properties);
  const base: Record<string, unknown> = {};
  for (const [k, s] of props) base[k] = baseValue(s);
  const out = [JSON.stringify(base)];
  for (const [k] of props) {
    for (const v of WRONG_VALUES) out.push(JSON.stringify({ ...base, [k]: v }));
    const without = { ...base };
    delete without[k];
    out.push(JSON.stringify(without));
  }
  out.push(JSON.stringify({ ...base, unknown_field: 'x' }));
  return out;
}

const SIGNERS: [string, () => Identity, KeyHeader][] = [
  ['provider', () => provider, 'X-Public-Key'],
  ['agent', () => agent, 'X-Agent-Pubkey'],
  ['operator', () => operator, 'X-Public-Key'],
];

function signersFor(path: string): [string, () => Identity, KeyHeader][] {
  // The operator only matters outside /providers/… (there it is 403 before any input is read).
  return path.startsWith('/api/v1/providers/') ? SIGNERS.slice(0, 2) : SIGNERS;
}

const takesBody = (method: string) => method === 'POST' || method === 'PUT' || method === 'DELETE';

describe('no 5xx and no stack traces for any malformed input', () => {
  test('the OpenAPI document lists the routes this test walks', () => {
    assert.ok(routes.length >= 20, `only ${routes.length} routes`);
    assert.ok(routes.some((r) => r.path === '/api/v1/providers/{pubkey}/offerings' && r.method === 'POST'));
    assert.ok(routes.some((r) => r.path === '/api/v1/contracts' && r.method === 'POST'));
  });

  test('garbage path parameters on every route, signed and unsigned', async () => {
    let n = 0;
    for (const r of routes) {
      for (const url of pathVariants(r.path)) {
        for (const [, who, header] of signersFor(r.path)) {
          const body = takesBody(r.method) ? '{}' : undefined;
          check(await send(who(), header, r.method, url, body, body === undefined ? undefined : 'application/json'));
          n++;
        }
        check(await send(null, 'X-Public-Key', r.method, url));
        n++;
      }
    }
    assert.ok(n > 500, `${n} requests`);
  });

  test('garbage query strings on every route', async () => {
    for (const r of routes) {
      const url = fill(r.path, validParams());
      for (const q of QUERY_VARIANTS) {
        for (const [, who, header] of signersFor(r.path)) {
          const body = takesBody(r.method) ? '{}' : undefined;
          check(await send(who(), header, r.method, url + q, body, body === undefined ? undefined : 'application/json'));
        }
      }
    }
  });

  test('garbage bodies and content types on every route that takes a body', async () => {
    for (const r of routes.filter((x) => takesBody(x.method))) {
      const url = fill(r.path, validParams());
      for (const [body, contentType] of rawBodies()) {
        for (const [, who, header] of signersFor(r.path)) check(await send(who(), header, r.method, url, body, contentType));
      }
    }
  });

  test('every body property of every route with wrong types, huge, hostile or missing values, and unknown fields', async () => {
    let n = 0;
    for (const r of routes.filter((x) => x.bodySchema)) {
      const url = fill(r.path, validParams());
      for (const body of fieldBodies(r.bodySchema)) {
        for (const [, who, header] of signersFor(r.path)) {
          check(await send(who(), header, r.method, url, body, 'application/json'));
          n++;
        }
      }
    }
    assert.ok(n > 200, `${n} requests`);
  });

  test('operational and documentation endpoints survive garbage queries too', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json', '/api/docs', '/api/v1/server-key', '/nope', '/api/v1/nope', '/api/v1/providers']) {
      for (const q of ['', ...QUERY_VARIANTS]) {
        const r = await send(null, 'X-Public-Key', 'GET', path + q);
        assert.ok(r.status < 500, `${r.what} → ${r.status}`);
        for (const re of STACK_PATTERNS.slice(0, 2)) assert.doesNotMatch(r.text, re, r.what);
      }
    }
  });

  test('malformed signature headers are 401 with the error shape, never 500', async () => {
    const url = `/api/v1/providers/${provider.publicKey}/pools`;
    const good = signRequestHeaders(provider, { method: 'GET', host: TEST_HOST, path: url });
    const variants: Record<string, string>[] = [
      { ...good, 'X-Timestamp': '9'.repeat(400) },
      { ...good, 'X-Timestamp': '-1' },
      { ...good, 'X-Timestamp': '1e12' },
      { ...good, 'X-Nonce': 'short' },
      { ...good, 'X-Nonce': '%00'.repeat(10) },
      { ...good, 'X-Signature': 'zz'.repeat(64) },
      { ...good, 'X-Signature': '0'.repeat(128) },
      { ...good, 'X-Public-Key': '0'.repeat(64) }, // not a point on the curve, or a small-order one
      { ...good, 'X-Public-Key': 'f'.repeat(64) },
      { ...good, 'X-Public-Key': 'G'.repeat(64) },
      { ...good, 'X-Agent-Pubkey': good['X-Public-Key']! },
    ];
    for (const headers of variants) {
      const r = await h.server.app.inject({ method: 'GET', url, headers: { host: TEST_HOST, ...headers } });
      const res = { status: r.statusCode, text: r.body, what: JSON.stringify(headers).slice(0, 200) };
      check(res);
      assert.equal(res.status, 401, res.what);
    }
  });

  test('a malformed percent-encoding or an over-long path parameter is a 4xx with the error shape', async () => {
    // Fastify answers these from its router, before any hook: the app's `frameworkErrors` shapes them.
    const base = `/api/v1/providers/${provider.publicKey}`;
    for (const url of [
      '/api/v1/contracts/%ZZ',
      `${base}/pools/%E0%A4%A`,
      '/api/v1/contracts/%',
      '/api/v1/contracts/%ED%A0%80', // an encoded lone surrogate: not valid UTF-8
      `/api/v1/contracts/${'x'.repeat(300)}`,
      `${base}/offerings/${'o'.repeat(101)}`,
      `/api/v1/providers/${'f'.repeat(200)}/pools`,
    ]) {
      const r = await send(customer, 'X-Public-Key', 'GET', url);
      assert.ok(r.status === 400 || r.status === 414, `${url}: ${r.status} ${r.text}`);
      check(r);
    }
  });

  test('nothing above polluted Object.prototype, and the server still answers normally', async () => {
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    // The walk sends valid requests too (a terminate ends the contract, after which its offering
    // may be deleted), so the check is that reads and writes still work, not what survived.
    await mustOk(call(h, provider, 'POST', `/api/v1/providers/${provider.publicKey}/offerings`, offeringInput('after-walk')));
    const r = await mustOk(call(h, provider, 'GET', `/api/v1/providers/${provider.publicKey}/offerings`));
    assert.ok(r.body.items.some((o: { offering_id: string }) => o.offering_id === 'after-walk'));
    const ready = await call(h, null, 'GET', '/readyz');
    assert.equal(ready.status, 200);
  });
});
