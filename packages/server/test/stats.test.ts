// Pool statistics (DESIGN.md "Observability and audit (v3)"): a constructed history of leases in
// two pools gives exact counts, success rates, time-to-provision percentiles and buckets; the
// pools list carries the same 24 h success rate and waiting count.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Identity } from '@dc/core/node';
import { agentCall, assertError, base, call, mustOk, paidContract, providerWithPool, registerAgent, startHarness, type Harness } from './helpers.js';
import { expireLeases } from '../src/store/leases.js';

let h: Harness;
let provider: Identity;
let poolA: string;
let poolB: string;
/** The database clock when the history was laid out (epoch seconds). */
let T: number;
const c: Record<string, string> = {};

const lock = async (a: Identity, id: string) => (await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/lock`, {}))).body.lock_token as number;
const provisioned = (a: Identity, id: string, token: number) =>
  mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/provisioned`, { lock_token: token, instance_details: { ip: '192.0.2.1' } }));

/**
 * Moves the event `event` of contract `id` to T - `ago` seconds: written again, so the insert
 * trigger records its pool and time to provision as for a live event.
 */
async function eventAt(id: string, event: string, ago: number): Promise<void> {
  const r = await h.db.query(
    `WITH d AS (DELETE FROM contract_events WHERE contract_id = $1 AND event = $2 RETURNING *)
     INSERT INTO contract_events (contract_id, at, event, agent_pubkey, lock_token, detail, action)
     SELECT contract_id, to_timestamp($3::float8), event, agent_pubkey, lock_token, detail, action FROM d`,
    [id, event, T - ago],
  );
  assert.equal(r.rowCount, 1, `${id} ${event}`);
}
async function provisionableAt(id: string, ago: number): Promise<void> {
  await h.db.query(`UPDATE contract_sign_requests SET provisionable_at = to_timestamp($2::float8) WHERE contract_id = $1`, [id, T - ago]);
}
async function expireNow(id: string): Promise<void> {
  await h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - interval '1 second' WHERE contract_id = $1`, [id]);
  assert.ok((await expireLeases(h.db, 5)) >= 1);
}
const stats = async (poolId: string, window?: string) =>
  (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools/${poolId}/stats${window ? `?window=${window}` : ''}`))).body;

before(async () => {
  h = await startHarness();
  ({ provider, poolId: poolA } = await providerWithPool(h));
  poolB = (await mustOk(call(h, provider, 'POST', `${base(provider)}/pools`, { name: 'na-proxmox', location: 'na', provisioner_type: 'proxmox' }))).body.pool_id;
  const a1 = await registerAgent(h, provider, poolA, 'a1');
  const b1 = await registerAgent(h, provider, poolB, 'b1');
  for (const k of ['c1', 'c2', 'c3', 'c4', 'c5', 'c7', 'c8']) c[k] = await paidContract(h, provider, { offering_id: 'de-small' });
  c.c6 = await paidContract(h, provider, { offering_id: 'us-small', datacenter_country: 'US' });

  await provisioned(a1, c.c1!, await lock(a1, c.c1!));
  await mustOk(agentCall(h, a1, 'POST', `${base(provider)}/contracts/${c.c2}/failed`, { lock_token: await lock(a1, c.c2!), error_message: 'boom' }));
  const t3 = await lock(a1, c.c3!);
  await expireNow(c.c3!);
  await provisioned(a1, c.c3!, t3); // late confirmation: counts once, as provisioned
  await lock(a1, c.c4!);
  await expireNow(c.c4!);
  await provisioned(a1, c.c7!, await lock(a1, c.c7!));
  await provisioned(a1, c.c8!, await lock(a1, c.c8!));
  await provisioned(b1, c.c6!, await lock(b1, c.c6!));

  T = Math.floor((await h.db.query<{ t: number }>(`SELECT extract(epoch FROM now())::float8 AS t`)).rows[0]!.t);
  // Times to provision: c7 10 s, c1 100 s, c3 1000 s (within the hour); c8 100 s two hours ago.
  await provisionableAt(c.c1!, 700); await eventAt(c.c1!, 'provisioned', 600);
  await provisionableAt(c.c3!, 1300); await eventAt(c.c3!, 'expired', 400); await eventAt(c.c3!, 'provisioned', 300);
  await provisionableAt(c.c7!, 70); await eventAt(c.c7!, 'provisioned', 60);
  await provisionableAt(c.c8!, 7300); await eventAt(c.c8!, 'provisioned', 7200);
  await eventAt(c.c2!, 'failed', 1200); await provisionableAt(c.c2!, 1250);
  await eventAt(c.c4!, 'expired', 1800); await provisionableAt(c.c4!, 1850);
  await provisionableAt(c.c5!, 5000);
  await eventAt(c.c6!, 'provisioned', 100);
  // A teardown of c1 (its failure is a terminate lease's: not a provision attempt).
  await h.db.query(
    `INSERT INTO contract_events (contract_id, at, event, agent_pubkey, lock_token, detail, action) VALUES
       ($1, to_timestamp($3::float8), 'failed', $2, 1, 'destroy failed', 'terminate'),
       ($1, to_timestamp($4::float8), 'terminated', $2, 1, null, 'terminate')`,
    [c.c1, a1.publicKey, T - 130, T - 120],
  );
});

after(async () => {
  await h?.close();
});

/** Expected bucket index of T - ago in a window answer. */
const bucketOf = (s: { from: string; bucket_seconds: number }, ago: number) => Math.floor((T - ago - Date.parse(s.from) / 1000) / s.bucket_seconds);

describe('pool statistics', () => {
  test('1h: counts, a late confirmation counted once, success rate, percentiles, waiting', async () => {
    const s = await stats(poolA, '1h');
    assert.equal(s.window, '1h');
    assert.equal(s.bucket_seconds, 60);
    assert.equal(s.provisioned, 3);
    assert.equal(s.failed_attempts, 1);
    assert.equal(s.expired_leases, 1);
    assert.equal(s.terminated, 1);
    assert.equal(s.success_rate, 3 / 5);
    assert.deepEqual(s.time_to_provision_ms, { p50: 100_000, p95: 1_000_000, max: 1_000_000 });
    assert.equal(s.waiting, 3); // c2 (backing off), c4 (expired), c5 (never granted)
    assert.ok(s.oldest_waiting_seconds >= 5000 && s.oldest_waiting_seconds < 5060, String(s.oldest_waiting_seconds));
  });

  test('1h: 60 epoch-aligned buckets, the last containing now, adding up to the totals', async () => {
    const s = await stats(poolA, '1h');
    assert.equal(s.series.length, 60);
    const from = Date.parse(s.from) / 1000;
    assert.equal(from % 60, 0);
    assert.equal(Date.parse(s.to) / 1000, from + 3600);
    assert.ok(from + 59 * 60 <= T + 5 && T < from + 3600);
    s.series.forEach((b: { t: string }, i: number) => assert.equal(Date.parse(b.t) / 1000, from + i * 60));
    const expected = Array.from({ length: 60 }, () => ({ provisioned: 0, failed: 0 }));
    for (const ago of [600, 300, 60]) expected[bucketOf(s, ago)]!.provisioned++;
    for (const ago of [1200, 1800]) expected[bucketOf(s, ago)]!.failed++;
    assert.deepEqual(s.series.map((b: any) => ({ provisioned: b.provisioned, failed: b.failed })), expected);
  });

  test('24h (the default) includes the older provision', async () => {
    const s = await stats(poolA);
    assert.equal(s.window, '24h');
    assert.equal(s.bucket_seconds, 1440);
    assert.equal(Date.parse(s.from) / 1000 % 1440, 0);
    assert.equal(s.provisioned, 4);
    assert.equal(s.success_rate, 4 / 6);
    assert.deepEqual(s.time_to_provision_ms, { p50: 100_000, p95: 1_000_000, max: 1_000_000 });
    assert.equal(s.series.reduce((n: number, b: any) => n + b.provisioned, 0), 4);
    assert.equal(s.series.reduce((n: number, b: any) => n + b.failed, 0), 2);
  });

  test('7d buckets are 10080 s, aligned to the epoch', async () => {
    const s = await stats(poolA, '7d');
    assert.equal(s.bucket_seconds, 10_080);
    assert.equal(Date.parse(s.from) / 1000 % 10_080, 0);
    assert.equal(s.provisioned, 4);
  });

  test("another pool's events never count; a pool without attempts has a null rate", async () => {
    const s = await stats(poolB, '1h');
    assert.equal(s.provisioned, 1);
    assert.equal(s.success_rate, 1);
    assert.equal(s.waiting, 0);
    assert.equal(s.oldest_waiting_seconds, null);
    const empty = (await mustOk(call(h, provider, 'POST', `${base(provider)}/pools`, { name: 'empty', location: 'apac', provisioner_type: 'script' }))).body;
    assert.equal(empty.success_rate_24h, null);
    const e = await stats(empty.pool_id);
    assert.equal(e.success_rate, null);
    assert.deepEqual(e.time_to_provision_ms, { p50: null, p95: null, max: null });
    assert.ok(e.series.every((b: any) => b.provisioned === 0 && b.failed === 0));
  });

  test('the pools list carries success_rate_24h and waiting', async () => {
    const items = (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools`))).body.items as any[];
    const a = items.find((p) => p.pool_id === poolA);
    const b = items.find((p) => p.pool_id === poolB);
    assert.equal(a.success_rate_24h, 4 / 6);
    assert.equal(a.waiting, 3);
    assert.equal(b.success_rate_24h, 1);
    assert.equal(b.waiting, 0);
    const detail = (await mustOk(call(h, provider, 'GET', `${base(provider)}/pools/${poolA}`))).body;
    assert.equal(detail.waiting, 3);
  });

  test('a bad window is 400 in words; another provider or an unknown pool is 404', async () => {
    const r = await call(h, provider, 'GET', `${base(provider)}/pools/${poolA}/stats?window=2h`);
    assertError(r, 400);
    assert.match(r.body.error.message, /window must be one of: 1h, 24h, 7d/);
    assertError(await call(h, provider, 'GET', `${base(provider)}/pools/nope/stats`), 404);
    const other = await providerWithPool(h);
    assertError(await call(h, other.provider, 'GET', `${base(other.provider)}/pools/${poolA}/stats`), 404);
  });
});

describe('provisionable_at', () => {
  test('set on accept-and-pay and on retry, kept through a failed attempt', async () => {
    const id = await paidContract(h, provider, { offering_id: 'de-small' });
    const at = async () => (await h.db.query<{ t: Date | null }>(`SELECT provisionable_at AS t FROM contract_sign_requests WHERE contract_id = $1`, [id])).rows[0]!.t;
    const first = await at();
    assert.ok(first);
    const a = await registerAgent(h, provider, poolA);
    await mustOk(agentCall(h, a, 'POST', `${base(provider)}/contracts/${id}/failed`, { lock_token: await lock(a, id), error_message: 'x' }));
    assert.deepEqual(await at(), first);
    await h.db.query(`UPDATE contract_sign_requests SET status = 'provisioning_failed' WHERE contract_id = $1`, [id]);
    await mustOk(call(h, provider, 'POST', `${base(provider)}/contracts/${id}/retry`));
    assert.ok((await at())!.getTime() > first.getTime());
  });
});
