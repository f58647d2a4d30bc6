// Batch confirmations (DESIGN.md "v3, batches"): every item answers with the status and error
// object its single call would have had (checked against the single endpoint on a twin contract
// brought into the same state by a twin agent), in request order, each fenced on its own; a
// malformed body is 400 and writes nothing; exact repeats change nothing. Races run on PostgreSQL
// only. Time is moved by backdating leases, never by waiting.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { generateIdentity, type Identity } from '@dc/core/node';
import type { Db, QueryOptions, Queryable } from '../src/db/db.js';
import { DomainError } from '../src/errors.js';
import { startServer } from '../src/server.js';
import { expireLeases } from '../src/store/leases.js';
import { WORK_CHANNEL, parseWorkNotice, type WorkNotice } from '../src/store/work-notify.js';
import {
  agentCall, assertError, base, call, connectTestDb, mustOk, paidContract, providerWithPool, registerAgent, serverUrl, startHarness, testConfig,
  type Harness, type Res,
} from './helpers.js';

const ENV = { DC_RETRY_BACKOFF_SECONDS: '30', DC_MAX_PROVISION_ATTEMPTS: '5', DC_AGENT_FAILURE_THRESHOLD: '3' };
let h: Harness;
before(async () => {
  h = await startHarness(ENV);
});
after(async () => h?.close());

const customer = generateIdentity();
type Kind = 'provisioned' | 'failed' | 'terminated';

interface Fleet {
  provider: Identity;
  poolId: string;
  a: Identity; // confirms with batches
  twin: Identity; // the same calls one by one
  b: Identity; // another agent of the pool: takes over expired leases
  offering: string;
}

let n = 0;
async function fleet(): Promise<Fleet> {
  const { provider, poolId } = await providerWithPool(h);
  const [a, twin, b] = [await registerAgent(h, provider, poolId, 'a'), await registerAgent(h, provider, poolId, 'twin'), await registerAgent(h, provider, poolId, 'b')];
  return { provider, poolId, a, twin, b, offering: `batch-${++n}` };
}

const cpath = (f: Fleet, id: string) => `${base(f.provider)}/contracts/${id}`;
const paid = (f: Fleet) => paidContract(h, f.provider, { offering_id: f.offering }, customer);
const lock = async (f: Fleet, agent: Identity, id: string, on: Harness = h) =>
  (await mustOk(agentCall(on, agent, 'POST', `${cpath(f, id)}/lock`, {}))).body.lock_token as number;
const batch = (f: Fleet, agent: Identity, kind: Kind, items: unknown, on: Harness = h) =>
  agentCall(on, agent, 'POST', `${base(f.provider)}/contracts/${kind}`, { items });
function single(f: Fleet, agent: Identity, kind: Kind, item: Record<string, unknown>): Promise<Res> {
  const { contract_id, ...body } = item;
  return agentCall(h, agent, 'POST', `${cpath(f, contract_id as string)}/${kind}`, body);
}
const backdateLease = (id: string) =>
  h.db.query(`UPDATE contract_sign_requests SET provisioning_lock_expires_at = now() - interval '10 seconds' WHERE contract_id = $1`, [id]);
const row = async (id: string) => (await h.db.query<any>(`SELECT * FROM contract_sign_requests WHERE contract_id = $1`, [id])).rows[0];
const eventCount = async (ids: string[]) =>
  (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM contract_events WHERE contract_id = ANY($1::text[])`, [ids])).rows[0]!.n;
const health = async (agent: Identity) =>
  (await h.db.query<any>(`SELECT consecutive_failures, cooldowns_since_success, cooldown_until IS NOT NULL AS cooled FROM provider_agent_delegations WHERE agent_pubkey = $1`, [agent.publicKey])).rows[0];

/** What each kind's item carries besides contract_id and lock_token. */
const EXTRA: Record<Kind, Record<string, unknown>> = {
  provisioned: { instance_details: { ip: '203.0.113.9', host_scope: 'node-1' } },
  failed: { error_message: 'clone failed: disk full', error_class: 'agent' },
  terminated: {},
};

/** A contract `self` holds a lease on for `kind`: a provision lease, or (terminated) the teardown lease of a machine it built. */
async function held(f: Fleet, self: Identity, kind: Kind): Promise<{ id: string; token: number }> {
  const id = await paid(f);
  const token = await lock(f, self, id);
  if (kind !== 'terminated') return { id, token };
  await mustOk(single(f, self, 'provisioned', { contract_id: id, lock_token: token, instance_details: {} }));
  await mustOk(call(h, f.provider, 'POST', `${cpath(f, id)}/terminate`, {}));
  return { id, token: await lock(f, self, id) };
}

/**
 * The item states compared, each a twist applied to a held lease (after every lease was taken:
 * failures may cool an agent down, which would refuse later grants).
 */
const SCENARIOS = ['ok', 'lease_lost', 'wrong_token', 'not_found', 'other_provider', 'repeat', 'released', 'cancelled', 'not_terminating'] as const;
type Scenario = (typeof SCENARIOS)[number];
const scenariosOf = (kind: Kind): Scenario[] => SCENARIOS.filter((s) => (kind === 'terminated' ? s !== 'cancelled' : s !== 'not_terminating'));

interface Prepared {
  id: string;
  token: number;
}

/** Brings one contract per scenario into its state for `self`; `other` is another provider's fleet. */
async function prepare(f: Fleet, other: Fleet, self: Identity, kind: Kind): Promise<Map<Scenario, Prepared>> {
  const out = new Map<Scenario, Prepared>();
  for (const s of scenariosOf(kind)) {
    if (s === 'not_found') out.set(s, { id: randomUUID(), token: 1 });
    else if (s === 'other_provider') out.set(s, await held(other, other.a, 'provisioned'));
    else if (s === 'not_terminating') {
      // A machine this agent built, not being torn down: its provision token.
      const id = await paid(f);
      const token = await lock(f, self, id);
      out.set(s, { id, token });
    } else out.set(s, await held(f, self, kind));
  }
  for (const [s, p] of out) {
    const item = { contract_id: p.id, lock_token: p.token, ...EXTRA[kind] };
    if (s === 'lease_lost') {
      await backdateLease(p.id);
      await lock(f, f.b, p.id);
    } else if (s === 'wrong_token') p.token += 7;
    else if (s === 'repeat') await mustOk(single(f, self, kind, item));
    else if (s === 'released') await mustOk(agentCall(h, self, 'DELETE', `${cpath(f, p.id)}/lock`, { lock_token: p.token }));
    else if (s === 'cancelled') await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${p.id}/cancel`));
    else if (s === 'not_terminating') await mustOk(single(f, self, 'provisioned', { contract_id: p.id, lock_token: p.token, instance_details: {} }));
  }
  return out;
}

/** A contract's state and history with agents named by role, so twins compare equal. */
async function shape(id: string, roles: Map<string, string>) {
  const r = await row(id);
  const who = (k: string | null) => (k === null ? null : (roles.get(k) ?? 'someone'));
  const events = (await h.db.query<any>(
    `SELECT event, agent_pubkey, lock_token, detail, action, error_class FROM contract_events WHERE contract_id = $1 ORDER BY event_id`, [id],
  )).rows.map((e) => [e.event, who(e.agent_pubkey), Number(e.lock_token), e.detail, e.action, e.error_class]);
  return {
    status: r.status, attempts: r.attempts, last_error: r.last_error, token: Number(r.provisioning_lock_token), lease_outcome: r.lease_outcome,
    lock_agent: who(r.provisioning_lock_agent), lease_agent: who(r.lease_agent), provisioned_by: who(r.provisioned_by), terminated_by: who(r.terminated_by),
    teardown_owner: who(r.teardown_owner), instance_details: r.instance_details, backing_off: r.next_attempt_at !== null, events,
  };
}

/** An answer as {status, error} with the contract's id written out of the message (twins have different ids). */
function answer(status: number, error: any, id: string) {
  if (status === 200) return { status, error: undefined };
  return { status, error: { ...error, message: String(error.message).replaceAll(id, '<id>') } };
}

describe('per item, as the single call answers', () => {
  for (const kind of ['provisioned', 'failed', 'terminated'] as const) {
    test(`${kind}: ok, lease_lost, wrong token, not found, another provider's contract … answer in request order as the single calls; an exact repeat changes nothing`, async () => {
      const f = await fleet();
      const other = await fleet();
      const mine = await prepare(f, other, f.a, kind);
      const twins = await prepare(f, other, f.twin, kind);
      const scenarios = scenariosOf(kind);
      const items = scenarios.map((s) => ({ contract_id: mine.get(s)!.id, lock_token: mine.get(s)!.token, ...EXTRA[kind] }));
      const ids = items.map((i) => i.contract_id);
      assert.notDeepEqual(ids, [...ids].sort(), 'the request is not in contract_id order');

      const r = await mustOk(batch(f, f.a, kind, items));
      assert.deepEqual(r.body.items.map((i: any) => i.contract_id), ids, 'request order');
      for (const [i, s] of scenarios.entries()) {
        const got = r.body.items[i];
        const t = twins.get(s)!;
        const one = await single(f, f.twin, kind, { contract_id: t.id, lock_token: t.token, ...EXTRA[kind] });
        assert.deepEqual(answer(got.status, got.error, got.contract_id), answer(one.status, one.body.error, t.id), `${kind} ${s}`);
        if (got.status !== 200) assert.deepEqual(Object.keys(got).sort(), ['contract_id', 'error', 'status']);
        if (s === 'not_found') continue;
        const roles = (self: Identity) => new Map([[self.publicKey, 'self'], [f.b.publicKey, 'b'], [other.a.publicKey, 'other'], [f.provider.publicKey, 'provider']]);
        assert.deepEqual(await shape(got.contract_id, roles(f.a)), await shape(t.id, roles(f.twin)), `${kind} ${s}: state and history as the twin's`);
      }
      const byScenario = Object.fromEntries(scenarios.map((s, i) => [s, r.body.items[i]]));
      assert.equal(byScenario.ok.status, 200);
      assert.deepEqual([byScenario.lease_lost.status, byScenario.lease_lost.error.code], [409, 'lease_lost'], 'one lease_lost does not fail the others');
      assert.equal(byScenario.wrong_token.error.code, 'lease_lost');
      assert.deepEqual([byScenario.not_found.status, byScenario.not_found.error.code], [404, 'not_found']);
      assert.deepEqual([byScenario.other_provider.status, byScenario.other_provider.error.code], [404, 'not_found']);
      assert.equal(byScenario.repeat.status, 200);
      assert.deepEqual(await health(f.a), await health(f.twin), 'health as after the single calls');
      const done = await row(mine.get('ok')!.id);
      if (kind === 'provisioned') assert.deepEqual([done.status, done.provisioned_by, done.instance_details], ['provisioned', f.a.publicKey, EXTRA.provisioned.instance_details]);
      if (kind === 'failed') assert.deepEqual([done.status, done.attempts, done.last_error, done.provisioning_lock_agent], ['accepted', 1, 'clone failed: disk full', null]);
      if (kind === 'terminated') assert.deepEqual([done.status, done.terminated_by], ['terminated', f.a.publicKey], 'the teardown batch terminates');

      // The whole batch again (its answer lost): the same answers, nothing written.
      const before = await Promise.all(ids.map(row));
      const eventsBefore = await eventCount(ids);
      const healthBefore = await health(f.a);
      const again = await mustOk(batch(f, f.a, kind, items));
      assert.deepEqual(again.body, r.body);
      assert.deepEqual(await Promise.all(ids.map(row)), before);
      assert.equal(await eventCount(ids), eventsBefore);
      assert.deepEqual(await health(f.a), healthBefore);
    });
  }

  test('failed with error_class agent counts against health item by item, exactly as single calls: a cool-down mid-batch', async () => {
    const f = await fleet();
    const classes = ['agent', 'contract', 'agent', 'agent'] as const;
    const leases = async (agent: Identity) => {
      const out: { id: string; token: number }[] = [];
      for (const _ of classes) out.push(await held(f, agent, 'failed'));
      return out;
    };
    const [mine, twins] = [await leases(f.a), await leases(f.twin)];
    // Each ended provision lease frees a slot for the agent's parked long-polls (Dispatcher.slotsFreed).
    const freed: [string, number][] = [];
    const dispatcher = h.server.ctx.dispatcher;
    const slotsFreed = dispatcher.slotsFreed;
    dispatcher.slotsFreed = (provider, agent, count) => {
      freed.push([agent, count]);
      slotsFreed.call(dispatcher, provider, agent, count);
    };
    const r = await mustOk(batch(f, f.a, 'failed', mine.map((m, i) => ({ contract_id: m.id, lock_token: m.token, error_message: 'boom', error_class: classes[i] }))));
    assert.deepEqual(r.body.items.map((i: any) => i.status), [200, 200, 200, 200]);
    for (const [i, t] of twins.entries()) await mustOk(single(f, f.twin, 'failed', { contract_id: t.id, lock_token: t.token, error_message: 'boom', error_class: classes[i] }));
    dispatcher.slotsFreed = slotsFreed;
    assert.deepEqual(freed, [[f.a.publicKey, 4], ...twins.map(() => [f.twin.publicKey, 1] as [string, number])]);
    // Three agent-class failures: the threshold (3) cools the agent down and the count restarts.
    assert.deepEqual(await health(f.a), { consecutive_failures: 0, cooldowns_since_success: 1, cooled: true });
    assert.deepEqual(await health(f.a), await health(f.twin));
    const cooldowns = async (agent: Identity) =>
      (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE kind = 'agent_cooldown' AND subject_id = $1`, [agent.publicKey])).rows[0]!.n;
    assert.equal(await cooldowns(f.a), 1);
    assert.equal(await cooldowns(f.twin), 1);
    // Each failure event records its class; the agent cooled down mid-batch still had the rest confirmed.
    const cls = (await h.db.query<any>(`SELECT error_class FROM contract_events WHERE contract_id = ANY($1::text[]) AND event = 'failed'`, [mine.map((m) => m.id)])).rows;
    assert.deepEqual(cls.map((c) => c.error_class).sort(), ['agent', 'agent', 'agent', 'contract']);
  });

  test('provisioned and terminated batches reset the agent\'s failure count, as the single calls do', async () => {
    const f = await fleet();
    const p = await held(f, f.a, 'provisioned');
    await h.db.query(`UPDATE provider_agent_delegations SET consecutive_failures = 2 WHERE agent_pubkey = $1`, [f.a.publicKey]);
    await mustOk(batch(f, f.a, 'provisioned', [{ contract_id: p.id, lock_token: p.token, instance_details: {} }]));
    assert.equal((await health(f.a)).consecutive_failures, 0);
    const t = await held(f, f.a, 'terminated');
    await h.db.query(`UPDATE provider_agent_delegations SET consecutive_failures = 2 WHERE agent_pubkey = $1`, [f.a.publicKey]);
    const r = await mustOk(batch(f, f.a, 'terminated', [{ contract_id: t.id, lock_token: t.token }]));
    assert.deepEqual(r.body.items, [{ contract_id: t.id, status: 200 }]);
    assert.equal((await health(f.a)).consecutive_failures, 0);
  });
});

describe('malformed bodies and callers', () => {
  test('400 for the whole request: no items, 101 items, duplicate ids, bad item shapes; nothing is written', async () => {
    const f = await fleet();
    const { id, token } = await held(f, f.a, 'provisioned');
    const ok = { contract_id: id, lock_token: token, instance_details: {} };
    const stateBefore = await row(id);
    const eventsBefore = await eventCount([id]);
    const many = [ok, ...Array.from({ length: 100 }, () => ({ ...ok, contract_id: randomUUID() }))];
    const bad: [Kind, unknown, RegExp?][] = [
      ['provisioned', [], /items/],
      ['provisioned', many, /items/],
      ['provisioned', [ok, { ...ok, lock_token: token + 1 }], /items\[1\]\.contract_id repeats body\.items\[0\]/],
      ['provisioned', [ok, { contract_id: randomUUID(), instance_details: {} }], /lock_token/],
      ['provisioned', [ok, { ...ok, contract_id: randomUUID(), note: 'x' }]],
      ['provisioned', [ok, { ...ok, contract_id: randomUUID(), instance_details: { blob: 'x'.repeat(70_000) } }], /items\[1\]\.instance_details/],
      ['provisioned', { contract_id: id }],
      ['failed', [{ contract_id: id, lock_token: token, error_message: 'x', error_class: 'bogus' }]],
      ['failed', [{ contract_id: id, lock_token: token }]],
      ['terminated', [{ contract_id: id, lock_token: token, instance_details: {} }]],
      ['terminated', [{ contract_id: '', lock_token: token }]],
    ];
    for (const [kind, items, message] of bad) {
      const r = await batch(f, f.a, kind, items);
      assertError(r, 400, 'invalid_input');
      if (message) assert.match(r.body.error.message, message);
    }
    assert.deepEqual(await row(id), stateBefore, 'nothing written');
    assert.equal(await eventCount([id]), eventsBefore);
    // The lease is still open: the same item in a well-formed batch confirms.
    assert.equal((await mustOk(batch(f, f.a, 'provisioned', [ok]))).body.items[0].status, 200);
  });

  test('agent endpoints: a provider-signed batch is 403, an unsigned one 401, another provider\'s agent 403', async () => {
    const f = await fleet();
    const other = await fleet();
    const { id, token } = await held(f, f.a, 'provisioned');
    const items = [{ contract_id: id, lock_token: token, instance_details: {} }];
    assertError(await call(h, f.provider, 'POST', `${base(f.provider)}/contracts/provisioned`, { items }), 403, 'forbidden');
    assertError(await call(h, null, 'POST', `${base(f.provider)}/contracts/failed`, { items: [{ contract_id: id, lock_token: token, error_message: 'x' }] }), 401);
    assertError(await agentCall(h, other.a, 'POST', `${base(f.provider)}/contracts/terminated`, { items: [{ contract_id: id, lock_token: token }] }), 403, 'forbidden');
    assert.equal((await row(id)).lease_outcome, null);
  });

  test('OpenAPI lists the three batch paths', async () => {
    const doc = (await mustOk(call(h, null, 'GET', '/api/v1/openapi.json'))).body;
    for (const kind of ['provisioned', 'failed', 'terminated']) {
      const op = doc.paths[`/api/v1/providers/{pubkey}/contracts/${kind}`]?.post;
      assert.ok(op, kind);
      const body = op.requestBody.content['application/json'].schema;
      assert.equal(body.properties.items.maxItems, 100);
      assert.deepEqual(Object.keys(op.responses['200'].content['application/json'].schema.properties.items.items.properties).sort(), ['contract_id', 'error', 'status']);
    }
  });
});

describe('database errors', () => {
  test('a database error mid-batch is 503 for the whole batch, nothing commits, and the resend answers 200 per item', async () => {
    const f = await fleet();
    // The first item is an open lease (confirmed by the batch's one-statement common case), the
    // second an exact repeat (answered item by item, in a savepoint, after the first was written).
    const leases = [await held(f, f.a, 'provisioned'), await held(f, f.a, 'provisioned')];
    await mustOk(single(f, f.a, 'provisioned', { contract_id: leases[1]!.id, lock_token: leases[1]!.token, instance_details: { ok: true } }));
    const ids = leases.map((l) => l.id);
    // A replica whose database goes away at the repeat's savepoint (as db.ts reports it: database_unavailable).
    let releases = 0;
    const failing = (tx: Queryable): Queryable => ({
      query: (sql: string, params?: readonly unknown[], opts?: QueryOptions) => {
        if (sql.startsWith('RELEASE SAVEPOINT') && ++releases === 1) return Promise.reject(new DomainError('database_unavailable', undefined, {}, 1));
        return tx.query(sql, params, opts);
      },
      exec: (sql: string) => tx.exec(sql),
    });
    const flaky = new Proxy(h.db, {
      get(target, prop) {
        if (prop === 'transaction') return <T>(fn: (tx: Queryable) => Promise<T>) => target.transaction((tx) => fn(failing(tx)));
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const server = await startServer(testConfig(ENV), { db: flaky, listen: false, jobs: false, logger: false });
    try {
      const items = leases.map((l) => ({ contract_id: l.id, lock_token: l.token, instance_details: { ok: true } }));
      const before = await Promise.all(ids.map(row));
      const eventsBefore = await eventCount(ids);
      const r = await batch(f, f.a, 'provisioned', items, { ...h, server });
      assertError(r, 503, 'database_unavailable');
      assert.ok(r.headers['retry-after'], 'with Retry-After');
      assert.equal(releases, 1, 'the failure came after the first item was written');
      assert.deepEqual(await Promise.all(ids.map(row)), before, 'the first item did not commit either');
      assert.equal(await eventCount(ids), eventsBefore);
      const again = await mustOk(batch(f, f.a, 'provisioned', items));
      assert.deepEqual(again.body.items, ids.map((id) => ({ contract_id: id, status: 200 })));
    } finally {
      await server.close();
    }
  });
});

describe('work notices', () => {
  let h0: Harness;
  before(async () => {
    // A replica whose failures have no back-off: each failed item offers its contract again at once.
    const server = await startServer(testConfig({ ...ENV, DC_RETRY_BACKOFF_SECONDS: '0' }), { db: h.db, listen: false, jobs: false, logger: false });
    h0 = { ...h, server, close: () => server.close() };
  });
  after(async () => h0?.close());

  test('a failed batch announces its contracts in one notice per pool, sent on commit', async () => {
    const f = await fleet();
    const leases = [await held(f, f.a, 'failed'), await held(f, f.a, 'failed'), await held(f, f.a, 'failed')];
    const seen: WorkNotice[] = [];
    const stop = await h.db.listen(WORK_CHANNEL, (payload) => {
      const notice = parseWorkNotice(payload);
      if (notice) seen.push(notice);
    });
    try {
      // Notices queued before this point (the contracts' payments) arrive before a marker sent now.
      const drain = async () => {
        const marker = `marker-${randomBytes(4).toString('hex')}`;
        await h.db.query(`SELECT pg_notify($1, $2)`, [WORK_CHANNEL, `${marker} - 1`]);
        await until(() => seen.some((s) => s.provider === marker));
      };
      await drain();
      seen.length = 0;
      const r = await mustOk(batch(f, f.a, 'failed', leases.map((l) => ({ contract_id: l.id, lock_token: l.token, error_message: 'x', error_class: 'contract' })), h0));
      assert.deepEqual(r.body.items.map((i: any) => i.status), [200, 200, 200]);
      await drain();
      assert.deepEqual(seen.filter((s) => s.provider === f.provider.publicKey), [{ provider: f.provider.publicKey, poolId: f.poolId, count: 3 }]);
    } finally {
      await stop();
    }
  });
});

/** Waits (bounded) for an asynchronous delivery: a notice on the LISTEN connection. */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for a notice');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('races (PostgreSQL)', { skip: serverUrl() ? false : 'needs TEST_DATABASE_URL' }, () => {
  let h2: Harness; // a second replica with its own connection pool
  let db2: Db;
  before(async () => {
    if (!serverUrl()) return;
    db2 = connectTestDb(h.testDb.url!);
    const server = await startServer(testConfig(ENV), { db: db2, listen: false, jobs: false, logger: false });
    h2 = { ...h, server, db: db2, close: () => server.close() };
  });
  after(async () => {
    await h2?.close();
    await db2?.close();
  });

  const provisionedEvents = async (id: string) =>
    (await h.db.query<any>(`SELECT agent_pubkey, lock_token FROM contract_events WHERE contract_id = $1 AND event = 'provisioned'`, [id])).rows;
  const no5xx = (rs: Res[]) => rs.forEach((r) => assert.ok(r.status < 500, `no 5xx: ${r.status} ${r.text}`));

  test('two agents confirm overlapping batches at once (opposite orders, two replicas): each contract provisioned once, by its holder', async () => {
    const f = await fleet();
    for (let round = 0; round < 3; round++) {
      const ids: string[] = [];
      const holder = new Map<string, Identity>();
      const token = new Map<string, number>();
      for (let i = 0; i < 8; i++) {
        const id = await paid(f);
        const who = i % 2 === 0 ? f.a : f.b;
        token.set(id, await lock(f, who, id));
        holder.set(id, who);
        ids.push(id);
      }
      const items = (order: string[], by: string) => order.map((id) => ({ contract_id: id, lock_token: token.get(id)!, instance_details: { by } }));
      const [ra, rb] = await Promise.all([batch(f, f.a, 'provisioned', items(ids, 'a')), batch(f, f.b, 'provisioned', items([...ids].reverse(), 'b'), h2)]);
      no5xx([ra, rb]);
      assert.equal(ra.status, 200, ra.text);
      assert.equal(rb.status, 200, rb.text);
      const status = (r: Res, id: string) => r.body.items.find((i: any) => i.contract_id === id);
      for (const id of ids) {
        const mineA = holder.get(id) === f.a;
        assert.deepEqual([status(ra, id).status, status(ra, id).error?.code], mineA ? [200, undefined] : [409, 'lease_lost']);
        assert.deepEqual([status(rb, id).status, status(rb, id).error?.code], mineA ? [409, 'lease_lost'] : [200, undefined]);
        const c = await row(id);
        assert.equal(c.status, 'provisioned');
        assert.equal(c.provisioned_by, holder.get(id)!.publicKey);
        assert.deepEqual(c.instance_details, { by: mineA ? 'a' : 'b' });
        assert.deepEqual(await provisionedEvents(id), [{ agent_pubkey: holder.get(id)!.publicKey, lock_token: token.get(id) }]);
      }
    }
  });

  test('a batch races lease expiry, the sweeper and re-grants: each contract ends provisioned exactly once, fenced by token', async () => {
    const f = await fleet();
    for (let round = 0; round < 2; round++) {
      // The last round's expiries cooled A down (no new grants); its confirmations are never refused, but its locks would be.
      await mustOk(call(h, f.provider, 'POST', `${base(f.provider)}/agents/${f.a.publicKey}/reset-health`));
      const ids: string[] = [];
      const token = new Map<string, number>();
      for (let i = 0; i < 8; i++) {
        const id = await paid(f);
        token.set(id, await lock(f, f.a, id));
        await backdateLease(id);
        ids.push(id);
      }
      const grants = ids.map((id) => agentCall(h2, f.b, 'POST', `${cpath(f, id)}/lock`, {}));
      const [ra, sweep, ...rb] = await Promise.all([
        batch(f, f.a, 'provisioned', ids.map((id) => ({ contract_id: id, lock_token: token.get(id)!, instance_details: { by: 'a' } }))),
        expireLeases(h.db, 5),
        ...grants,
      ]);
      assert.ok(typeof sweep === 'number');
      no5xx([ra, ...rb]);
      assert.equal(ra.status, 200, ra.text);
      for (const [i, id] of ids.entries()) {
        const a = ra.body.items[i];
        assert.equal(a.contract_id, id);
        const b = rb[i]!;
        if (a.status === 200) {
          // A's late confirmation won (its token was still current): B's grant came after and was refused.
          assert.deepEqual([b.status, b.body.error?.code], [409, 'not_provisionable'], b.text);
        } else {
          // B's grant came first: a new token, and A's token is fenced off.
          assert.deepEqual([a.status, a.error.code], [409, 'lease_lost']);
          assert.equal(b.status, 200, b.text);
          assert.equal(b.body.lock_token, token.get(id)! + 1);
          await mustOk(agentCall(h, f.b, 'POST', `${cpath(f, id)}/provisioned`, { lock_token: b.body.lock_token, instance_details: { by: 'b' } }));
        }
        const winner = a.status === 200 ? f.a : f.b;
        const c = await row(id);
        assert.equal(c.status, 'provisioned');
        assert.equal(c.provisioned_by, winner.publicKey);
        assert.deepEqual(await provisionedEvents(id), [{ agent_pubkey: winner.publicKey, lock_token: a.status === 200 ? token.get(id) : token.get(id)! + 1 }]);
      }
    }
  });
});
