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
// the lease answers 200 again. Every change runs under the contract's row lock (FOR UPDATE, or
// FOR UPDATE SKIP LOCKED in claim) inside one transaction, with time from the database clock.
import type { Contract } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { ApiError, conflict, notFound } from '../http/errors.js';
import { CONTRACT_COLUMNS, CONTRACT_FROM, contractFrom } from './contracts.js';
import { POOL_IS_DEFAULT, routedToPool } from './routing.js';
import { notifyWork, notifyWorkSql } from './work-notify.js';

/** Back-off never grows past an hour: a fixed hypervisor should be retried the same day. */
export const MAX_BACKOFF_SECONDS = 3600;
/** last_error keeps the agent's message verbatim up to this many characters. */
export const LAST_ERROR_MAX_CHARS = 2000;

export interface LeasePolicy {
  ttlSeconds: number;
  backoffSeconds: number;
  maxAttempts: number;
}

export interface Caller {
  agent: string;
  provider: string;
  /** null: a legacy agent without a pool, which may take all of its provider's contracts. */
  poolId: string | null;
}

export type ProvisioningItem = Contract & {
  provisioner_type: string | null;
  provisioner_config: Record<string, unknown> | null;
  lock_ttl_seconds: number;
};

const ITEM_COLUMNS = `${CONTRACT_COLUMNS}, o.provisioner_type, o.provisioner_config`;

/**
 * Contracts an agent may be granted: paid, accepted, not backing off, lease free, expired or its
 * own, routed to its pool. `$1` provider, `$2` agent, `$3` pool id (when pooled). Walks
 * contract_sign_requests_pending_idx oldest first; routing follows routing.ts.
 */
function eligibleWhere(pooled: boolean): string {
  const routed = pooled ? `AND ${ROUTED_TO_ME}` : '';
  return `c.provider_pubkey = $1 AND c.status = 'accepted' AND c.payment_status = 'succeeded'
    AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= now())
    AND (c.provisioning_lock_agent IS NULL OR c.provisioning_lock_expires_at <= now() OR c.provisioning_lock_agent = $2)
    ${routed}`;
}

// MATERIALIZED: computed once per statement (the "oldest pool" check), not once per offering.
function meCte(pooled: boolean): string {
  return pooled
    ? `me AS MATERIALIZED (SELECT p.pool_id, p.provider_pubkey, p.location, p.provisioner_type, ${POOL_IS_DEFAULT} AS is_default
              FROM agent_pools p WHERE p.pool_id = $3)`
    : `me AS (SELECT 1)`;
}

/** "Contract c is routed to the caller's pool `me`": one primary-key probe of its offering. */
const ROUTED_TO_ME = `EXISTS (SELECT 1 FROM provider_offerings o2, me p
  WHERE o2.provider_pubkey = c.provider_pubkey AND o2.offering_id = c.offering_id
    AND ${routedToPool('o2', 'p', 'p.is_default')})`;

function pendingSql(pooled: boolean, limit: string, ttlSeconds: string): string {
  return `WITH ${meCte(pooled)}
     SELECT ${ITEM_COLUMNS}, ${ttlSeconds}::int AS lock_ttl_seconds
     FROM ${CONTRACT_FROM}
     WHERE c.contract_id IN (
       SELECT c.contract_id FROM contract_sign_requests c WHERE ${eligibleWhere(pooled)}
       ORDER BY c.created_at, c.contract_id LIMIT ${limit})
     ORDER BY c.created_at, c.contract_id`;
}

/** The pending-provision query with literal limit and TTL (for EXPLAIN in tests and benchmarks). */
export function pendingProvisionSql(pooled: boolean, limit: number, ttlSeconds: number): string {
  return pendingSql(pooled, String(Math.trunc(limit)), String(Math.trunc(ttlSeconds)));
}

export async function pendingProvision(db: Queryable, caller: Caller, limit: number, policy: LeasePolicy): Promise<ProvisioningItem[]> {
  const pooled = caller.poolId !== null;
  const params: unknown[] = [caller.provider, caller.agent];
  if (pooled) params.push(caller.poolId);
  params.push(limit, policy.ttlSeconds);
  const sql = pendingSql(pooled, `$${params.length - 1}`, `$${params.length}`);
  // Prepared: agents poll this all day; planning the join costs more than running it.
  return (await db.query<ProvisioningItem>(sql, params, { prepare: pooled ? 'dc_pending_pooled' : 'dc_pending_legacy' })).rows;
}

/**
 * Grants leases on up to `max` contracts in one statement. Rows other claims are taking are
 * skipped (SKIP LOCKED), so fifty agents asking at once get fifty different contracts instead of
 * queueing on the same rows; the UPDATE re-checks eligibility on the locked row. The caller's own
 * open leases come first and are renewed with their token kept (a restarted agent resumes its
 * work). Granting over another agent's expired, unswept lease counts that expiry as an attempt.
 */
export async function claim(db: Db, caller: Caller, opts: { max: number; exclude: string[] }, policy: LeasePolicy): Promise<ProvisioningItem[]> {
  const pooled = caller.poolId !== null;
  const params: unknown[] = [caller.provider, caller.agent];
  if (pooled) params.push(caller.poolId);
  params.push(opts.exclude, opts.max, policy.ttlSeconds, policy.maxAttempts);
  const n = params.length; // $n-3 exclude, $n-2 max, $n-1 ttl, $n max attempts
  const [pEx, pMax, pTtl, pAttempts] = [n - 3, n - 2, n - 1, n].map((i) => `$${i}`);
  const mine = `(c.lease_agent IS NOT DISTINCT FROM $2 AND c.lease_outcome IS NULL)`; // never NULL: ORDER BY and CASE rely on it
  // One statement (one round trip, its own transaction): the agent's delegation is locked FOR
  // SHARE first, so a revocation waits for this grant and then releases it (see assertAgentActive).
  const r = await db.query<ProvisioningItem & { agent_active: number }>(
    `WITH active AS (
       SELECT 1 FROM provider_agent_delegations WHERE agent_pubkey = $2 AND revoked_at IS NULL FOR SHARE
     ),
     ${meCte(pooled)},
     picked AS (
       SELECT c.contract_id, ${mine} AS renew,
         (NOT ${mine} AND c.provisioning_lock_agent IS NOT NULL) AS takes_expired,
         c.lease_agent AS prev_agent, c.provisioning_lock_token AS prev_token
       FROM contract_sign_requests c
       WHERE EXISTS (SELECT 1 FROM active)
         AND ${eligibleWhere(pooled)}
         AND NOT (c.contract_id = ANY(${pEx}::text[]))
         -- an expired lease that would reach the attempt limit is left to the sweeper
         AND (${mine} OR c.provisioning_lock_agent IS NULL OR c.attempts + 1 < ${pAttempts})
       ORDER BY ${mine} DESC, c.created_at, c.contract_id
       LIMIT ${pMax}
       FOR UPDATE OF c SKIP LOCKED
     ),
     granted AS (
       UPDATE contract_sign_requests c SET
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
       WHERE c.contract_id = picked.contract_id
         AND c.status = 'accepted' AND c.payment_status = 'succeeded'
       RETURNING c.*, picked.renew, picked.takes_expired, picked.prev_agent, picked.prev_token
     ),
     events AS (
       INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail)
       SELECT contract_id, 'expired', prev_agent, prev_token, 'lease expired' FROM granted WHERE takes_expired
       UNION ALL
       SELECT contract_id, CASE WHEN renew THEN 'renewed' ELSE 'granted' END, $2, provisioning_lock_token, 'claim' FROM granted
     )
     SELECT a.n AS agent_active, i.* FROM (SELECT count(*)::int AS n FROM active) a
     LEFT JOIN LATERAL (
       SELECT ${ITEM_COLUMNS}, ${pTtl}::int AS lock_ttl_seconds FROM ${contractFrom('granted')}
     ) i ON true
     ORDER BY i.created_at, i.contract_id`,
    params,
    { prepare: pooled ? 'dc_claim_pooled' : 'dc_claim_legacy' },
  );
  if (r.rows[0]?.agent_active === 0) throw agentRevoked();
  return r.rows.filter((row) => row.contract_id !== null).map(({ agent_active: _, ...item }) => item as ProvisioningItem);
}

/**
 * Grants happen only to an agent that is still active at commit time: FOR SHARE on its
 * delegation makes a concurrent revocation wait for this grant (and then release it), and a
 * revocation that committed first is seen here. A long-poll that outlives its agent ends with 401.
 */
async function assertAgentActive(tx: Queryable, agent: string): Promise<void> {
  const r = await tx.query(`SELECT 1 FROM provider_agent_delegations WHERE agent_pubkey = $1 AND revoked_at IS NULL FOR SHARE`, [agent]);
  if (r.rowCount === 0) throw agentRevoked();
}

const agentRevoked = () => new ApiError(401, 'agent_revoked', 'This agent has been revoked by its provider.');

async function readItems(db: Queryable, ids: string[], policy: LeasePolicy): Promise<ProvisioningItem[]> {
  return (
    await db.query<ProvisioningItem>(
      `SELECT ${ITEM_COLUMNS}, ${policy.ttlSeconds}::int AS lock_ttl_seconds FROM ${CONTRACT_FROM}
       WHERE c.contract_id = ANY($1::text[]) ORDER BY c.created_at, c.contract_id`,
      [ids],
    )
  ).rows;
}

interface LeaseRow {
  contract_id: string;
  status: Contract['status'];
  payment_status: Contract['payment_status'];
  lock_agent: string | null;
  lock_live: boolean;
  token: number;
  lease_agent: string | null;
  lease_outcome: string | null;
  attempts: number;
  backing_off: boolean;
  provisioned_by: string | null;
  routed: boolean;
}

async function lockRow(tx: Queryable, caller: Caller | { provider: string }, id: string): Promise<LeaseRow> {
  const pooled = 'poolId' in caller && caller.poolId !== null;
  const params: unknown[] = [caller.provider, id];
  if (pooled) params.push((caller as Caller).poolId);
  const routed = pooled ? ROUTED_TO_ME : 'true';
  const r = await tx.query<LeaseRow>(
    `WITH ${meCte(pooled)}
     SELECT c.contract_id, c.status, c.payment_status, c.provisioning_lock_agent AS lock_agent,
       (c.provisioning_lock_agent IS NOT NULL AND c.provisioning_lock_expires_at > now()) AS lock_live,
       c.provisioning_lock_token AS token, c.lease_agent, c.lease_outcome, c.attempts,
       COALESCE(c.next_attempt_at > now(), false) AS backing_off, c.provisioned_by, ${routed} AS routed
     FROM contract_sign_requests c WHERE c.provider_pubkey = $1 AND c.contract_id = $2
     FOR UPDATE OF c`,
    params,
  );
  if (!r.rows[0]) throw notFound(`Contract ${id}`);
  return r.rows[0];
}

async function event(tx: Queryable, id: string, ev: string, agent: string | null, token: number, detail: string | null): Promise<void> {
  await tx.query(`INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail) VALUES ($1, $2, $3, $4, $5)`, [id, ev, agent, token, detail]);
}

const cancelled = () => conflict('contract_cancelled', 'The contract was cancelled; tear down anything you created for it.');
const leaseLost = () => conflict('lease_lost', 'This lease is no longer yours (a newer grant or a finished lease); tear down anything you created for it.');

function notProvisionable(row: LeaseRow): ApiError {
  if (row.payment_status !== 'succeeded') return conflict('not_paid', `The contract's payment is ${row.payment_status}; it cannot be provisioned yet.`);
  return conflict('not_provisionable', `The contract is ${row.status}; only accepted contracts can be locked.`);
}

/** POST …/lock: grant when free or expired, renew when the caller holds it. */
export async function lock(db: Db, caller: Caller, id: string, lockToken: number | undefined, policy: LeasePolicy): Promise<ProvisioningItem> {
  await db.transaction(async (tx) => {
    await assertAgentActive(tx, caller.agent);
    const row = await lockRow(tx, caller, id);
    if (!row.routed) throw new ApiError(403, 'not_routed', 'This contract is routed to another pool; your agent may not take it.');
    if (row.status === 'cancelled' || row.payment_status === 'refunded') throw cancelled();
    const open = row.lease_agent === caller.agent && row.lease_outcome === null;
    if (lockToken !== undefined && (lockToken !== row.token || !open)) throw leaseLost();
    if (row.status !== 'accepted' || row.payment_status !== 'succeeded') throw notProvisionable(row);
    if (open && (row.lock_live || row.lock_agent === null || row.lock_agent === caller.agent)) {
      await tx.query(
        `UPDATE contract_sign_requests SET provisioning_lock_agent = $2, provisioning_lock_at = now(),
           provisioning_lock_expires_at = now() + make_interval(secs => $3), updated_at = now() WHERE contract_id = $1`,
        [id, caller.agent, policy.ttlSeconds],
      );
      await event(tx, id, 'renewed', caller.agent, row.token, null);
      return;
    }
    if (row.lock_live) throw conflict('lock_held', 'Another agent holds a live lease on this contract.');
    if (row.backing_off) throw conflict('backing_off', 'The contract is backing off after a failure; try after next_attempt_at.');
    const takesExpired = row.lock_agent !== null; // another agent's expired lease, not yet swept
    if (takesExpired && row.attempts + 1 >= policy.maxAttempts) {
      throw conflict('lock_held', 'The previous lease expired and is being retired by the sweeper; try again shortly.');
    }
    await tx.query(
      `UPDATE contract_sign_requests SET provisioning_lock_token = provisioning_lock_token + 1, provisioning_lock_agent = $2,
         provisioning_lock_at = now(), provisioning_lock_expires_at = now() + make_interval(secs => $3),
         lease_agent = $2, lease_outcome = NULL,
         attempts = attempts + $4, last_error = CASE WHEN $4 = 1 THEN 'lease expired' ELSE last_error END, updated_at = now()
       WHERE contract_id = $1`,
      [id, caller.agent, policy.ttlSeconds, takesExpired ? 1 : 0],
    );
    if (takesExpired) await event(tx, id, 'expired', row.lease_agent, row.token, 'lease expired');
    await event(tx, id, 'granted', caller.agent, row.token + 1, null);
  });
  return (await readItems(db, [id], policy))[0]!;
}

type Ending = 'released' | 'provisioned' | 'failed' | 'handed_off';

/**
 * Common fencing check for calls that end a lease. Returns 'repeat' for an exact repeat of the
 * call that ended it (answered 200 without change), else 'open' when the caller may end it now.
 */
async function fence(tx: Queryable, row: LeaseRow, caller: Caller, token: number, ending: Ending): Promise<'repeat' | 'open'> {
  if (row.status === 'cancelled' || row.payment_status === 'refunded') throw cancelled();
  if (token === row.token && row.lease_agent === caller.agent) {
    if (row.lease_outcome === ending) return 'repeat';
    if (row.lease_outcome === null) return 'open';
    throw leaseLost();
  }
  // An older lease: only the exact call that ended it (same agent, token, outcome) is a repeat.
  const ended = await tx.query(
    `SELECT 1 FROM contract_events WHERE contract_id = $1 AND lock_token = $2 AND agent_pubkey = $3 AND event = $4 LIMIT 1`,
    [row.contract_id, token, caller.agent, ending],
  );
  if (ended.rowCount > 0) return 'repeat';
  throw leaseLost();
}

const CLEAR_LOCK = `provisioning_lock_agent = NULL, provisioning_lock_at = NULL, provisioning_lock_expires_at = NULL`;

export async function release(db: Db, caller: Caller, id: string, token: number, policy: LeasePolicy): Promise<ProvisioningItem> {
  await db.transaction(async (tx) => {
    const row = await lockRow(tx, caller, id);
    if (await fence(tx, row, caller, token, 'released') === 'repeat') return;
    await tx.query(`UPDATE contract_sign_requests SET ${CLEAR_LOCK}, lease_outcome = 'released', updated_at = now() WHERE contract_id = $1`, [id]);
    await event(tx, id, 'released', caller.agent, token, null);
    if (row.status === 'accepted') await notifyWork(tx, [id]);
  });
  return (await readItems(db, [id], policy))[0]!;
}

export async function provisioned(db: Db, caller: Caller, id: string, token: number, details: Record<string, unknown>, policy: LeasePolicy): Promise<ProvisioningItem> {
  // The common case in one statement: the caller's open lease with the current token. The WHERE
  // clause is the whole fencing rule, re-checked under the row lock, so it is as safe as the
  // transaction below, which runs only to explain a refusal (or answer an exact repeat).
  const fast = await db.query<ProvisioningItem>(
    `WITH done AS (
       UPDATE contract_sign_requests SET status = 'provisioned', provisioned_by = $2, provisioned_at = now(),
         instance_details = $4::jsonb, next_attempt_at = NULL, ${CLEAR_LOCK}, lease_outcome = 'provisioned', updated_at = now()
       WHERE contract_id = $1 AND provider_pubkey = $5 AND provisioning_lock_token = $3 AND lease_agent = $2
         AND lease_outcome IS NULL AND status IN ('accepted', 'provisioning_failed') AND payment_status = 'succeeded'
       RETURNING *
     ), ev AS (
       INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail)
       SELECT contract_id, 'provisioned', $2, $3, NULL FROM done
     )
     SELECT ${ITEM_COLUMNS}, $6::int AS lock_ttl_seconds FROM ${contractFrom('done')}`,
    [id, caller.agent, token, JSON.stringify(details), caller.provider, policy.ttlSeconds],
    { prepare: 'dc_provisioned' },
  );
  if (fast.rows[0]) return fast.rows[0];
  await db.transaction(async (tx) => {
    const row = await lockRow(tx, caller, id);
    if (await fence(tx, row, caller, token, 'provisioned') === 'repeat') return;
    // A late confirmation with the current token wins even after expiry marked the contract
    // provisioning_failed: the machine exists and nobody else was granted the contract.
    if (row.status !== 'accepted' && row.status !== 'provisioning_failed') throw notProvisionable(row);
    await tx.query(
      `UPDATE contract_sign_requests SET status = 'provisioned', provisioned_by = $2, provisioned_at = now(),
         instance_details = $3::jsonb, next_attempt_at = NULL, ${CLEAR_LOCK}, lease_outcome = 'provisioned', updated_at = now()
       WHERE contract_id = $1`,
      [id, caller.agent, JSON.stringify(details)],
    );
    await event(tx, id, 'provisioned', caller.agent, token, null);
  });
  return (await readItems(db, [id], policy))[0]!;
}

/** Back-off before attempt n+1 after n failures: base, 2·base, 4·base … at most an hour. */
export function backoffSeconds(base: number, attempts: number): number {
  return Math.min(MAX_BACKOFF_SECONDS, base * 2 ** Math.max(0, attempts - 1));
}

export async function failed(db: Db, caller: Caller, id: string, token: number, message: string, policy: LeasePolicy): Promise<ProvisioningItem> {
  await db.transaction(async (tx) => {
    const row = await lockRow(tx, caller, id);
    if (await fence(tx, row, caller, token, 'failed') === 'repeat') return;
    await recordFailure(tx, row, caller.agent, token, message, policy, {
      // The sweeper already counted this lease's expiry as an attempt; don't count it twice.
      countAttempt: row.lock_agent !== null,
    });
  });
  return (await readItems(db, [id], policy))[0]!;
}

async function recordFailure(
  tx: Queryable,
  row: LeaseRow,
  by: string,
  token: number,
  message: string,
  policy: LeasePolicy,
  opts: { countAttempt: boolean; neverExhausts?: boolean },
): Promise<void> {
  const attempts = row.attempts + (opts.countAttempt ? 1 : 0);
  const exhausted = attempts >= policy.maxAttempts && !opts.neverExhausts;
  const status = row.status === 'provisioning_failed' || exhausted ? 'provisioning_failed' : 'accepted';
  const backoff = status === 'accepted' ? backoffSeconds(policy.backoffSeconds, attempts) : 0;
  await tx.query(
    `UPDATE contract_sign_requests SET status = $2, attempts = $3, last_error = left($4, ${LAST_ERROR_MAX_CHARS}),
       next_attempt_at = CASE WHEN $5::int > 0 THEN now() + make_interval(secs => $5::int) END,
       ${CLEAR_LOCK}, lease_outcome = CASE WHEN lease_agent IS NOT NULL AND provisioning_lock_token = $6 THEN 'failed' ELSE lease_outcome END,
       updated_at = now()
     WHERE contract_id = $1`,
    [row.contract_id, status, attempts, message, backoff, token],
  );
  await tx.query(
    `INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail) VALUES ($1, 'failed', $2, $3, left($4, ${LAST_ERROR_MAX_CHARS}))`,
    [row.contract_id, by, token, message],
  );
  if (status === 'accepted' && backoff === 0) await notifyWork(tx, [row.contract_id]);
}

export async function handoff(db: Db, caller: Caller, id: string, token: number, note: string | null, policy: LeasePolicy): Promise<ProvisioningItem> {
  await db.transaction(async (tx) => {
    const row = await lockRow(tx, caller, id);
    if (await fence(tx, row, caller, token, 'handed_off') === 'repeat') return;
    if (row.status !== 'accepted') throw notProvisionable(row);
    await tx.query(
      `UPDATE contract_sign_requests SET status = 'provisioning', ${CLEAR_LOCK}, lease_outcome = 'handed_off', updated_at = now() WHERE contract_id = $1`,
      [id],
    );
    await event(tx, id, 'handed_off', caller.agent, token, note);
  });
  return (await readItems(db, [id], policy))[0]!;
}

/** Provider completes a handed-off contract: `provisioned` with the provider as provisioned_by. */
export async function providerProvisioned(db: Db, provider: string, id: string, details: Record<string, unknown>, policy: LeasePolicy): Promise<ProvisioningItem> {
  await db.transaction(async (tx) => {
    const row = await lockRow(tx, { provider }, id);
    if (row.status === 'cancelled') throw cancelled();
    if (row.status === 'provisioned' && row.provisioned_by === provider) return; // repeat
    if (row.status !== 'provisioning') throw conflict('invalid_transition', `Providers may confirm only handed-off contracts; this one is ${row.status}.`);
    await tx.query(
      `UPDATE contract_sign_requests SET status = 'provisioned', provisioned_by = $2, provisioned_at = now(),
         instance_details = $3::jsonb, next_attempt_at = NULL, updated_at = now() WHERE contract_id = $1`,
      [id, provider, JSON.stringify(details)],
    );
    await event(tx, id, 'provisioned', provider, row.token, 'completed by provider');
  });
  return (await readItems(db, [id], policy))[0]!;
}

/** Provider reports a handed-off contract failed: back to accepted (with back-off) or failed for good. */
export async function providerFailed(db: Db, provider: string, id: string, message: string, policy: LeasePolicy): Promise<ProvisioningItem> {
  await db.transaction(async (tx) => {
    const row = await lockRow(tx, { provider }, id);
    if (row.status === 'cancelled') throw cancelled();
    if (row.status !== 'provisioning') throw conflict('invalid_transition', `Providers may fail only handed-off contracts; this one is ${row.status}.`);
        // DESIGN.md: provisioning → accepted (failed); the limit is enforced on the agents' attempts.
    await recordFailure(tx, row, provider, row.token, message, policy, { countAttempt: true, neverExhausts: true });
  });
  return (await readItems(db, [id], policy))[0]!;
}

/** Releases every lease an agent holds (used when it is revoked) and records `released`. */
export async function releaseLeasesOfAgent(tx: Queryable, agentPubkey: string, detail: string): Promise<number> {
  const r = await tx.query<{ n: number }>(
    // Rows are locked in contract_id order, the same order as the sweeper, so the two never deadlock.
    `WITH held AS (
       SELECT contract_id FROM contract_sign_requests WHERE provisioning_lock_agent = $1
       ORDER BY contract_id FOR UPDATE
     ), released AS (
       UPDATE contract_sign_requests c
       SET ${CLEAR_LOCK}, lease_outcome = 'released', updated_at = now()
       FROM held WHERE c.contract_id = held.contract_id
       RETURNING c.contract_id, c.provisioning_lock_token, c.provider_pubkey, c.status
     ), events AS (
       INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail)
       SELECT contract_id, 'released', $1, provisioning_lock_token, $2 FROM released
     )
     SELECT (SELECT count(*) FROM released)::int AS n,
       ${notifyWorkSql(`SELECT contract_id FROM released WHERE status = 'accepted'`)} AS notified`,
    [agentPubkey, detail],
  );
  return r.rows[0]!.n;
}

/**
 * Clears expired leases and counts each as a failed attempt ("lease expired", no back-off).
 * One conditional UPDATE: a renewal that commits first moves expires_at forward and the row no
 * longer matches, so a renewal is never overwritten (the spec's select-then-update would).
 */
export async function expireLeases(db: Queryable, maxAttempts: number): Promise<number> {
  const r = await db.query(
    // SKIP LOCKED: rows a grant, confirmation or revocation is working on are left for the next
    // run, so the sweeper never waits on (or deadlocks with) request transactions.
    `WITH due AS (
       SELECT contract_id FROM contract_sign_requests
       WHERE provisioning_lock_agent IS NOT NULL AND provisioning_lock_expires_at <= now()
       ORDER BY contract_id FOR UPDATE SKIP LOCKED
     ), expired AS (
       UPDATE contract_sign_requests c
       SET ${CLEAR_LOCK}, attempts = c.attempts + 1, last_error = 'lease expired',
           status = CASE WHEN c.status = 'accepted' AND c.attempts + 1 >= $1 THEN 'provisioning_failed' ELSE c.status END,
           updated_at = now()
       FROM due WHERE c.contract_id = due.contract_id
       RETURNING c.contract_id, c.lease_agent, c.provisioning_lock_token, c.provider_pubkey, c.status
     ), events AS (
       INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail)
       SELECT contract_id, 'expired', lease_agent, provisioning_lock_token, 'lease expired' FROM expired
     )
     SELECT (SELECT count(*) FROM expired)::int AS n,
       ${notifyWorkSql(`SELECT contract_id FROM expired WHERE status = 'accepted'`)} AS notified`,
    [maxAttempts],
  );
  return (r.rows[0] as { n: number }).n;
}
