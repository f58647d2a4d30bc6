// The audit log (DESIGN.md "Observability and audit (v3)"): who changed what. `recordAudit` is the
// one writer; each store function that makes an audited change calls it with its own transaction,
// so a change and its row commit or roll back together.
import {
  AUDIT_LIMIT_DEFAULT, type ActorKind, type AuditEvent, type AuditKind, type AuditPage, type AuditQuery, type AuditSubjectType,
} from '@dc/core';
import type { Queryable } from '../db/db.js';

export interface Actor {
  kind: ActorKind;
  /** The signing key; null for the system. */
  pubkey: string | null;
}
export const providerActor = (pubkey: string): Actor => ({ kind: 'provider', pubkey });
export const agentActor = (pubkey: string): Actor => ({ kind: 'agent', pubkey });

export interface AuditEntry {
  provider: string;
  kind: AuditKind;
  actor: Actor;
  subject: { type: AuditSubjectType; id: string; pool_id?: string | null };
  detail?: Record<string, unknown> | null;
}

/** Writes one audit row inside `tx`, the transaction of the change it records. */
export async function recordAudit(tx: Queryable, e: AuditEntry): Promise<void> {
  await tx.query(
    `INSERT INTO audit_events (provider_pubkey, kind, actor_kind, actor_pubkey, subject_type, subject_id, subject_pool_id, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      e.provider, e.kind, e.actor.kind, e.actor.pubkey, e.subject.type, e.subject.id, e.subject.pool_id ?? null,
      e.detail == null ? null : JSON.stringify(e.detail),
    ],
    { prepare: true },
  );
}

interface AuditRow {
  id: string;
  at: Date;
  kind: AuditKind;
  actor_kind: ActorKind;
  actor_pubkey: string | null;
  subject_type: AuditSubjectType;
  subject_id: string;
  subject_pool_id: string | null;
  detail: Record<string, unknown> | null;
}

/**
 * Newest first. `before`: the `limit` newest rows older than it; `after`: the `limit` oldest rows
 * newer than it (tailing), still answered newest first. Index: audit_events_provider(_kind)_idx.
 */
export async function listAudit(db: Queryable, provider: string, q: AuditQuery): Promise<AuditPage> {
  const limit = q.limit ?? AUDIT_LIMIT_DEFAULT;
  const tail = q.after !== undefined;
  const r = await db.query<AuditRow>(
    `SELECT id, at, kind, actor_kind, actor_pubkey, subject_type, subject_id, subject_pool_id, detail FROM audit_events
     WHERE provider_pubkey = $1 AND ($2::text IS NULL OR kind = $2)
       AND ($3::bigint IS NULL OR id < $3) AND ($4::bigint IS NULL OR id > $4)
     ORDER BY id ${tail ? 'ASC' : 'DESC'} LIMIT $5`,
    [provider, q.kind ?? null, q.before ?? null, q.after ?? null, limit + 1],
  );
  const more = r.rows.length > limit;
  const rows = r.rows.slice(0, limit);
  if (tail) rows.reverse();
  const items = rows.map(toEvent);
  // Paging back from a tail page starts below its oldest row, so next_before is set whenever older rows may exist.
  const oldest = items.at(-1);
  const nextBefore = oldest && (tail ? await hasOlder(db, provider, q.kind, oldest.id) : more) ? oldest.id : null;
  return { items, next_before: nextBefore };
}

async function hasOlder(db: Queryable, provider: string, kind: AuditKind | undefined, id: number): Promise<boolean> {
  const r = await db.query(
    `SELECT 1 FROM audit_events WHERE provider_pubkey = $1 AND ($2::text IS NULL OR kind = $2) AND id < $3 LIMIT 1`,
    [provider, kind ?? null, id],
  );
  return r.rowCount > 0;
}

function toEvent(r: AuditRow): AuditEvent {
  return {
    id: Number(r.id),
    at: new Date(r.at).toISOString(),
    kind: r.kind,
    actor_kind: r.actor_kind,
    actor_pubkey: r.actor_pubkey,
    subject: { type: r.subject_type, id: r.subject_id, pool_id: r.subject_pool_id },
    detail: typeof r.detail === 'string' ? (JSON.parse(r.detail) as Record<string, unknown>) : r.detail,
  };
}

/** Retention (DC_AUDIT_RETENTION_DAYS): deletes rows older than `days`; returns how many. */
export async function deleteOldAudit(db: Queryable, days: number): Promise<number> {
  const r = await db.query(`DELETE FROM audit_events WHERE at < now() - make_interval(days => $1)`, [days]);
  return r.rowCount;
}
