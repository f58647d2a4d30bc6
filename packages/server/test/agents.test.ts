// Agents (DESIGN.md "Pools, tokens, agents"): setup with a one-time token (result, delegation
// signature, every refusal, the order of checks, exactly one winner of a race, rate limiting),
// the shared server key, heartbeats and online status, and revocation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CLOCK_PAST_MS, delegationMessage } from '@dc/core';
import { generateIdentity, publicKeyFromHex, verifyMessage, type Identity } from '@dc/core/node';
import { sweepExpiredTokens } from '../src/jobs/sweeper.js';
import { heartbeatRewriteAfterSeconds } from '../src/routes/agents.js';
import type { Queryable } from '../src/db/db.js';
import { AgentAuthBatcher, type AgentAuthRequest } from '../src/store/agent-auth.js';
import { startServer } from '../src/server.js';
import {
  agentCall,
  call,
  createTestDb,
  mustOk,
  paidContract,
  providerWithPool,
  rawCall,
  registerAgent,
  startHarness,
  testConfig,
  type Harness,
  type Res,
  base,
  assertError,
} from './helpers.js';

let h: Harness;
let provider: Identity;
let poolId: string;
let serverKey: string;

before(async () => {
  // A generous setup limit: this file registers many agents from one address.
  h = await startHarness({ DC_SETUP_RATE_LIMIT_PER_MINUTE: '100000' });
  ({ provider, poolId } = await providerWithPool(h, { name: 'eu-proxmox', location: 'europe', provisioner_type: 'proxmox' }));
  serverKey = (await mustOk(rawCall(h, 'GET', '/api/v1/server-key'))).body.public_key;
});

after(async () => {
  await h?.close();
});



async function newToken(opts: { label?: string; p?: Identity; pool?: string; hh?: Harness } = {}): Promise<{ token: string; token_id: string }> {
  const p = opts.p ?? provider;
  const r = await call(opts.hh ?? h, p, 'POST', `${base(p)}/pools/${opts.pool ?? poolId}/setup-tokens`, opts.label ? { label: opts.label } : {});
  assert.equal(r.status, 201, r.text);
  return r.body;
}

function setup(token: string, agent: Identity = generateIdentity(), extra: Record<string, unknown> = {}, hh: Harness = h, headers: Record<string, string> = {}) {
  return call(hh, agent, 'POST', '/api/v1/agents/setup', { token, agent_pubkey: agent.publicKey, ...extra }, { keyHeader: 'X-Agent-Pubkey', headers });
}

async function isPending(tokenId: string, p = provider, pool = poolId): Promise<boolean> {
  const items = (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${pool}/setup-tokens`))).body.items;
  return items.some((x: { token_id: string }) => x.token_id === tokenId);
}

async function poolAgent(agent: Identity, p = provider, pool = poolId): Promise<any> {
  const d = (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${pool}`))).body;
  return d.agents.find((a: { agent_pubkey: string }) => a.agent_pubkey === agent.publicKey);
}

const heartbeat = (agent: Identity, body: unknown = { version: '1.2.3' }, p = provider) => agentCall(h, agent, 'POST', `${base(p)}/heartbeat`, body);

describe('setup', () => {
  test('setup is 201 with provider_pubkey, pool_id, pool_name, pool_location, provisioner_type, permissions and delegation', async () => {
    const { token } = await newToken();
    const agent = generateIdentity();
    const r = await setup(token, agent);
    assert.equal(r.status, 201, r.text);
    const b = r.body;
    assert.equal(b.provider_pubkey, provider.publicKey);
    assert.equal(b.pool_id, poolId);
    assert.equal(b.pool_name, 'eu-proxmox');
    assert.equal(b.pool_location, 'europe');
    assert.equal(b.provisioner_type, 'proxmox');
    assert.deepEqual([...b.permissions].sort(), ['fetch_contracts', 'heartbeat', 'provision']);
    assert.deepEqual(Object.keys(b.delegation).sort(), ['agent_pubkey', 'issued_at', 'permissions', 'pool_id', 'provider_pubkey']);
    assert.equal(b.delegation.provider_pubkey, provider.publicKey);
    assert.equal(b.delegation.agent_pubkey, agent.publicKey);
    assert.equal(b.delegation.pool_id, poolId);
    assert.deepEqual(b.delegation.permissions, b.permissions);
    assert.match(b.delegation.issued_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.ok(Math.abs(Date.parse(b.delegation.issued_at) - Date.now()) < 60_000);
    assert.match(b.delegation_signature, /^[0-9a-f]{128}$/);
  });

  test('delegation_signature verifies with core\'s delegationMessage against GET /api/v1/server-key', async () => {
    const { token } = await newToken();
    const r = await mustOk(setup(token));
    const key = publicKeyFromHex(serverKey);
    assert.equal(verifyMessage(key, delegationMessage(r.body.delegation), r.body.delegation_signature), true);
    // The signature binds every field: change any one and it no longer verifies.
    for (const field of ['provider_pubkey', 'agent_pubkey', 'pool_id', 'issued_at'] as const) {
      const changed = { ...r.body.delegation, [field]: field === 'issued_at' ? new Date(0).toISOString() : 'f'.repeat(64) };
      assert.equal(verifyMessage(key, delegationMessage(changed), r.body.delegation_signature), false, field);
    }
    const fewer = { ...r.body.delegation, permissions: ['heartbeat'] };
    assert.equal(verifyMessage(key, delegationMessage(fewer), r.body.delegation_signature), false);
    // Another key does not verify it.
    assert.equal(verifyMessage(publicKeyFromHex(generateIdentity().publicKey), delegationMessage(r.body.delegation), r.body.delegation_signature), false);
  });

  test('a registered agent can heartbeat right away', async () => {
    const agent = await registerAgent(h, provider, poolId, 'fresh');
    const r = await heartbeat(agent);
    assert.equal(r.status, 200, r.text);
  });

  test('an invalid token is 401 invalid_token', async () => {
    assertError(await setup('apt_europe_' + 'A'.repeat(32)), 401, 'invalid_token');
    assertError(await setup('not-a-token'), 401, 'invalid_token');
  });

  test('a used token is 409 token_used', async () => {
    const { token } = await newToken();
    assert.equal((await setup(token)).status, 201);
    assertError(await setup(token), 409, 'token_used');
    assertError(await setup(token), 409, 'token_used');
  });

  test('an expired token is 410 token_expired, and 401 invalid_token once the sweeper has deleted it', async () => {
    const { token, token_id } = await newToken();
    await h.db.query(`UPDATE agent_setup_tokens SET expires_at = now() - interval '2 hours' WHERE token_id = $1`, [token_id]);
    const agent = generateIdentity();
    assertError(await setup(token, agent), 410, 'token_expired');
    assertError(await setup(token, agent), 410, 'token_expired');
    const deleted = await sweepExpiredTokens(h.server.ctx);
    assert.ok(deleted >= 1, `sweeper deleted ${deleted}`);
    assertError(await setup(token, agent), 401, 'invalid_token');
    assert.equal((await agentCall(h, agent, 'POST', `${base(provider)}/heartbeat`, { version: '1' })).status, 401, 'no agent was registered');
  });

  test('the sweeper keeps unexpired and used tokens', async () => {
    const live = await newToken();
    const used = await newToken();
    await mustOk(setup(used.token));
    await h.db.query(`UPDATE agent_setup_tokens SET expires_at = now() - interval '2 hours' WHERE token_id = $1`, [used.token_id]);
    await sweepExpiredTokens(h.server.ctx);
    assert.ok(await isPending(live.token_id));
    assertError(await setup(used.token), 409, 'token_used');
  });

  test('setup signed by a key other than agent_pubkey is 401 and does not use the token', async () => {
    const { token, token_id } = await newToken();
    const claimed = generateIdentity();
    const signer = generateIdentity();
    const r = await call(h, signer, 'POST', '/api/v1/agents/setup', { token, agent_pubkey: claimed.publicKey }, { keyHeader: 'X-Agent-Pubkey' });
    assertError(r, 401);
    assert.ok(await isPending(token_id));
    assert.equal((await setup(token, claimed)).status, 201);
  });

  test('setup signed with X-Public-Key instead of X-Agent-Pubkey is 401 and does not use the token', async () => {
    const { token, token_id } = await newToken();
    const agent = generateIdentity();
    const r = await call(h, agent, 'POST', '/api/v1/agents/setup', { token, agent_pubkey: agent.publicKey });
    assertError(r, 401);
    assert.ok(await isPending(token_id));
  });

  test('unsigned setup is 401', async () => {
    const { token } = await newToken();
    const agent = generateIdentity();
    assertError(await rawCall(h, 'POST', '/api/v1/agents/setup', { body: JSON.stringify({ token, agent_pubkey: agent.publicKey }) }), 401);
  });

  test('a key already registered is 409 agent_exists and the token is not used up', async () => {
    const existing = await registerAgent(h, provider, poolId, 'existing');
    const { token, token_id } = await newToken();
    assertError(await setup(token, existing), 409, 'agent_exists');
    assert.ok(await isPending(token_id), 'the token is still pending');
    const fresh = generateIdentity();
    const r = await setup(token, fresh);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.delegation.agent_pubkey, fresh.publicKey);
  });

  test('a key registered with another provider is 409 agent_exists', async () => {
    const { provider: other, poolId: otherPool } = await providerWithPool(h, { name: 'other' });
    const theirs = await registerAgent(h, other, otherPool);
    const { token, token_id } = await newToken();
    assertError(await setup(token, theirs), 409, 'agent_exists');
    assert.ok(await isPending(token_id));
    // The existing registration is untouched: it still belongs to the other provider.
    assert.equal((await heartbeat(theirs, { version: '1' }, other)).status, 200);
    assert.equal((await heartbeat(theirs, { version: '1' }, provider)).status, 403);
  });

  test('a revoked agent\'s key cannot be registered again (409 agent_exists)', async () => {
    const old = await registerAgent(h, provider, poolId);
    await mustOk(call(h, provider, 'DELETE', `${base(provider)}/agents/${old.publicKey}`));
    const { token } = await newToken();
    assertError(await setup(token, old), 409, 'agent_exists');
    assertError(await heartbeat(old), 401, 'agent_revoked');
  });

  test('the agent label is the call\'s label, else the token\'s label, else null', async () => {
    const both = await newToken({ label: 'from-token' });
    const a1 = generateIdentity();
    await mustOk(setup(both.token, a1, { label: 'from-call' }));
    assert.equal((await poolAgent(a1)).label, 'from-call');

    const tokenOnly = await newToken({ label: 'token-label' });
    const a2 = generateIdentity();
    await mustOk(setup(tokenOnly.token, a2));
    assert.equal((await poolAgent(a2)).label, 'token-label');

    const neither = await newToken();
    const a3 = generateIdentity();
    await mustOk(setup(neither.token, a3));
    assert.equal((await poolAgent(a3)).label, null);

    const callOnly = await newToken();
    const a4 = generateIdentity();
    await mustOk(setup(callOnly.token, a4, { label: 'Node 4.b_x-y' }));
    assert.equal((await poolAgent(a4)).label, 'Node 4.b_x-y');
  });

  for (const [what, label] of [
    ['an empty label', ''],
    ['a label of 65 characters', 'n'.repeat(65)],
    ['a label with a newline', 'node\n1'],
    ['a label with a quote', 'node"1'],
    ['a label with non-ASCII', 'nöde'],
    ['a null label', null],
  ] as const) {
    test(`setup with ${what} is 400 and does not use the token`, async () => {
      const { token, token_id } = await newToken();
      const r = await setup(token, generateIdentity(), { label });
      assertError(r, 400);
      assert.match(r.body.error.message, /label/);
      assert.ok(await isPending(token_id));
    });
  }

  for (const [what, body] of [
    ['a missing token', (a: Identity) => ({ agent_pubkey: a.publicKey })],
    ['a numeric token', (a: Identity) => ({ token: 42, agent_pubkey: a.publicKey })],
    ['an unknown field', (a: Identity) => ({ token: 'apt_europe_x', agent_pubkey: a.publicKey, pool_id: poolId })],
  ] as const) {
    test(`setup with ${what} is 400`, async () => {
      const agent = generateIdentity();
      const r = await call(h, agent, 'POST', '/api/v1/agents/setup', body(agent), { keyHeader: 'X-Agent-Pubkey' });
      assertError(r, 400);
    });
  }

  test('setup checks the signature before the input: a bad body signed by the wrong key is 401', async () => {
    const signer = generateIdentity();
    const r = await call(h, signer, 'POST', '/api/v1/agents/setup', { agent_pubkey: generateIdentity().publicKey, label: '' }, { keyHeader: 'X-Agent-Pubkey' });
    assertError(r, 401);
  });

  test('setup checks the token before agent_exists: a used token with a registered key is 409 token_used', async () => {
    const existing = await registerAgent(h, provider, poolId);
    const { token } = await newToken();
    await mustOk(setup(token));
    assertError(await setup(token, existing), 409, 'token_used');
  });

  test('exactly one of 24 concurrent setups with one token succeeds; the rest are 409 token_used', async () => {
    const { token, token_id } = await newToken({ label: 'raced' });
    const agents = Array.from({ length: 24 }, () => generateIdentity());
    const results = await Promise.all(agents.map((a) => setup(token, a)));
    const statuses = results.map((r) => r.status);
    const winners = results.filter((r) => r.status === 201);
    assert.equal(winners.length, 1, `statuses: ${statuses.join(',')}`);
    for (const r of results) if (r.status !== 201) assertError(r, 409, 'token_used');
    assert.ok(!(await isPending(token_id)));
    // Exactly one delegation came out of it, for the winner.
    const keys = agents.map((a) => a.publicKey);
    const rows = (await h.db.query<{ agent_pubkey: string }>(`SELECT agent_pubkey FROM provider_agent_delegations WHERE agent_pubkey = ANY($1::text[])`, [keys])).rows;
    assert.deepEqual(rows.map((r) => r.agent_pubkey), [winners[0]!.body.delegation.agent_pubkey]);
    const used = (await h.db.query<{ used_by_agent: string }>(`SELECT used_by_agent FROM agent_setup_tokens WHERE token_id = $1`, [token_id])).rows[0];
    assert.equal(used?.used_by_agent, winners[0]!.body.delegation.agent_pubkey);
  });

  test('one key racing with two tokens registers once; the losing token stays unused', async () => {
    const t1 = await newToken();
    const t2 = await newToken();
    const agent = generateIdentity();
    const [r1, r2] = await Promise.all([setup(t1.token, agent), setup(t2.token, agent)]);
    const statuses = [r1.status, r2.status].sort();
    assert.deepEqual(statuses, [201, 409], `${r1.text} / ${r2.text}`);
    const loser = r1.status === 409 ? r1 : r2;
    assertError(loser, 409, 'agent_exists');
    const loserToken = r1.status === 409 ? t1 : t2;
    assert.ok(await isPending(loserToken.token_id), 'the losing token is still usable');
  });
});

describe('setup rate limit', () => {
  let hl: Harness;
  let hp: Harness;
  let lp: Identity;
  let lpool: string;

  before(async () => {
    hl = await startHarness({ DC_SETUP_RATE_LIMIT_PER_MINUTE: '3' });
    hp = await startHarness({ DC_SETUP_RATE_LIMIT_PER_MINUTE: '3', DC_TRUST_PROXY: 'true' });
    ({ provider: lp, poolId: lpool } = await providerWithPool(hl));
  });
  after(async () => {
    await hl?.close();
    await hp?.close();
  });

  /**
   * Runs `attempts` with fresh counters and returns their results, retrying when they happened to
   * straddle a minute boundary (the counters are per calendar minute), so no test depends on timing.
   */
  async function inOneWindow(hh: Harness, attempts: () => Promise<Res[]>): Promise<Res[]> {
    for (let i = 0; i < 5; i++) {
      await hh.db.query(`DELETE FROM rate_limits`);
      const results = await attempts();
      const windows = (await hh.db.query<{ n: number }>(`SELECT count(DISTINCT window_start)::int AS n FROM rate_limits`)).rows[0]!.n;
      if (windows === 1) return results;
    }
    throw new Error('the attempts straddled a minute boundary five times');
  }

  const badAttempt = (hh: Harness, headers: Record<string, string> = {}) =>
    rawCall(hh, 'POST', '/api/v1/agents/setup', { body: JSON.stringify({ token: 'x', agent_pubkey: 'y' }), headers });

  test('the 4th setup attempt from one address in a minute is 429 with Retry-After, even when earlier attempts were invalid', async () => {
    let token = '';
    let token_id = '';
    const agent = generateIdentity();
    const results = await inOneWindow(hl, async () => {
      ({ token, token_id } = await newToken({ p: lp, pool: lpool, hh: hl })); // not rate limited
      return [
        await badAttempt(hl), // unsigned
        await call(hl, generateIdentity(), 'POST', '/api/v1/agents/setup', { token, agent_pubkey: agent.publicKey }, { keyHeader: 'X-Agent-Pubkey' }), // wrong key
        await setup('apt_europe_' + 'Z'.repeat(30), generateIdentity(), {}, hl), // invalid token
        await setup(token, agent, {}, hl), // valid, but over the limit
      ];
    });
    assert.deepEqual(results.map((r) => r.status), [401, 401, 401, 429]);
    const limited = results[3]!;
    assertError(limited, 429, 'rate_limited');
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${String(limited.headers['retry-after'])}`);
    // The refused attempt did not use the token: in the next window it succeeds.
    const items = (await mustOk(call(hl, lp, 'GET', `${base(lp)}/pools/${lpool}/setup-tokens`))).body.items;
    assert.ok(items.some((x: { token_id: string }) => x.token_id === token_id));
    await hl.db.query(`DELETE FROM rate_limits`);
    assert.equal((await setup(token, agent, {}, hl)).status, 201);
  });

  test('every attempt counts, including malformed JSON', async () => {
    const results = await inOneWindow(hl, async () => {
      const out: Res[] = [];
      for (let i = 0; i < 4; i++) out.push(await rawCall(hl, 'POST', '/api/v1/agents/setup', { body: '{oops' }));
      return out;
    });
    assert.equal(results[3]!.status, 429);
    assert.ok(results.slice(0, 3).every((r) => r.status === 401 || r.status === 400), results.map((r) => r.status).join(','));
  });

  test('without DC_TRUST_PROXY, X-Forwarded-For is ignored: all attempts share one counter', async () => {
    const results = await inOneWindow(hl, async () => [
      await badAttempt(hl, { 'x-forwarded-for': '10.0.0.1' }),
      await badAttempt(hl, { 'x-forwarded-for': '10.0.0.2' }),
      await badAttempt(hl, { 'x-forwarded-for': '10.0.0.3' }),
      await badAttempt(hl, { 'x-forwarded-for': '10.0.0.4' }),
    ]);
    assert.deepEqual(results.map((r) => r.status), [401, 401, 401, 429]);
  });

  test('with DC_TRUST_PROXY=true, different X-Forwarded-For addresses have separate counters', async () => {
    const results = await inOneWindow(hp, async () => [
      await badAttempt(hp, { 'x-forwarded-for': '10.0.0.1' }),
      await badAttempt(hp, { 'x-forwarded-for': '10.0.0.1' }),
      await badAttempt(hp, { 'x-forwarded-for': '10.0.0.1' }),
      await badAttempt(hp, { 'x-forwarded-for': '10.0.0.1' }), // 4th from 10.0.0.1
      await badAttempt(hp, { 'x-forwarded-for': '10.0.0.2' }), // 1st from 10.0.0.2
      await badAttempt(hp, { 'x-forwarded-for': '10.0.0.2' }),
    ]);
    assert.deepEqual(results.map((r) => r.status), [401, 401, 401, 429, 401, 401]);
  });

  test('with DC_TRUST_PROXY=true, a client cannot dodge the limit by forging X-Forwarded-For entries', async () => {
    // The proxy appends the real client address last; only that entry is trusted.
    const results = await inOneWindow(hp, async () => [
      await badAttempt(hp, { 'x-forwarded-for': '1.1.1.1, 10.0.0.9' }),
      await badAttempt(hp, { 'x-forwarded-for': '2.2.2.2, 10.0.0.9' }),
      await badAttempt(hp, { 'x-forwarded-for': '3.3.3.3, 10.0.0.9' }),
      await badAttempt(hp, { 'x-forwarded-for': '4.4.4.4, 10.0.0.9' }),
    ]);
    assert.deepEqual(results.map((r) => r.status), [401, 401, 401, 429]);
  });

  test('the setup counter is shared through the database, so another replica sees it', async () => {
    // A second server on the same database: attempts on either count against one limit.
    const replica = await startServer(testConfig({ DC_SETUP_RATE_LIMIT_PER_MINUTE: '3' }), { db: hl.db, listen: false, jobs: false, logger: false });
    try {
      const other: Harness = { ...hl, server: replica };
      const results = await inOneWindow(hl, async () => [await badAttempt(hl), await badAttempt(other), await badAttempt(hl), await badAttempt(other)]);
      assert.deepEqual(results.map((r) => r.status), [401, 401, 401, 429]);
    } finally {
      await replica.close();
    }
  });

  test('the rate limit applies only to setup: other endpoints from the same address are unaffected', async () => {
    await inOneWindow(hl, async () => [await badAttempt(hl), await badAttempt(hl), await badAttempt(hl), await badAttempt(hl)]);
    assert.equal((await call(hl, lp, 'GET', `${base(lp)}/pools`)).status, 200);
    assert.equal((await rawCall(hl, 'GET', '/api/v1/server-key')).status, 200);
  });
});

describe('server key', () => {
  test('two servers started on the same database publish the same key', async () => {
    const db = await createTestDb();
    try {
      const opts = { db: db.db, listen: false, jobs: false, logger: false } as const;
      const [s1, s2] = await Promise.all([startServer(testConfig(), opts), startServer(testConfig(), opts)]);
      const s3 = await startServer(testConfig(), opts);
      try {
        const keys = await Promise.all(
          [s1, s2, s3].map(async (s) => JSON.parse((await s.app.inject({ method: 'GET', url: '/api/v1/server-key' })).body).public_key as string),
        );
        assert.match(keys[0]!, /^[0-9a-f]{64}$/);
        assert.equal(keys[1], keys[0]);
        assert.equal(keys[2], keys[0]);
        assert.equal(s1.ctx.serverKey.publicKey, keys[0]);
        const rows = (await db.db.query<{ public_key: string }>(`SELECT public_key FROM server_keys`)).rows;
        assert.deepEqual(rows, [{ public_key: keys[0] }]);
      } finally {
        await s1.close();
        await s2.close();
        await s3.close();
      }
    } finally {
      await db.drop();
    }
  });

  test('the server key survives a restart (it is the database row, not process memory)', async () => {
    const before = serverKey;
    const again = await startServer(testConfig(), { db: h.db, listen: false, jobs: false, logger: false });
    try {
      assert.equal(again.ctx.serverKey.publicKey, before);
    } finally {
      await again.close();
    }
  });
});

describe('heartbeat', () => {
  test('heartbeat returns acknowledged, pool_id, pool_name and next_heartbeat_seconds', async () => {
    const agent = await registerAgent(h, provider, poolId, 'hb');
    const r = await heartbeat(agent, { version: '0.5.2', provisioner_type: 'proxmox', active_contracts: 3, capabilities: { gpu: false, cores: 32 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.acknowledged, true);
    assert.equal(r.body.pool_id, poolId);
    assert.equal(r.body.pool_name, 'eu-proxmox');
    assert.ok(Number.isInteger(r.body.next_heartbeat_seconds));
    assert.ok(r.body.next_heartbeat_seconds > 0 && r.body.next_heartbeat_seconds < 90, 'beats at least once per offline window');
    const row = (await h.db.query<any>(`SELECT version, provisioner_type, active_contracts, capabilities FROM agent_status WHERE agent_pubkey = $1`, [agent.publicKey])).rows[0];
    assert.deepEqual(row, { version: '0.5.2', provisioner_type: 'proxmox', active_contracts: 3, capabilities: { gpu: false, cores: 32 } });
  });

  test('heartbeat pool_name follows a pool rename', async () => {
    const { provider: p, poolId: pool } = await providerWithPool(h, { name: 'old-name' });
    const agent = await registerAgent(h, p, pool);
    await mustOk(call(h, p, 'PUT', `${base(p)}/pools/${pool}`, { name: 'new-name' }));
    const r = await mustOk(heartbeat(agent, { version: '1' }, p));
    assert.equal(r.body.pool_name, 'new-name');
  });

  for (const [what, body] of [
    ['a version with a space ("a b")', { version: 'a b' }],
    ['an empty version', { version: '' }],
    ['a version of 33 characters', { version: '1'.repeat(33) }],
    ['a missing version', {}],
    ['a numeric version', { version: 1 }],
    ['an unknown provisioner_type', { version: '1', provisioner_type: 'docker' }],
    ['negative active_contracts', { version: '1', active_contracts: -1 }],
    ['capabilities that are an array', { version: '1', capabilities: ['gpu'] }],
    ['capabilities that are a string', { version: '1', capabilities: 'gpu' }],
  ] as const) {
    test(`heartbeat with ${what} is 400`, async () => {
      const agent = await registerAgent(h, provider, poolId);
      const r = await heartbeat(agent, body);
      assertError(r, 400);
      assert.equal((await poolAgent(agent)).last_seen_at, null, 'a refused heartbeat does not count as seen');
    });
  }

  test('heartbeat with capabilities over 8 KiB is 400; just under is accepted', async () => {
    const agent = await registerAgent(h, provider, poolId);
    const big = { blob: 'x'.repeat(8 * 1024) };
    const r = await heartbeat(agent, { version: '1', capabilities: big });
    assertError(r, 400);
    assert.match(r.body.error.message, /capabilities/);
    const ok = await heartbeat(agent, { version: '1', capabilities: { blob: 'x'.repeat(8 * 1024 - 20) } });
    assert.equal(ok.status, 200, ok.text);
  });

  test('agent status is offline before the first heartbeat, online after, and offline once last_seen_at is older than DC_AGENT_OFFLINE_AFTER_SECONDS', async () => {
    const agent = await registerAgent(h, provider, poolId, 'status');
    let a = await poolAgent(agent);
    assert.equal(a.status, 'offline');
    assert.equal(a.last_seen_at, null);
    assert.equal(a.version, null);

    await mustOk(heartbeat(agent, { version: '2.0.0' }));
    a = await poolAgent(agent);
    assert.equal(a.status, 'online');
    assert.equal(a.version, '2.0.0');
    assert.notEqual(a.last_seen_at, null);

    // Default cut-off 90 s: 80 s ago is online, 100 s ago is offline.
    await h.db.query(`UPDATE agent_status SET last_seen_at = now() - interval '80 seconds' WHERE agent_pubkey = $1`, [agent.publicKey]);
    assert.equal((await poolAgent(agent)).status, 'online');
    await h.db.query(`UPDATE agent_status SET last_seen_at = now() - interval '100 seconds' WHERE agent_pubkey = $1`, [agent.publicKey]);
    a = await poolAgent(agent);
    assert.equal(a.status, 'offline');
    assert.notEqual(a.last_seen_at, null, 'offline agents keep their last_seen_at');

    await mustOk(heartbeat(agent, { version: '2.0.1' }));
    a = await poolAgent(agent);
    assert.equal(a.status, 'online');
    assert.equal(a.version, '2.0.1');
  });

  test('DC_AGENT_OFFLINE_AFTER_SECONDS sets the cut-off and next_heartbeat_seconds stays inside it', async () => {
    const hh = await startHarness({ DC_AGENT_OFFLINE_AFTER_SECONDS: '600' });
    try {
      const { provider: p, poolId: pool } = await providerWithPool(hh);
      const agent = await registerAgent(hh, p, pool);
      const r = await mustOk(agentCall(hh, agent, 'POST', `${base(p)}/heartbeat`, { version: '1' }));
      assert.ok(r.body.next_heartbeat_seconds > 0 && r.body.next_heartbeat_seconds < 600);
      const status = async () => (await mustOk(call(hh, p, 'GET', `${base(p)}/pools/${pool}`))).body.agents[0].status;
      await hh.db.query(`UPDATE agent_status SET last_seen_at = now() - interval '300 seconds'`);
      assert.equal(await status(), 'online');
      await hh.db.query(`UPDATE agent_status SET last_seen_at = now() - interval '601 seconds'`);
      assert.equal(await status(), 'offline');
    } finally {
      await hh.close();
    }
  });
});

describe('heartbeat recorded in the statement that spends its nonce', () => {
  const lastSeenAge = async (agent: Identity): Promise<number | null> =>
    (await h.db.query<{ age: number | null }>(
      `SELECT extract(epoch FROM now() - last_seen_at)::float8 AS age FROM agent_status WHERE agent_pubkey = $1`, [agent.publicKey],
    )).rows[0]?.age ?? null;
  const backdate = (agent: Identity, seconds: number) =>
    h.db.query(`UPDATE agent_status SET last_seen_at = now() - make_interval(secs => $2) WHERE agent_pubkey = $1`, [agent.publicKey, seconds]);
  const signedAs = (agent: Identity, body: unknown, nonce: string, p = provider) =>
    call(h, agent, 'POST', `${base(p)}/heartbeat`, body, { keyHeader: 'X-Agent-Pubkey', nonce });

  test('an unchanged report inside the rewrite bound keeps last_seen_at; past it, or changed, it is written (the statement, with a 60 s bound)', async () => {
    const agent = await registerAgent(h, provider, poolId);
    const report = { version: '3.0.0', active_contracts: 1, capabilities: { cores: 8 } };
    let n = 0;
    const batcher = new AgentAuthBatcher(h.db, 60);
    const beat = (r: typeof report) => batcher.spend(
      { agentPubkey: agent.publicKey, nonce: `rewrite-bound-${n++}-nonce`, timestampMs: String(Date.now()), pathProvider: provider.publicKey, heartbeat: r });
    assert.ok((await beat(report)).heartbeat, 'recorded');
    await backdate(agent, 30);
    const again = await beat(report);
    assert.equal(again.fresh, 1, 'the nonce is spent all the same');
    assert.equal(again.heartbeat?.pool_id, poolId, 'and the answer is the same');
    assert.ok((await lastSeenAge(agent))! >= 30, 'unchanged report 30 s later: not rewritten');
    await beat({ ...report, active_contracts: 2 });
    assert.ok((await lastSeenAge(agent))! < 5, 'a changed report is written at once');
    const row = (await h.db.query<{ active_contracts: number }>(`SELECT active_contracts FROM agent_status WHERE agent_pubkey = $1`, [agent.publicKey])).rows[0]!;
    assert.equal(row.active_contracts, 2);
    await backdate(agent, 61);
    await beat({ ...report, active_contracts: 2 });
    assert.ok((await lastSeenAge(agent))! < 5, 'the same report past the bound is written');
  });

  test('the route\'s bound is one second, a tenth of a shorter cutoff', () => {
    assert.equal(heartbeatRewriteAfterSeconds(90), 1);
    assert.equal(heartbeatRewriteAfterSeconds(5), 0.5);
  });

  test('a replayed beat is 401 and writes nothing, though a fresh one would have been written', async () => {
    const agent = await registerAgent(h, provider, poolId);
    const nonce = 'replayed-heartbeat-0001';
    await mustOk(signedAs(agent, { version: '1.0.0' }, nonce));
    await backdate(agent, 60);
    assertError(await signedAs(agent, { version: '1.0.0' }, nonce), 401, 'replayed_request');
    assert.ok((await lastSeenAge(agent))! >= 60);
  });

  test('an agent beating under another provider is 403 and its own row stays as it was', async () => {
    const agent = await registerAgent(h, provider, poolId);
    await mustOk(heartbeat(agent, { version: '1.0.0' }));
    await backdate(agent, 60);
    const other = generateIdentity();
    assertError(await heartbeat(agent, { version: '9.9.9' }, other), 403);
    const row = (await h.db.query<{ version: string }>(`SELECT version FROM agent_status WHERE agent_pubkey = $1`, [agent.publicKey])).rows[0]!;
    assert.equal(row.version, '1.0.0');
    assert.ok((await lastSeenAge(agent))! >= 60);
  });

  for (const [what, body] of [
    ['fails the schema', { version: 'a b' }],
    ['has capabilities over 8 KiB', { version: '1', capabilities: { blob: 'x'.repeat(8 * 1024) } }],
    ['holds U+0000', { version: '1', capabilities: { note: 'a\u0000b' } }],
  ] as const) {
    test(`a beat that ${what} is 400, writes nothing, and its nonce is spent`, async () => {
      const agent = await registerAgent(h, provider, poolId);
      await mustOk(heartbeat(agent, { version: '1.0.0' }));
      await backdate(agent, 60);
      const nonce = `bad-heartbeat-${what.replace(/[^a-z0-9]/g, '')}`.slice(0, 40);
      assertError(await signedAs(agent, body, nonce), 400);
      assert.ok((await lastSeenAge(agent))! >= 60, 'not seen');
      assertError(await signedAs(agent, body, nonce), 401, 'replayed_request');
    });
  }
});

describe('agent auth in batches (store/agent-auth.ts)', () => {
  /** A batcher over h.db, counting the statements it sends. */
  const countingBatcher = () => {
    const seen = { statements: 0 };
    const db: Queryable = {
      query: (sql, params, opts) => {
        seen.statements++;
        return h.db.query(sql, params, opts);
      },
      exec: (sql) => h.db.exec(sql),
    };
    return { batcher: new AgentAuthBatcher(db, 1), seen };
  };
  const req = (agent: Identity, nonce: string, extra: Partial<AgentAuthRequest> = {}): AgentAuthRequest =>
    ({ agentPubkey: agent.publicKey, nonce, timestampMs: String(Date.now()), pathProvider: provider.publicKey, ...extra });

  test('requests of one turn go as one statement, and each keeps its own outcome', async () => {
    const good = await Promise.all([0, 1, 2, 3, 4].map((i) => registerAgent(h, provider, poolId, `batch-${i}`)));
    const replayer = await registerAgent(h, provider, poolId, 'batch-replayer');
    const revoked = await registerAgent(h, provider, poolId, 'batch-revoked');
    await mustOk(heartbeat(revoked, { version: '1.0.0' }));
    assert.equal((await call(h, provider, 'DELETE', `${base(provider)}/agents/${revoked.publicKey}`)).status, 204);
    const stranger = generateIdentity();
    const elsewhere = await registerAgent(h, provider, poolId, 'batch-elsewhere');
    const late = await registerAgent(h, provider, poolId, 'batch-late');
    const { batcher, seen } = countingBatcher();
    await batcher.spend(req(replayer, 'batch-replayed-nonce-01'));
    seen.statements = 0;

    const report = { version: '2.0.0', active_contracts: 0 };
    const [claims, beats, replay, rev, unknown, foreign, stale] = await Promise.all([
      Promise.all(good.slice(0, 2).map((a, i) => batcher.spend(req(a, `batch-claim-nonce-${i}`)))),
      Promise.all(good.slice(2).map((a, i) => batcher.spend(req(a, `batch-beat-nonce-${i}`, { heartbeat: report })))),
      batcher.spend(req(replayer, 'batch-replayed-nonce-01', { heartbeat: report })),
      batcher.spend(req(revoked, 'batch-revoked-nonce-01', { heartbeat: report })),
      batcher.spend(req(stranger, 'batch-stranger-nonce-1')),
      batcher.spend(req(elsewhere, 'batch-elsewhere-nonce', { heartbeat: report, pathProvider: generateIdentity().publicKey })),
      batcher.spend(req(late, 'batch-late-nonce-0001', { heartbeat: report, timestampMs: String(Date.now() - MAX_CLOCK_PAST_MS - 60_000) })),
    ]);
    assert.equal(seen.statements, 1, 'one statement for the whole turn');
    for (const c of claims) {
      assert.deepEqual(c, { in_window: true, fresh: 1, provider_pubkey: provider.publicKey, pool_id: poolId, revoked: false, heartbeat: null });
    }
    for (const b of beats) {
      assert.equal(b.fresh, 1);
      assert.deepEqual(b.heartbeat, { pool_id: poolId, pool_name: b.heartbeat?.pool_name, state: 'active', drained: false });
      assert.ok(b.heartbeat?.pool_name, 'the pool is named');
    }
    assert.equal(replay.fresh, 0, 'a spent nonce is a replay inside a batch too');
    assert.equal(replay.heartbeat, null);
    assert.equal(rev.revoked, true);
    assert.equal(rev.heartbeat, null);
    assert.equal(unknown.provider_pubkey, null, 'unknown agent');
    assert.equal(unknown.fresh, 1, 'its nonce is spent all the same');
    assert.equal(foreign.provider_pubkey, provider.publicKey);
    assert.equal(foreign.heartbeat, null, 'not recorded under another provider');
    assert.equal(stale.in_window, false);
    assert.equal(stale.fresh, 0, 'out of the window: the nonce is not spent');
    const status = await h.db.query<{ agent_pubkey: string; version: string }>(
      `SELECT agent_pubkey, version FROM agent_status WHERE agent_pubkey = ANY($1)`,
      [[...good, replayer, revoked, elsewhere, late].map((a) => a.publicKey)],
    );
    assert.deepEqual(
      status.rows.filter((r) => r.version === '2.0.0').map((r) => r.agent_pubkey).sort(),
      good.slice(2).map((a) => a.publicKey).sort(),
      'only the three valid heartbeats were written',
    );
  });

  test('a turn without heartbeats (the nonce-only statement) keeps each outcome too', async () => {
    const agent = await registerAgent(h, provider, poolId, 'batch-nonces-only');
    const other = await registerAgent(h, provider, poolId, 'batch-nonces-only-2');
    const late = await registerAgent(h, provider, poolId, 'batch-nonces-only-3');
    const { batcher, seen } = countingBatcher();
    await batcher.spend(req(other, 'nonces-only-spent-01'));
    seen.statements = 0;
    const [ok, replay, unknown, stale] = await Promise.all([
      batcher.spend(req(agent, 'nonces-only-fresh-01')),
      batcher.spend(req(other, 'nonces-only-spent-01')),
      batcher.spend(req(generateIdentity(), 'nonces-only-nobody-1')),
      batcher.spend(req(late, 'nonces-only-late-01', { timestampMs: String(Date.now() + 120_000) })),
    ]);
    assert.equal(seen.statements, 1);
    assert.deepEqual(ok, { in_window: true, fresh: 1, provider_pubkey: provider.publicKey, pool_id: poolId, revoked: false, heartbeat: null });
    assert.equal(replay.fresh, 0);
    assert.equal(replay.provider_pubkey, provider.publicKey);
    assert.deepEqual([unknown.fresh, unknown.provider_pubkey], [1, null]);
    assert.deepEqual([stale.in_window, stale.fresh], [false, 0]);
  });

  test('one agent twice in a turn goes in two statements: two nonces both spent, one nonce spent once', async () => {
    const agent = await registerAgent(h, provider, poolId, 'batch-twice');
    const { batcher, seen } = countingBatcher();
    const two = await Promise.all([batcher.spend(req(agent, 'twice-nonce-a-0001')), batcher.spend(req(agent, 'twice-nonce-b-0001'))]);
    assert.deepEqual(two.map((r) => r.fresh), [1, 1]);
    assert.equal(seen.statements, 2);
    const same = await Promise.all([0, 1, 2, 3].map(() => batcher.spend(req(agent, 'twice-same-nonce-01', { heartbeat: { version: '1.0.0' } }))));
    assert.deepEqual(same.map((r) => r.fresh).sort(), [0, 0, 0, 1]);
    assert.equal(same.filter((r) => r.heartbeat).length, 1, 'recorded once');
  });

  test('an item that breaks the statement fails alone; the others of its batch are answered, their nonces spent once', async () => {
    const ok1 = await registerAgent(h, provider, poolId, 'batch-isolate-ok1');
    const bad = await registerAgent(h, provider, poolId, 'batch-isolate-bad');
    const ok2 = await registerAgent(h, provider, poolId, 'batch-isolate-ok2');
    const batcher = new AgentAuthBatcher(h.db, 1);
    // U+0000 never gets this far over HTTP (the input guard refuses it); jsonb cannot hold it.
    const out = await Promise.allSettled([
      batcher.spend(req(ok1, 'isolate-nonce-ok1-01', { heartbeat: { version: '1.0.0' } })),
      batcher.spend(req(bad, 'isolate-nonce-bad-01', { heartbeat: { version: '1.0.0', capabilities: { note: 'a\u0000b' } } })),
      batcher.spend(req(ok2, 'isolate-nonce-ok2-01', { pathProvider: '%00\u0000' })),
    ]);
    assert.equal(out[0].status, 'fulfilled');
    assert.equal(out[1].status, 'rejected');
    assert.equal(out[2].status, 'fulfilled');
    assert.equal((out[0] as PromiseFulfilledResult<{ fresh: number }>).value.fresh, 1);
    assert.equal((out[2] as PromiseFulfilledResult<{ fresh: number }>).value.fresh, 1);
    const again = await batcher.spend(req(ok1, 'isolate-nonce-ok1-01'));
    assert.equal(again.fresh, 0, 'spent by the retry alone, not twice');
  });

  test('past 64 items a turn takes more statements, and every item is answered', async () => {
    const agents = await Promise.all(Array.from({ length: 70 }, (_, i) => registerAgent(h, provider, poolId, `batch-many-${i}`)));
    const { batcher, seen } = countingBatcher();
    const out = await Promise.all(agents.map((a, i) => batcher.spend(req(a, `batch-many-nonce-${i}`, { heartbeat: { version: '1.0.0' } }))));
    assert.equal(seen.statements, 2);
    assert.ok(out.every((r) => r.fresh === 1 && r.heartbeat?.pool_id === poolId));
  });

  test('the same signed heartbeat sent ten times at once is accepted once', async () => {
    const agent = await registerAgent(h, provider, poolId, 'batch-http-replay');
    const nonce = 'http-replay-race-nonce-1';
    const res = await Promise.all(Array.from({ length: 10 }, () =>
      call(h, agent, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.0' }, { keyHeader: 'X-Agent-Pubkey', nonce })));
    assert.deepEqual(res.map((r) => r.status).sort(), [200, ...Array(9).fill(401)]);
    for (const r of res.filter((x) => x.status === 401)) assert.equal(r.body.error.code, 'replayed_request');
  });
});

describe('revoke', () => {
  test('DELETE /providers/{pk}/agents/{agent} is 204; the agent\'s next signed call is 401 agent_revoked; it stays listed as revoked', async () => {
    const agent = await registerAgent(h, provider, poolId, 'to-revoke');
    await mustOk(heartbeat(agent));
    const before = (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools/${poolId}`))).body;
    const r = await call(h, provider, 'DELETE', `${base(provider)}/agents/${agent.publicKey}`);
    assert.equal(r.status, 204, r.text);
    assertError(await heartbeat(agent), 401, 'agent_revoked');
    const after = (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools/${poolId}`))).body;
    const listed = after.agents.find((a: any) => a.agent_pubkey === agent.publicKey);
    assert.ok(listed, 'still listed');
    assert.equal(listed.status, 'revoked');
    assert.equal(listed.label, 'to-revoke');
    assert.notEqual(listed.revoked_at, null);
    assert.equal(after.agents_count, before.agents_count - 1);
    assert.equal(after.online_count, before.online_count - 1);
  });

  test('revoking an agent twice is still 204', async () => {
    const agent = await registerAgent(h, provider, poolId);
    assert.equal((await call(h, provider, 'DELETE', `${base(provider)}/agents/${agent.publicKey}`)).status, 204);
    assert.equal((await call(h, provider, 'DELETE', `${base(provider)}/agents/${agent.publicKey}`)).status, 204);
  });

  test('revoking an unknown agent is 404', async () => {
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/agents/${generateIdentity().publicKey}`), 404);
  });

  test('revoking with a malformed agent key is 400', async () => {
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/agents/not-a-key`), 400);
  });

  test('another provider cannot revoke the agent (404 under its own path, 403 under the owner\'s)', async () => {
    const agent = await registerAgent(h, provider, poolId);
    const { provider: other } = await providerWithPool(h, { name: 'other' });
    assertError(await call(h, other, 'DELETE', `${base(other)}/agents/${agent.publicKey}`), 404);
    assertError(await call(h, other, 'DELETE', `${base(provider)}/agents/${agent.publicKey}`), 403);
    assert.equal((await heartbeat(agent)).status, 200, 'the agent still works');
    assert.equal((await poolAgent(agent)).status, 'online');
  });

  test('an agent cannot revoke itself or a sibling (403)', async () => {
    const a = await registerAgent(h, provider, poolId);
    const b = await registerAgent(h, provider, poolId);
    assertError(await agentCall(h, a, 'DELETE', `${base(provider)}/agents/${b.publicKey}`), 403);
    assertError(await agentCall(h, a, 'DELETE', `${base(provider)}/agents/${a.publicKey}`), 403);
    assert.equal((await heartbeat(b)).status, 200);
  });

  test('revoking an agent releases the lease it holds and records it', async () => {
    const agent = await registerAgent(h, provider, poolId, 'holder');
    const contractId = await paidContract(h, provider, { offering_id: 'revoke-lease', datacenter_country: 'DE' });
    await h.db.query(
      `UPDATE contract_sign_requests SET provisioning_lock_agent = $1, lease_agent = $1, provisioning_lock_at = now(),
         provisioning_lock_expires_at = now() + interval '5 minutes', provisioning_lock_token = provisioning_lock_token + 1
       WHERE contract_id = $2`,
      [agent.publicKey, contractId],
    );
    assert.equal((await call(h, provider, 'DELETE', `${base(provider)}/agents/${agent.publicKey}`)).status, 204);
    const c = (await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${contractId}`))).body;
    assert.equal(c.lock_agent, null);
    assert.equal(c.lock_expires_at, null);
    assert.equal(c.status, 'accepted');
    const events = (await mustOk(call(h, provider, 'GET', `${base(provider)}/contracts/${contractId}/events`))).body.items;
    const released = events.filter((e: any) => e.event === 'released');
    assert.equal(released.length, 1, JSON.stringify(events));
    assert.equal(released[0].agent_pubkey, agent.publicKey);
    assert.equal(released[0].lock_token, c.lock_token);
  });
});
