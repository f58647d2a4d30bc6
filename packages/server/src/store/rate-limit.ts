// Fixed one-minute windows counted in the database, so every replica sees the same count.
import type { Queryable } from '../db/db.js';
import { rateLimited } from '../errors.js';
import { RATE_LIMIT_KEEP_SECONDS, RATE_LIMIT_WINDOW_SECONDS } from '../timing.js';

/** Counts one attempt in `bucket` and throws 429 once the minute's limit is passed. */
export async function hitRateLimit(db: Queryable, bucket: string, perMinute: number): Promise<void> {
  // One upsert: the increment and the read of the new count cannot interleave between replicas.
  const r = await db.query<{ hits: number; retry_after: number }>(
    `INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, date_trunc('minute', now()), 1)
     ON CONFLICT (bucket, window_start) DO UPDATE SET hits = rate_limits.hits + 1
     RETURNING hits, GREATEST(1, ceil(extract(epoch FROM (window_start + make_interval(secs => ${RATE_LIMIT_WINDOW_SECONDS}) - now()))))::int AS retry_after`,
    [bucket],
  );
  const row = r.rows[0]!;
  if (row.hits > perMinute) throw rateLimited(row.retry_after);
}

/** Deletes windows that no longer count; returns how many. */
export async function pruneRateLimits(db: Queryable): Promise<number> {
  const r = await db.query(`DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => ${RATE_LIMIT_KEEP_SECONDS})`);
  return r.rowCount;
}
