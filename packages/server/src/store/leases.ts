// Provisioning leases (DESIGN.md "Leases and exactly-once"). Every statement here is one atomic
// UPDATE whose WHERE clause is the whole precondition, so two replicas can never both succeed.
import type { Queryable } from '../db/db.js';

/** Releases every lease an agent holds (used when it is revoked) and records `released`. */
export async function releaseLeasesOfAgent(tx: Queryable, agentPubkey: string, detail: string): Promise<number> {
  const r = await tx.query(
    `WITH released AS (
       UPDATE contract_sign_requests
       SET provisioning_lock_agent = NULL, provisioning_lock_at = NULL, provisioning_lock_expires_at = NULL,
           lease_outcome = 'released', updated_at = now()
       WHERE provisioning_lock_agent = $1
       RETURNING contract_id, provisioning_lock_token
     )
     INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail)
     SELECT contract_id, 'released', $1, provisioning_lock_token, $2 FROM released`,
    [agentPubkey, detail],
  );
  return r.rowCount;
}

/**
 * Clears expired leases and counts each as a failed attempt ("lease expired", no back-off).
 * One conditional UPDATE: a renewal that commits first moves expires_at forward and the row no
 * longer matches, so a renewal is never overwritten (the spec's select-then-update would).
 */
export async function expireLeases(db: Queryable, maxAttempts: number): Promise<number> {
  const r = await db.query(
    `WITH expired AS (
       UPDATE contract_sign_requests c
       SET provisioning_lock_agent = NULL, provisioning_lock_at = NULL, provisioning_lock_expires_at = NULL,
           attempts = c.attempts + 1, last_error = 'lease expired',
           status = CASE WHEN c.status = 'accepted' AND c.attempts + 1 >= $1 THEN 'provisioning_failed' ELSE c.status END,
           updated_at = now()
       WHERE c.provisioning_lock_agent IS NOT NULL AND c.provisioning_lock_expires_at <= now()
       RETURNING c.contract_id, c.lease_agent, c.provisioning_lock_token
     )
     INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail)
     SELECT contract_id, 'expired', lease_agent, provisioning_lock_token, 'lease expired' FROM expired`,
    [maxAttempts],
  );
  return r.rowCount;
}
