// Work notifications (DESIGN.md long-poll): a hint to re-query, never the data. Sent only inside
// the transaction that creates work, so listeners never wake before the row is visible.
import type { Queryable } from '../db/db.js';

/** Channel on which contract_sign_requests announces new work; the payload is the provider key. */
export const WORK_CHANNEL = 'dc_contract_work';

export async function notifyWork(tx: Queryable, providerPubkey: string): Promise<void> {
  await tx.query(`SELECT pg_notify($1, $2)`, [WORK_CHANNEL, providerPubkey]);
}
