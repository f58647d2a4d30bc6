// Request authentication's SQL for keys that are not agents: spend a nonce (replay protection
// shared by every replica). Agents' calls go through agent-auth.ts. The HTTP side is http/auth.ts.
import { MAX_CLOCK_FUTURE_MS, MAX_CLOCK_PAST_MS } from '@dc/core';
import type { Queryable } from '../db/db.js';
import { NONCE_KEEP_SECONDS } from '../timing.js';

export interface NonceSpend {
  /** The timestamp lies inside the accepted window by the database clock. */
  in_window: boolean;
  /** 1 when the nonce was spent now, 0 when it had been used before. */
  fresh: number;
}

/** SQL: the request time `ts` (timestamptz) lies inside the accepted window by the database clock. */
export function inRequestWindow(ts: string): string {
  return `${ts} BETWEEN now() - make_interval(secs => ${MAX_CLOCK_PAST_MS / 1000}) AND now() + make_interval(secs => ${MAX_CLOCK_FUTURE_MS / 1000})`;
}

// One round trip, its own autocommitted statement (outside any handler transaction, so the nonce
// stays spent when the request is refused): check the timestamp window against the database
// clock, so every replica draws the same line that nonce pruning uses, then spend the nonce.
const SPEND_NONCE_SQL = `WITH
  t AS (SELECT to_timestamp($3::bigint / 1000.0) AS ts),
  win AS (SELECT ts, ${inRequestWindow('ts')} AS in_window FROM t),
  spent AS (
    INSERT INTO request_nonces (pubkey, nonce, request_at) SELECT $1, $2, ts FROM win WHERE in_window
    ON CONFLICT DO NOTHING RETURNING 1)
  SELECT (SELECT in_window FROM win) AS in_window, (SELECT count(*) FROM spent)::int AS fresh`;

/** Spends `nonce` for `pubkey` if `timestampMs` is inside the window. */
export async function spendNonce(db: Queryable, pubkey: string, nonce: string, timestampMs: string): Promise<NonceSpend> {
  return (await db.query<NonceSpend>(SPEND_NONCE_SQL, [pubkey, nonce, timestampMs], { prepare: 'dc_auth_key' })).rows[0]!;
}

/** Deletes spent nonces that can no longer be replayed (the sweeper); returns how many. */
export async function pruneNonces(db: Queryable): Promise<number> {
  const r = await db.query(`DELETE FROM request_nonces WHERE request_at < now() - make_interval(secs => ${NONCE_KEEP_SECONDS})`);
  return r.rowCount;
}
