import { Type, type Static } from '@sinclair/typebox';
import { REGION_IDS, type RegionId } from '../regions.js';
import { FALLBACK_AFTER_MAX_SECONDS, LABEL, LIST_LIMIT_MAX, POOL_NAME, SETUP_TOKEN_MAX_HOURS, STATE_REASON_MAX } from '../limits.js';
import { DateTime, Nullable, NullableDateTime, ProvisionerType, RuleString } from './common.js';

export const RegionIdSchema = Type.Unsafe<RegionId>(Type.String({ enum: [...REGION_IDS], description: 'one of the seven region ids' }));

/** Fleet operations (DESIGN.md v3): pause, and where work goes when the pool cannot take it. */
const PoolFleetFields = {
  paused: Type.Optional(Type.Boolean({ description: 'true or false' })),
  fallback_pool_id: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 128, description: 'a pool id of this provider, or null' }))),
  fallback_after_seconds: Type.Optional(
    Nullable(Type.Integer({ minimum: 0, maximum: FALLBACK_AFTER_MAX_SECONDS, description: `a whole number of seconds from 0 to ${FALLBACK_AFTER_MAX_SECONDS}, or null (only when no agent of this pool can take work)` })),
  ),
  fallback_cross_region: Type.Optional(Type.Boolean({ description: 'true or false' })),
};
export const PoolCreate = Type.Object(
  { name: RuleString(POOL_NAME), location: RegionIdSchema, provisioner_type: ProvisionerType, ...PoolFleetFields },
  { additionalProperties: false },
);
export const PoolUpdate = Type.Partial(PoolCreate, {
  additionalProperties: false,
  minProperties: 1,
  description:
    'A partial update. The object GET returned is accepted as it is: its read-only fields (POOL_READ_ONLY_FIELDS) are ignored when pool_id, provider_pubkey and created_at match, and are 400 when they contradict them.',
});
export type PoolCreate = Static<typeof PoolCreate>;
export type PoolUpdate = Static<typeof PoolUpdate>;

export const Pool = Type.Object({
  pool_id: Type.String(),
  provider_pubkey: Type.String(),
  name: Type.String(),
  location: RegionIdSchema,
  provisioner_type: ProvisionerType,
  created_at: DateTime,
  agents_count: Type.Integer(),
  online_count: Type.Integer(),
  active_contracts: Type.Integer(),
  offerings_count: Type.Integer(),
  /** Stats' success_rate over the 24h window (0..1, null without attempts) and waiting contracts now. */
  success_rate_24h: Nullable(Type.Number()),
  waiting: Type.Integer(),
  /** Fleet operations (v3): no new provision grants while paused; fallback pool and its timer. */
  paused: Type.Boolean(),
  fallback_pool_id: Nullable(Type.String()),
  fallback_after_seconds: Nullable(Type.Integer()),
  fallback_cross_region: Type.Boolean(),
});
export type Pool = Static<typeof Pool>;

export const AGENT_STATES = ['active', 'draining'] as const;
export type AgentState = (typeof AGENT_STATES)[number];
export const AgentStateSchema = Type.Unsafe<AgentState>(Type.String({ enum: [...AGENT_STATES], description: 'active or draining' }));
export const STATE_SETTERS = ['provider', 'agent'] as const;
export type StateSetter = (typeof STATE_SETTERS)[number];

export const AGENT_STATUSES = ['online', 'offline', 'revoked'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];
export const AgentStatusSchema = Type.Unsafe<AgentStatus>(Type.String({ enum: [...AGENT_STATUSES] }));
export const PoolAgent = Type.Object({
  agent_pubkey: Type.String(),
  label: Nullable(Type.String()),
  status: AgentStatusSchema,
  version: Nullable(Type.String()),
  active_contracts: Type.Integer(),
  last_seen_at: NullableDateTime,
  created_at: DateTime,
  revoked_at: NullableDateTime,
  /** From the agent's heartbeats: its concurrency limit (null: never sent) and its own active count. */
  max_concurrent: Nullable(Type.Integer()),
  reported_active_contracts: Nullable(Type.Integer()),
  /** Fleet operations (v3). */
  pool_id: Nullable(Type.String()),
  state: AgentStateSchema,
  state_reason: Nullable(Type.String()),
  state_set_by: Nullable(Type.Unsafe<StateSetter>(Type.String({ enum: [...STATE_SETTERS] }))),
  /** Draining and holding no live lease: safe to stop. */
  drained: Type.Boolean(),
  /** Live leases of both actions (capacity counts provision leases only). */
  live_leases: Type.Integer(),
  consecutive_failures: Type.Integer(),
  cooldown_until: NullableDateTime,
  success_rate_24h: Nullable(Type.Number()),
  host_scope: Nullable(Type.String()),
});
export type PoolAgent = Static<typeof PoolAgent>;
/** PUT …/agents/{agent_pubkey}: the provider may set all three; the agent itself only state and reason. */
export const AgentUpdate = Type.Object(
  {
    state: Type.Optional(AgentStateSchema),
    reason: Type.Optional(Nullable(Type.String({ maxLength: STATE_REASON_MAX, description: `at most ${STATE_REASON_MAX} characters` }))),
    label: Type.Optional(RuleString(LABEL)),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type AgentUpdate = Static<typeof AgentUpdate>;
export const ORPHAN_REASONS = ['terminated', 'cancelled', 'unknown'] as const;
/** A tagged machine an agent reported whose contract ended (or is not known). */
export const Orphan = Type.Object({
  agent_pubkey: Type.String(),
  contract_id: Type.String(),
  reason: Type.Unsafe<(typeof ORPHAN_REASONS)[number]>(Type.String({ enum: [...ORPHAN_REASONS] })),
});
export type Orphan = Static<typeof Orphan>;
/** A provisioned contract of an agent whose machine is missing from its last inventory. */
export const Ghost = Type.Object({ agent_pubkey: Type.String(), contract_id: Type.String() });
export type Ghost = Static<typeof Ghost>;
export const PoolDetail = Type.Composite([
  Pool,
  Type.Object({
    agents: Type.Array(PoolAgent),
    orphans: Type.Array(Orphan),
    ghosts: Type.Array(Ghost),
    /** Teardowns of this pool's machines that no agent can take now (owner gone, no agent of the same host_scope). */
    teardowns_waiting: Type.Integer(),
  }),
]);
export type PoolDetail = Static<typeof PoolDetail>;
/** Fields of a pool's detail that a PUT cannot set (a GET → PUT round trip may carry them). */
export const POOL_READ_ONLY_FIELDS = Object.keys(PoolDetail.properties).filter((k) => !(k in PoolUpdate.properties)) as (keyof PoolDetail)[];
/** Pool detail with fewer agents: the dashboard pages them with listPoolAgents and asks for none here. */
export const PoolDetailQuery = Type.Object({
  agents_limit: Type.Optional(Type.Integer({ minimum: 0, maximum: LIST_LIMIT_MAX, description: `0 to ${LIST_LIMIT_MAX}; omitted: every agent` })),
});
export type PoolDetailQuery = Static<typeof PoolDetailQuery>;
/** One page of a pool's agents (ordered by label, then key), filtered by status and a label/key search. */
export const PoolAgentListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIST_LIMIT_MAX, description: `1 to ${LIST_LIMIT_MAX}` })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
  status: Type.Optional(AgentStatusSchema),
  q: Type.Optional(Type.String({ maxLength: 200 })),
});
export type PoolAgentListQuery = Static<typeof PoolAgentListQuery>;

export const SetupTokenCreate = Type.Object(
  {
    label: Type.Optional(RuleString(LABEL)),
    expires_in_hours: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: SETUP_TOKEN_MAX_HOURS, description: `a number of hours above 0 and at most ${SETUP_TOKEN_MAX_HOURS}` }),
    ),
  },
  { additionalProperties: false },
);
export type SetupTokenCreate = Static<typeof SetupTokenCreate>;
export const SetupTokenInfo = Type.Object({
  token_id: Type.String(),
  pool_id: Type.String(),
  label: Nullable(Type.String()),
  created_at: DateTime,
  expires_at: DateTime,
});
export type SetupTokenInfo = Static<typeof SetupTokenInfo>;
/** `api_url` and `server_key` are the fields the one-liner is built from (core `setupOneLiner`), so clients build other forms of it without parsing it. */
export const SetupTokenCreated = Type.Composite([
  SetupTokenInfo,
  Type.Object({ token: Type.String(), setup_command: Type.String(), api_url: Type.String(), server_key: Type.String() }),
]);
export type SetupTokenCreated = Static<typeof SetupTokenCreated>;
