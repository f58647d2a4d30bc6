// Provisioning leases (DESIGN.md "Leases and exactly-once").
//
// Columns on contract_sign_requests:
//   provisioning_lock_agent / _at / _expires_at  the live lease (cleared when it ends or is swept)
//   provisioning_lock_token                       fencing token: +1 on every grant, never reset
//   lease_agent                                   grantee of the current token (kept after the end)
//   lease_outcome                                 how the grantee ended it; NULL while it is open
//
// A confirmation (release, provisioned, failed, handoff) succeeds when its token is the current
// one, the caller is its grantee and the lease is open, even if the lease expired meanwhile: no
// new grant happened, so nobody else can have provisioned. An exact repeat of the call that ended
// the lease answers 200 again. Every change runs under the contract's row lock (lockContract, or
// FOR UPDATE SKIP LOCKED in claim and expiry) inside one transaction, with time from the database
// clock, and takes its next status from the state table (contract-state.ts).
//
// Teardowns (DESIGN.md "Teardown after provisioning (v3)") are leases on `terminating` contracts
// with the same columns and fencing; they route by provisioned_pool_id and stick to their owner.
//
// Fleet operations (DESIGN.md v3): new provision grants follow the eligibility rule of
// eligibility.ts (drain, pause, cool-down, capacity, retry elsewhere) and may go to a fallback
// pool (routing.ts fallbackRoutesCte). Every grant transaction locks the agent's row first (lockAgent).
import { LAST_ERROR_MAX_CHARS, workActionOf, type ContractAction, type ErrorClass, type WorkAction, type WorkItem } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { DomainError, fail } from '../errors.js';
import { MAX_BACKOFF_SECONDS } from '../timing.js';
import { DEFAULT_STICKY_GRACE_SECONDS } from '../config.js';
import { CONTRACT_COLUMNS, CONTRACT_FROM, contractFrom, lockContract, type LockedContract } from './contract-row.js';
import { allowedFromSql, grantableSql, offersWork, servedFrom, statusAfterSql, teardownGrantableSql, transition, workActionSql } from './contract-state.js';
import { insertEventsSql, recordEvent } from './events.js';
import { FALLBACK_CONTRACTS_FROM, FALLBACK_OPEN, fallbackRoutesCte, routedTo } from './routing.js';
import {
  DEFAULT_FLEET_POLICY, HEALTH_DIRTY_SQL, callerEligibilityCte, countAgentFailures, countAgentFailuresAfterCommit, lockAgent, mustRetryElsewhere,
  readEligibility, recordAgentSuccess, RETRY_ELSEWHERE, retryElsewhereCte, type FleetPolicy,
} from './eligibility.js';
import { notifyWork, notifyWorkSql } from './work-notify.js';
import { providerActor, recordAudit } from './audit.js';

export interface LeasePolicy {
  ttlSeconds: number;
  backoffSeconds: number;
  maxAttempts: number;
  /** DC_STICKY_GRACE_SECONDS: how long an owner not heard from keeps its teardowns (default DEFAULT_STICKY_GRACE_SECONDS). */
  stickyGraceSeconds?: number;
  /** Fleet operations (eligibility.ts); DEFAULT_FLEET_POLICY when omitted (benchmarks). */
  fleet?: FleetPolicy;
}

export interface Caller {
  agent: string;
  provider: string;
  /** null: a legacy agent without a pool, which may take all of its provider's contracts. */
  poolId: string | null;
}

/** What a long-poll records about the caller at park time (dispatch.ts wakes the waiter with the most free slots first). */
export interface WaiterInfo {
  /** Free provision slots (null: unlimited; 0 while the agent may take no new work). */
  free?: number | null;
  lastGrantedAt?: Date | null;
}

const fleetOf = (policy: LeasePolicy): FleetPolicy => policy.fleet ?? DEFAULT_FLEET_POLICY;

/** A teardown uses the provisioner type recorded when the machine was built, not the offering's current one. */
const ITEM_COLUMNS = `${CONTRACT_COLUMNS}, ${workActionSql()} AS action,
  CASE WHEN ${workActionSql()} = 'terminate' THEN COALESCE(c.provisioned_type, o.provisioner_type) ELSE o.provisioner_type END AS provisioner_type,
  o.provisioner_config,
  (${workActionSql()} = 'provision' AND COALESCE(lease_pool_d.pool_id <> c.route_pool_id, false)) AS via_fallback`;

/** SQL: the host_scope the agent `agentParam` reported in its last heartbeat. */
const agentScopeSql = (agentParam: string) =>
  `(SELECT s.capabilities ->> 'host_scope' FROM agent_status s WHERE s.agent_pubkey = ${agentParam})`;

/**
 * SQL: contract `c`'s teardown owner is sticky: not revoked, heard from within the grace period
 * (database clock) and advertising `terminate` in its last heartbeat.
 */
export function ownerStickySql(graceParam: string): string {
  return `EXISTS (SELECT 1 FROM provider_agent_delegations od JOIN agent_status os ON os.agent_pubkey = od.agent_pubkey
    WHERE od.agent_pubkey = c.teardown_owner AND od.revoked_at IS NULL
      AND os.last_seen_at > now() - make_interval(secs => ${graceParam})
      AND os.capabilities -> 'actions' @> '["terminate"]'::jsonb)`;
}

/** Positional parameters of a work query: `$1` provider, `$2` agent, `$3` pool when pooled, then named extras. */
class Params {
  readonly values: unknown[];
  constructor(caller: Caller) {
    this.values = [caller.provider, caller.agent];
    if (caller.poolId !== null) this.values.push(caller.poolId);
  }
  add(v: unknown): string {
    this.values.push(v);
    return `$${this.values.length}`;
  }
}

/** SQL: contract `c`'s current lease is the caller's (`$2`) and still open: renewing it keeps its token. Never NULL. */
const MINE = `(c.lease_agent IS NOT DISTINCT FROM $2 AND c.lease_outcome IS NULL)`;

/**
 * The parts of a provision work query that vary: `$1` provider, `$2` agent, `$3` pool (when
 * pooled); `offline` and `retryWindow` are parameters (or literals for EXPLAIN).
 */
interface ProvisionSql {
  pooled: boolean;
  offline: string;
  retryWindow: string;
}

/**
 * CTEs every provision query starts with: the caller's pool and the pools falling back to it
 * (pooled), its eligibility (`elig`) and the contracts retry elsewhere keeps from it (`blocked`).
 */
function provisionCtes(s: ProvisionSql): string {
  const blocked = retryElsewhereCte({ agent: '$2', pool: s.pooled ? '$3' : null, provider: '$1', windowSeconds: s.retryWindow, offline: s.offline });
  return `${s.pooled ? `${fallbackRoutesCte('$3', s.offline)},` : ''} ${callerEligibilityCte('$2')}, ${blocked}`;
}

/**
 * Provision contracts grantable to anyone now: paid, in a status the table grants from, not
 * backing off, lease free, expired or the caller's.
 */
const PROVISION_BASE = `c.provider_pubkey = $1 AND ${grantableSql()}
    AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= now())
    AND (c.provisioning_lock_agent IS NULL OR c.provisioning_lock_expires_at <= now() OR c.provisioning_lock_agent = $2)`;

/**
 * SQL: a new provision grant of contract `c` to the caller: it is eligible (`elig`) and retry
 * elsewhere does not send the contract to another agent of its pool first (`blocked`).
 */
const NEW_GRANT = `(NOT ${MINE} AND (SELECT refusal FROM elig) IS NULL AND NOT ${RETRY_ELSEWHERE})`;

/**
 * SELECT (contract_id, created_at) of the provision contracts routed to the caller that satisfy
 * `who` (SQL over `c`), each part followed by `tail` (ORDER BY … LIMIT …). Pooled: those routed to
 * its pool (their stored route: contract_sign_requests_route_idx, walked in grant order),
 * and those routed to a pool falling back to it once the chain rule lets them (its own leases
 * there whatever the timers: a holder renews); the second part costs nothing when no pool falls
 * back to the caller's. Legacy (no pool): every contract of the provider.
 */
function routedWorkSql(s: ProvisionSql, who: string, tail = ''): string {
  if (!s.pooled) return `SELECT c.contract_id, c.created_at FROM contract_sign_requests c WHERE ${PROVISION_BASE} AND ${who} ${tail}`;
  return `(SELECT c.contract_id, c.created_at FROM contract_sign_requests c WHERE ${routedTo('$3')} AND ${PROVISION_BASE} AND ${who} ${tail})
    UNION ALL
    (SELECT c.contract_id, c.created_at FROM ${FALLBACK_CONTRACTS_FROM}
     WHERE EXISTS (SELECT 1 FROM fb) AND ${PROVISION_BASE} AND (${MINE} OR ${FALLBACK_OPEN}) AND ${who} ${tail})`;
}

/**
 * Teardowns an agent may be granted: `terminating`, not a person's, not backing off, lease free,
 * expired or its own; its own (it is the owner), or, in the pool that built the machine, one
 * whose owner is not sticky and whose host_scope the agent reports too. `grace`: a parameter.
 */
function teardownWhere(pooled: boolean, grace: string): string {
  const others = pooled
    ? `(c.provisioned_pool_id = $3 AND c.host_scope IS NOT DISTINCT FROM ${agentScopeSql('$2')} AND NOT ${ownerStickySql(grace)})`
    : 'false'; // a legacy agent (no pool) tears down only what it owns
  return `c.provider_pubkey = $1 AND ${teardownGrantableSql()}
    AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= now())
    AND (c.provisioning_lock_agent IS NULL OR c.provisioning_lock_expires_at <= now() OR c.provisioning_lock_agent = $2)
    AND (c.teardown_owner IS NOT DISTINCT FROM $2 OR ${others})`;
}

function pendingTeardownSql(pooled: boolean, limit: string, ttlSeconds: string, grace: string): string {
  return `SELECT ${ITEM_COLUMNS}, ${ttlSeconds}::int AS lock_ttl_seconds
     FROM ${CONTRACT_FROM}
     WHERE c.contract_id IN (
       SELECT c.contract_id FROM contract_sign_requests c WHERE ${teardownWhere(pooled, grace)}
       ORDER BY c.created_at, c.contract_id LIMIT ${limit})
     ORDER BY c.created_at, c.contract_id`;
}

/**
 * Provision work the caller may take now, oldest first: its own open leases, and new grants while
 * it is eligible (claim, not this listing, bounds them by its free slots). One row per item plus
 * the caller's free slots; one row with NULL items when there is none.
 */
function pendingProvisionWorkSql(s: ProvisionSql, limit: string, ttlSeconds: string): string {
  const order = 'ORDER BY c.created_at, c.contract_id';
  return `WITH ${provisionCtes(s)}
     SELECT e.free, e.last_granted_at, i.* FROM elig e LEFT JOIN LATERAL (
       SELECT ${ITEM_COLUMNS}, ${ttlSeconds}::int AS lock_ttl_seconds
       FROM ${CONTRACT_FROM}
       WHERE c.contract_id IN (
         SELECT x.contract_id FROM (${routedWorkSql(s, `(${MINE} OR ${NEW_GRANT})`, `${order} LIMIT ${limit}`)}) x
         ORDER BY x.created_at, x.contract_id LIMIT ${limit})
     ) i ON true
     ORDER BY i.created_at, i.contract_id`;
}

/**
 * The pending-provision query with literal limit, TTL and fleet settings (for EXPLAIN in tests and
 * benchmarks; parameters $1 provider, $2 agent, $3 pool when pooled).
 */
export function pendingProvisionSql(pooled: boolean, limit: number, ttlSeconds: number, work: WorkAction = 'provision', fleet: FleetPolicy = DEFAULT_FLEET_POLICY): string {
  const [lim, ttl] = [String(Math.trunc(limit)), String(Math.trunc(ttlSeconds))];
  if (work === 'terminate') return pendingTeardownSql(pooled, lim, ttl, String(DEFAULT_STICKY_GRACE_SECONDS));
  return pendingProvisionWorkSql({ pooled, offline: String(Math.trunc(fleet.offlineAfterSeconds)), retryWindow: String(Math.trunc(fleet.retryElsewhereSeconds)) }, lim, ttl);
}

/** Work this agent may take now: teardowns first (when asked), then provisions, `limit` in all. `info`: filled for the long-poll. */
export async function pendingProvision(
  db: Queryable, caller: Caller, limit: number, policy: LeasePolicy, actions: readonly WorkAction[] = ['provision'], info: WaiterInfo = {},
): Promise<WorkItem[]> {
  const pooled = caller.poolId !== null;
  const fleet = fleetOf(policy);
  const out: WorkItem[] = [];
  for (const work of (['terminate', 'provision'] as const).filter((w) => actions.includes(w))) {
    if (out.length >= limit) break;
    const p = new Params(caller);
    const [pLimit, pTtl] = [p.add(limit - out.length), p.add(policy.ttlSeconds)];
    // Prepared: agents poll this all day; planning the join costs more than running it.
    const name = `dc_pending_${work}_${pooled ? 'pooled' : 'legacy'}`;
    if (work === 'terminate') {
      const grace = p.add(policy.stickyGraceSeconds ?? DEFAULT_STICKY_GRACE_SECONDS);
      out.push(...(await db.query<WorkItem>(pendingTeardownSql(pooled, pLimit, pTtl, grace), p.values, { prepare: name })).rows);
      continue;
    }
    const s: ProvisionSql = { pooled, offline: p.add(fleet.offlineAfterSeconds), retryWindow: p.add(fleet.retryElsewhereSeconds) };
    const r = await db.query<WorkItem & WaiterRow>(pendingProvisionWorkSql(s, pLimit, pTtl), p.values, { prepare: name });
    readWaiterInfo(r.rows, info);
    out.push(...stripWaiterColumns(r.rows));
  }
  return out;
}

/** Columns a provision work query adds for the long-poll (elig), removed from the items. */
interface WaiterRow {
  free: number | null;
  last_granted_at: Date | null;
}

function readWaiterInfo(rows: readonly WaiterRow[], info: WaiterInfo): void {
  if (rows[0]) {
    info.free = rows[0].free;
    info.lastGrantedAt = rows[0].last_granted_at;
  }
}

function stripWaiterColumns<T extends WaiterRow & { contract_id: string | null }>(rows: readonly T[]): WorkItem[] {
  return rows.filter((row) => row.contract_id !== null).map(({ free: _f, last_granted_at: _l, ...item }) => item as unknown as WorkItem);
}

/**
 * Grants leases on up to `max` contracts: teardowns first when the agent asks for them
 * (`actions`), then provisions. One transaction: the agent's row is locked first (lockAgent), so
 * a concurrent drain, health update or revocation waits for these grants, and grants on two
 * replicas to one agent run one after the other (capacity holds). Expiries of other agents' leases
 * taken over here count against those agents' health after the commit.
 */
export async function claim(
  db: Db, caller: Caller, opts: { max: number; exclude: string[]; actions?: readonly WorkAction[] }, policy: LeasePolicy, info: WaiterInfo = {},
): Promise<WorkItem[]> {
  const actions = opts.actions ?? ['provision'];
  const { items, expiredOf } = await db.transaction(async (tx) => {
    await lockAgent(tx, caller.agent);
    const all: ClaimedRow[] = [];
    for (const work of (['terminate', 'provision'] as const).filter((w) => actions.includes(w))) {
      if (all.length >= opts.max) break;
      all.push(...(await claimWork(tx, caller, work, { max: opts.max - all.length, exclude: opts.exclude }, policy, info)));
    }
    return { items: all.map(({ _takes_expired: _t, _prev_agent: _p, ...item }) => item as unknown as WorkItem), expiredOf: all.filter((r) => r._takes_expired).map((r) => r._prev_agent) };
  });
  await countAgentFailuresAfterCommit(db, expiredOf, fleetOf(policy));
  return items;
}

type ClaimedRow = WorkItem & { _takes_expired: boolean; _prev_agent: string | null };

/**
 * Grants leases on up to `max` contracts of one kind of work in one statement (after lockAgent).
 * Rows other claims are taking are skipped (SKIP LOCKED), so fifty agents asking at once get fifty
 * different contracts instead of queueing on the same rows; the UPDATE re-checks grantability on
 * the locked row. The caller's own open leases come first and are renewed with their token kept
 * (a restarted agent, even a draining or cooling one, resumes its work); new provision grants only
 * while the agent is eligible, at most its free slots. Granting over another agent's expired,
 * unswept lease counts that expiry as an attempt.
 */
async function claimWork(
  tx: Queryable, caller: Caller, work: WorkAction, opts: { max: number; exclude: string[] }, policy: LeasePolicy, info: WaiterInfo,
): Promise<ClaimedRow[]> {
  const pooled = caller.poolId !== null;
  const p = new Params(caller);
  const [pEx, pMax, pTtl, pAttempts] = [p.add(opts.exclude), p.add(opts.max), p.add(policy.ttlSeconds), p.add(policy.maxAttempts)];
  const excluded = `c.contract_id = ANY(${pEx}::text[])`;
  // An expired lease of another agent that would reach the attempt limit is left to the sweeper.
  const takeable = `(c.provisioning_lock_agent IS NULL OR (c.attempts + 1 < ${pAttempts} AND ${allowedFromSql('expire')}))`;
  const returning = `RETURNING c.*, picked.renew, picked.takes_expired, picked.prev_agent, picked.prev_token, picked.via_fallback AS grant_via_fallback`;
  const update = (recheck: string) => `UPDATE contract_sign_requests c SET
         status = ${statusAfterSql('grant')},
         provisioning_lock_token = CASE WHEN picked.renew THEN c.provisioning_lock_token ELSE c.provisioning_lock_token + 1 END,
         provisioning_lock_agent = $2,
         provisioning_lock_at = now(),
         provisioning_lock_expires_at = now() + make_interval(secs => ${pTtl}),
         lease_agent = $2,
         lease_outcome = NULL,
         attempts = c.attempts + CASE WHEN picked.takes_expired THEN 1 ELSE 0 END,
         last_error = CASE WHEN picked.takes_expired THEN 'lease expired' ELSE c.last_error END,
         updated_at = now()
       FROM picked
       -- = ANY(ARRAY(…)): a primary-key probe per picked row; the planner, which cannot know how
       -- few rows a CTE holds, otherwise hash-joins it against every grantable contract.
       WHERE c.contract_id = ANY(ARRAY(SELECT contract_id FROM picked)) AND c.contract_id = picked.contract_id AND ${recheck}
       ${returning}`;
  const events = insertEventsSql(
    `SELECT contract_id, 'expired', prev_agent, prev_token, 'lease expired', ${workActionSql('status')}, NULL::boolean FROM granted WHERE takes_expired
     UNION ALL
     SELECT contract_id, CASE WHEN renew THEN 'renewed' ELSE 'granted' END, $2, provisioning_lock_token, 'claim', ${workActionSql('status')},
       CASE WHEN renew THEN NULL ELSE grant_via_fallback END FROM granted`,
    ['via_fallback'],
  );
  const items = `SELECT ${ITEM_COLUMNS}, ${pTtl}::int AS lock_ttl_seconds, c.takes_expired AS _takes_expired, c.prev_agent AS _prev_agent
     FROM ${contractFrom('granted')}`;

  if (work === 'terminate') {
    const grace = p.add(policy.stickyGraceSeconds ?? DEFAULT_STICKY_GRACE_SECONDS);
    const r = await tx.query<ClaimedRow>(
      `WITH picked AS (
         SELECT c.contract_id, ${MINE} AS renew, (NOT ${MINE} AND c.provisioning_lock_agent IS NOT NULL) AS takes_expired,
           c.lease_agent AS prev_agent, c.provisioning_lock_token AS prev_token, NULL::boolean AS via_fallback
         FROM contract_sign_requests c
         WHERE ${teardownWhere(pooled, grace)} AND NOT ${excluded} AND (${MINE} OR ${takeable})
         ORDER BY ${MINE} DESC, c.created_at, c.contract_id
         LIMIT ${pMax}
         FOR UPDATE OF c SKIP LOCKED
       ),
       granted AS (${update(teardownGrantableSql())}),
       events AS (${events})
       ${items} ORDER BY c.created_at, c.contract_id`,
      p.values,
      { prepare: `dc_claim_terminate_${pooled ? 'pooled' : 'legacy'}` },
    );
    return r.rows;
  }

  const fleet = fleetOf(policy);
  const s: ProvisionSql = { pooled, offline: p.add(fleet.offlineAfterSeconds), retryWindow: p.add(fleet.retryElsewhereSeconds) };
  // Own leases first; then new grants, at most `max` in all and at most the free slots left after
  // renewing own leases the sweeper had already cleared (those occupy a slot again once renewed).
  const newColumns = (viaFallback: string) => `c.contract_id, false AS renew, (c.provisioning_lock_agent IS NOT NULL) AS takes_expired,
    c.lease_agent AS prev_agent, c.provisioning_lock_token AS prev_token, ${viaFallback} AS via_fallback, false AS unheld`;
  const newWhere = `${PROVISION_BASE} AND ${NEW_GRANT} AND NOT ${excluded} AND ${takeable}`;
  const newLimit = `(SELECT LEAST(${pMax} - (SELECT count(*) FROM picked_mine),
                           CASE WHEN e.max_concurrent IS NULL THEN ${pMax}
                                ELSE GREATEST(e.max_concurrent - e.held - (SELECT count(*) FROM picked_mine WHERE unheld), 0) END)
              FROM elig e)`;
  const r = await tx.query<ClaimedRow & WaiterRow>(
    `WITH ${provisionCtes(s)},
     -- The locked row is re-checked (PROVISION_BASE: the lease still free or the caller's) when a
     -- concurrent grant changed it after this statement's snapshot.
     -- Own open leases: an index probe (contract_sign_requests_lease_agent_idx), routed to the caller's
     -- pool or to one falling back to it (a holder renews whatever the timers).
     picked_mine AS (
       SELECT c.contract_id, true AS renew, false AS takes_expired, c.lease_agent AS prev_agent, c.provisioning_lock_token AS prev_token,
         NULL::boolean AS via_fallback, (c.provisioning_lock_agent IS NULL) AS unheld
       FROM contract_sign_requests c
       WHERE c.lease_agent = $2 AND c.lease_outcome IS NULL AND ${pooled ? `(${routedTo('$3')} OR c.route_pool_id IN (SELECT pool_id FROM fb))` : 'true'}
         AND ${PROVISION_BASE} AND NOT ${excluded}
       ORDER BY c.created_at, c.contract_id
       LIMIT ${pMax}
       FOR UPDATE OF c SKIP LOCKED
     ),
     -- New grants, oldest first. Without a pool falling back to the caller's (the common case) one
     -- ordered walk of the pool's queue (route index; legacy: the provider's), stopping at the limit.
     picked_new_direct AS (
       SELECT ${newColumns('false')}
       FROM contract_sign_requests c
       WHERE ${pooled ? `${routedTo('$3')} AND NOT EXISTS (SELECT 1 FROM fb) AND` : ''} ${newWhere}
       ORDER BY c.created_at, c.contract_id
       LIMIT ${newLimit}
       FOR UPDATE OF c SKIP LOCKED
     ),
     ${pooled ? `-- Some pool falls back to the caller's: its queue and theirs (as the chain rule opens them), by id.
     picked_new_fallback AS (
       SELECT ${newColumns(`c.route_pool_id IS DISTINCT FROM $3`)}
       FROM contract_sign_requests c
       WHERE EXISTS (SELECT 1 FROM fb) AND c.contract_id IN (SELECT contract_id FROM (${routedWorkSql(s, NEW_GRANT)}) w) AND ${newWhere}
       ORDER BY c.created_at, c.contract_id
       LIMIT ${newLimit}
       FOR UPDATE OF c SKIP LOCKED
     ),
     picked_new AS (SELECT * FROM picked_new_direct UNION ALL SELECT * FROM picked_new_fallback),` : 'picked_new AS (SELECT * FROM picked_new_direct),'}
     picked AS (SELECT * FROM picked_mine UNION ALL SELECT * FROM picked_new),
     granted AS (${update(grantableSql())}),
     touched AS (
       UPDATE provider_agent_delegations SET last_granted_at = now()
       WHERE agent_pubkey = $2 AND EXISTS (SELECT 1 FROM granted WHERE NOT renew)
       RETURNING last_granted_at
     ),
     events AS (${events})
     SELECT e.free, COALESCE((SELECT t.last_granted_at FROM touched t), e.last_granted_at) AS last_granted_at, i.*
     FROM elig e LEFT JOIN LATERAL (${items}) i ON true
     ORDER BY i.created_at, i.contract_id`,
    p.values,
    { prepare: `dc_claim_provision_${pooled ? 'pooled' : 'legacy'}` },
  );
  readWaiterInfo(r.rows, info);
  return r.rows.filter((row) => row.contract_id !== null).map(({ free: _f, last_granted_at: _l, ...row }) => row as ClaimedRow);
}

async function readItem(db: Queryable, id: string, policy: LeasePolicy): Promise<WorkItem> {
  return (
    await db.query<WorkItem>(
      `SELECT ${ITEM_COLUMNS}, ${policy.ttlSeconds}::int AS lock_ttl_seconds FROM ${CONTRACT_FROM} WHERE c.contract_id = $1`,
      [id],
      { prepare: true },
    )
  ).rows[0]!;
}

const cancelled = () => fail('contract_cancelled');
const leaseLost = () => fail('lease_lost');

/** What each refused lease action was asked to do, for the message. */
const DONE: Partial<Record<ContractAction, string>> = { grant: 'locked', provision: 'provisioned', handoff: 'handed off' };

/** The refusal of a grant, provision or handoff: an unpaid contract first, then its status. */
function notProvisionable(row: LockedContract, action: ContractAction): DomainError {
  if (row.payment_status !== 'succeeded') return fail('not_paid', `The contract's payment is ${row.payment_status}; it cannot be provisioned yet.`);
  const from = servedFrom(action).join(' or ');
  return fail('not_provisionable', `The contract is ${row.status}; only ${from} contracts can be ${DONE[action] ?? action}.`);
}

/**
 * A teardown's routing for a caller that is not its owner: the pool that built the machine and
 * the same host_scope (DESIGN.md "Sticky owner"); 403 not_routed otherwise.
 */
async function assertTeardownRoute(tx: Queryable, row: LockedContract, caller: Caller): Promise<void> {
  if (row.teardown_owner === caller.agent) return;
  if (caller.poolId === null || row.provisioned_pool_id !== caller.poolId) {
    throw fail('not_routed', 'This machine was built by an agent of another pool; only that pool tears it down.');
  }
  const scope = (await tx.query<{ scope: string | null }>(`SELECT ${agentScopeSql('$1')} AS scope`, [caller.agent])).rows[0]!.scope;
  if (scope !== row.host_scope) {
    throw fail('not_routed', `This machine lives in host_scope ${JSON.stringify(row.host_scope)}; this agent reports ${JSON.stringify(scope)} (capabilities.host_scope).`);
  }
}

/** The owner keeps a teardown while it holds a live lease on it or is sticky (ownerStickySql). */
async function ownerKeepsIt(tx: Queryable, row: LockedContract, policy: LeasePolicy): Promise<boolean> {
  if (row.teardown_owner === null) return false;
  if (row.lock_live && row.lock_agent === row.teardown_owner) return true;
  const r = await tx.query<{ sticky: boolean }>(
    `SELECT ${ownerStickySql('$2')} AS sticky FROM contract_sign_requests c WHERE c.contract_id = $1`,
    [row.contract_id, (policy.stickyGraceSeconds ?? DEFAULT_STICKY_GRACE_SECONDS)],
  );
  return r.rows[0]!.sticky;
}

/** The refusal of a teardown grant: failed teardowns wait for the provider, handed-off ones for a person. */
function notTerminable(row: LockedContract): DomainError {
  if (row.teardown_handed_off) {
    return fail('invalid_transition', 'This teardown was handed off to a person; the provider marks it terminated.');
  }
  return fail('invalid_transition', `The contract is ${row.status}; only terminating contracts can be locked for teardown.`);
}

/**
 * POST …/lock: grant when free or expired, renew when the caller holds it. Provision or teardown,
 * by the contract's status. Refusals follow DESIGN.md's order: 401, routing (403/404),
 * contract_cancelled, lease_lost, sticky_owner, pool_paused, agent_draining, agent_cooling_down,
 * agent_at_capacity, retry_elsewhere, lock_held, backing_off. The eligibility limits apply to new
 * provision grants only; renewals pass them.
 */
export async function lock(db: Db, caller: Caller, id: string, lockToken: number | undefined, policy: LeasePolicy): Promise<WorkItem> {
  const fleet = fleetOf(policy);
  const expiredOf = await db.transaction(async (tx): Promise<string | null> => {
    await lockAgent(tx, caller.agent);
    const row = await lockContract(tx, id, { provider: caller.provider }, { pool: caller.poolId, offlineAfterSeconds: fleet.offlineAfterSeconds });
    const teardown = workActionOf(row.status) === 'terminate';
    const open = row.lease_agent === caller.agent && row.lease_outcome === null;
    if (teardown) await assertTeardownRoute(tx, row, caller);
    else if (!row.routed) throw fail('not_routed');
    else if (!open && !row.routed_now) {
      throw fail('not_routed', "This contract is routed to a pool that falls back to yours only after its fallback timer, or while none of that pool's agents can take work; try again later.");
    }
    // contract_cancelled never refuses a teardown (DESIGN.md v3): the lease now destroys the machine.
    if (!teardown && (row.status === 'cancelled' || row.payment_status === 'refunded')) throw cancelled();
    if (lockToken !== undefined && (lockToken !== row.token || !open)) throw leaseLost();
    if (!teardown && row.payment_status !== 'succeeded') throw notProvisionable(row, 'grant');
    const granted = transition(row.status, 'grant', () => (teardown ? notTerminable(row) : notProvisionable(row, 'grant')));
    if (teardown && row.teardown_handed_off) throw notTerminable(row);
    if (open && (row.lock_live || row.lock_agent === null || row.lock_agent === caller.agent)) {
      await tx.query(
        `UPDATE contract_sign_requests SET status = $4, provisioning_lock_agent = $2, provisioning_lock_at = now(),
           provisioning_lock_expires_at = now() + make_interval(secs => $3), updated_at = now() WHERE contract_id = $1`,
        [id, caller.agent, policy.ttlSeconds, granted],
      );
      await recordEvent(tx, { contractId: id, event: 'renewed', actor: caller.agent, token: row.token, detail: null });
      return null;
    }
    if (teardown && row.teardown_owner !== caller.agent && (await ownerKeepsIt(tx, row, policy))) {
      throw fail('sticky_owner', 'The agent that built this machine tears it down while it is online and takes teardowns.');
    }
    if (!teardown) await assertEligible(tx, id, caller, fleet);
    if (row.lock_live) throw fail('lock_held');
    if (row.backing_off) throw fail('backing_off');
    const takesExpired = row.lock_agent !== null; // another agent's expired lease, not yet swept
    if (takesExpired && row.attempts + 1 >= policy.maxAttempts) {
      throw fail('lock_held', 'The previous lease expired and is being retired by the sweeper; try again shortly.');
    }
    // Taking over an expired lease is its expiry, then a grant.
    const status = takesExpired ? transition(transition(row.status, 'expire'), 'grant') : granted;
    await tx.query(
      `UPDATE contract_sign_requests SET status = $5, provisioning_lock_token = provisioning_lock_token + 1, provisioning_lock_agent = $2,
         provisioning_lock_at = now(), provisioning_lock_expires_at = now() + make_interval(secs => $3),
         lease_agent = $2, lease_outcome = NULL,
         attempts = attempts + $4, last_error = CASE WHEN $4 = 1 THEN 'lease expired' ELSE last_error END, updated_at = now()
       WHERE contract_id = $1`,
      [id, caller.agent, policy.ttlSeconds, takesExpired ? 1 : 0, status],
    );
    if (!teardown) await tx.query(`UPDATE provider_agent_delegations SET last_granted_at = now() WHERE agent_pubkey = $1`, [caller.agent]);
    if (takesExpired) await recordEvent(tx, { contractId: id, event: 'expired', actor: row.lease_agent, token: row.token, detail: 'lease expired' });
    await recordEvent(tx, {
      contractId: id, event: 'granted', actor: caller.agent, token: row.token + 1, detail: null, ...(!teardown && { viaFallback: !row.routed_own }),
    });
    return takesExpired ? row.lease_agent : null;
  });
  await countAgentFailuresAfterCommit(db, [expiredOf], fleet);
  return readItem(db, id, policy);
}

/** The eligibility limits of a new provision grant, read under the agent's row lock (lockAgent), in refusal order. */
async function assertEligible(tx: Queryable, id: string, caller: Caller, fleet: FleetPolicy): Promise<void> {
  const e = await readEligibility(tx, caller.agent);
  switch (e.refusal) {
    case null:
      break;
    case 'agent_cooling_down':
      throw fail('agent_cooling_down', `This agent is cooling down after repeated failures until ${e.cooldown_until?.toISOString()}; the provider can end it with reset-health.`);
    case 'agent_at_capacity':
      throw fail('agent_at_capacity', `This agent holds ${e.held} provisioning lease(s), as many as its max_concurrent allows; finish or release one first.`);
    default:
      throw fail(e.refusal);
  }
  if (await mustRetryElsewhere(tx, id, caller, fleet)) {
    throw fail('retry_elsewhere', `This agent failed this contract within the last ${fleet.retryElsewhereSeconds} s; another agent of its pool gets it first.`);
  }
}

type Ending = 'released' | 'provisioned' | 'failed' | 'handed_off' | 'terminated';

/**
 * Common fencing check for calls that end a lease. Returns 'repeat' for an exact repeat of the
 * call that ended it (answered 200 without change), else 'open' when the caller may end it now.
 * An exact repeat is never refused; `provisioned` on a contract being torn down is
 * contract_cancelled (the agent must tear down what it built), teardown calls never are.
 */
async function fence(tx: Queryable, row: LockedContract, caller: Caller, token: number, ending: Ending): Promise<'repeat' | 'open'> {
  const current = token === row.token && row.lease_agent === caller.agent;
  if (current && row.lease_outcome === ending) return 'repeat';
  if (!current) {
    // An older lease: only the exact call that ended it (same agent, token, outcome) is a repeat.
    const ended = await tx.query(
      `SELECT 1 FROM contract_events WHERE contract_id = $1 AND lock_token = $2 AND agent_pubkey = $3 AND event = $4 LIMIT 1`,
      [row.contract_id, token, caller.agent, ending],
    );
    if (ended.rowCount > 0) return 'repeat';
  }
  const teardown = workActionOf(row.status) === 'terminate';
  if (row.status === 'cancelled' || (ending === 'provisioned' && teardown) || (!teardown && row.payment_status === 'refunded')) throw cancelled();
  if (current && row.lease_outcome === null) return 'open';
  throw leaseLost();
}

const CLEAR_LOCK = `provisioning_lock_agent = NULL, provisioning_lock_at = NULL, provisioning_lock_expires_at = NULL`;

export async function release(db: Db, caller: Caller, id: string, token: number, policy: LeasePolicy): Promise<WorkItem> {
  await db.transaction(async (tx) => {
    const row = await lockContract(tx, id, { provider: caller.provider });
    if (await fence(tx, row, caller, token, 'released') === 'repeat') return;
    const status = transition(row.status, 'release');
    await tx.query(
      `UPDATE contract_sign_requests SET status = $2, ${CLEAR_LOCK}, lease_outcome = 'released', updated_at = now() WHERE contract_id = $1`,
      [id, status],
    );
    await recordEvent(tx, { contractId: id, event: 'released', actor: caller.agent, token, detail: null });
    if (offersWork(status)) await notifyWork(tx, [id], fleetOf(policy).offlineAfterSeconds);
  });
  return readItem(db, id, policy);
}

/**
 * SET clause recording what was built and where (DESIGN.md v3 "Where it is routed"): the pool
 * `pool`, the offering's provisioner type, the owner `owner` and the host_scope the details
 * report (else the owner's heartbeat scope). `details` is a jsonb expression.
 */
function builtSql(pool: string, owner: string, details: string): string {
  return `provisioned_pool_id = ${pool}, teardown_owner = ${owner},
    provisioned_type = (SELECT o.provisioner_type FROM provider_offerings o WHERE o.provider_pubkey = c.provider_pubkey AND o.offering_id = c.offering_id),
    host_scope = COALESCE(${details} ->> 'host_scope', ${agentScopeSql(owner)})`;
}

/** The columns an agent's provision confirmation writes (single call, batch and slow path alike); `details` is a jsonb expression. */
function agentProvisionedSetSql(agent: string, details: string, pool: string): string {
  return `provisioned_by = ${agent}, provisioned_at = now(), instance_details = ${details}, next_attempt_at = NULL, ${CLEAR_LOCK},
    lease_outcome = 'provisioned', updated_at = now(), ${builtSql(pool, agent, details)}`;
}

export async function provisioned(db: Db, caller: Caller, id: string, token: number, details: Record<string, unknown>, policy: LeasePolicy): Promise<WorkItem> {
  // The common case in one statement: the caller's open lease with the current token. The WHERE
  // clause is the whole fencing rule, re-checked under the row lock, so it is as safe as the
  // transaction below, which runs only to explain a refusal (or answer an exact repeat).
  const fast = await db.query<WorkItem>(
    `WITH done AS (
       UPDATE contract_sign_requests c SET status = ${statusAfterSql('provision')}, ${agentProvisionedSetSql('$2', '$4::jsonb', '$7::text')}
       WHERE c.contract_id = $1 AND c.provider_pubkey = $5 AND ${openProvisionLeaseSql('$2', '$3')}
       RETURNING c.*
     ), ev AS (
       ${insertEventsSql(`SELECT contract_id, 'provisioned', $2, $3, NULL, ${workActionSql('status')} FROM done`)}
     )
     SELECT ${ITEM_COLUMNS}, $6::int AS lock_ttl_seconds,
       (SELECT ${HEALTH_DIRTY_SQL} FROM provider_agent_delegations d WHERE d.agent_pubkey = $2) AS _health_dirty
     FROM ${contractFrom('done')}`,
    [id, caller.agent, token, JSON.stringify(details), caller.provider, policy.ttlSeconds, caller.poolId],
    { prepare: 'dc_provisioned' },
  );
  const done = fast.rows[0] as (WorkItem & { _health_dirty: boolean | null }) | undefined;
  if (done) {
    const { _health_dirty: dirty, ...item } = done;
    if (dirty) await recordAgentSuccess(db, caller.agent);
    return item as WorkItem;
  }
  const confirmed = await db.transaction((tx) => confirmProvisioned(tx, caller, id, token, details));
  if (confirmed) await recordAgentSuccess(db, caller.agent);
  return readItem(db, id, policy);
}

/**
 * The fencing rule of a provision confirmation as a WHERE condition: the agent's open lease with
 * the current token, on a contract that may still be provisioned and is paid. Under the row lock
 * this is everything confirmProvisioned checks before it writes.
 */
function openProvisionLeaseSql(agent: string, token: string): string {
  return `c.provisioning_lock_token = ${token} AND c.lease_agent = ${agent}
    AND c.lease_outcome IS NULL AND ${allowedFromSql('provision')} AND c.payment_status = 'succeeded'`;
}

/**
 * A batch's common case in one statement (inside the batch transaction, rows already locked in
 * contract_id order): every item that is the caller's open lease with the current token is
 * confirmed exactly as the single call's fast path confirms it. Returns the ids confirmed; the
 * batch runs the others through confirmProvisioned to answer what the single call would.
 */
export async function confirmProvisionedOpenLeases(
  tx: Queryable, caller: Caller, items: readonly { contract_id: string; lock_token: number; instance_details: Record<string, unknown> }[],
): Promise<Set<string>> {
  const r = await tx.query<{ contract_id: string }>(
    `WITH done AS (
       UPDATE contract_sign_requests c SET status = ${statusAfterSql('provision')}, ${agentProvisionedSetSql('$4', 'i.details', '$6::text')}
       FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) AS i(id, token, details)
       WHERE c.contract_id = i.id AND c.provider_pubkey = $5 AND ${openProvisionLeaseSql('$4', 'i.token')}
       RETURNING c.contract_id, c.provisioning_lock_token, c.status
     ), ev AS (
       ${insertEventsSql(`SELECT contract_id, 'provisioned', $4, provisioning_lock_token, NULL, ${workActionSql('status')} FROM done`)}
     )
     SELECT contract_id FROM done`,
    [items.map((i) => i.contract_id), items.map((i) => i.lock_token), items.map((i) => JSON.stringify(i.instance_details)), caller.agent, caller.provider, caller.poolId],
    { prepare: 'dc_provisioned_batch' },
  );
  return new Set(r.rows.map((row) => row.contract_id));
}

/**
 * `provisioned` inside the caller's transaction (the single call's, or a batch item's savepoint):
 * true when it confirmed now, false for an exact repeat. The caller records the agent's success
 * after the commit (recordAgentSuccess: no agent row lock while contracts are locked).
 */
export async function confirmProvisioned(tx: Queryable, caller: Caller, id: string, token: number, details: Record<string, unknown>): Promise<boolean> {
  const row = await lockContract(tx, id, { provider: caller.provider });
  if (await fence(tx, row, caller, token, 'provisioned') === 'repeat') return false;
  // A late confirmation with the current token wins even after expiry marked the contract
  // provisioning_failed: the machine exists and nobody else was granted the contract.
  const status = transition(row.status, 'provision', () => notProvisionable(row, 'provision'));
  await tx.query(
    `UPDATE contract_sign_requests c SET status = $4, ${agentProvisionedSetSql('$2', '$3::jsonb', '$5::text')}
     WHERE contract_id = $1`,
    [id, caller.agent, JSON.stringify(details), status, caller.poolId],
  );
  await recordEvent(tx, { contractId: id, event: 'provisioned', actor: caller.agent, token, detail: null });
  return true;
}

/** Back-off before attempt n+1 after n failures: base, 2·base, 4·base … at most MAX_BACKOFF_SECONDS. */
export function backoffSeconds(base: number, attempts: number): number {
  return Math.min(MAX_BACKOFF_SECONDS, base * 2 ** Math.max(0, attempts - 1));
}

/**
 * An agent reports its attempt failed. `errorClass` `agent` (default) counts against the agent's
 * health, `contract` (the contract's own input is at fault) does not; both count an attempt and
 * both make the contract retry elsewhere first. The agent's row is locked before the contract's
 * (lockAgent: the order every grant takes), so its health is updated in the same transaction.
 */
export async function failed(
  db: Db, caller: Caller, id: string, token: number, message: string, policy: LeasePolicy, errorClass: ErrorClass = 'agent',
): Promise<WorkItem> {
  await db.transaction(async (tx) => {
    await lockAgent(tx, caller.agent);
    await confirmFailed(tx, caller, id, token, message, policy, errorClass);
  });
  return readItem(db, id, policy);
}

/**
 * `failed` inside the caller's transaction, whose FIRST statement locked the caller's agent row
 * (lockAgent). `notices`: when given, the contracts that offer work again at once are added to it
 * instead of announced here (a batch announces them in one notice: PostgreSQL delivers identical
 * notices of one transaction only once). Returns the failed lease's work (null: an exact repeat).
 */
export async function confirmFailed(
  tx: Queryable, caller: Caller, id: string, token: number, message: string, policy: LeasePolicy, errorClass: ErrorClass, notices?: string[],
): Promise<WorkAction | null> {
  const row = await lockContract(tx, id, { provider: caller.provider });
  if (await fence(tx, row, caller, token, 'failed') === 'repeat') return null;
  // The sweeper already counted this lease's expiry as an attempt (and against the agent's
  // health); don't count it twice: once per lease.
  const countAttempt = row.lock_agent !== null;
  await recordFailure(tx, row, caller.agent, token, message, policy, { countAttempt, errorClass, notices });
  if (countAttempt && errorClass === 'agent') await countAgentFailures(tx, [caller.agent], fleetOf(policy));
  return workActionOf(row.status);
}

/**
 * A failed attempt: `fail`, or `exhaust` when it reaches the attempt limit. Back to work with
 * back-off where the table says so; the message is kept verbatim up to LAST_ERROR_MAX_CHARS.
 */
async function recordFailure(
  tx: Queryable,
  row: LockedContract,
  by: string,
  token: number,
  message: string,
  policy: LeasePolicy,
  opts: { countAttempt: boolean; neverExhausts?: boolean; errorClass?: ErrorClass; notices?: string[] },
): Promise<void> {
  const attempts = row.attempts + (opts.countAttempt ? 1 : 0);
  const status = transition(row.status, attempts >= policy.maxAttempts && !opts.neverExhausts ? 'exhaust' : 'fail');
  const backoff = offersWork(status) ? backoffSeconds(policy.backoffSeconds, attempts) : 0;
  const r = await tx.query<{ last_error: string }>(
    `UPDATE contract_sign_requests SET status = $2, attempts = $3, last_error = left($4, ${LAST_ERROR_MAX_CHARS}),
       next_attempt_at = CASE WHEN $5::int > 0 THEN now() + make_interval(secs => $5::int) END,
       ${CLEAR_LOCK}, lease_outcome = CASE WHEN lease_agent IS NOT NULL AND provisioning_lock_token = $6 THEN 'failed' ELSE lease_outcome END,
       updated_at = now()
     WHERE contract_id = $1 RETURNING last_error`,
    [row.contract_id, status, attempts, message, backoff, token],
  );
  await recordEvent(tx, { contractId: row.contract_id, event: 'failed', actor: by, token, detail: r.rows[0]!.last_error, ...(opts.errorClass && { errorClass: opts.errorClass }) });
  if (status === 'termination_failed' && row.status !== status) {
    await recordEvent(tx, { contractId: row.contract_id, event: 'termination_failed', actor: null, token, detail: `${attempts} attempt(s) failed` });
  }
  if (offersWork(status) && backoff === 0) {
    if (opts.notices) opts.notices.push(row.contract_id);
    else await notifyWork(tx, [row.contract_id], fleetOf(policy).offlineAfterSeconds);
  }
}

export async function handoff(db: Db, caller: Caller, id: string, token: number, note: string | null, policy: LeasePolicy): Promise<WorkItem> {
  await db.transaction(async (tx) => {
    const row = await lockContract(tx, id, { provider: caller.provider });
    if (await fence(tx, row, caller, token, 'handed_off') === 'repeat') return;
    const status = transition(row.status, 'handoff', () => notProvisionable(row, 'handoff'));
    // A teardown handed off stays terminating, out of the agents' queue, until the provider marks it terminated.
    await tx.query(
      `UPDATE contract_sign_requests SET status = $2, ${CLEAR_LOCK}, lease_outcome = 'handed_off',
         teardown_handed_off = $3, updated_at = now() WHERE contract_id = $1`,
      [id, status, workActionOf(status) === 'terminate'],
    );
    await recordEvent(tx, { contractId: id, event: 'handed_off', actor: caller.agent, token, detail: note });
  });
  return readItem(db, id, policy);
}

/** Provider completes a handed-off contract: `provisioned` with the provider as provisioned_by. */
export async function providerProvisioned(db: Db, provider: string, id: string, details: Record<string, unknown>, policy: LeasePolicy): Promise<WorkItem> {
  await db.transaction(async (tx) => {
    const row = await lockContract(tx, id, { provider });
    if (row.status === 'cancelled') throw cancelled();
    if (row.status === 'provisioned' && row.provisioned_by === provider) return; // repeat
    if (row.status !== 'provisioning') throw fail('invalid_transition', `Providers may confirm only handed-off contracts; this one is ${row.status}.`);
    // Built by a person: no agent owns its teardown (it starts handed off); it counts for the pool of the agent that handed it off.
    await tx.query(
      `UPDATE contract_sign_requests c SET status = $4, provisioned_by = $2, provisioned_at = now(),
         instance_details = $3::jsonb, next_attempt_at = NULL, updated_at = now(),
         ${builtSql('(SELECT d.pool_id FROM provider_agent_delegations d WHERE d.agent_pubkey = c.lease_agent)', 'NULL::text', '$3::jsonb')}
       WHERE contract_id = $1`,
      [id, provider, JSON.stringify(details), transition(row.status, 'provision')],
    );
    await recordEvent(tx, { contractId: id, event: 'provisioned', actor: provider, token: row.token, detail: 'completed by provider' });
  });
  return readItem(db, id, policy);
}

/** Provider reports a handed-off contract failed: back to accepted with back-off (DESIGN.md: provisioning → accepted). */
export async function providerFailed(db: Db, provider: string, id: string, message: string, policy: LeasePolicy): Promise<WorkItem> {
  await db.transaction(async (tx) => {
    const row = await lockContract(tx, id, { provider });
    if (row.status === 'cancelled') throw cancelled();
    if (row.status !== 'provisioning') throw fail('invalid_transition', `Providers may fail only handed-off contracts; this one is ${row.status}.`);
    // The attempt limit is enforced on the agents' attempts, never on a person's.
    await recordFailure(tx, row, provider, row.token, message, policy, { countAttempt: true, neverExhausts: true });
  });
  return readItem(db, id, policy);
}

/** POST …/terminated by an agent: its teardown lease is done, the machine is gone. */
export async function terminated(db: Db, caller: Caller, id: string, token: number, policy: LeasePolicy): Promise<WorkItem> {
  const confirmed = await db.transaction((tx) => confirmTerminated(tx, caller, id, token));
  if (confirmed) await recordAgentSuccess(db, caller.agent);
  return readItem(db, id, policy);
}

/** `terminated` by an agent inside the caller's transaction: true when it confirmed now, false for an exact repeat (as confirmProvisioned). */
export async function confirmTerminated(tx: Queryable, caller: Caller, id: string, token: number): Promise<boolean> {
  const row = await lockContract(tx, id, { provider: caller.provider });
  if (await fence(tx, row, caller, token, 'terminated') === 'repeat') return false;
  const status = transition(row.status, 'terminated', () =>
    fail('invalid_transition', `The contract is ${row.status}; only contracts being torn down can be confirmed terminated.`));
  await tx.query(
    `UPDATE contract_sign_requests SET status = $2, terminated_at = now(), terminated_by = $3, next_attempt_at = NULL,
       ${CLEAR_LOCK}, lease_outcome = 'terminated', updated_at = now() WHERE contract_id = $1`,
    [id, status, caller.agent],
  );
  await recordEvent(tx, { contractId: id, event: 'terminated', actor: caller.agent, token, detail: null });
  return true;
}

/**
 * The provider marks a teardown done by hand (`terminating` or `termination_failed`; no lease
 * needed). A lease still open is fenced off: its holder's later calls with that token are
 * lease_lost. A repeat by the same provider answers 200.
 */
export async function providerTerminated(db: Db, provider: string, id: string, note: string | null, policy: LeasePolicy): Promise<WorkItem> {
  await db.transaction(async (tx) => {
    const row = await lockContract(tx, id, { provider });
    if (row.status === 'terminated' && row.terminated_by === provider) return; // repeat
    const status = transition(row.status, 'terminated', () =>
      fail('invalid_transition', `The contract is ${row.status}; only terminating or termination_failed contracts can be marked terminated.`));
    await tx.query(
      `UPDATE contract_sign_requests SET status = $2, terminated_at = now(), terminated_by = $3, next_attempt_at = NULL, ${CLEAR_LOCK},
         lease_outcome = CASE WHEN lease_agent IS NOT NULL AND lease_outcome IS NULL THEN 'closed' ELSE lease_outcome END,
         updated_at = now() WHERE contract_id = $1`,
      [id, status, provider],
    );
    await recordEvent(tx, { contractId: id, event: 'terminated', actor: provider, token: row.token, detail: note ?? 'marked terminated by the provider' });
    await recordAudit(tx, { provider, kind: 'contract_terminated_by_hand', actor: providerActor(provider), subject: { type: 'contract', id }, ...(note !== null && { detail: { note } }) });
  });
  return readItem(db, id, policy);
}

/** Releases every lease an agent holds (used when it is revoked) and records `released`. */
export async function releaseLeasesOfAgent(tx: Queryable, agentPubkey: string, detail: string, offlineAfterSeconds: number): Promise<number> {
  const r = await tx.query<{ n: number }>(
    // Rows are locked in contract_id order, the same order as the sweeper, so the two never deadlock.
    `WITH held AS (
       SELECT c.contract_id FROM contract_sign_requests c WHERE c.provisioning_lock_agent = $1 AND ${allowedFromSql('release')}
       ORDER BY c.contract_id FOR UPDATE
     ), released AS (
       UPDATE contract_sign_requests c
       SET status = ${statusAfterSql('release')}, ${CLEAR_LOCK}, lease_outcome = 'released', updated_at = now()
       FROM held WHERE c.contract_id = held.contract_id
       RETURNING c.contract_id, c.provisioning_lock_token, c.status
     ), events AS (
       ${insertEventsSql(`SELECT contract_id, 'released', $1, provisioning_lock_token, $2, ${workActionSql('status')} FROM released`)}
     )
     SELECT (SELECT count(*) FROM released)::int AS n,
       ${notifyWorkSql(`SELECT contract_id FROM released WHERE ${allowedFromSql('grant', 'status')}`, offlineAfterSeconds)} AS notified`,
    [agentPubkey, detail],
  );
  return r.rows[0]!.n;
}

/**
 * Clears expired leases and counts each as a failed attempt ("lease expired", no back-off):
 * `expire`, or `exhaust` at the attempt limit. One conditional UPDATE: a renewal that commits
 * first moves expires_at forward and the row no longer matches, so a renewal is never overwritten
 * (the spec's select-then-update would). Each expiry then counts against its agent's health in a
 * second short transaction (eligibility.ts: never an agent lock while contract rows are locked).
 */
export async function expireLeases(db: Db, maxAttempts: number, fleet: FleetPolicy = DEFAULT_FLEET_POLICY): Promise<number> {
  const atLimit = `c.attempts + 1 >= $1`;
  const r = await db.query<{ n: number; agents: string[] | null }>(
    // SKIP LOCKED: rows a grant, confirmation or revocation is working on are left for the next
    // run, so the sweeper never waits on (or deadlocks with) request transactions.
    `WITH due AS (
       SELECT c.contract_id, c.status AS prev_status FROM contract_sign_requests c
       WHERE c.provisioning_lock_agent IS NOT NULL AND c.provisioning_lock_expires_at <= now()
         AND CASE WHEN ${atLimit} THEN ${allowedFromSql('exhaust')} ELSE ${allowedFromSql('expire')} END
       ORDER BY c.contract_id FOR UPDATE SKIP LOCKED
     ), expired AS (
       UPDATE contract_sign_requests c
       SET ${CLEAR_LOCK}, attempts = c.attempts + 1, last_error = 'lease expired',
           status = CASE WHEN ${atLimit} THEN ${statusAfterSql('exhaust')} ELSE ${statusAfterSql('expire')} END,
           updated_at = now()
       FROM due WHERE c.contract_id = due.contract_id
       RETURNING c.contract_id, c.lease_agent, c.provisioning_lock_token, c.status, c.attempts, due.prev_status
     ), events AS (
       ${insertEventsSql(`SELECT contract_id, 'expired', lease_agent, provisioning_lock_token, 'lease expired', ${workActionSql('status')} FROM expired
         UNION ALL
         SELECT contract_id, 'termination_failed', NULL, provisioning_lock_token, attempts || ' attempt(s) failed', 'terminate'
         FROM expired WHERE status = 'termination_failed' AND prev_status <> 'termination_failed'`)}
     )
     SELECT (SELECT count(*) FROM expired)::int AS n, (SELECT array_agg(lease_agent) FROM expired) AS agents,
       ${notifyWorkSql(`SELECT contract_id FROM expired WHERE ${allowedFromSql('grant', 'status')}`, fleet.offlineAfterSeconds)} AS notified`,
    [maxAttempts],
  );
  const { n, agents } = r.rows[0]!;
  await countAgentFailuresAfterCommit(db, agents ?? [], fleet);
  return n;
}
