// Setup tokens: created per pool, shown once, stored as a SHA-256 hash, used at most once.
import { randomBytes } from 'node:crypto';
import { type SetupTokenInfo } from '@dc/core';
import { generateSetupToken, hashSetupToken } from '@dc/core/node';
import type { Db, Queryable } from '../db/db.js';
import { PG_FOREIGN_KEY_VIOLATION, fail, notFound, pgCode } from '../errors.js';
import { providerActor, recordAudit } from './audit.js';

export async function createSetupToken(
  db: Db,
  provider: string,
  poolId: string,
  opts: { label: string | null; expiresInHours: number },
): Promise<SetupTokenInfo & { token: string; location: string }> {
  return db.transaction((tx) => createSetupTokenIn(tx, provider, poolId, opts));
}

async function createSetupTokenIn(
  db: Queryable,
  provider: string,
  poolId: string,
  opts: { label: string | null; expiresInHours: number },
): Promise<SetupTokenInfo & { token: string; location: string }> {
  const pool = (
    await db.query<{ location: string }>(`SELECT location FROM agent_pools WHERE pool_id = $1 AND provider_pubkey = $2`, [poolId, provider])
  ).rows[0];
  if (!pool) throw notFound(`Pool ${poolId}`);
  const token = generateSetupToken(pool.location);
  const tokenId = `stk_${randomBytes(9).toString('base64url')}`;
  const r = await insertToken(() => db.query<SetupTokenInfo>(
    `INSERT INTO agent_setup_tokens (token_id, token_hash, pool_id, label, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::float8 * 3600))
     RETURNING token_id, pool_id, label, created_at, expires_at`,
    [tokenId, hashSetupToken(token), poolId, opts.label, opts.expiresInHours],
  ), poolId);
  const info = r.rows[0]!;
  await recordAudit(db, {
    provider, kind: 'token_created', actor: providerActor(provider),
    subject: { type: 'token', id: tokenId, pool_id: poolId }, detail: { label: opts.label, expires_at: info.expires_at },
  });
  return { ...info, token, location: pool.location };
}

/** A pool deleted between our read and the insert is a 404, not a foreign-key 500. */
async function insertToken<T>(insert: () => Promise<T>, poolId: string): Promise<T> {
  try {
    return await insert();
  } catch (err) {
    if (pgCode(err) === PG_FOREIGN_KEY_VIOLATION) throw notFound(`Pool ${poolId}`);
    throw err;
  }
}

export async function listPendingTokens(db: Queryable, provider: string, poolId: string): Promise<SetupTokenInfo[]> {
  const pool = await db.query(`SELECT 1 FROM agent_pools WHERE pool_id = $1 AND provider_pubkey = $2`, [poolId, provider]);
  if (pool.rowCount === 0) throw notFound(`Pool ${poolId}`);
  return (
    await db.query<SetupTokenInfo>(
      `SELECT token_id, pool_id, label, created_at, expires_at FROM agent_setup_tokens
       WHERE pool_id = $1 AND used_at IS NULL AND expires_at > now()
       ORDER BY created_at DESC, token_id DESC`,
      [poolId],
    )
  ).rows;
}

/** Revokes an unused token. A used token has done its work: revoke the agent instead. */
export async function revokeSetupToken(db: Db, provider: string, tokenId: string): Promise<void> {
  return db.transaction((tx) => revokeSetupTokenIn(tx, provider, tokenId));
}

async function revokeSetupTokenIn(db: Queryable, provider: string, tokenId: string): Promise<void> {
  // The "unused" condition is on the deleted row itself, so it is re-checked after waiting for a
  // concurrent setup that holds the row: a token that setup just used is never reported revoked.
  const r = await db.query<{ pool_id: string; label: string | null }>(
    `DELETE FROM agent_setup_tokens t USING agent_pools p
     WHERE t.token_id = $1 AND t.pool_id = p.pool_id AND p.provider_pubkey = $2 AND t.used_at IS NULL
     RETURNING t.pool_id, t.label`,
    [tokenId, provider],
  );
  const revoked = r.rows[0];
  if (revoked) {
    await recordAudit(db, {
      provider, kind: 'token_revoked', actor: providerActor(provider),
      subject: { type: 'token', id: tokenId, pool_id: revoked.pool_id }, detail: { label: revoked.label },
    });
    return;
  }
  const used = await db.query(
    `SELECT 1 FROM agent_setup_tokens t JOIN agent_pools p ON p.pool_id = t.pool_id WHERE t.token_id = $1 AND p.provider_pubkey = $2`,
    [tokenId, provider],
  );
  if (used.rowCount === 0) throw notFound(`Setup token ${tokenId}`);
  throw fail('token_used', 'This token was already used; revoke the agent it registered instead.');
}

/** Deletes unused setup tokens that have expired (the sweeper); until then their users get 410, not 401. */
export async function deleteExpiredTokens(db: Queryable): Promise<number> {
  const r = await db.query(`DELETE FROM agent_setup_tokens WHERE used_at IS NULL AND expires_at < now()`);
  return r.rowCount;
}
