// The one writer of contract_events, the lock history (DESIGN.md "Leases and exactly-once"):
// `recordEvent` for one event inside a transaction, `insertEventsSql` for statements that write
// their events in a CTE of the same statement.
import type { ContractEventKind } from '@dc/core';
import type { Queryable } from '../db/db.js';
import { workActionSql } from './contract-state.js';

/** Optional event columns (v3 fleet operations): whether a grant went to a fallback pool, a failure's class. */
export type EventExtra = 'via_fallback' | 'error_class';

/**
 * `INSERT INTO contract_events` of the rows `source` yields: a SELECT with the columns
 * contract_id, event, agent_pubkey, lock_token, detail, action, in this order (action from the
 * contract's status after the change: workActionSql), then the `extra` columns in their order.
 */
export function insertEventsSql(source: string, extra: readonly EventExtra[] = []): string {
  const cols = ['contract_id', 'event', 'agent_pubkey', 'lock_token', 'detail', 'action', ...extra];
  return `INSERT INTO contract_events (${cols.join(', ')}) ${source}`;
}

export interface ContractEventRow {
  contractId: string;
  event: ContractEventKind;
  /** The agent (or provider) that acted; null for the customer, the operator or the server. */
  actor: string | null;
  /** The lease token the event belongs to (the current one when no lease is involved). */
  token: number;
  detail: string | null;
  /** On `granted`: the grantee's pool is a fallback of the routed pool. */
  viaFallback?: boolean;
  /** On an agent's `failed`: its class (only `agent` counts against health and success rates). */
  errorClass?: 'agent' | 'contract';
}

/** Records one event; its action follows the contract's status after the change (written before this call). */
export async function recordEvent(tx: Queryable, e: ContractEventRow): Promise<void> {
  await tx.query(
    insertEventsSql(`SELECT $1, $2, $3, $4, $5, ${workActionSql()}, $6::boolean, $7::text FROM contract_sign_requests c WHERE c.contract_id = $1`, ['via_fallback', 'error_class']),
    [e.contractId, e.event, e.actor, e.token, e.detail, e.viaFallback ?? null, e.errorClass ?? null],
    { prepare: true },
  );
}
