import { Type, type Static } from '@sinclair/typebox';
import { REGION_IDS, type RegionId } from '../regions.js';
import { LABEL, POOL_NAME, SETUP_TOKEN_MAX_HOURS } from '../limits.js';
import { DateTime, Nullable, NullableDateTime, ProvisionerType, RuleString } from './common.js';

export const RegionIdSchema = Type.Unsafe<RegionId>(Type.String({ enum: [...REGION_IDS], description: 'one of the seven region ids' }));

export const PoolCreate = Type.Object(
  { name: RuleString(POOL_NAME), location: RegionIdSchema, provisioner_type: ProvisionerType },
  { additionalProperties: false },
);
export const PoolUpdate = Type.Partial(PoolCreate, { additionalProperties: false, minProperties: 1 });
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
});
export type Pool = Static<typeof Pool>;

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
});
export type PoolAgent = Static<typeof PoolAgent>;
export const PoolDetail = Type.Composite([Pool, Type.Object({ agents: Type.Array(PoolAgent) })]);
export type PoolDetail = Static<typeof PoolDetail>;

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
