// Operational reads: what /readyz needs to know about the database.
import type { Db } from '../db/db.js';

/** How many migrations the database has applied (throws when the database is unreachable). */
export async function appliedMigrations(db: Db): Promise<number> {
  const r = await db.probe<{ n: number }>(`SELECT count(*)::int AS n FROM schema_migrations`);
  return r.rows[0]?.n ?? 0;
}
