// Request signing and authorization over HTTP (DESIGN.md "Request signing"): what is accepted,
// every 401 (not authenticated) and every 403 (authenticated but not allowed), replay protection,
// and DC_PUBLIC_URL as the only signed authority when it is set.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type KeyHeader } from '@dc/core';
import { generateIdentity, newNonce, requestMessage, signMessage, signRequestHeaders, type Identity } from '@dc/core/node';
import {
  TEST_HOST,
  agentCall,
  call,
  mustOk,
  providerWithPool,
  rawCall,
  registerAgent,
  startHarness,
  type Harness,
  type Res,
  assertError,
} from './helpers.js';

let h: Harness;
let provider: Identity;
let poolId: string;
let agent: Identity;
let providerB: Identity;
let poolB: string;
let agentB: Identity;

before(async () => {
  h = await startHarness();
  ({ provider, poolId } = await providerWithPool(h));
  agent = await registerAgent(h, provider, poolId, 'node-1');
  ({ provider: providerB, poolId: poolB } = await providerWithPool(h));
  agentB = await registerAgent(h, providerB, poolB, 'node-b');
});

after(async () => {
  await h?.close();
});

const poolsPath = (p: Identity) => `/api/v1/providers/${p.publicKey}/pools`;
const heartbeatPath = (p: Identity) => `/api/v1/providers/${p.publicKey}/heartbeat`;

/** The error body of the contract: exactly {error: {code, message}}, with a non-empty message. */

interface Forge {
  /** What the signature covers; each defaults to what is actually sent. */
  signMethod?: string;
  signHost?: string;
  signPath?: string;
  signBody?: string;
  keyHeader?: KeyHeader;
  timestamp?: number;
  /** The timestamp exactly as signed and sent (for malformed ones). */
  timestampText?: string;
  nonce?: string;
  /** Sent after signing: overrides (or, with undefined, deletes) signed headers. */
  override?: Record<string, string | undefined>;
  hostHeader?: string;
}

/** Sends `method path body`, signed by `who` over possibly different parts (see Forge). */
async function forged(who: Identity, method: string, path: string, body: string | undefined, f: Forge = {}): Promise<Res> {
  const timestamp = f.timestampText ?? String(f.timestamp ?? Date.now());
  const nonce = f.nonce ?? newNonce();
  const message = requestMessage({
    method: f.signMethod ?? method,
    host: f.signHost ?? h.signHost ?? TEST_HOST,
    path: f.signPath ?? path,
    timestamp,
    nonce,
    body: f.signBody ?? body ?? '',
  });
  const headers: Record<string, string> = {
    [f.keyHeader ?? 'X-Public-Key']: who.publicKey,
    'X-Timestamp': timestamp,
    'X-Nonce': nonce,
    'X-Signature': signMessage(who.privateKey, message),
    host: f.hostHeader ?? TEST_HOST,
  };
  for (const [k, v] of Object.entries(f.override ?? {})) {
    if (v === undefined) delete headers[k];
    else headers[k] = v;
  }
  return rawCall(h, method, path, { headers, ...(body !== undefined ? { body } : {}) });
}

const poolBody = (name: string) => JSON.stringify({ name, location: 'europe', provisioner_type: 'proxmox' });

describe('accepted requests', () => {
  test('a correctly signed provider request succeeds', async () => {
    const r = await call(h, provider, 'GET', poolsPath(provider));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.items.map((p: { pool_id: string }) => p.pool_id), [poolId]);
  });

  test('a correctly signed provider POST with a body succeeds', async () => {
    const r = await forged(provider, 'POST', poolsPath(provider), poolBody('signed-post'));
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.name, 'signed-post');
  });

  test('a correctly signed agent request succeeds', async () => {
    const r = await agentCall(h, agent, 'POST', heartbeatPath(provider), { version: '1.0.0' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.acknowledged, true);
  });

  test('the query string is part of the signed path and a request signed with it succeeds', async () => {
    const r = await forged(provider, 'GET', `${poolsPath(provider)}?view=all`, undefined);
    assert.equal(r.status, 200, r.text);
  });

  test('the Host header is compared case-insensitively (authorities are lowercase)', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { hostHeader: TEST_HOST.toUpperCase() });
    assert.equal(r.status, 200, r.text);
  });

  test('a timestamp 290 s in the past is accepted', async () => {
    const r = await call(h, provider, 'GET', poolsPath(provider), undefined, { timestamp: Date.now() - 290_000 });
    assert.equal(r.status, 200, r.text);
  });

  test('a timestamp 25 s in the future is accepted', async () => {
    const r = await call(h, provider, 'GET', poolsPath(provider), undefined, { timestamp: Date.now() + 25_000 });
    assert.equal(r.status, 200, r.text);
  });

  test('the same nonce under two different keys is not a replay', async () => {
    const nonce = 'shared-nonce-0123456789';
    assert.equal((await call(h, provider, 'GET', poolsPath(provider), undefined, { nonce })).status, 200);
    assert.equal((await call(h, providerB, 'GET', poolsPath(providerB), undefined, { nonce })).status, 200);
  });

  test('unsigned public endpoints need no signature (server key, health)', async () => {
    const r = await rawCall(h, 'GET', '/api/v1/server-key');
    assert.equal(r.status, 200);
    assert.match(r.body.public_key, /^[0-9a-f]{64}$/);
    assert.equal((await rawCall(h, 'GET', '/healthz')).status, 200);
  });
});

describe('401: not authenticated', () => {
  test('no signature headers at all is 401', async () => {
    const r = await rawCall(h, 'GET', poolsPath(provider));
    assertError(r, 401);
  });

  test('both X-Public-Key and X-Agent-Pubkey is 401', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { override: { 'X-Agent-Pubkey': provider.publicKey } });
    assertError(r, 401);
    const r2 = await forged(agent, 'POST', heartbeatPath(provider), '{"version":"1.0.0"}', {
      keyHeader: 'X-Agent-Pubkey',
      override: { 'X-Public-Key': agent.publicKey },
    });
    assertError(r2, 401);
  });

  test('a signature without the key header is 401', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { override: { 'X-Public-Key': undefined } });
    assertError(r, 401);
  });

  for (const [what, key] of [
    ['upper-case hex', () => provider.publicKey.toUpperCase()],
    ['63 characters', () => provider.publicKey.slice(1)],
    ['65 characters', () => provider.publicKey + 'a'],
    ['not hex', () => 'z'.repeat(64)],
    ['empty', () => ''],
  ] as const) {
    test(`a malformed public key (${what}) is 401`, async () => {
      const r = await forged(provider, 'GET', poolsPath(provider), undefined, { override: { 'X-Public-Key': key() } });
      assertError(r, 401);
    });
  }

  // Each is signed as sent, so only the timestamp rule can refuse it.
  for (const [what, ts] of [
    ['milliseconds with a fraction', () => `${Date.now()}.5`],
    ['seconds instead of milliseconds', () => `${Math.floor(Date.now() / 1000)}`],
    ['with a plus sign', () => `+${Date.now()}`],
    ['in exponent notation', () => (Date.now() / 1e12).toFixed(12) + 'e12'],
    ['with surrounding spaces', () => ` ${Date.now()} `],
    ['ISO 8601', () => new Date().toISOString()],
    ['empty', () => ''],
  ] as const) {
    test(`a malformed timestamp (${what}) is 401 even when it is the signed one`, async () => {
      const r = await forged(provider, 'GET', poolsPath(provider), undefined, { timestampText: ts() });
      assertError(r, 401);
    });
  }

  test('a missing timestamp is 401', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { override: { 'X-Timestamp': undefined } });
    assertError(r, 401);
  });

  for (const [what, nonce] of [
    ['15 characters', 'a'.repeat(15)],
    ['65 characters', 'a'.repeat(65)],
    ['a space', 'nonce with spaces!'],
    ['a dot and a slash', 'nonce.nonce/nonce'],
  ] as const) {
    test(`a malformed nonce (${what}) is 401 even when it is the signed one`, async () => {
      const r = await forged(provider, 'GET', poolsPath(provider), undefined, { nonce });
      assertError(r, 401);
    });
  }

  test('a nonce of 16 and of 64 allowed characters is accepted', async () => {
    assert.equal((await forged(provider, 'GET', poolsPath(provider), undefined, { nonce: 'Ab-_'.repeat(4) })).status, 200);
    assert.equal((await forged(provider, 'GET', poolsPath(provider), undefined, { nonce: 'x_Y-'.repeat(16) })).status, 200);
  });

  test('a missing nonce is 401', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { override: { 'X-Nonce': undefined } });
    assertError(r, 401);
  });

  for (const [what, sig] of [
    ['upper-case hex', (s: string) => s.toUpperCase()],
    ['127 characters', (s: string) => s.slice(1)],
    ['not hex', (s: string) => 'g' + s.slice(1)],
    ['base64', (s: string) => Buffer.from(s, 'hex').toString('base64')],
    ['another valid-looking signature', (s: string) => (s[0] === '0' ? '1' : '0') + s.slice(1)],
    ['all zeros', () => '0'.repeat(128)],
  ] as const) {
    test(`a malformed or wrong signature (${what}) is 401`, async () => {
      const good = signRequestHeaders(provider, { method: 'GET', host: TEST_HOST, path: poolsPath(provider), body: '' });
      const r = await forged(provider, 'GET', poolsPath(provider), undefined, { override: { 'X-Signature': sig(good['X-Signature']!) } });
      assertError(r, 401);
    });
  }

  test('a missing signature is 401', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { override: { 'X-Signature': undefined } });
    assertError(r, 401);
  });

  test('a signature made by another key than the one in X-Public-Key is 401', async () => {
    const r = await forged(providerB, 'GET', poolsPath(provider), undefined, { override: { 'X-Public-Key': provider.publicKey } });
    assertError(r, 401);
  });

  test('a public key that is not a valid curve point is 401, not 500', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { override: { 'X-Public-Key': 'f'.repeat(64) } });
    assertError(r, 401);
  });

  test('a signature over a different body is 401', async () => {
    const r = await forged(provider, 'POST', poolsPath(provider), poolBody('body-a'), { signBody: poolBody('body-b') });
    assertError(r, 401);
    const r2 = await forged(provider, 'POST', poolsPath(provider), poolBody('body-a'), { signBody: '' });
    assertError(r2, 401);
    const list = await call(h, provider, 'GET', poolsPath(provider));
    assert.ok(!list.body.items.some((p: { name: string }) => p.name === 'body-a' || p.name === 'body-b'), 'nothing was created');
  });

  test('a signature over a different path is 401', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { signPath: `${poolsPath(provider)}/${poolId}` });
    assertError(r, 401);
  });

  test('a signature over the path without its query string is 401', async () => {
    const r = await forged(provider, 'GET', `${poolsPath(provider)}?view=all`, undefined, { signPath: poolsPath(provider) });
    assertError(r, 401);
  });

  test('a signature over a different host is 401', async () => {
    const r = await forged(provider, 'GET', poolsPath(provider), undefined, { signHost: 'other.example.net' });
    assertError(r, 401);
    const r2 = await forged(provider, 'GET', poolsPath(provider), undefined, { signHost: TEST_HOST, hostHeader: 'other.example.net' });
    assertError(r2, 401);
  });

  test('a signature over a different method is 401', async () => {
    const r = await forged(provider, 'POST', poolsPath(provider), poolBody('method-swap'), { signMethod: 'PUT' });
    assertError(r, 401);
    const r2 = await forged(provider, 'DELETE', `${poolsPath(provider)}/${poolId}`, undefined, { signMethod: 'GET' });
    assertError(r2, 401);
    assert.equal((await call(h, provider, 'GET', `${poolsPath(provider)}/${poolId}`)).status, 200, 'the pool was not deleted');
  });

  test('a timestamp more than 300 s old is 401', async () => {
    const r = await call(h, provider, 'GET', poolsPath(provider), undefined, { timestamp: Date.now() - 310_000 });
    assertError(r, 401);
  });

  test('a timestamp more than 30 s in the future is 401', async () => {
    const r = await call(h, provider, 'GET', poolsPath(provider), undefined, { timestamp: Date.now() + 40_000 });
    assertError(r, 401);
  });

  test('replaying an accepted request (same key and nonce) is 401', async () => {
    const nonce = 'replay-accepted-000001';
    assert.equal((await call(h, provider, 'GET', poolsPath(provider), undefined, { nonce })).status, 200);
    assertError(await call(h, provider, 'GET', poolsPath(provider), undefined, { nonce }), 401);
  });

  test('replaying the exact same signed bytes is 401', async () => {
    const headers = { host: TEST_HOST, ...signRequestHeaders(provider, { method: 'GET', host: TEST_HOST, path: poolsPath(provider), body: '' }) };
    assert.equal((await rawCall(h, 'GET', poolsPath(provider), { headers })).status, 200);
    assertError(await rawCall(h, 'GET', poolsPath(provider), { headers }), 401);
  });

  test('a nonce stays spent when its first request was refused with 404', async () => {
    const nonce = 'replay-after-404-00001';
    assertError(await call(h, provider, 'GET', `${poolsPath(provider)}/no-such-pool`, undefined, { nonce }), 404);
    assertError(await call(h, provider, 'GET', poolsPath(provider), undefined, { nonce }), 401);
  });

  test('a nonce stays spent when its first request was refused with 403', async () => {
    const nonce = 'replay-after-403-00001';
    assertError(await call(h, provider, 'GET', poolsPath(providerB), undefined, { nonce }), 403);
    assertError(await call(h, provider, 'GET', poolsPath(provider), undefined, { nonce }), 401);
  });

  test('a nonce stays spent when its first request was refused with 400', async () => {
    const nonce = 'replay-after-400-00001';
    assertError(await call(h, provider, 'POST', poolsPath(provider), { name: 'x', location: 'mars', provisioner_type: 'proxmox' }, { nonce }), 400);
    const r = await call(h, provider, 'POST', poolsPath(provider), { name: 'replay-400', location: 'europe', provisioner_type: 'proxmox' }, { nonce });
    assertError(r, 401);
  });

  test('a nonce stays spent when its first request was a 409 conflict', async () => {
    const nonce = 'replay-after-409-00001';
    assertError(await call(h, provider, 'POST', poolsPath(provider), { name: 'europe-proxmox', location: 'europe', provisioner_type: 'proxmox' }, { nonce }), 409);
    assertError(await call(h, provider, 'GET', poolsPath(provider), undefined, { nonce }), 401);
  });

  test('an agent nonce stays spent when its first request was refused with 403', async () => {
    const nonce = 'agent-replay-403-00001';
    const first = await call(h, agent, 'GET', poolsPath(provider), undefined, { keyHeader: 'X-Agent-Pubkey', nonce });
    assertError(first, 403);
    const second = await call(h, agent, 'POST', heartbeatPath(provider), { version: '1.0.0' }, { keyHeader: 'X-Agent-Pubkey', nonce });
    assertError(second, 401);
  });

  test('an agent replaying an accepted heartbeat is 401', async () => {
    const nonce = 'agent-replay-ok-000001';
    const body = { version: '1.0.0' };
    assert.equal((await call(h, agent, 'POST', heartbeatPath(provider), body, { keyHeader: 'X-Agent-Pubkey', nonce })).status, 200);
    assertError(await call(h, agent, 'POST', heartbeatPath(provider), body, { keyHeader: 'X-Agent-Pubkey', nonce }), 401);
  });

  test('an unknown agent key (validly signed) is 401', async () => {
    const stranger = generateIdentity();
    const r = await agentCall(h, stranger, 'POST', heartbeatPath(provider), { version: '1.0.0' });
    assertError(r, 401);
  });

  test('a revoked agent key (validly signed) is 401', async () => {
    const doomed = await registerAgent(h, provider, poolId, 'doomed');
    assert.equal((await agentCall(h, doomed, 'POST', heartbeatPath(provider), { version: '1.0.0' })).status, 200);
    await mustOk(call(h, provider, 'DELETE', `/api/v1/providers/${provider.publicKey}/agents/${doomed.publicKey}`));
    const r = await agentCall(h, doomed, 'POST', heartbeatPath(provider), { version: '1.0.0' });
    assertError(r, 401);
    // Even on an endpoint it could never call, a revoked key is "not authenticated", not "forbidden".
    assertError(await agentCall(h, doomed, 'GET', poolsPath(provider)), 401);
  });

  test('a 401 comes before the body is looked at: invalid JSON with no signature is 401', async () => {
    const r = await rawCall(h, 'POST', poolsPath(provider), { body: '{not json' });
    assertError(r, 401);
  });
});

describe('403: authenticated but not allowed', () => {
  test('provider A signing under /providers/B/... is 403', async () => {
    assertError(await call(h, provider, 'GET', poolsPath(providerB)), 403);
    assertError(await call(h, provider, 'GET', `${poolsPath(providerB)}/${poolB}`), 403);
    assertError(await call(h, provider, 'POST', poolsPath(providerB), { name: 'intruder', location: 'europe', provisioner_type: 'proxmox' }), 403);
    assertError(await call(h, provider, 'DELETE', `${poolsPath(providerB)}/${poolB}`), 403);
    assertError(await call(h, provider, 'PUT', `/api/v1/providers/${providerB.publicKey}`, { name: 'hijack' }), 403);
    const list = await call(h, providerB, 'GET', poolsPath(providerB));
    assert.deepEqual(list.body.items.map((p: { name: string }) => p.name), ['europe-proxmox'], 'B still has exactly its own pool');
  });

  test('an agent calling a provider-only endpoint (pools list) is 403', async () => {
    assertError(await agentCall(h, agent, 'GET', poolsPath(provider)), 403);
    assertError(await agentCall(h, agent, 'POST', `${poolsPath(provider)}/${poolId}/setup-tokens`, {}), 403);
    assertError(await agentCall(h, agent, 'DELETE', `/api/v1/providers/${provider.publicKey}/agents/${agent.publicKey}`), 403);
  });

  test('an agent calling a customer endpoint is 403', async () => {
    const r = await agentCall(h, agent, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'nope' });
    assertError(r, 403);
  });

  test('an agent of provider A calling heartbeat under provider B is 403', async () => {
    assertError(await agentCall(h, agent, 'POST', heartbeatPath(providerB), { version: '1.0.0' }), 403);
    assertError(await agentCall(h, agentB, 'POST', heartbeatPath(provider), { version: '1.0.0' }), 403);
  });

  test('a provider calling the agent-only heartbeat is 403', async () => {
    assertError(await call(h, provider, 'POST', heartbeatPath(provider), { version: '1.0.0' }), 403);
  });

  test('an agent key sent as X-Public-Key on the heartbeat is 403 (it is not the provider)', async () => {
    assertError(await call(h, agent, 'POST', heartbeatPath(provider), { version: '1.0.0' }), 403);
  });
});

describe('DC_PUBLIC_URL', () => {
  let hp: Harness;
  let prov: Identity;

  before(async () => {
    hp = await startHarness({ DC_PUBLIC_URL: 'https://api.example.net' });
    prov = generateIdentity();
  });
  after(async () => {
    await hp?.close();
  });

  const send = (who: Identity, signHost: string, hostHeader: string, method = 'PUT', body: string | undefined = JSON.stringify({ name: 'P' })) => {
    const path = `/api/v1/providers/${who.publicKey}`;
    const headers = { host: hostHeader, ...signRequestHeaders(who, { method, host: signHost, path, body: body ?? '' }) };
    return rawCall(hp, method, path, { headers, ...(body !== undefined ? { body } : {}) });
  };

  test('a request signed for the DC_PUBLIC_URL authority is accepted regardless of the Host header', async () => {
    assert.equal((await send(prov, 'api.example.net', 'api.example.net')).status, 200);
    assert.equal((await send(prov, 'api.example.net', 'internal-replica-3:8080')).status, 200);
    assert.equal((await send(prov, 'api.example.net', TEST_HOST)).status, 200);
  });

  test('a request signed for the Host header value is refused when DC_PUBLIC_URL is set', async () => {
    assertError(await send(prov, TEST_HOST, TEST_HOST), 401);
    assertError(await send(prov, 'internal-replica-3:8080', 'internal-replica-3:8080'), 401);
  });

  test('the default https port is not part of the signed authority', async () => {
    assertError(await send(prov, 'api.example.net:443', 'api.example.net'), 401);
  });
});
