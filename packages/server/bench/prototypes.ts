// Bench-local prototypes of proposed server changes (NOT server code; BENCHMARKS.md "Analysis"
// explains them). They run only in scratch databases created by bench/queue.ts and the scripts in
// bench/experiments, next to the real store/leases.ts functions, so a proposal's effect is
// measured in the same run as the code it would replace.
import type { Db } from '../src/db/db.js';
import type { Caller } from '../src/store/leases.js';

/**
 * Schema addition the prototype claim needs (scratch databases only): the pool each contract is
 * routed to, stored on write, and a partial index that yields a pool's queue in claim order.
 */
export const PROTO_SCHEMA = `ALTER TABLE contract_sign_requests ADD COLUMN routed_pool_id text;
  CREATE INDEX contract_sign_requests_routed_idx ON contract_sign_requests (provider_pubkey, routed_pool_id, created_at, contract_id)
    WHERE status = 'accepted' AND payment_status = 'succeeded';`;

/**
 * Prototype claim: the same grant, events and eligibility as claim() in store/leases.ts, but the
 * caller's own open leases come from a separate branch instead of \`ORDER BY mine DESC, …\`, and
 * the others from an index range scan on routed_pool_id, so a claim reads max rows instead of
 * sorting every eligible contract of the pool. $1 provider, $2 agent, $3 pool, $4 exclude,
 * $5 max, $6 ttl seconds, $7 max attempts. Answers (contract_id, lock_token) only.
 */
export const PROTO_CLAIM_SQL = `
WITH active AS (
  SELECT 1 FROM provider_agent_delegations WHERE agent_pubkey = $2 AND revoked_at IS NULL FOR SHARE
), mine AS (
  SELECT c.contract_id, true AS renew, false AS takes_expired, c.lease_agent AS prev_agent, c.provisioning_lock_token AS prev_token, c.created_at
  FROM contract_sign_requests c
  WHERE EXISTS (SELECT 1 FROM active) AND c.provisioning_lock_agent = $2 AND c.lease_agent = $2 AND c.lease_outcome IS NULL
    AND c.status = 'accepted' AND c.payment_status = 'succeeded' AND NOT (c.contract_id = ANY($4::text[]))
  ORDER BY c.created_at, c.contract_id LIMIT $5 FOR UPDATE OF c SKIP LOCKED
), others AS (
  SELECT c.contract_id, false AS renew, (c.provisioning_lock_agent IS NOT NULL) AS takes_expired, c.lease_agent AS prev_agent, c.provisioning_lock_token AS prev_token, c.created_at
  FROM contract_sign_requests c
  WHERE EXISTS (SELECT 1 FROM active) AND c.provider_pubkey = $1 AND c.routed_pool_id = $3
    AND c.status = 'accepted' AND c.payment_status = 'succeeded'
    AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= now())
    AND (c.provisioning_lock_agent IS NULL OR c.provisioning_lock_expires_at <= now())
    AND NOT (c.lease_agent IS NOT DISTINCT FROM $2 AND c.lease_outcome IS NULL)
    AND NOT (c.contract_id = ANY($4::text[]))
    AND (c.provisioning_lock_agent IS NULL OR c.attempts + 1 < $7)
  ORDER BY c.created_at, c.contract_id LIMIT $5 FOR UPDATE OF c SKIP LOCKED
), picked AS (
  SELECT * FROM (SELECT * FROM mine UNION ALL SELECT * FROM others) u ORDER BY renew DESC, created_at, contract_id LIMIT $5
), granted AS (
  UPDATE contract_sign_requests c SET
    provisioning_lock_token = CASE WHEN picked.renew THEN c.provisioning_lock_token ELSE c.provisioning_lock_token + 1 END,
    provisioning_lock_agent = $2, provisioning_lock_at = now(), provisioning_lock_expires_at = now() + make_interval(secs => $6),
    lease_agent = $2, lease_outcome = NULL,
    attempts = c.attempts + CASE WHEN picked.takes_expired THEN 1 ELSE 0 END,
    last_error = CASE WHEN picked.takes_expired THEN 'lease expired' ELSE c.last_error END, updated_at = now()
  FROM picked WHERE c.contract_id = picked.contract_id AND c.status = 'accepted' AND c.payment_status = 'succeeded'
  RETURNING c.contract_id, c.provisioning_lock_token AS lock_token, c.created_at, picked.renew, picked.takes_expired, picked.prev_agent, picked.prev_token
), events AS (
  INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail)
  SELECT contract_id, 'expired', prev_agent, prev_token, 'lease expired' FROM granted WHERE takes_expired
  UNION ALL
  SELECT contract_id, CASE WHEN renew THEN 'renewed' ELSE 'granted' END, $2, lock_token, 'claim' FROM granted
)
SELECT contract_id, lock_token FROM granted ORDER BY created_at, contract_id`;

export async function claimPrototype(db: Db, caller: Caller, max: number, ttlSeconds: number, maxAttempts: number): Promise<{ contract_id: string; lock_token: number }[]> {
  return (await db.query<{ contract_id: string; lock_token: number }>(PROTO_CLAIM_SQL, [caller.provider, caller.agent, caller.poolId, [], max, ttlSeconds, maxAttempts], { prepare: 'bench_proto_claim' })).rows;
}

/**
 * Bench-local prototype (not server code): confirms a claimed batch in one statement with the
 * same fencing rule as provisioned()'s fast path (current token, caller is the grantee, lease
 * open, accepted and paid), records the events, and answers only the confirmed ids.
 */
export async function provisionedBatchPrototype(db: Db, caller: Caller, items: { id: string; token: number; details: Record<string, unknown> }[]): Promise<number> {
  const r = await db.query<{ n: number }>(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[]) AS u(contract_id, token, details)
     ), done AS (
       UPDATE contract_sign_requests c SET status = 'provisioned', provisioned_by = $4, provisioned_at = now(),
         instance_details = input.details, next_attempt_at = NULL,
         provisioning_lock_agent = NULL, provisioning_lock_at = NULL, provisioning_lock_expires_at = NULL,
         lease_outcome = 'provisioned', updated_at = now()
       FROM input
       WHERE c.contract_id = input.contract_id AND c.provider_pubkey = $5 AND c.provisioning_lock_token = input.token
         AND c.lease_agent = $4 AND c.lease_outcome IS NULL AND c.status IN ('accepted', 'provisioning_failed') AND c.payment_status = 'succeeded'
       RETURNING c.contract_id, c.provisioning_lock_token
     ), ev AS (
       INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail)
       SELECT contract_id, 'provisioned', $4, provisioning_lock_token, NULL FROM done
     )
     SELECT count(*)::int AS n FROM done`,
    [items.map((i) => i.id), items.map((i) => i.token), items.map((i) => JSON.stringify(i.details)), caller.agent, caller.provider],
  );
  return r.rows[0]!.n;
}
