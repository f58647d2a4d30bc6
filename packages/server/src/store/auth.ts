// Request authentication's SQL: spend a nonce (replay protection shared by every replica) and, for
// agents, read the delegation in the same round trip. The HTTP side is http/auth.ts.
import { MAX_CLOCK_FUTURE_MS, MAX_CLOCK_PAST_MS } from '@dc/core';
import type { Queryable } from '../db/db.js';
import { NONCE_KEEP_SECONDS } from '../timing.js';

export interface NonceSpend {
  /** The timestamp lies inside the accepted window by the database clock. */
  in_window: boolean;
  /** 1 when the nonce was spent now, 0 when it had been used before. */
  fresh: number;
}

export interface AgentNonceSpend extends NonceSpend {
  /** null: no such agent. */
  provider_pubkey: string | null;
  pool_id: string | null;
  revoked: boolean | null;
}

// One round trip, its own autocommitted statement (outside any handler transaction, so the nonce
// stays spent when the request is refused): check the timestamp window against the database
// clock, so every replica draws the same line that nonce pruning uses, then spend the nonce.
export const SPEND_NONCE_CTES = `
  t AS (SELECT to_timestamp($3::bigint / 1000.0) AS ts),
  win AS (SELECT ts, ts BETWEEN now() - make_interval(secs => ${MAX_CLOCK_PAST_MS / 1000})
                          AND now() + make_interval(secs => ${MAX_CLOCK_FUTURE_MS / 1000}) AS in_window FROM t),
  spent AS (
    INSERT INTO request_nonces (pubkey, nonce, request_at) SELECT $1, $2, ts FROM win WHERE in_window
    ON CONFLICT DO NOTHING RETURNING 1)`;
const SPEND_NONCE_SQL = `WITH ${SPEND_NONCE_CTES}
  SELECT (SELECT in_window FROM win) AS in_window, (SELECT count(*) FROM spent)::int AS fresh`;
/** CTE `d`: the delegation of agent $1 as every agent call's auth reads it (no row: not an agent). */
export const AGENT_DELEGATION_CTE = `d AS (
    SELECT provider_pubkey, pool_id, revoked_at IS NOT NULL AS revoked, state FROM provider_agent_delegations WHERE agent_pubkey = $1)`;
// Agents: the same, plus the delegation (read on every call, so a revocation applies at once).
const SPEND_NONCE_AND_READ_AGENT_SQL = `WITH ${SPEND_NONCE_CTES}, ${AGENT_DELEGATION_CTE}
  SELECT (SELECT in_window FROM win) AS in_window, (SELECT count(*) FROM spent)::int AS fresh,
         d.provider_pubkey, d.pool_id, d.revoked
  FROM (SELECT 1) AS one
  LEFT JOIN d ON true`;

/** Spends `nonce` for `pubkey` if `timestampMs` is inside the window. */
export async function spendNonce(db: Queryable, pubkey: string, nonce: string, timestampMs: string): Promise<NonceSpend> {
  return (await db.query<NonceSpend>(SPEND_NONCE_SQL, [pubkey, nonce, timestampMs], { prepare: 'dc_auth_key' })).rows[0]!;
}

/** spendNonce for an agent key, with its delegation. */
export async function spendAgentNonce(db: Queryable, agentPubkey: string, nonce: string, timestampMs: string): Promise<AgentNonceSpend> {
  return (await db.query<AgentNonceSpend>(SPEND_NONCE_AND_READ_AGENT_SQL, [agentPubkey, nonce, timestampMs], { prepare: 'dc_auth_agent' })).rows[0]!;
}

/** Deletes spent nonces that can no longer be replayed (the sweeper); returns how many. */
export async function pruneNonces(db: Queryable): Promise<number> {
  const r = await db.query(`DELETE FROM request_nonces WHERE request_at < now() - make_interval(secs => ${NONCE_KEEP_SECONDS})`);
  return r.rowCount;
}
