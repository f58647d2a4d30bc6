// Races found in review, each run many times: revocation vs grants, token revoke vs use,
// sweeper vs revocation, concurrent CSV imports, and long-polls whose client went away.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, signRequestHeaders, type Identity } from '@dc/core/node';
import { expireLeases } from '../src/store/leases.js';
import { startServer, type RunningServer } from '../src/server.js';
import { agentCall, call, createTestDb, mustOk, paidContract, providerWithPool, registerAgent, testConfig, type Harness, type TestDb, base } from './helpers.js';

let testDb: TestDb;
let server: RunningServer;
let h: Harness;
let port = 0;

before(async () => {
  testDb = await createTestDb();
  server = await startServer(testConfig({ PORT: '0', DC_MAX_PROVISION_ATTEMPTS: '100' }), { db: testDb.db, listen: true, jobs: false, logger: false });
  port = (server.app.server.address() as { port: number }).port;
  h = { server, testDb, db: testDb.db, close: async () => {} };
});
after(async () => {
  await server.close();
  await testDb.drop();
});


test('a revoked agent\'s held claim ends with 401 and is granted nothing', async () => {
  const { provider, poolId } = await providerWithPool(h);
  const agent = await registerAgent(h, provider, poolId);
  await mustOk(call(h, provider, 'POST', `${base(provider)}/offerings`, {
    offering_id: 'rv', name: 'rv', product_type: 'compute', datacenter_country: 'DE', monthly_price: 1, currency: 'EUR',
  }));
  const held = agentCall(h, agent, 'POST', `${base(provider)}/contracts/claim?wait=20`, { max: 1 });
  while (server.ctx.dispatcher.parked < 1) await new Promise((r) => setTimeout(r, 5));
  await mustOk(call(h, provider, 'DELETE', `${base(provider)}/agents/${agent.publicKey}`));
  const id = await paidContract(h, provider, { offering_id: 'rv' });
  const r = await held;
  assert.equal(r.status, 401);
  assert.equal(r.body.error.code, 'agent_revoked');
  const c = await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${id}`));
  assert.equal(c.body.lock_agent, null);
  assert.equal(c.body.lock_token, 0, 'never granted');
});

test('a long-poll whose client disconnected grants no lease', async () => {
  const { provider, poolId } = await providerWithPool(h);
  const agent = await registerAgent(h, provider, poolId);
  await mustOk(call(h, provider, 'POST', `${base(provider)}/offerings`, {
    offering_id: 'gone', name: 'gone', product_type: 'compute', datacenter_country: 'DE', monthly_price: 1, currency: 'EUR',
  }));
  const path = `${base(provider)}/contracts/claim?wait=20`;
  const body = JSON.stringify({ max: 1 });
  const host = `127.0.0.1:${port}`;
  const ac = new AbortController();
  const parkedBefore = server.ctx.dispatcher.parked;
  const req = fetch(`http://${host}${path}`, {
    method: 'POST',
    body,
    signal: ac.signal,
    headers: { 'content-type': 'application/json', ...signRequestHeaders(agent, { method: 'POST', host, path, body }, { keyHeader: 'X-Agent-Pubkey' }) },
  }).catch((e: Error) => e);
  while (server.ctx.dispatcher.parked <= parkedBefore) await new Promise((r) => setTimeout(r, 5));
  ac.abort();
  assert.ok((await req) instanceof Error);
  while (server.ctx.dispatcher.parked > parkedBefore) await new Promise((r) => setTimeout(r, 5));
  const id = await paidContract(h, provider, { offering_id: 'gone' });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await mustOk(call(h, provider, 'GET', `/api/v1/contracts/${id}`))).body.lock_token, 0);
});

test('revoking a setup token racing its use: never both "revoked" and "used"', async () => {
  const { provider, poolId } = await providerWithPool(h);
  let bothWon = 0;
  for (let i = 0; i < 15; i++) {
    const t = await mustOk(call(h, provider, 'POST', `${base(provider)}/pools/${poolId}/setup-tokens`, {}));
    const agent = generateIdentity();
    const [setup, revoke] = await Promise.all([
      agentCall(h, agent, 'POST', '/api/v1/agents/setup', { token: t.body.token, agent_pubkey: agent.publicKey }),
      call(h, provider, 'DELETE', `${base(provider)}/setup-tokens/${t.body.token_id}`),
    ]);
    assert.ok([201, 401].includes(setup.status), `setup ${setup.status}`);
    assert.ok([204, 409].includes(revoke.status), `revoke ${revoke.status}`);
    if (setup.status === 201 && revoke.status === 204) bothWon++;
    if (setup.status === 201) assert.equal(revoke.body?.error?.code ?? 'token_used', 'token_used');
  }
  assert.equal(bothWon, 0);
});

test('revocation and the lease sweeper running together never fail', async () => {
  const { provider, poolId } = await providerWithPool(h);
  for (let round = 0; round < 5; round++) {
    const agent = await registerAgent(h, provider, poolId);
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push(await paidContract(h, provider, { offering_id: 'sweep-race' }));
    await mustOk(agentCall(h, agent, 'POST', `${base(provider)}/contracts/claim`, { max: 10 }));
    await h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - interval '1 second' WHERE contract_id = ANY($1)`, [ids]);
    const [revoked] = await Promise.all([
      call(h, provider, 'DELETE', `${base(provider)}/agents/${agent.publicKey}`),
      expireLeases(h.db, 100),
      expireLeases(h.db, 100),
    ]);
    assert.equal(revoked.status, 204);
    const r = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM contract_sign_requests WHERE contract_id = ANY($1) AND provisioning_lock_agent IS NOT NULL`, [ids]);
    assert.equal(r.rows[0]!.n, 0, 'every lease was either swept or released');
  }
});

test('concurrent CSV imports of the same offerings all succeed', async () => {
  const { provider } = await providerWithPool(h);
  const rows = Array.from({ length: 200 }, (_, i) => `imp-${String(i).padStart(3, '0')},Offer ${i},compute,DE,${i}.50,EUR`);
  const files = [0, 1, 2, 3].map((k) => ['offering_id,name,product_type,datacenter_country,monthly_price,currency', ...(k % 2 ? [...rows].reverse() : rows)].join('\n'));
  const results = await Promise.all(files.map((f) => call(h, provider, 'POST', `${base(provider)}/offerings/import`, f, { contentType: 'text/csv' })));
  for (const r of results) assert.equal(r.status, 200, r.text);
  const list = await mustOk(call(h, provider, 'GET', `${base(provider)}/offerings?limit=1`));
  assert.equal(list.body.total, 200);
});
