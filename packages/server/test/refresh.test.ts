// Refreshes at fleet scale (issue 16): a pool's agents a page at a time, conditional GETs (ETag,
// If-None-Match → 304) on what the dashboard polls, and compressed answers for clients that accept
// them (brotli or gzip; the dashboard's assets compressed once and kept).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { ENDPOINTS, pathOf, type PoolAgent, type PoolAgentListQuery } from '@dc/core';
import type { Identity } from '@dc/core/node';
import { generateIdentity } from '@dc/core/node';
import { SignedClient, type Transport } from '@dc/testkit';
import { agentCall, base, call, mustOk, offeringInput, paidContract, providerWithPool, registerAgent, startHarness, TEST_HOST, assertError, type Harness } from './helpers.js';
import { dashboardRoutes } from '../src/routes/dashboard.js';
import type { AppContext } from '../src/context.js';

let h: Harness;
let provider: Identity;
let poolId: string;
const agents: Identity[] = [];

before(async () => {
  h = await startHarness();
  ({ provider, poolId } = await providerWithPool(h));
  // Labels a-01 … a-12, registered out of order: the list orders by label.
  for (const i of [3, 1, 2, 12, 5, 4, 6, 8, 7, 10, 9, 11]) agents[i - 1] = await registerAgent(h, provider, poolId, `a-${String(i).padStart(2, '0')}`);
  for (const a of agents.slice(0, 5)) await mustOk(agentCall(h, a, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.0' }));
});

after(async () => {
  await h?.close();
});

/** A client on app.inject that keeps the bytes on the wire and decodes them like a browser would. */
function wireClient(): { client: SignedClient; last: { bytes: number; encoding: string | undefined } } {
  const last = { bytes: 0, encoding: undefined as string | undefined };
  const transport: Transport = async (r) => {
    const res = await h.server.app.inject({ method: r.method, url: r.path, headers: { host: TEST_HOST, ...r.headers }, ...(r.body !== undefined ? { payload: r.body } : {}) });
    const raw = res.rawPayload;
    const encoding = res.headers['content-encoding'] as string | undefined;
    last.bytes = raw.length;
    last.encoding = encoding;
    const text = (encoding === 'br' ? brotliDecompressSync(raw) : encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
    const headers: Record<string, string | string[] | undefined> = {};
    for (const [k, v] of Object.entries(res.headers)) headers[k] = typeof v === 'number' ? String(v) : v;
    return { status: res.statusCode, headers, text };
  };
  return { client: new SignedClient(transport, TEST_HOST), last };
}

describe('pool agents, a page at a time', () => {
  test('listPoolAgents pages by label with the filtered total; status and q filter in SQL', async () => {
    const page = async (query: PoolAgentListQuery) =>
      mustOk(call<{ items: PoolAgent[]; total: number }>(h, provider, 'GET', pathOf(ENDPOINTS.listPoolAgents, { pubkey: provider.publicKey, pool_id: poolId }, query)));
    const first = (await page({ limit: 5 })).body;
    assert.equal(first.total, 12);
    assert.deepEqual(first.items.map((a) => a.label), ['a-01', 'a-02', 'a-03', 'a-04', 'a-05']);
    const last = (await page({ limit: 5, offset: 10 })).body;
    assert.deepEqual(last.items.map((a) => a.label), ['a-11', 'a-12']);
    assert.equal(last.total, 12);
    const beyond = (await page({ limit: 5, offset: 50 })).body;
    assert.deepEqual(beyond, { items: [], total: 12 }, 'past the end: no rows, the total still counted');
    const online = (await page({ status: 'online' })).body;
    assert.equal(online.total, 5);
    assert.ok(online.items.every((a) => a.status === 'online'));
    const offline = (await page({ status: 'offline', limit: 2 })).body;
    assert.equal(offline.total, 7);
    assert.deepEqual(offline.items.map((a) => a.label), ['a-06', 'a-07']);
    const search = (await page({ q: 'A-1' })).body;
    assert.deepEqual(search.items.map((a) => a.label), ['a-10', 'a-11', 'a-12'], 'case-insensitive label search');
    const byKey = (await page({ q: agents[7]!.publicKey.slice(10, 30) })).body;
    assert.deepEqual(byKey.items.map((a) => a.agent_pubkey), [agents[7]!.publicKey], 'search by part of the key');
    assert.equal((await page({ q: '%' })).body.total, 0, '% is literal');
    // Same rows as the pool detail's full list.
    const detail = (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools/${poolId}`))).body;
    assert.deepEqual((await page({ limit: 500 })).body.items, detail.agents);
  });

  test('pool detail takes agents_limit (0: the pool without its agents)', async () => {
    const none = (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools/${poolId}?agents_limit=0`))).body;
    assert.deepEqual(none.agents, []);
    assert.equal(none.agents_count, 12);
    const two = (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools/${poolId}?agents_limit=2`))).body;
    assert.deepEqual(two.agents.map((a: { label: string }) => a.label), ['a-01', 'a-02']);
    assertError(await call(h, provider, 'GET', `${base(provider)}/pools/${poolId}?agents_limit=-1`), 400, 'invalid_input');
  });

  test("another provider's pool is 404 and its agents are not listed", async () => {
    const other = (await providerWithPool(h)).provider;
    assertError(await call(h, other, 'GET', `${base(other)}/pools/${poolId}/agents`), 404, 'not_found');
    assertError(await call(h, other, 'GET', `${base(provider)}/pools/${poolId}/agents`), 403);
  });
});

describe('contract totals', () => {
  test('exact up to 10,000 matches; beyond, an estimate flagged total_estimated', async () => {
    const { provider: p } = await providerWithPool(h);
    await paidContract(h, p, { offering_id: 'many-1' });
    const list = (query = '') => mustOk(call(h, p, 'GET', `${base(p)}/contracts${query}`));
    const one = (await list()).body;
    assert.equal(one.total, 1);
    assert.equal(one.total_estimated, undefined);
    // 10,000 more (bulk, as the API would leave them), half of them rejected.
    await h.db.query(
      `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, created_at)
       SELECT md5($1 || i), $1, 'many-1', md5('k' || i) || md5('l' || i), CASE WHEN i % 2 = 0 THEN 'rejected' ELSE 'requested' END,
         now() - make_interval(secs => i)
       FROM generate_series(1, 10000) i`,
      [p.publicKey],
    );
    await h.db.exec('ANALYZE contract_sign_requests');
    const all = (await list('?limit=3')).body;
    assert.equal(all.total_estimated, true);
    assert.ok(all.total > 10_000 && all.total < 13_000, `estimate ${all.total} near 10,001`);
    assert.equal(all.items.length, 3);
    const rejected = (await list('?status=rejected&limit=3')).body;
    assert.equal(rejected.total, 5000, 'under the cap: exact');
    assert.equal(rejected.total_estimated, undefined);
    assert.ok(rejected.items.every((c: { status: string }) => c.status === 'rejected'));
    const newestFirst = (await list('?status=requested&limit=2&offset=1')).body.items.map((c: { created_at: string }) => c.created_at);
    assert.ok(newestFirst[0] >= newestFirst[1]);
  });
});

describe('conditional refreshes', () => {
  test('an unchanged pool answers 304 with no body; a change makes it 200 again', async () => {
    const url = `${base(provider)}/pools/${poolId}?agents_limit=0`;
    const first = await mustOk(call(h, provider, 'GET', url));
    const etag = first.headers.etag as string;
    assert.match(etag, /^W\/"[A-Za-z0-9_-]+"$/);
    assert.equal(first.headers['cache-control'], 'private, no-cache');
    const again = await call(h, provider, 'GET', url, undefined, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.text, '');
    assert.equal(again.headers.etag, etag);
    const headerBytes = Object.entries(again.headers).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 0);
    assert.ok(headerBytes < 600, `an unchanged pool costs a few hundred bytes (${headerBytes} of headers)`);
    // Also when the client lists several tags.
    assert.equal((await call(h, provider, 'GET', url, undefined, { headers: { 'if-none-match': `W/"old", ${etag}` } })).status, 304);

    await mustOk(call(h, provider, 'PUT', `${base(provider)}/pools/${poolId}`, { name: 'renamed-pool' }));
    const changed = await call(h, provider, 'GET', url, undefined, { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.name, 'renamed-pool');
    assert.notEqual(changed.headers.etag, etag);
    assert.equal((await call(h, provider, 'GET', url, undefined, { headers: { 'if-none-match': changed.headers.etag as string } })).status, 304);
  });

  test('an agent page turns 200 when an agent heartbeats or changes status', async () => {
    const url = `${base(provider)}/pools/${poolId}/agents?limit=100`;
    const first = await mustOk(call(h, provider, 'GET', url));
    const etag = first.headers.etag as string;
    assert.equal((await call(h, provider, 'GET', url, undefined, { headers: { 'if-none-match': etag } })).status, 304);
    await mustOk(agentCall(h, agents[11]!, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.1' }));
    const changed = await call(h, provider, 'GET', url, undefined, { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.items.find((a: { label: string }) => a.label === 'a-12').status, 'online');
  });

  test('offerings and contracts lists are conditional too; errors and other callers never get 304', async () => {
    await paidContract(h, provider, { offering_id: 'cond-1' });
    for (const path of [`${base(provider)}/offerings`, `${base(provider)}/contracts`, `${base(provider)}/pools`]) {
      const first = await mustOk(call(h, provider, 'GET', path));
      const etag = first.headers.etag as string;
      assert.ok(etag, path);
      assert.equal((await call(h, provider, 'GET', path, undefined, { headers: { 'if-none-match': etag } })).status, 304, path);
      // Authentication comes first: a stranger with the tag is refused, not told "unchanged".
      const stranger = generateIdentity();
      assertError(await call(h, stranger, 'GET', path, undefined, { headers: { 'if-none-match': etag } }), 403);
    }
    const offerings = `${base(provider)}/offerings`;
    const before = await mustOk(call(h, provider, 'GET', offerings));
    await mustOk(call(h, provider, 'POST', offerings, offeringInput('cond-2')));
    const after = await call(h, provider, 'GET', offerings, undefined, { headers: { 'if-none-match': before.headers.etag as string } });
    assert.equal(after.status, 200);
    assert.equal(after.body.total, 2);
    // Writes and agent endpoints carry no tag.
    const hb = await mustOk(agentCall(h, agents[0]!, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.0' }));
    assert.equal(hb.headers.etag, undefined);
  });
});

describe('compression', () => {
  test('JSON answers are brotli or gzip when the client accepts them, identity otherwise', async () => {
    const { client, last } = wireClient();
    const path = `${base(provider)}/pools/${poolId}/agents?limit=100`;
    const plain = await client.request(provider, 'GET', path);
    assert.equal(plain.status, 200);
    assert.equal(last.encoding, undefined, 'no Accept-Encoding: sent as is');
    const plainBytes = last.bytes;
    assert.equal(plain.headers.vary, 'accept-encoding');

    const br = await client.request(provider, 'GET', path, undefined, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(last.encoding, 'br');
    assert.deepEqual(br.body, plain.body);
    assert.ok(last.bytes < plainBytes / 3, `brotli ${last.bytes} B vs ${plainBytes} B`);
    assert.equal(br.headers['content-length'] === undefined || Number(br.headers['content-length']) === last.bytes, true);

    const gz = await client.request(provider, 'GET', path, undefined, { headers: { 'accept-encoding': 'br;q=0, gzip' } });
    assert.equal(last.encoding, 'gzip', 'br refused with q=0');
    assert.deepEqual(gz.body, plain.body);

    await client.request(provider, 'GET', path, undefined, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(last.encoding, undefined);

    // Small answers are not worth it.
    await client.request(provider, 'GET', `${base(provider)}/pools/${poolId}/agents?limit=1`, undefined, { headers: { 'accept-encoding': 'br' } });
    assert.equal(last.encoding, undefined);
    // Errors are JSON too: compressed or not, they decode to the error body.
    const err = await client.request(generateIdentity(), 'GET', path, undefined, { headers: { 'accept-encoding': 'br' } });
    assertError(err, 403);
  });

  test('a 304 carries no body, whatever the client accepts', async () => {
    const { client, last } = wireClient();
    const path = `${base(provider)}/pools/${poolId}`;
    const first = await client.request(provider, 'GET', path, undefined, { headers: { 'accept-encoding': 'br' } });
    assert.equal(last.encoding, 'br');
    const again = await client.request(provider, 'GET', path, undefined, { headers: { 'accept-encoding': 'br', 'if-none-match': first.headers.etag as string } });
    assert.equal(again.status, 304);
    assert.equal(last.bytes, 0);
    assert.equal(last.encoding, undefined);
  });

  test('dashboard assets are sent compressed (best level, computed once) with their cache and CSP headers', async () => {
    const dist = await mkdtemp(join(tmpdir(), 'dc-dist-'));
    try {
      await mkdir(join(dist, 'assets'));
      const js = `export const rows = [${Array.from({ length: 400 }, (_, i) => `{ id: ${i}, label: "agent-${i}" }`).join(', ')}];\n`;
      await writeFile(join(dist, 'assets', 'index-abc123.js'), js);
      await writeFile(join(dist, 'index.html'), '<!doctype html><div id="root"></div>');
      const app = Fastify();
      await app.register(dashboardRoutes({} as AppContext, dist));
      const get = (enc?: string) => app.inject({ method: 'GET', url: '/dashboard/assets/index-abc123.js', headers: enc ? { 'accept-encoding': enc } : {} });
      const br = await get('gzip, br');
      assert.equal(br.statusCode, 200);
      assert.equal(br.headers['content-encoding'], 'br');
      assert.equal(br.headers.vary, 'accept-encoding');
      assert.match(String(br.headers['cache-control']), /max-age=31536000, immutable/);
      assert.ok(br.headers['content-security-policy']);
      assert.match(String(br.headers['content-type']), /^text\/javascript/);
      assert.equal(brotliDecompressSync(br.rawPayload).toString(), js);
      assert.ok(br.rawPayload.length < js.length / 4, `${br.rawPayload.length} B of ${js.length}`);
      const gz = await get('gzip');
      assert.equal(gz.headers['content-encoding'], 'gzip');
      assert.equal(gunzipSync(gz.rawPayload).toString(), js);
      const plain = await get();
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(plain.body, js);
      await app.close();
    } finally {
      await rm(dist, { recursive: true, force: true });
    }
  });
});
