// Per-pool gauges on /metrics (DESIGN.md "Observability and audit (v3)"): after known activity two
// replicas sharing one database report the same database-derived values; values are cached for
// DC_POOL_METRICS_SECONDS; beyond the label cap the rest is summed under pool_id="_other".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Identity } from '@dc/core/node';
import { connectTestDb, agentCall, base, call, mustOk, paidContract, providerWithPool, registerAgent, startHarness, testConfig, type Harness } from './helpers.js';
import type { Db } from '../src/db/db.js';
import { startServer, type RunningServer } from '../src/server.js';
import { createMetrics } from '../src/metrics.js';
import { registerPoolGauges } from '../src/pool-gauges.js';
import type { AppContext } from '../src/context.js';

let h: Harness;
let replica2: RunningServer;
let db2: Db;
let provider: Identity;
let poolA: string;
let poolB: string;
let online: Identity;

async function scrape(app: RunningServer['app']): Promise<string> {
  const r = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(r.statusCode, 200);
  return r.body;
}
/** The value of `name{labels}` in an exposition, or undefined. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2]!.split(',');
    if (want.length === have.length && want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return undefined;
}
function poolFigures(text: string, pool_id: string) {
  return {
    waiting: value(text, 'dc_pool_contracts_waiting', { pool_id }),
    oldest: value(text, 'dc_pool_oldest_waiting_seconds', { pool_id }),
    terminating: value(text, 'dc_pool_contracts_terminating', { pool_id }),
    online: value(text, 'dc_pool_agents', { pool_id, status: 'online' }),
    offline: value(text, 'dc_pool_agents', { pool_id, status: 'offline' }),
    revoked: value(text, 'dc_pool_agents', { pool_id, status: 'revoked' }),
    p50: value(text, 'dc_pool_time_to_provision_seconds', { pool_id, quantile: '0.5' }),
    p95: value(text, 'dc_pool_time_to_provision_seconds', { pool_id, quantile: '0.95' }),
    attempts: value(text, 'dc_pool_provision_attempts', { pool_id }),
    success: value(text, 'dc_pool_provision_success_ratio', { pool_id }),
  };
}

before(async () => {
  h = await startHarness({ DC_POOL_METRICS_SECONDS: '1' });
  db2 = h.testDb.url ? connectTestDb(h.testDb.url, 4) : h.db;
  // The second replica keeps its figures an hour: it shows that a scrape reuses them.
  replica2 = await startServer(testConfig({ DC_POOL_METRICS_SECONDS: '3600' }), { db: db2, listen: false, jobs: false, logger: false });

  ({ provider, poolId: poolA } = await providerWithPool(h));
  poolB = (await mustOk(call(h, provider, 'POST', `${base(provider)}/pools`, { name: 'na', location: 'na', provisioner_type: 'proxmox' }))).body.pool_id;
  online = await registerAgent(h, provider, poolA);
  await registerAgent(h, provider, poolA); // never heartbeats: offline
  const gone = await registerAgent(h, provider, poolA);
  await mustOk(call(h, provider, 'DELETE', `${base(provider)}/agents/${gone.publicKey}`));
  await mustOk(agentCall(h, online, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.0', max_concurrent: 4 }));

  const done: string[] = [];
  for (const secs of [30, 90]) {
    const id = await paidContract(h, provider, { offering_id: 'de' });
    const g = await mustOk(agentCall(h, online, 'POST', `${base(provider)}/contracts/${id}/lock`, {}));
    await mustOk(agentCall(h, online, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: g.body.lock_token, instance_details: {} }));
    await h.db.query(
      `UPDATE contract_sign_requests c SET provisionable_at = e.at - make_interval(secs => $2)
       FROM contract_events e WHERE e.contract_id = c.contract_id AND e.event = 'provisioned' AND c.contract_id = $1`,
      [id, secs],
    );
    // The provisioned event records its time to provision when written: write it again.
    await h.db.query(
      `WITH d AS (DELETE FROM contract_events WHERE contract_id = $1 AND event = 'provisioned' RETURNING *)
       INSERT INTO contract_events (contract_id, at, event, agent_pubkey, lock_token, detail, action)
       SELECT contract_id, at, event, agent_pubkey, lock_token, detail, action FROM d`,
      [id],
    );
    done.push(id);
  }
  const w1 = await paidContract(h, provider, { offering_id: 'de' });
  // One failed attempt: w1 stays waiting (backing off); the hour's success ratio is 2 of 3.
  const g1 = await mustOk(agentCall(h, online, 'POST', `${base(provider)}/contracts/${w1}/lock`, {}));
  await mustOk(agentCall(h, online, 'POST', `${base(provider)}/contracts/${w1}/failed`, { lock_token: g1.body.lock_token, error_message: 'no capacity' }));
  await paidContract(h, provider, { offering_id: 'de' });
  await h.db.query(`UPDATE contract_sign_requests SET provisionable_at = now() - interval '600 seconds' WHERE contract_id = $1`, [w1]);
  // One machine being torn down (the teardown flow's own tests drive it through the API).
  await h.db.query(`UPDATE contract_sign_requests SET status = 'terminating', provisioned_pool_id = $2 WHERE contract_id = $1`, [done[1], poolA]);
});

after(async () => {
  await replica2?.close();
  if (db2 !== h.db) await db2.close();
  await h?.close();
});

describe('/metrics per pool', () => {
  test('both replicas report the same figures after known activity', async () => {
    const t1 = await scrape(h.server.app);
    const t2 = await scrape(replica2.app);
    const a1 = poolFigures(t1, poolA);
    assert.equal(a1.waiting, 2);
    assert.ok(a1.oldest! >= 600 && a1.oldest! < 660, String(a1.oldest));
    assert.deepEqual({ ...a1, oldest: 0 }, { waiting: 2, oldest: 0, terminating: 1, online: 1, offline: 1, revoked: 1, p50: 30, p95: 90, attempts: 3, success: 2 / 3 });
    const a2 = poolFigures(t2, poolA);
    assert.ok(Math.abs(a2.oldest! - a1.oldest!) < 5);
    assert.deepEqual({ ...a2, oldest: 0 }, { ...a1, oldest: 0 });
    const b = { waiting: 0, oldest: 0, terminating: 0, online: 0, offline: 0, revoked: 0, p50: undefined, p95: undefined, attempts: 0, success: undefined };
    assert.deepEqual(poolFigures(t1, poolB), b);
    assert.deepEqual(poolFigures(t2, poolB), b);
    // Labels are pool ids only: no contract id or agent key appears in the exposition.
    const poolLines = t1.split('\n').filter((l) => l.startsWith('dc_pool_'));
    assert.ok(poolLines.length >= 10);
    for (const line of poolLines) assert.match(line, /^dc_pool_[a-z_]+\{pool_id="[^"]+"(,(status|quantile)="[^"]+")?\} \S+$/);
  });

  test('figures are reused until DC_POOL_METRICS_SECONDS have passed', async () => {
    await paidContract(h, provider, { offering_id: 'de' });
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(poolFigures(await scrape(h.server.app), poolA).waiting, 3);
    assert.equal(poolFigures(await scrape(replica2.app), poolA).waiting, 2, 'the hour-long cache still holds the old figure');
  });

  test('pools beyond the label cap are summed under _other', async () => {
    const ctx = { db: h.db, config: testConfig(), metrics: createMetrics() } as AppContext;
    registerPoolGauges(ctx, 1);
    const text = await ctx.metrics.registry.metrics();
    const pools = (await h.db.query<{ pool_id: string }>(`SELECT pool_id FROM agent_pools ORDER BY created_at, pool_id`)).rows.map((r) => r.pool_id);
    assert.equal(pools.length, 2);
    assert.equal(value(text, 'dc_pool_contracts_waiting', { pool_id: pools[0]! }), 3);
    assert.equal(value(text, 'dc_pool_contracts_waiting', { pool_id: pools[1]! }), undefined);
    assert.equal(value(text, 'dc_pool_contracts_waiting', { pool_id: '_other' }), 0);
    assert.equal(value(text, 'dc_pool_agents', { pool_id: '_other', status: 'offline' }), 0);
    assert.equal(value(text, 'dc_pool_time_to_provision_seconds', { pool_id: '_other', quantile: '0.5' }), undefined);
  });

  test("pool detail shows each agent's heartbeat max_concurrent (kept when omitted) and its own active count", async () => {
    const hb = (body: object) => agentCall(h, online, 'POST', `${base(provider)}/heartbeat`, { version: '1.0.1', ...body });
    await mustOk(hb({ active_contracts: 2 }));
    const agents = (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools/${poolA}`))).body.agents as any[];
    const me = agents.find((a) => a.agent_pubkey === online.publicKey);
    assert.deepEqual([me.max_concurrent, me.reported_active_contracts, me.version], [4, 2, '1.0.1']);
    assert.ok(agents.filter((a) => a.agent_pubkey !== online.publicKey).every((a) => a.max_concurrent === null && a.reported_active_contracts === null));
    const bad = await hb({ max_concurrent: 0 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /max_concurrent must be at least 1/);
  });
});
