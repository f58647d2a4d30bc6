// The one eligibility rule of DESIGN.md "Fleet operations (v3)": may this agent be granted NEW
// provision work now? Renewals (a holder's lock, its own leases returned by claim),
// confirmations, releases and teardowns are never refused by it. pending-provision, claim, lock,
// the fallback chain (routing.ts) and the work notices (work-notify.ts) all read it from here.
//
// An agent is eligible when: not revoked, state `active`, not cooling down, holding fewer
// provision leases than its max_concurrent (null: unlimited), its pool not paused — and, when the
// question is about ANOTHER agent (is there an eligible agent in pool Q? another one that could
// retry this contract?), online. The caller of a grant need not be online: its signed call proves
// it is alive (docs/decisions.md).
//
// Race-freedom: every new grant runs in a transaction whose FIRST statement is lockAgent(), and
// reads these limits in a LATER statement. Under READ COMMITTED a statement's snapshot is taken
// before it waits for a row lock, so counting leases in the statement that takes the lock would
// let two replicas both see the old count. Drain, reset-health, health updates and revocation
// take the same row lock; always the agent before any contract.
//
// Health: each agent-class failure and each lease expiry counts once per lease in
// consecutive_failures; at the threshold the agent cools down (doubling, at most an hour) and the
// count restarts. Counts that arise while contract rows are locked by another agent's grant (the
// sweeper, a takeover of an expired lease) are applied in a second short transaction after the
// first commits, locking agents in agent_pubkey order: a crash between the two loses a health
// count, never a lease (the count is not exactly-once; the lease is).
import type { Db, Queryable } from '../db/db.js';
import { fail } from '../errors.js';
import {
  DEFAULT_AGENT_COOLDOWN_SECONDS, DEFAULT_AGENT_FAILURE_THRESHOLD, DEFAULT_AGENT_OFFLINE_AFTER_SECONDS, DEFAULT_RETRY_ELSEWHERE_SECONDS, type Config,
} from '../config.js';
import { MAX_COOLDOWN_SECONDS } from '../timing.js';
import { allowedFromSql } from './contract-state.js';
import { recordAudit } from './audit.js';

/** The operator settings the rule reads (config.ts). */
export interface FleetPolicy {
  /** DC_AGENT_OFFLINE_AFTER_SECONDS: other agents count only while online. */
  offlineAfterSeconds: number;
  /** DC_RETRY_ELSEWHERE_SECONDS. */
  retryElsewhereSeconds: number;
  /** DC_AGENT_FAILURE_THRESHOLD and DC_AGENT_COOLDOWN_SECONDS. */
  failureThreshold: number;
  cooldownSeconds: number;
}

export const DEFAULT_FLEET_POLICY: FleetPolicy = {
  offlineAfterSeconds: DEFAULT_AGENT_OFFLINE_AFTER_SECONDS,
  retryElsewhereSeconds: DEFAULT_RETRY_ELSEWHERE_SECONDS,
  failureThreshold: DEFAULT_AGENT_FAILURE_THRESHOLD,
  cooldownSeconds: DEFAULT_AGENT_COOLDOWN_SECONDS,
};

/** The fleet settings of a configuration. */
export function fleetPolicyOf(c: Config): FleetPolicy {
  return {
    offlineAfterSeconds: c.agentOfflineAfterSeconds,
    retryElsewhereSeconds: c.retryElsewhereSeconds,
    failureThreshold: c.agentFailureThreshold,
    cooldownSeconds: c.agentCooldownSeconds,
  };
}

/** Why an agent takes no new provision grant, in DESIGN.md's refusal order. */
export type Refusal = 'pool_paused' | 'agent_draining' | 'agent_cooling_down' | 'agent_at_capacity';

/**
 * SQL: the provision leases agent `agent` holds: live, or expired and not yet swept (its holder may
 * still renew it, so it keeps its slot until the sweeper clears it). Index contract_sign_requests_lock_agent_idx.
 */
export function heldLeasesSql(agent: string): string {
  return `(SELECT count(*) FROM contract_sign_requests l
    WHERE l.provisioning_lock_agent = ${agent} AND ${allowedFromSql('grant', 'l.status', 'provision')})::int`;
}

/**
 * SQL: the first limit that keeps agent `d` (provider_agent_delegations) from a new provision grant,
 * with its status row `s` and pool `p` (both may be NULL from LEFT JOINs) and its held leases
 * `held`; NULL when none does. CASE evaluates `held` only when the earlier limits pass.
 */
function refusalSql(d: string, s: string, p: string, held: string): string {
  return `CASE WHEN COALESCE(${p}.paused, false) THEN 'pool_paused'
    WHEN ${d}.state <> 'active' THEN 'agent_draining'
    WHEN ${d}.cooldown_until > now() THEN 'agent_cooling_down'
    WHEN ${s}.max_concurrent IS NOT NULL AND ${held} >= ${s}.max_concurrent THEN 'agent_at_capacity' END`;
}

/**
 * CTE `elig` (one row): the calling agent `agentParam`'s refusal (NULL: eligible), max_concurrent,
 * held leases, free slots (NULL: unlimited) and when it was last granted new work. Read in a
 * statement after lockAgent() in grants.
 */
export function callerEligibilityCte(agentParam: string): string {
  return `elig AS MATERIALIZED (
    SELECT ${refusalSql('d', 's', 'p', 'h.n')} AS refusal, s.max_concurrent, h.n AS held,
      CASE WHEN s.max_concurrent IS NOT NULL THEN GREATEST(s.max_concurrent - h.n, 0) END AS free,
      d.last_granted_at, d.cooldown_until
    FROM provider_agent_delegations d
    LEFT JOIN agent_status s ON s.agent_pubkey = d.agent_pubkey
    LEFT JOIN agent_pools p ON p.pool_id = d.pool_id
    CROSS JOIN LATERAL (SELECT ${heldLeasesSql('d.agent_pubkey')} AS n) h
    WHERE d.agent_pubkey = ${agentParam})`;
}

/** SQL: agent `d` (status `s`, pool `p`) is another agent that could take new provision work now (online). */
export function eligibleOtherAgentSql(d: string, s: string, p: string, offline: string): string {
  return `(${d}.revoked_at IS NULL AND ${s}.last_seen_at > now() - make_interval(secs => ${offline})
    AND ${refusalSql(d, s, p, heldLeasesSql(`${d}.agent_pubkey`))} IS NULL)`;
}

/** SQL: pool `r` (agent_pools) has an eligible agent now (the fallback chain's "no eligible agent"). */
export function poolHasEligibleAgentSql(r: string, offline: string): string {
  return `(NOT ${r}.paused AND EXISTS (
    SELECT 1 FROM provider_agent_delegations ed JOIN agent_status es ON es.agent_pubkey = ed.agent_pubkey
    WHERE ed.pool_id = ${r}.pool_id AND ${eligibleOtherAgentSql('ed', 'es', r, offline)}))`;
}

/** SQL: agent `who` failed contract `c`'s provision (either class) or let its lease expire since it last became provisionable. */
function failedItSql(who: string): string {
  return `SELECT 1 FROM contract_events fe
    WHERE fe.contract_id = c.contract_id AND fe.agent_pubkey = ${who} AND fe.event IN ('failed', 'expired')
      AND fe.action = 'provision' AND fe.at >= COALESCE(c.provisionable_at, c.created_at)`;
}

/**
 * CTE `blocked`: the contracts refused to `agent` as retry_elsewhere now: the agent failed one
 * (either class) or let its lease expire within the last `windowSeconds`, since it last became
 * provisionable, and another eligible (online) agent of its pool exists that has not failed it
 * since then (legacy agents: among the provider's pool-less agents). Computed once per statement
 * from the agent's own recent failures and expiries (contract_events_agent_failure_idx, which holds
 * no successes: a busy agent has thousands of those in the window), so the work queries only probe
 * a small hashed set per candidate.
 */
export function retryElsewhereCte(a: { agent: string; pool: string | null; provider: string; windowSeconds: string; offline: string }): string {
  const peers = a.pool !== null ? `d2.pool_id = ${a.pool}` : `d2.provider_pubkey = ${a.provider} AND d2.pool_id IS NULL`;
  return `blocked AS MATERIALIZED (
    SELECT c.contract_id FROM contract_sign_requests c
    WHERE c.contract_id IN (
        SELECT r.contract_id FROM contract_events r
        WHERE r.agent_pubkey = ${a.agent} AND r.event IN ('failed', 'expired') AND r.action = 'provision'
          AND r.at > now() - make_interval(secs => ${a.windowSeconds}))
      AND EXISTS (${failedItSql(a.agent)} AND fe.at > now() - make_interval(secs => ${a.windowSeconds}))
      AND EXISTS (
        SELECT 1 FROM provider_agent_delegations d2 JOIN agent_status s2 ON s2.agent_pubkey = d2.agent_pubkey
        LEFT JOIN agent_pools p2 ON p2.pool_id = d2.pool_id
        WHERE ${peers} AND d2.agent_pubkey <> ${a.agent} AND ${eligibleOtherAgentSql('d2', 's2', 'p2', a.offline)}
          AND NOT EXISTS (${failedItSql('d2.agent_pubkey')})))`;
}

/** SQL: contract `c` is refused to the caller as retry_elsewhere (retryElsewhereCte). */
export const RETRY_ELSEWHERE = `c.contract_id IN (SELECT b.contract_id FROM blocked b)`;

/**
 * Locks the agent's row until the transaction ends: the FIRST statement of every grant (and of
 * `failed`, which updates the agent's health before touching the contract). FOR NO KEY UPDATE
 * excludes other grants, drain, reset-health, health updates and revocation (all UPDATEs of the
 * row) without blocking the foreign-key checks of heartbeat and inventory inserts. 401 when revoked.
 */
export async function lockAgent(tx: Queryable, agent: string): Promise<void> {
  const r = await tx.query(`SELECT 1 FROM provider_agent_delegations WHERE agent_pubkey = $1 AND revoked_at IS NULL FOR NO KEY UPDATE`, [agent], { prepare: true });
  if (r.rowCount === 0) throw fail('agent_revoked');
}

export interface CallerEligibility {
  refusal: Refusal | null;
  /** Provision leases held, and free slots (null: unlimited). */
  held: number;
  free: number | null;
  last_granted_at: Date | null;
  cooldown_until: Date | null;
}

/** The caller's eligibility (read after lockAgent in the same transaction). */
export async function readEligibility(tx: Queryable, agent: string): Promise<CallerEligibility> {
  const r = await tx.query<CallerEligibility>(`WITH ${callerEligibilityCte('$1')} SELECT refusal, held, free, last_granted_at, cooldown_until FROM elig`, [agent]);
  return r.rows[0] ?? { refusal: null, held: 0, free: null, last_granted_at: null, cooldown_until: null };
}

/** Whether contract `id` is refused to the caller as retry_elsewhere now (lock's check; claim filters with the same SQL). */
export async function mustRetryElsewhere(
  tx: Queryable, id: string, caller: { agent: string; provider: string; poolId: string | null }, fleet: FleetPolicy,
): Promise<boolean> {
  // $5: the pool for a pooled agent, the provider for a legacy one (whose peers are its provider's pool-less agents).
  const pooled = caller.poolId !== null;
  const r = await tx.query<{ refused: boolean }>(
    `WITH ${retryElsewhereCte({ agent: '$2', pool: pooled ? '$5' : null, provider: '$5', windowSeconds: '$3', offline: '$4' })}
     SELECT EXISTS (SELECT 1 FROM blocked WHERE contract_id = $1) AS refused`,
    [id, caller.agent, fleet.retryElsewhereSeconds, fleet.offlineAfterSeconds, pooled ? caller.poolId : caller.provider],
  );
  return r.rows[0]?.refused === true;
}

/**
 * Counts failures against agents' health, one entry of `agents` per counted failure or expiry
 * (nulls ignored). Locks the agents in agent_pubkey order; an agent reaching the threshold cools
 * down for cooldownSeconds × 2^(cool-downs since its last success), at most MAX_COOLDOWN_SECONDS,
 * and its count restarts at 0 (audit `agent_cooldown`). Run inside the caller's transaction.
 */
export async function countAgentFailures(tx: Queryable, agents: readonly (string | null)[], fleet: FleetPolicy): Promise<void> {
  const counts = new Map<string, number>();
  for (const a of agents) if (a !== null) counts.set(a, (counts.get(a) ?? 0) + 1);
  if (counts.size === 0) return;
  const keys = [...counts.keys()].sort();
  const r = await tx.query<{ agent_pubkey: string; provider_pubkey: string; pool_id: string | null; cooled: boolean; cooldown_until: Date; cooldown_seconds: number; failures: number }>(
    `WITH hits AS (SELECT * FROM unnest($1::text[], $2::int[]) AS h(agent_pubkey, n)),
     locked AS (
       SELECT d.agent_pubkey, d.consecutive_failures + h.n >= $3 AS cooled, d.consecutive_failures + h.n AS failures,
         LEAST($5::float8, $4::float8 * power(2, LEAST(d.cooldowns_since_success, 30))) AS cooldown_seconds
       FROM provider_agent_delegations d JOIN hits h USING (agent_pubkey)
       ORDER BY d.agent_pubkey FOR NO KEY UPDATE OF d
     )
     UPDATE provider_agent_delegations d SET
       consecutive_failures = CASE WHEN k.cooled THEN 0 ELSE k.failures END,
       cooldown_until = CASE WHEN k.cooled THEN now() + make_interval(secs => k.cooldown_seconds) ELSE d.cooldown_until END,
       cooldowns_since_success = d.cooldowns_since_success + CASE WHEN k.cooled THEN 1 ELSE 0 END
     FROM locked k WHERE d.agent_pubkey = k.agent_pubkey
     RETURNING d.agent_pubkey, d.provider_pubkey, d.pool_id, k.cooled, d.cooldown_until, k.cooldown_seconds, k.failures`,
    [keys, keys.map((k) => counts.get(k)!), fleet.failureThreshold, fleet.cooldownSeconds, MAX_COOLDOWN_SECONDS],
  );
  for (const a of r.rows.filter((x) => x.cooled)) {
    await recordAudit(tx, {
      provider: a.provider_pubkey, kind: 'agent_cooldown', actor: { kind: 'system', pubkey: null },
      subject: { type: 'agent', id: a.agent_pubkey, pool_id: a.pool_id },
      detail: { consecutive_failures: a.failures, cooldown_seconds: a.cooldown_seconds, cooldown_until: a.cooldown_until },
    });
  }
}

/** countAgentFailures in its own transaction: for counts noticed while other locks were held (after that commit). */
export async function countAgentFailuresAfterCommit(db: Db, agents: readonly (string | null)[], fleet: FleetPolicy): Promise<void> {
  if (!agents.some((a) => a !== null)) return;
  await db.transaction((tx) => countAgentFailures(tx, agents, fleet));
}

/**
 * A provision or teardown confirmed by the agent: its consecutive failures and the cool-downs since
 * its last success restart at 0. A follow-up statement after the confirmation commits, writing only
 * when something is non-zero (the agent's row lock is never taken while contracts are locked).
 */
export async function recordAgentSuccess(db: Queryable, agent: string): Promise<void> {
  await db.query(
    `UPDATE provider_agent_delegations SET consecutive_failures = 0, cooldowns_since_success = 0
     WHERE agent_pubkey = $1 AND (consecutive_failures <> 0 OR cooldowns_since_success <> 0)`,
    [agent],
  );
}

/** SQL (over delegation `d`): this agent's health counters are non-zero (a success has something to reset). */
export const HEALTH_DIRTY_SQL = `(d.consecutive_failures <> 0 OR d.cooldowns_since_success <> 0)`;
