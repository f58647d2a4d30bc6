// Core's contract state table, walked through the API: for every status and every action today's
// API can drive, the action either performs the transition TRANSITIONS lists or is refused (409)
// and changes nothing. Statuses the API cannot reach are set with SQL; time is moved by
// backdating rows.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONTRACT_ACTIONS, CONTRACT_EVENTS, CONTRACT_STATUSES, TEARDOWN_STATUSES, TRIGGERS, allowedFrom, nextStatus, triggerTarget,
  type ContractAction, type ContractStatus, type Trigger,
} from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import { recordEvent } from '../src/store/events.js';
import { expireLeases } from '../src/store/leases.js';
import { fleetPolicyOf } from '../src/store/eligibility.js';
import {
  agentCall, assertError, base, call, mustOk, offeringInput, operator, providerWithPool, registerAgent, startHarness, type Harness, type Res,
} from './helpers.js';

const MAX_ATTEMPTS = 3;
let h: Harness;
let provider: Identity;
let agent: Identity;
const customer = generateIdentity();

before(async () => {
  // One agent walks every case, failing and expiring many leases: its health must not cool it down
  // mid-walk (cool-downs have their own tests in fleet.test.ts).
  h = await startHarness({
    DC_MAX_PROVISION_ATTEMPTS: String(MAX_ATTEMPTS), DC_RETRY_BACKOFF_SECONDS: '30', DC_LOCK_TTL_SECONDS: '300', DC_AGENT_FAILURE_THRESHOLD: '1000',
  });
  let poolId: string;
  ({ provider, poolId } = await providerWithPool(h));
  agent = await registerAgent(h, provider, poolId, 'state-a');
  await mustOk(call(h, provider, 'POST', `${base(provider)}/offerings`, offeringInput('st')));
});
after(async () => h?.close());

/** The lease sweeper with this server's settings (its health counts included). */
const sweep = (maxAttempts: number) => expireLeases(h.db, maxAttempts, fleetPolicyOf(h.server.ctx.config));

type Row = Record<string, unknown> & { status: ContractStatus; provisioning_lock_token: number; events: number };

/** The whole contract row and its number of events: "changes nothing" compares these. */
async function snapshot(id: string): Promise<Row> {
  const r = await h.db.query<Row>(
    `SELECT c.*, (SELECT count(*)::int FROM contract_events e WHERE e.contract_id = c.contract_id) AS events
     FROM contract_sign_requests c WHERE c.contract_id = $1`,
    [id],
  );
  return r.rows[0]!;
}

const contractPath = (id: string) => `${base(provider)}/contracts/${id}`;
const sql = (text: string, id: string, ...params: unknown[]) => h.db.query(text, [id, ...params]);

/** Agent A holds the current lease, open and live (a new token when it never held one). */
const openLease = (id: string) =>
  sql(
    `UPDATE contract_sign_requests SET provisioning_lock_token = GREATEST(provisioning_lock_token, 1), lease_agent = $2,
       lease_outcome = NULL, provisioning_lock_agent = $2, provisioning_lock_at = now(),
       provisioning_lock_expires_at = now() + interval '300 seconds'
     WHERE contract_id = $1`,
    id,
    agent.publicKey,
  );

/** A's lease ran out `attempts` attempts in (the sweeper's input). */
const backdateLease = (id: string, attempts: number) =>
  sql(
    `UPDATE contract_sign_requests SET provisioning_lock_agent = $2, provisioning_lock_at = now() - interval '310 seconds',
       provisioning_lock_expires_at = now() - interval '10 seconds', attempts = $3
     WHERE contract_id = $1`,
    id,
    agent.publicKey,
    attempts,
  );

/** Done with a contract: it never shows up in a later case's claim or sweep. */
const retire = (id: string) =>
  sql(
    `UPDATE contract_sign_requests SET status = 'rejected', provisioning_lock_agent = NULL, provisioning_lock_at = NULL,
       provisioning_lock_expires_at = NULL WHERE contract_id = $1`,
    id,
  );

/**
 * A paid contract in `status` whose current lease agent A holds open, so that the lease actions
 * depend on the status alone. Every status is reached through the API; where that path ends A's
 * lease (handoff, provisioned, terminated) or never grants one (requested, rejected), one UPDATE
 * opens it. The teardown statuses come from a customer's cancel while A holds the provision lease,
 * which goes on as A's teardown lease.
 */
async function reach(status: ContractStatus): Promise<string> {
  const id = (await mustOk(call(h, customer, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: 'st' }))).body.contract_id as string;
  await mustOk(call(h, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }));
  const held = async () => {
    await mustOk(call(h, provider, 'POST', `${contractPath(id)}/accept`));
    return (await mustOk(agentCall(h, agent, 'POST', `${contractPath(id)}/lock`))).body.lock_token as number;
  };
  switch (status) {
    case 'requested':
      await openLease(id);
      break;
    case 'rejected':
      await mustOk(call(h, provider, 'POST', `${contractPath(id)}/reject`));
      await openLease(id);
      break;
    case 'accepted':
      await held();
      break;
    case 'provisioning': {
      const token = await held();
      await mustOk(agentCall(h, agent, 'POST', `${contractPath(id)}/handoff`, { lock_token: token }));
      await openLease(id);
      break;
    }
    case 'provisioned': {
      const token = await held();
      await mustOk(agentCall(h, agent, 'POST', `${contractPath(id)}/provisioned`, { lock_token: token, instance_details: {} }));
      await openLease(id);
      break;
    }
    case 'provisioning_failed':
      await held();
      await backdateLease(id, 0);
      assert.equal(await sweep(1), 1); // at the attempt limit; A's lease stays open
      break;
    case 'cancelled':
      // Only a contract never granted a lease ends cancelled; a granted one is torn down.
      await mustOk(call(h, provider, 'POST', `${contractPath(id)}/accept`));
      await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${id}/cancel`));
      await openLease(id);
      break;
    case 'terminating':
      await held();
      await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${id}/cancel`));
      break;
    case 'termination_failed':
      await held();
      await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${id}/cancel`));
      await backdateLease(id, 0);
      assert.equal(await sweep(1), 1); // the teardown's attempt limit; A's lease stays open
      break;
    case 'terminated': {
      const token = await held();
      await mustOk(call(h, customer, 'POST', `/api/v1/contracts/${id}/cancel`));
      await mustOk(asA('POST', `${contractPath(id)}/terminated`, { lock_token: token }));
      await openLease(id);
      break;
    }
    default: {
      const never: never = status;
      throw new Error(`no way to reach ${String(never)}`);
    }
  }
  assert.equal((await snapshot(id)).status, status, `reached ${status}`);
  return id;
}

/** How a driver's answer is judged: an HTTP answer, a claim's items, or the sweeper's count. */
type Outcome = { res: Res } | { claimed: Res } | { swept: number };

/**
 * How a refused action shows: 409 (the API's answer), an empty claim, a sweep that skips the row,
 * or, for a refund, the payment recorded (200) with the status left as it is (a refund is a
 * payment first; DESIGN.md: where no refund transition applies only payment_status changes);
 * a trigger on a contract already being torn down is 200 and changes nothing ('unchanged').
 */
type Refusal = 'conflict' | 'not_claimed' | 'not_swept' | 'payment_only' | 'unchanged';

interface Driver {
  action: ContractAction;
  via: string;
  refusal?: Refusal | ((status: ContractStatus) => Refusal);
  /** Runs before the "before" snapshot (e.g. backdates the lease). */
  prepare?: (id: string) => Promise<unknown>;
  act: (id: string, token: number) => Promise<Outcome>;
  /** Extra effects of a performed transition, beyond the status. */
  check?: (before: Row, after: Row) => void;
}

const asA = (method: string, path: string, body?: unknown) => agentCall(h, agent, method, path, body);
const leaseEnded = (outcome: string) => (_: Row, after: Row) => {
  assert.equal(after.provisioning_lock_agent, null, 'the lock is cleared');
  assert.equal(after.lease_outcome, outcome);
};
const expiredOnce = (before: Row, after: Row) => {
  assert.equal(after.provisioning_lock_agent, null, 'the expired lock is cleared');
  assert.equal(after.attempts, (before.attempts as number) + 1, 'the expiry counts an attempt');
};

/** A trigger on a contract already ending answers 200 and changes nothing; elsewhere a refusal is 409. */
const triggerRefusal = (status: ContractStatus): Refusal => (TEARDOWN_STATUSES.includes(status) ? 'unchanged' : 'conflict');
/** A performed trigger that leads to terminating: A (the last grantee, or the builder) owns the teardown in its pool. */
const teardownOwned = (before: Row, after: Row) => {
  if (after.status !== 'terminating') return;
  assert.equal(after.teardown_owner, agent.publicKey, 'the agent that built it or last held its lease owns the teardown');
  assert.ok(after.provisioned_pool_id, 'the teardown routes by the pool that built it');
  assert.equal(after.attempts, 0, 'attempts restart for the teardown');
  assert.equal(after.provisioning_lock_token, before.provisioning_lock_token, 'lock_token continues its sequence');
  assert.equal(after.teardown_handed_off, before.status === 'provisioning', 'a handed-off provision starts its teardown handed off');
};

const DRIVERS: Driver[] = [
  { action: 'accept', via: 'provider', act: async (id) => ({ res: await call(h, provider, 'POST', `${contractPath(id)}/accept`) }) },
  { action: 'reject', via: 'provider', act: async (id) => ({ res: await call(h, provider, 'POST', `${contractPath(id)}/reject`) }) },
  { action: 'cancel', via: 'customer', refusal: triggerRefusal, check: teardownOwned,
    act: async (id) => ({ res: await call(h, customer, 'POST', `/api/v1/contracts/${id}/cancel`) }) },
  { action: 'terminate', via: 'provider', refusal: triggerRefusal, check: teardownOwned,
    act: async (id) => ({ res: await call(h, provider, 'POST', `${contractPath(id)}/terminate`, { reason: 'state table' }) }) },
  {
    action: 'refund', via: 'operator payment', refusal: 'payment_only',
    act: async (id) => ({ res: await call(h, operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'refunded' }) }),
    check: (before, after) => {
      assert.equal(after.payment_status, 'refunded');
      teardownOwned(before, after);
    },
  },
  { action: 'retry', via: 'provider', act: async (id) => ({ res: await call(h, provider, 'POST', `${contractPath(id)}/retry`) }),
    check: (_, after) => assert.equal(after.attempts, 0) },
  {
    action: 'grant', via: 'lock',
    act: async (id) => ({ res: await asA('POST', `${contractPath(id)}/lock`) }),
    check: (_, after) => assert.equal(after.provisioning_lock_agent, agent.publicKey),
  },
  {
    action: 'grant', via: 'claim', refusal: 'not_claimed',
    act: async () => ({ claimed: await asA('POST', `${base(provider)}/contracts/claim`, { max: 1, actions: ['provision', 'terminate'] }) }),
    check: (_, after) => assert.equal(after.provisioning_lock_agent, agent.publicKey),
  },
  { action: 'release', via: 'agent', act: async (id, token) => ({ res: await asA('DELETE', `${contractPath(id)}/lock`, { lock_token: token }) }),
    check: leaseEnded('released') },
  {
    action: 'expire', via: 'sweeper', refusal: 'not_swept',
    prepare: (id) => backdateLease(id, 0),
    act: async () => ({ swept: await sweep(MAX_ATTEMPTS) }),
    check: expiredOnce,
  },
  {
    action: 'exhaust', via: 'sweeper at the attempt limit', refusal: 'not_swept',
    prepare: (id) => backdateLease(id, MAX_ATTEMPTS - 1),
    act: async () => ({ swept: await sweep(MAX_ATTEMPTS) }),
    check: expiredOnce,
  },
  { action: 'fail', via: 'agent', act: async (id, token) => ({ res: await asA('POST', `${contractPath(id)}/failed`, { lock_token: token, error_message: 'boom' }) }),
    check: leaseEnded('failed') },
  {
    action: 'exhaust', via: 'agent failing at the attempt limit',
    // A live lease: this failure is counted, and it is the last attempt allowed.
    prepare: (id) => sql(`UPDATE contract_sign_requests SET attempts = $2, provisioning_lock_agent = $3, provisioning_lock_expires_at = now() + interval '300 seconds' WHERE contract_id = $1`, id, MAX_ATTEMPTS - 1, agent.publicKey),
    act: async (id, token) => ({ res: await asA('POST', `${contractPath(id)}/failed`, { lock_token: token, error_message: 'boom' }) }),
    check: (before, after) => {
      leaseEnded('failed')(before, after);
      assert.equal(after.attempts, MAX_ATTEMPTS);
    },
  },
  {
    action: 'provision', via: 'agent',
    act: async (id, token) => ({ res: await asA('POST', `${contractPath(id)}/provisioned`, { lock_token: token, instance_details: { ip: '192.0.2.1' } }) }),
    check: (before, after) => {
      leaseEnded('provisioned')(before, after);
      assert.equal(after.provisioned_by, agent.publicKey);
    },
  },
  { action: 'handoff', via: 'agent', act: async (id, token) => ({ res: await asA('POST', `${contractPath(id)}/handoff`, { lock_token: token }) }),
    check: (before, after) => {
      leaseEnded('handed_off')(before, after);
      assert.equal(after.teardown_handed_off, after.status === 'terminating', 'a teardown handed off waits for a person');
    } },
  {
    action: 'terminated', via: 'agent',
    act: async (id, token) => ({ res: await asA('POST', `${contractPath(id)}/terminated`, { lock_token: token }) }),
    check: (before, after) => {
      leaseEnded('terminated')(before, after);
      assert.equal(after.terminated_by, agent.publicKey);
      assert.ok(after.terminated_at instanceof Date);
    },
  },
];

/** Actions of the table that no API drives yet, and why. */
const NOT_DRIVEN: Partial<Record<ContractAction, string>> = {};

/**
 * What the table expects of `action` on `status`: the next status, or null (refused). Every
 * contract here was granted a lease (lock_token > 0), so a trigger never ends it `cancelled`
 * unless the table says so; on a contract already ending it changes nothing (null here, 200 there).
 */
function expected(status: ContractStatus, action: ContractAction): ContractStatus | null {
  if ((TRIGGERS as readonly string[]).includes(action)) {
    const to = triggerTarget(status, action as Trigger, true);
    return to === 'unchanged' ? null : to;
  }
  return nextStatus(status, action);
}

describe('what this test drives', () => {
  test('every driven action is in the table, and every action of the table is driven or named as without an API', () => {
    for (const d of DRIVERS) {
      assert.ok((CONTRACT_ACTIONS as readonly string[]).includes(d.action), `${d.action} is an action of the table`);
      assert.ok(allowedFrom(d.action).length > 0, `the table lists a transition for ${d.action}`);
    }
    const driven = new Set(DRIVERS.map((d) => d.action));
    for (const a of CONTRACT_ACTIONS) {
      assert.ok(driven.has(a) !== (a in NOT_DRIVEN), `${a}: driven here, or listed in NOT_DRIVEN, not both`);
    }
  });

  test('a trigger on a contract never granted a lease ends it cancelled; on a granted one it starts the teardown', () => {
    for (const t of TRIGGERS) {
      assert.equal(triggerTarget('accepted', t, false), 'cancelled');
      assert.equal(triggerTarget('accepted', t, true), 'terminating');
      assert.equal(triggerTarget('provisioned', t, true), 'terminating');
      for (const s of TEARDOWN_STATUSES) assert.equal(triggerTarget(s, t, true), 'unchanged');
    }
    assert.equal(triggerTarget('requested', 'terminate', false), null, 'the provider rejects a requested contract instead');
  });
});

describe('the schema', () => {
  test('the database accepts every status and every event core lists (the v3 teardown ones since migration 002)', async () => {
    const id = await reach('accepted');
    try {
      for (const status of CONTRACT_STATUSES) await sql(`UPDATE contract_sign_requests SET status = $2 WHERE contract_id = $1`, id, status);
      for (const event of CONTRACT_EVENTS) await recordEvent(h.db, { contractId: id, event, actor: null, token: 1, detail: 'schema check' });
      await assert.rejects(sql(`UPDATE contract_sign_requests SET status = 'paused' WHERE contract_id = $1`, id), 'an unknown status is refused');
    } finally {
      await retire(id);
    }
  });
});

for (const status of CONTRACT_STATUSES) {
  describe(`from ${status}`, () => {
    for (const d of DRIVERS) {
      const to = expected(status, d.action);
      const name = `${d.action} (${d.via}) ${to ? `→ ${to}` : 'is refused and changes nothing'}`;
      test(name, async () => {
        const id = await reach(status);
        try {
          await d.prepare?.(id);
          const before = await snapshot(id);
          const outcome = await d.act(id, before.provisioning_lock_token);
          const after = await snapshot(id);
          if (to !== null) {
            if ('res' in outcome) assert.equal(outcome.res.status, 200, outcome.res.text);
            if ('claimed' in outcome) assert.deepEqual(outcome.claimed.body.items.map((c: { contract_id: string }) => c.contract_id), [id]);
            if ('swept' in outcome) assert.equal(outcome.swept, 1);
            assert.equal(after.status, to);
            d.check?.(before, after);
            return;
          }
          const refusal = typeof d.refusal === 'function' ? d.refusal(status) : (d.refusal ?? 'conflict');
          switch (refusal) {
            case 'conflict':
              assert.ok('res' in outcome);
              assertError(outcome.res, 409);
              break;
            case 'not_claimed':
              assert.ok('claimed' in outcome);
              assert.equal(outcome.claimed.status, 200, outcome.claimed.text);
              assert.deepEqual(outcome.claimed.body.items, []);
              break;
            case 'not_swept':
              assert.ok('swept' in outcome);
              assert.equal(outcome.swept, 0);
              break;
            case 'payment_only': {
              assert.ok('res' in outcome);
              assert.equal(outcome.res.status, 200, outcome.res.text);
              const { payment_status, updated_at, ...rest } = after;
              const { payment_status: _p, updated_at: _u, ...restBefore } = before;
              assert.equal(payment_status, 'refunded');
              assert.deepEqual(rest, restBefore, 'only the payment changed');
              return;
            }
            case 'unchanged':
              assert.ok('res' in outcome);
              assert.equal(outcome.res.status, 200, outcome.res.text);
              break;
          }
          assert.deepEqual(after, before, 'nothing changed');
        } finally {
          await retire(id);
        }
      });
    }
  });
}

describe('the provider finishing a handed-off contract', () => {
  // Providers confirm or fail only contracts handed off to them (provisioning); there the
  // provisioning row of the table applies, elsewhere they are refused whatever the table says
  // about agents.
  const providerDrivers: Driver[] = [
    { action: 'provision', via: 'provider', act: async (id) => ({ res: await call(h, provider, 'POST', `${contractPath(id)}/provisioned`, { instance_details: {} }) }),
      check: (_, after) => assert.equal(after.provisioned_by, provider.publicKey) },
    { action: 'fail', via: 'provider', act: async (id) => ({ res: await call(h, provider, 'POST', `${contractPath(id)}/failed`, { error_message: 'no disk' }) }),
      check: (_, after) => assert.ok(after.next_attempt_at !== null, 'back-off before the agents try again') },
    { action: 'terminated', via: 'provider', act: async (id) => ({ res: await call(h, provider, 'POST', `${contractPath(id)}/terminated`, { note: 'gone' }) }),
      check: (_, after) => {
        assert.equal(after.terminated_by, provider.publicKey);
        assert.equal(after.provisioning_lock_agent, null, 'a live lease is fenced off');
        assert.equal(after.lease_outcome, 'closed', "the holder's token no longer confirms anything");
      } },
  ];
  for (const status of CONTRACT_STATUSES) {
    for (const d of providerDrivers) {
      // Providers finish what was handed to them: a handed-off provision, or any teardown (by hand).
      const theirs = d.action === 'terminated' ? ['terminating', 'termination_failed'] : ['provisioning'];
      const to = theirs.includes(status) ? expected(status, d.action) : null;
      test(`${d.action} (provider) from ${status} ${to ? `→ ${to}` : 'is refused and changes nothing'}`, async () => {
        const id = await reach(status);
        try {
          const before = await snapshot(id);
          const outcome = await d.act(id, before.provisioning_lock_token);
          assert.ok('res' in outcome);
          const after = await snapshot(id);
          if (to === null) {
            assertError(outcome.res, 409);
            assert.deepEqual(after, before, 'nothing changed');
            return;
          }
          assert.equal(outcome.res.status, 200, outcome.res.text);
          assert.equal(after.status, to);
          d.check?.(before, after);
        } finally {
          await retire(id);
        }
      });
    }
  }
});
