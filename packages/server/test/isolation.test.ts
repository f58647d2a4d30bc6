// Tenant isolation: provider B never reads or changes provider A's pools, tokens, offerings,
// contracts, events or agents. Under A's paths every call signed by B is 403; under B's own
// paths A's ids do not exist (404) and A's rows never appear in B's lists.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '@dc/core/node';
import { agentCall, call, mustOk, offeringInput, providerWithPool, registerAgent, startHarness, type Harness, type Res } from './helpers.js';

let h: Harness;
let A: Identity;
let B: Identity;
let aPool: string;
let bPool: string;
let aAgent: Identity;
let bAgent: Identity;
let aTokenId: string;
let aContract: string;
let bContract: string;
const customer = generateIdentity();

const pathA = () => `/api/v1/providers/${A.publicKey}`;
const pathB = () => `/api/v1/providers/${B.publicKey}`;

/** Everything A owns, as A sees it: compared before and after B's attempts. */
async function snapshotA(): Promise<unknown> {
  const get = async (path: string) => (await mustOk(call(h, A, 'GET', path))).body;
  return {
    provider: await get(pathA()),
    pools: await get(`${pathA()}/pools`),
    pool: await get(`${pathA()}/pools/${aPool}`),
    tokens: await get(`${pathA()}/pools/${aPool}/setup-tokens`),
    offerings: await get(`${pathA()}/offerings`),
    contracts: await get(`${pathA()}/contracts`),
    events: await get(`${pathA()}/contracts/${aContract}/events`),
    contract: await get(`/api/v1/contracts/${aContract}`),
  };
}

before(async () => {
  h = await startHarness();
  ({ provider: A, poolId: aPool } = await providerWithPool(h, { name: 'shared-name' }));
  ({ provider: B, poolId: bPool } = await providerWithPool(h, { name: 'shared-name' }));
  aAgent = await registerAgent(h, A, aPool, 'node-1');
  bAgent = await registerAgent(h, B, bPool, 'node-1');
  const t = await mustOk(call(h, A, 'POST', `${pathA()}/pools/${aPool}/setup-tokens`, { label: 'pending' }));
  aTokenId = t.body.token_id;
  await mustOk(call(h, A, 'POST', `${pathA()}/offerings`, offeringInput('shared-id', { name: 'A offering' })));
  await mustOk(call(h, B, 'POST', `${pathB()}/offerings`, offeringInput('shared-id', { name: 'B offering' })));
  await mustOk(call(h, A, 'POST', `${pathA()}/offerings`, offeringInput('a-only')));
  aContract = (await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: A.publicKey, offering_id: 'shared-id' }))).body.contract_id;
  bContract = (await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: B.publicKey, offering_id: 'shared-id' }))).body.contract_id;
  // Give A's contract an event, so there is history to leak.
  await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${aContract}/cancel`));
  aContract = (await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: A.publicKey, offering_id: 'shared-id' }))).body.contract_id;
  await h.db.query(`UPDATE contract_sign_requests SET status = 'provisioning_failed' WHERE contract_id = $1`, [aContract]);
  await mustOk(call(h, A, 'POST', `${pathA()}/contracts/${aContract}/retry`));
});
after(async () => {
  await h?.close();
});

function expectStatus(r: Res, status: number, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.text}`);
  assert.equal(typeof r.body?.error?.code, 'string', `${what}: ${r.text}`);
  assert.equal(typeof r.body?.error?.message, 'string', `${what}: ${r.text}`);
}

describe('B signing under A\'s paths', () => {
  test('every provider call by B under /providers/A/… is 403 and A\'s data is unchanged', async () => {
    const before = await snapshotA();
    const csv = 'offering_id,name,product_type,datacenter_country,monthly_price,currency\nshared-id,Hijacked,compute,DE,1,EUR\n';
    const calls: [string, string, unknown?, string?][] = [
      ['PUT', pathA(), { name: 'Hijacked' }],
      ['GET', pathA()],
      ['GET', `${pathA()}/pools`],
      ['POST', `${pathA()}/pools`, { name: 'intruder', location: 'europe', provisioner_type: 'proxmox' }],
      ['GET', `${pathA()}/pools/${aPool}`],
      ['PUT', `${pathA()}/pools/${aPool}`, { name: 'renamed' }],
      ['DELETE', `${pathA()}/pools/${aPool}`],
      ['POST', `${pathA()}/pools/${aPool}/setup-tokens`, {}],
      ['GET', `${pathA()}/pools/${aPool}/setup-tokens`],
      ['DELETE', `${pathA()}/setup-tokens/${aTokenId}`],
      ['DELETE', `${pathA()}/agents/${aAgent.publicKey}`],
      ['GET', `${pathA()}/offerings`],
      ['POST', `${pathA()}/offerings`, offeringInput('intruder')],
      ['GET', `${pathA()}/offerings/shared-id`],
      ['PUT', `${pathA()}/offerings/shared-id`, { name: 'Hijacked' }],
      ['DELETE', `${pathA()}/offerings/a-only`],
      ['POST', `${pathA()}/offerings/import`, csv, 'text/csv'],
      ['GET', `${pathA()}/offerings/export`],
      ['GET', `${pathA()}/contracts`],
      ['POST', `${pathA()}/contracts/${aContract}/accept`],
      ['POST', `${pathA()}/contracts/${aContract}/reject`],
      ['POST', `${pathA()}/contracts/${aContract}/retry`],
      ['GET', `${pathA()}/contracts/${aContract}/events`],
      ['POST', `${pathA()}/heartbeat`, { version: '1.0.0' }],
    ];
    for (const [method, path, body, contentType] of calls) {
      const r = await call(h, B, method, path, body, contentType ? { contentType } : {});
      expectStatus(r, 403, `${method} ${path}`);
    }
    assert.deepEqual(await snapshotA(), before);
  });

  test('B\'s agent under A\'s paths is 403 (agent endpoints) and A\'s agent is never revoked by B', async () => {
    const r = await agentCall(h, bAgent, 'POST', `${pathA()}/heartbeat`, { version: '1.0.0' });
    expectStatus(r, 403, 'heartbeat of B\'s agent under A');
    for (const [method, path] of [
      ['GET', `${pathA()}/pools`],
      ['GET', `${pathA()}/offerings`],
      ['GET', `${pathA()}/contracts`],
      ['DELETE', `${pathA()}/agents/${aAgent.publicKey}`],
    ] as const) {
      expectStatus(await agentCall(h, bAgent, method, path), 403, `${method} ${path} by B's agent`);
    }
    // A's agent still works.
    const hb = await agentCall(h, aAgent, 'POST', `${pathA()}/heartbeat`, { version: '1.0.0' });
    assert.equal(hb.status, 200, hb.text);
  });

  test('A\'s own agent may not use A\'s provider endpoints either (403)', async () => {
    for (const [method, path] of [
      ['GET', `${pathA()}/pools`],
      ['POST', `${pathA()}/contracts/${aContract}/accept`],
      ['DELETE', `${pathA()}/agents/${aAgent.publicKey}`],
    ] as const) {
      expectStatus(await agentCall(h, aAgent, method, path), 403, `${method} ${path} by A's agent`);
    }
  });
});

describe('A\'s ids under B\'s own paths', () => {
  test('B\'s lists never show A\'s pools, offerings or contracts', async () => {
    const pools = (await mustOk(call(h, B, 'GET', `${pathB()}/pools`))).body.items;
    assert.deepEqual(pools.map((p: any) => p.pool_id), [bPool]);
    const offerings = (await mustOk(call(h, B, 'GET', `${pathB()}/offerings`))).body;
    assert.deepEqual(offerings.items.map((o: any) => [o.offering_id, o.name, o.provider_pubkey]), [['shared-id', 'B offering', B.publicKey]]);
    assert.equal(offerings.total, 1);
    assert.equal((await mustOk(call(h, B, 'GET', `${pathB()}/offerings?pool_id=${aPool}`))).body.total, 0);
    const contracts = (await mustOk(call(h, B, 'GET', `${pathB()}/contracts`))).body;
    assert.deepEqual(contracts.items.map((c: any) => c.contract_id), [bContract]);
    assert.equal(contracts.total, 1);
    const exported = (await mustOk(call(h, B, 'GET', `${pathB()}/offerings/export`))).text;
    assert.doesNotMatch(exported, /A offering|a-only/);
    const detail = (await mustOk(call(h, B, 'GET', `${pathB()}/pools/${bPool}`))).body;
    assert.deepEqual(detail.agents.map((a: any) => a.agent_pubkey), [bAgent.publicKey]);
  });

  test('A\'s pool, token, offering, contract and agent ids are 404 under B\'s paths, and nothing of A changes', async () => {
    const before = await snapshotA();
    const calls: [string, string, unknown?][] = [
      ['GET', `${pathB()}/pools/${aPool}`],
      ['PUT', `${pathB()}/pools/${aPool}`, { name: 'stolen' }],
      ['DELETE', `${pathB()}/pools/${aPool}`],
      ['POST', `${pathB()}/pools/${aPool}/setup-tokens`, {}],
      ['GET', `${pathB()}/pools/${aPool}/setup-tokens`],
      ['DELETE', `${pathB()}/setup-tokens/${aTokenId}`],
      ['DELETE', `${pathB()}/agents/${aAgent.publicKey}`],
      ['GET', `${pathB()}/offerings/a-only`],
      ['PUT', `${pathB()}/offerings/a-only`, { name: 'stolen' }],
      ['DELETE', `${pathB()}/offerings/a-only`],
      ['POST', `${pathB()}/contracts/${aContract}/accept`],
      ['POST', `${pathB()}/contracts/${aContract}/reject`],
      ['POST', `${pathB()}/contracts/${aContract}/retry`],
      ['GET', `${pathB()}/contracts/${aContract}/events`],
    ];
    for (const [method, path, body] of calls) {
      expectStatus(await call(h, B, method, path, body), 404, `${method} ${path}`);
    }
    // Same-named ids resolve to B's own rows, never A's.
    const own = await mustOk(call(h, B, 'GET', `${pathB()}/offerings/shared-id`));
    assert.equal(own.body.name, 'B offering');
    const upd = await mustOk(call(h, B, 'PUT', `${pathB()}/offerings/shared-id`, { name: 'B renamed' }));
    assert.equal(upd.body.provider_pubkey, B.publicKey);
    assert.deepEqual(await snapshotA(), before);
  });

  test('B cannot point its offerings at A\'s pool (400 unknown_pool), by JSON or by CSV', async () => {
    const r = await call(h, B, 'POST', `${pathB()}/offerings`, offeringInput('steal-pool', { agent_pool_id: aPool }));
    expectStatus(r, 400, 'create with A\'s pool');
    assert.equal(r.body.error.code, 'unknown_pool');
    const csv = `offering_id,name,product_type,datacenter_country,monthly_price,currency,agent_pool_id\nsteal-csv,S,compute,DE,5,EUR,${aPool}\n`;
    const imp = await call(h, B, 'POST', `${pathB()}/offerings/import`, csv, { contentType: 'text/csv' });
    expectStatus(imp, 400, 'import with A\'s pool');
    assert.equal(imp.body.error.rows[0].field, 'agent_pool_id');
    const aPoolStats = (await mustOk(call(h, A, 'GET', `${pathA()}/pools/${aPool}`))).body;
    assert.equal(aPoolStats.offerings_count, 2);
  });

  test('B\'s pool statistics never count A\'s agents, offerings or contracts', async () => {
    const stats = (await mustOk(call(h, B, 'GET', `${pathB()}/pools/${bPool}`))).body;
    assert.equal(stats.agents_count, 1);
    assert.equal(stats.offerings_count, 1);
  });

  test('neither provider reads the other\'s contract through /contracts/{id}; only its customer and provider do', async () => {
    expectStatus(await call(h, B, 'GET', `/api/v1/contracts/${aContract}`), 404, 'B reads A\'s contract');
    expectStatus(await call(h, A, 'GET', `/api/v1/contracts/${bContract}`), 404, 'A reads B\'s contract');
    expectStatus(await call(h, B, 'POST', `/api/v1/contracts/${aContract}/cancel`), 404, 'B cancels A\'s contract');
    assert.equal((await mustOk(call(h, customer, 'GET', `/api/v1/contracts/${aContract}`))).body.status, 'accepted');
  });

  test('A revoking its agent does not touch B\'s agent with the same label', async () => {
    await mustOk(call(h, A, 'DELETE', `${pathA()}/agents/${aAgent.publicKey}`));
    const aHb = await agentCall(h, aAgent, 'POST', `${pathA()}/heartbeat`, { version: '1.0.0' });
    assert.equal(aHb.status, 401, aHb.text);
    const bHb = await agentCall(h, bAgent, 'POST', `${pathB()}/heartbeat`, { version: '1.0.0' });
    assert.equal(bHb.status, 200, bHb.text);
  });
});
