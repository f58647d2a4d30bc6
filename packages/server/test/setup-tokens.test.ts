// Setup tokens (DESIGN.md "Pools, tokens, agents"): format and entropy, hash-only storage,
// lifetime, the setup command, the pending list, revocation, and isolation between providers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { agentSetupCommand, setupOneLiner } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import { agentCall, call, mustOk, providerWithPool, rawCall, startHarness, type Harness, type Res, base, assertError } from './helpers.js';

const TOKEN_RE = /^apt_europe_[A-Za-z0-9_-]{22,}$/;
const HOUR_MS = 3_600_000;

let h: Harness;
let provider: Identity;
let poolId: string;
let serverKey: string;

before(async () => {
  h = await startHarness({ DC_SETUP_RATE_LIMIT_PER_MINUTE: '100000' });
  ({ provider, poolId } = await providerWithPool(h, { name: 'eu', location: 'europe' }));
  serverKey = (await mustOk(rawCall(h, 'GET', '/api/v1/server-key'))).body.public_key;
});

after(async () => {
  await h?.close();
});



async function createToken(body: Record<string, unknown> = {}, p = provider, pool = poolId, hh = h): Promise<any> {
  const r = await call(hh, p, 'POST', `${base(p)}/pools/${pool}/setup-tokens`, body);
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function pending(p = provider, pool = poolId): Promise<any[]> {
  return (await mustOk(call(h, p, 'GET', `${base(p)}/pools/${pool}/setup-tokens`))).body.items;
}

function setup(token: string, agent = generateIdentity(), extra: Record<string, unknown> = {}) {
  return agentCall(h, agent, 'POST', '/api/v1/agents/setup', { token, agent_pubkey: agent.publicKey, ...extra });
}

/** Moves a token's expiry into the past (the database clock decides expiry). */
async function expire(tokenId: string): Promise<void> {
  const r = await h.db.query(`UPDATE agent_setup_tokens SET expires_at = now() - interval '1 second' WHERE token_id = $1`, [tokenId]);
  assert.equal(r.rowCount, 1);
}

describe('format and storage', () => {
  test('creating a token is 201 with token, token_id, pool_id, label, created_at, expires_at, setup_command, api_url and server_key', async () => {
    const t = await createToken({ label: 'node-7' });
    assert.deepEqual(Object.keys(t).sort(), ['api_url', 'created_at', 'expires_at', 'label', 'pool_id', 'server_key', 'setup_command', 'token', 'token_id']);
    assert.match(t.token, TOKEN_RE);
    assert.equal(t.pool_id, poolId);
    assert.equal(t.label, 'node-7');
    assert.equal(typeof t.token_id, 'string');
    assert.ok(t.token_id.length > 0);
    assert.ok(!t.token.includes(t.token_id) && !t.token_id.includes(t.token.slice(11)), 'token_id is a handle, not the secret');
    assert.match(t.created_at, /Z$/);
    assert.match(t.expires_at, /Z$/);
  });

  test('the token is apt_{location}_{secret} with a secret of at least 22 URL-safe characters carrying >= 128 bits', async () => {
    const secrets = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const t = await createToken();
      assert.match(t.token, TOKEN_RE);
      const secret = t.token.slice('apt_europe_'.length);
      assert.ok(secret.length >= 22, `secret has ${secret.length} characters`);
      // Base64url carries 6 bits per character; 22 characters are 132 bits.
      assert.ok(secret.length * 6 >= 128);
      secrets.add(secret);
    }
    assert.equal(secrets.size, 20, 'every token is different');
    // Across 20 secrets the whole alphabet's variety shows: far more than hex's 16 symbols.
    const symbols = new Set([...secrets].join(''));
    assert.ok(symbols.size > 30, `secrets use ${symbols.size} distinct symbols`);
  });

  test('the token prefix names the pool\'s location', async () => {
    const { provider: p, poolId: naPool } = await providerWithPool(h, { name: 'na-pool', location: 'na' });
    const t = await createToken({}, p, naPool);
    assert.match(t.token, /^apt_na_[A-Za-z0-9_-]{22,}$/);
    const { provider: q, poolId: cisPool } = await providerWithPool(h, { name: 'cis-pool', location: 'cis' });
    assert.match((await createToken({}, q, cisPool)).token, /^apt_cis_[A-Za-z0-9_-]{22,}$/);
  });

  test('the token is stored only as a hash: no column of agent_setup_tokens holds its text', async () => {
    const t = await createToken({ label: 'hash-check' });
    const secret = t.token.slice('apt_europe_'.length);
    const rows = (await h.db.query<Record<string, unknown>>(`SELECT * FROM agent_setup_tokens`)).rows;
    assert.ok(rows.length > 0);
    const mine = rows.filter((r) => r.token_id === t.token_id);
    assert.equal(mine.length, 1);
    for (const row of rows) {
      for (const [col, value] of Object.entries(row)) {
        const text = value instanceof Date ? value.toISOString() : String(value);
        assert.ok(!text.includes(t.token), `column ${col} holds the token`);
        assert.ok(!text.includes(secret), `column ${col} holds the secret`);
      }
    }
    // And nowhere else in the database either (text columns of every table).
    const tables = (await h.db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)).rows;
    for (const { table_name } of tables) {
      const r = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table_name}" x WHERE x::text LIKE '%' || $1 || '%'`, [secret]);
      assert.equal(r.rows[0]!.n, 0, `table ${table_name} holds the secret`);
    }
  });

  test('the stored token still works at setup (the hash is of the whole token)', async () => {
    const t = await createToken();
    const r = await setup(t.token);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.pool_id, poolId);
  });

  test('a token with a flipped secret character is 401 invalid_token', async () => {
    const t = await createToken();
    const last = t.token.at(-1);
    const forged = t.token.slice(0, -1) + (last === 'A' ? 'B' : 'A');
    assertError(await setup(forged), 401, 'invalid_token');
    assert.equal((await setup(t.token)).status, 201, 'the real token is unaffected');
  });
});

describe('lifetime', () => {
  const lifetimeMs = (t: any) => Date.parse(t.expires_at) - Date.parse(t.created_at);

  test('the default expiry is 24 hours', async () => {
    const t = await createToken();
    assert.ok(Math.abs(lifetimeMs(t) - 24 * HOUR_MS) < 1000, `lifetime ${lifetimeMs(t)} ms`);
    assert.ok(Math.abs(Date.parse(t.expires_at) - (Date.now() + 24 * HOUR_MS)) < 5 * 60_000, 'expires about 24 h from now');
  });

  test('a creation with no body at all gets the defaults', async () => {
    const r = await call(h, provider, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.label, null);
    assert.ok(Math.abs(lifetimeMs(r.body) - 24 * HOUR_MS) < 1000);
  });

  test('expires_in_hours 0.001 is accepted (about 3.6 s)', async () => {
    const t = await createToken({ expires_in_hours: 0.001 });
    assert.ok(Math.abs(lifetimeMs(t) - 3600) <= 5, `lifetime ${lifetimeMs(t)} ms`);
  });

  test('expires_in_hours 720 is accepted (30 days)', async () => {
    const t = await createToken({ expires_in_hours: 720 });
    assert.ok(Math.abs(lifetimeMs(t) - 720 * HOUR_MS) < 1000, `lifetime ${lifetimeMs(t)} ms`);
  });

  test('expires_in_hours 1.5 is 90 minutes', async () => {
    const t = await createToken({ expires_in_hours: 1.5 });
    assert.ok(Math.abs(lifetimeMs(t) - 1.5 * HOUR_MS) < 1000);
  });

  for (const [what, value] of [
    ['0', 0],
    ['-1', -1],
    ['721', 721],
    ['720.001', 720.001],
    ['the string "5"', '5'],
    ['null', null],
    ['true', true],
  ] as const) {
    test(`expires_in_hours ${what} is 400 naming the field`, async () => {
      const before = (await pending()).length;
      const r = await call(h, provider, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, { expires_in_hours: value });
      assertError(r, 400);
      assert.match(r.body.error.message, /expires_in_hours/);
      assert.equal((await pending()).length, before, 'no token was created');
    });
  }

  for (const [what, label] of [
    ['an empty label', ''],
    ['a label of 65 characters', 'x'.repeat(65)],
    ['a label with a newline', 'a\nb'],
    ['a label with markup', '<script>'],
    ['a numeric label', 7],
  ] as const) {
    test(`${what} is 400 naming label`, async () => {
      const r = await call(h, provider, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, { label });
      assertError(r, 400);
      assert.match(r.body.error.message, /label/);
    });
  }

  test('an unknown field is 400', async () => {
    const r = await call(h, provider, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, { token: 'apt_europe_mine' });
    assertError(r, 400);
  });

  test('a token for an unknown pool is 404', async () => {
    assertError(await call(h, provider, 'POST', `${base(provider)}/pools/nope-00000000/setup-tokens`, {}), 404);
  });
});

describe('setup command', () => {
  test('setup_command contains the token, --api-url and --server-key equal to GET /api/v1/server-key', async () => {
    const t = await createToken();
    const cmd: string = t.setup_command;
    assert.ok(cmd.includes(`--token ${t.token}`), cmd);
    assert.ok(cmd.includes('--api-url http://api.test.local'), cmd);
    assert.match(serverKey, /^[0-9a-f]{64}$/);
    assert.ok(cmd.includes(`--server-key ${serverKey}`), cmd);
    assert.match(cmd, /\| bash -s -- /);
    assert.match(cmd, /^curl .*http:\/\/api\.test\.local\/setup \| bash/);
    assert.equal(cmd.split('\n').length, 1, 'one line');
  });

  test('setup_command uses DC_PUBLIC_URL when set', async () => {
    const hp = await startHarness({ DC_PUBLIC_URL: 'https://api.example.net/' });
    try {
      const { provider: p, poolId: pool } = await providerWithPool(hp);
      const key = (await mustOk(rawCall(hp, 'GET', '/api/v1/server-key'))).body.public_key;
      const t = await createToken({}, p, pool, hp);
      const cmd: string = t.setup_command;
      assert.equal(cmd, `curl --proto '=https' -fsSL https://api.example.net/setup | bash -s -- --token ${t.token} --api-url https://api.example.net --server-key ${key}`);
      assert.ok(!cmd.includes('api.test.local'), 'the Host header is not used');
      assert.equal(t.api_url, 'https://api.example.net');
    } finally {
      await hp.close();
    }
  });

  test('on plain http to this machine the command drops --proto (byte for byte)', async () => {
    const local = { ...h, signHost: '127.0.0.1:8080' };
    const r = await call(local, provider, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, {}, { headers: { host: '127.0.0.1:8080' } });
    assert.equal(r.status, 201, r.text);
    const t = r.body;
    assert.equal(t.setup_command, `curl -fsSL http://127.0.0.1:8080/setup | bash -s -- --token ${t.token} --api-url http://127.0.0.1:8080 --server-key ${serverKey}`);
  });

  test('api_url and server_key are the fields the command is built from, so clients need not parse it', async () => {
    const t = await createToken();
    assert.equal(t.api_url, 'http://api.test.local');
    assert.equal(t.server_key, serverKey);
    const fields = { api_url: t.api_url, token: t.token, server_key: t.server_key };
    assert.equal(t.setup_command, setupOneLiner(fields));
    assert.equal(agentSetupCommand(fields), `dc-agent setup --token ${t.token} --api-url http://api.test.local --server-key ${serverKey}`);
  });
});

describe('pending list', () => {
  test('the pending list shows token_id, label, created_at and expires_at, newest first, never the secret', async () => {
    const { provider: p, poolId: pool } = await providerWithPool(h);
    const t1 = await createToken({ label: 'first' }, p, pool);
    const t2 = await createToken({}, p, pool);
    const t3 = await createToken({ label: 'third', expires_in_hours: 2 }, p, pool);
    const r = await mustOk(call(h, p, 'GET', `${base(p)}/pools/${pool}/setup-tokens`));
    const items = r.body.items;
    assert.deepEqual(items.map((x: any) => x.token_id), [t3.token_id, t2.token_id, t1.token_id]);
    for (const x of items) assert.deepEqual(Object.keys(x).sort(), ['created_at', 'expires_at', 'label', 'pool_id', 'token_id']);
    assert.deepEqual(items.map((x: any) => x.label), ['third', null, 'first']);
    assert.equal(items[0].expires_at, t3.expires_at);
    assert.equal(items[0].created_at, t3.created_at);
    for (const t of [t1, t2, t3]) {
      assert.ok(!r.text.includes(t.token), 'the full token is never listed');
      assert.ok(!r.text.includes(t.token.slice('apt_europe_'.length)), 'the secret is never listed');
    }
  });

  test('used and expired tokens are not listed', async () => {
    const { provider: p, poolId: pool } = await providerWithPool(h);
    const used = await createToken({ label: 'used' }, p, pool);
    const expired = await createToken({ label: 'expired' }, p, pool);
    const live = await createToken({ label: 'live' }, p, pool);
    assert.equal((await pending(p, pool)).length, 3);
    assert.equal((await setup(used.token)).status, 201);
    await expire(expired.token_id);
    assert.deepEqual((await pending(p, pool)).map((x) => x.token_id), [live.token_id]);
  });

  test('a pool\'s list holds only that pool\'s tokens', async () => {
    const { provider: p, poolId: a } = await providerWithPool(h, { name: 'a' });
    const b = (await mustOk(call(h, p, 'POST', `${base(p)}/pools`, { name: 'b', location: 'na', provisioner_type: 'proxmox' }))).body.pool_id;
    const ta = await createToken({}, p, a);
    const tb = await createToken({}, p, b);
    assert.deepEqual((await pending(p, a)).map((x) => x.token_id), [ta.token_id]);
    assert.deepEqual((await pending(p, b)).map((x) => x.token_id), [tb.token_id]);
  });
});

describe('revocation', () => {
  test('DELETE /providers/{pk}/setup-tokens/{token_id} is 204, then the token is 401 invalid_token at setup', async () => {
    const t = await createToken({ label: 'to-revoke' });
    const r = await call(h, provider, 'DELETE', `${base(provider)}/setup-tokens/${t.token_id}`);
    assert.equal(r.status, 204, r.text);
    assert.ok(!(await pending()).some((x) => x.token_id === t.token_id), 'no longer listed');
    assertError(await setup(t.token), 401, 'invalid_token');
  });

  test('revoking a token twice is 404 the second time', async () => {
    const t = await createToken();
    assert.equal((await call(h, provider, 'DELETE', `${base(provider)}/setup-tokens/${t.token_id}`)).status, 204);
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/setup-tokens/${t.token_id}`), 404);
  });

  test('revoking an unknown token is 404', async () => {
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/setup-tokens/stk_doesnotexist`), 404);
  });

  test('revoking by the full token text instead of token_id is 404 (the secret is not a handle)', async () => {
    const t = await createToken();
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/setup-tokens/${t.token}`), 404);
    assert.equal((await setup(t.token)).status, 201, 'the token was not revoked');
  });

  test('revoking a used token is 409 token_used (revoke the agent instead)', async () => {
    const t = await createToken();
    assert.equal((await setup(t.token)).status, 201);
    assertError(await call(h, provider, 'DELETE', `${base(provider)}/setup-tokens/${t.token_id}`), 409, 'token_used');
  });

  test('another provider cannot revoke the token (404 under its own path, 403 under the owner\'s)', async () => {
    const t = await createToken({ label: 'not-yours' });
    const { provider: other } = await providerWithPool(h);
    assertError(await call(h, other, 'DELETE', `${base(other)}/setup-tokens/${t.token_id}`), 404);
    assertError(await call(h, other, 'DELETE', `${base(provider)}/setup-tokens/${t.token_id}`), 403);
    assert.ok((await pending()).some((x) => x.token_id === t.token_id), 'still pending');
    assert.equal((await setup(t.token)).status, 201, 'and still usable');
  });

  test('another provider cannot list or create tokens for the pool (404 under its own path, 403 under the owner\'s)', async () => {
    const { provider: other } = await providerWithPool(h);
    assertError(await call(h, other, 'GET', `${base(other)}/pools/${poolId}/setup-tokens`), 404);
    assertError(await call(h, other, 'POST', `${base(other)}/pools/${poolId}/setup-tokens`, {}), 404);
    assertError(await call(h, other, 'GET', `${base(provider)}/pools/${poolId}/setup-tokens`), 403);
    assertError(await call(h, other, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, {}), 403);
  });

  test('setup-token endpoints need a signature', async () => {
    assertError(await rawCall(h, 'GET', `${base(provider)}/pools/${poolId}/setup-tokens`), 401);
    assertError(await rawCall(h, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, { body: '{}' }), 401);
    assertError(await rawCall(h, 'DELETE', `${base(provider)}/setup-tokens/stk_x`), 401);
  });
});
