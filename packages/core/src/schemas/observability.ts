// Pool statistics and the audit log (DESIGN.md "Observability and audit (v3)").
import { Type, type Static } from '@sinclair/typebox';
import { AnyObject, DateTime, Nullable } from './common.js';

export const STATS_WINDOWS = ['1h', '24h', '7d'] as const;
export type StatsWindow = (typeof STATS_WINDOWS)[number];
/** Window lengths in seconds; each window is drawn as 60 epoch-aligned buckets of a sixtieth of it. */
export const STATS_WINDOW_SECONDS: Record<StatsWindow, number> = { '1h': 3600, '24h': 86_400, '7d': 604_800 };
export const STATS_BUCKETS = 60;

export const StatsQuery = Type.Object(
  { window: Type.Optional(Type.Unsafe<StatsWindow>(Type.String({ enum: [...STATS_WINDOWS], description: 'one of 1h, 24h or 7d' }))) },
  { additionalProperties: false },
);
export type StatsQuery = Static<typeof StatsQuery>;

const NullableNumber = Nullable(Type.Number());
export const StatsBucket = Type.Object({ t: DateTime, provisioned: Type.Integer(), failed: Type.Integer() });
export type StatsBucket = Static<typeof StatsBucket>;
export const PoolStats = Type.Object({
  window: Type.Unsafe<StatsWindow>(Type.String({ enum: [...STATS_WINDOWS] })),
  bucket_seconds: Type.Integer(),
  /** Start of the first bucket and end of the last (which contains now). */
  from: DateTime,
  to: DateTime,
  provisioned: Type.Integer(),
  terminated: Type.Integer(),
  failed_attempts: Type.Integer(),
  /** Expired provision leases not later confirmed with the same token. */
  expired_leases: Type.Integer(),
  /** 0..1; null without attempts. */
  success_rate: NullableNumber,
  time_to_provision_ms: Type.Object({ p50: NullableNumber, p95: NullableNumber, max: NullableNumber }),
  waiting: Type.Integer(),
  oldest_waiting_seconds: NullableNumber,
  /** 60 buckets, oldest first; failed = failed attempts + unconfirmed expiries. */
  series: Type.Array(StatsBucket),
});
export type PoolStats = Static<typeof PoolStats>;

export const AUDIT_KINDS = [
  'pool_created', 'pool_updated', 'pool_deleted', 'token_created', 'token_revoked', 'agent_setup', 'agent_revoked',
  'agent_state_changed', 'agent_cooldown', 'agent_health_reset', 'offerings_imported', 'offering_created',
  'offering_updated', 'offering_deleted', 'contract_accepted', 'contract_rejected', 'contract_cancelled',
  'contract_retried', 'contract_terminated_by_hand', 'payment_recorded', 'terminate_requested',
] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];
export const ACTOR_KINDS = ['provider', 'agent', 'customer', 'operator', 'system'] as const;
export type ActorKind = (typeof ACTOR_KINDS)[number];
export const AUDIT_SUBJECT_TYPES = ['pool', 'token', 'agent', 'offering', 'contract', 'provider'] as const;
export type AuditSubjectType = (typeof AUDIT_SUBJECT_TYPES)[number];
export const AUDIT_LIMIT_MAX = 500;
export const AUDIT_LIMIT_DEFAULT = 100;

const AuditKindSchema = Type.Unsafe<AuditKind>(Type.String({ enum: [...AUDIT_KINDS], description: 'one of the audit kinds' }));
export const AuditSubject = Type.Object({
  type: Type.Unsafe<AuditSubjectType>(Type.String({ enum: [...AUDIT_SUBJECT_TYPES] })),
  id: Type.String(),
  /** The pool the subject belongs to (pools, tokens, agents), for links; else null. */
  pool_id: Nullable(Type.String()),
});
export type AuditSubject = Static<typeof AuditSubject>;
export const AuditEvent = Type.Object({
  id: Type.Integer(),
  at: DateTime,
  kind: AuditKindSchema,
  actor_kind: Type.Unsafe<ActorKind>(Type.String({ enum: [...ACTOR_KINDS] })),
  actor_pubkey: Nullable(Type.String()),
  subject: AuditSubject,
  detail: Nullable(AnyObject),
});
export type AuditEvent = Static<typeof AuditEvent>;
export const AuditPage = Type.Object({ items: Type.Array(AuditEvent), next_before: Nullable(Type.Integer()) });
export type AuditPage = Static<typeof AuditPage>;

const AuditCursor = Type.Integer({ minimum: 0, description: 'an audit event id (a whole number)' });
export const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: AUDIT_LIMIT_MAX, description: `a whole number from 1 to ${AUDIT_LIMIT_MAX}` })),
    before: Type.Optional(AuditCursor),
    after: Type.Optional(AuditCursor),
    kind: Type.Optional(AuditKindSchema),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;
