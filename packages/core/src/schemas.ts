// API schemas: one object per request/response shape. The server validates and serializes with
// them and publishes them as OpenAPI; the agent and dashboard import the same types.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** `T | null` as a JSON-schema type array (OpenAPI 3.1; fast to serialize, unlike anyOf). */
export function Nullable<T extends TSchema>(schema: T) {
  const { type } = schema as unknown as { type: string };
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] });
}

export const PUBKEY_PATTERN = '^[0-9a-f]{64}$';
export const POOL_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
export const OFFERING_ID_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
export const LABEL_PATTERN = '^[A-Za-z0-9._ -]{1,64}$';
export const VERSION_PATTERN = '^[0-9A-Za-z.+-]{1,32}$';
export const HOSTNAME_PATTERN = '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$';
export const OS_IMAGE_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

export const Pubkey = Type.String({ pattern: PUBKEY_PATTERN, description: '64 lowercase hex characters' });
const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = Nullable(DateTime);

export const ProvisionerType = Type.Union([Type.Literal('proxmox'), Type.Literal('script'), Type.Literal('manual')]);
export type ProvisionerType = Static<typeof ProvisionerType>;

export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});
export type ErrorBody = Static<typeof ErrorBody>;

// ---- providers -------------------------------------------------------------------------------
export const ProviderInput = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f]+$' }) },
  { additionalProperties: false },
);
export const Provider = Type.Object({
  pubkey: Type.String(),
  name: Type.String(),
  created_at: DateTime,
  updated_at: DateTime,
});
export type Provider = Static<typeof Provider>;

// ---- pools ----------------------------------------------------------------------------------
export const PoolCreate = Type.Object(
  {
    name: Type.String({ pattern: POOL_NAME_PATTERN }),
    location: Type.String({ enum: ['europe', 'na', 'latam', 'apac', 'mena', 'ssa', 'cis'] }),
    provisioner_type: Type.String({ enum: ['proxmox', 'script', 'manual'] }),
  },
  { additionalProperties: false },
);
export const PoolUpdate = Type.Partial(PoolCreate, { additionalProperties: false, minProperties: 1 });
export type PoolCreate = Static<typeof PoolCreate>;
export type PoolUpdate = Static<typeof PoolUpdate>;

export const Pool = Type.Object({
  pool_id: Type.String(),
  provider_pubkey: Type.String(),
  name: Type.String(),
  location: Type.String(),
  provisioner_type: Type.String(),
  created_at: DateTime,
  agents_count: Type.Integer(),
  online_count: Type.Integer(),
  active_contracts: Type.Integer(),
  offerings_count: Type.Integer(),
});
export type Pool = Static<typeof Pool>;

export const AgentStatus = Type.String({ enum: ['online', 'offline', 'revoked'] });
export const PoolAgent = Type.Object({
  agent_pubkey: Type.String(),
  label: Nullable(Type.String()),
  status: AgentStatus,
  version: Nullable(Type.String()),
  active_contracts: Type.Integer(),
  last_seen_at: NullableDateTime,
  created_at: DateTime,
  revoked_at: NullableDateTime,
});
export type PoolAgent = Static<typeof PoolAgent>;
export const PoolDetail = Type.Composite([Pool, Type.Object({ agents: Type.Array(PoolAgent) })]);
export type PoolDetail = Static<typeof PoolDetail>;

// ---- setup tokens -----------------------------------------------------------------------------
export const SetupTokenCreate = Type.Object(
  {
    label: Type.Optional(Type.String({ pattern: LABEL_PATTERN })),
    expires_in_hours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 720 })),
  },
  { additionalProperties: false },
);
export const SetupTokenInfo = Type.Object({
  token_id: Type.String(),
  pool_id: Type.String(),
  label: Nullable(Type.String()),
  created_at: DateTime,
  expires_at: DateTime,
});
export type SetupTokenInfo = Static<typeof SetupTokenInfo>;
export const SetupTokenCreated = Type.Composite([
  SetupTokenInfo,
  Type.Object({ token: Type.String(), setup_command: Type.String() }),
]);
export type SetupTokenCreated = Static<typeof SetupTokenCreated>;

// ---- agents -------------------------------------------------------------------------------------
export const PERMISSIONS = ['fetch_contracts', 'heartbeat', 'provision'] as const;
export const AgentSetupInput = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 256 }),
    agent_pubkey: Pubkey,
    label: Type.Optional(Type.String({ pattern: LABEL_PATTERN })),
  },
  { additionalProperties: false },
);
export type AgentSetupInput = Static<typeof AgentSetupInput>;
export const Delegation = Type.Object({
  provider_pubkey: Type.String(),
  agent_pubkey: Type.String(),
  pool_id: Type.String(),
  permissions: Type.Array(Type.String()),
  issued_at: Type.String(),
});
export type Delegation = Static<typeof Delegation>;
export const AgentSetupResult = Type.Object({
  provider_pubkey: Type.String(),
  pool_id: Type.String(),
  pool_name: Type.String(),
  pool_location: Type.String(),
  provisioner_type: Type.String(),
  permissions: Type.Array(Type.String()),
  delegation: Delegation,
  delegation_signature: Type.String(),
});
export type AgentSetupResult = Static<typeof AgentSetupResult>;

export const HeartbeatInput = Type.Object({
  version: Type.String({ pattern: VERSION_PATTERN }),
  provisioner_type: Type.Optional(Type.String({ enum: ['proxmox', 'script', 'manual'] })),
  active_contracts: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  capabilities: Type.Optional(Type.Object({}, { additionalProperties: true })),
});
export type HeartbeatInput = Static<typeof HeartbeatInput>;
export const HeartbeatResult = Type.Object({
  acknowledged: Type.Boolean(),
  pool_id: Nullable(Type.String()),
  pool_name: Nullable(Type.String()),
  next_heartbeat_seconds: Type.Integer(),
});
export type HeartbeatResult = Static<typeof HeartbeatResult>;

export const ServerKey = Type.Object({ public_key: Type.String() });

// ---- offerings --------------------------------------------------------------------------------
const offeringFields = {
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f]+$' }),
  product_type: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000-\\u001f]+$' }),
  datacenter_country: Type.String({ pattern: '^[A-Za-z]{2}$' }),
  monthly_price: Type.Number({ minimum: 0, maximum: 9_999_999_999.99 }),
  currency: Type.String({ pattern: '^[A-Za-z]{3}$' }),
  provisioner_type: Type.Optional(Type.String({ enum: ['proxmox', 'script', 'manual'] })),
  provisioner_config: Type.Optional(Nullable(Type.Object({}, { additionalProperties: true }))),
  agent_pool_id: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 128 }))),
  status: Type.Optional(Type.String({ enum: ['active', 'inactive'] })),
};
export const OfferingCreate = Type.Object(
  { offering_id: Type.String({ pattern: OFFERING_ID_PATTERN }), ...offeringFields },
  { additionalProperties: false },
);
export type OfferingCreate = Static<typeof OfferingCreate>;
export const OfferingUpdate = Type.Partial(Type.Object(offeringFields), { additionalProperties: false, minProperties: 1 });
export type OfferingUpdate = Static<typeof OfferingUpdate>;

export const PoolMatch = Type.String({ enum: ['explicit', 'location', 'none'] });
export const Offering = Type.Object({
  offering_id: Type.String(),
  provider_pubkey: Type.String(),
  name: Type.String(),
  product_type: Type.String(),
  datacenter_country: Type.String(),
  datacenter_region: Type.String(),
  monthly_price: Type.Number(),
  currency: Type.String(),
  provisioner_type: Type.String(),
  provisioner_config: Nullable(Type.Object({}, { additionalProperties: true })),
  agent_pool_id: Nullable(Type.String()),
  resolved_pool_id: Nullable(Type.String()),
  pool_match: PoolMatch,
  status: Type.String(),
  created_at: DateTime,
  updated_at: DateTime,
});
export type Offering = Static<typeof Offering>;

export const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
});
export const OfferingListQuery = Type.Composite([
  ListQuery,
  Type.Object({
    pool_id: Type.Optional(Type.String({ maxLength: 128 })),
    product_type: Type.Optional(Type.String({ maxLength: 64 })),
    status: Type.Optional(Type.String({ enum: ['active', 'inactive'] })),
    q: Type.Optional(Type.String({ maxLength: 200 })),
  }),
]);
export type OfferingListQuery = Static<typeof OfferingListQuery>;

export const CsvImportResult = Type.Object({
  imported: Type.Integer(),
  created: Type.Integer(),
  updated: Type.Integer(),
});
export const CsvRowError = Type.Object({ line: Type.Integer(), field: Nullable(Type.String()), message: Type.String() });
export type CsvRowError = Static<typeof CsvRowError>;
/** 400 `invalid_csv`: the error object also lists every bad row (the serializer drops unlisted fields). */
export const CsvImportErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), rows: Type.Optional(Type.Array(CsvRowError)) }),
});
export type CsvImportErrorBody = Static<typeof CsvImportErrorBody>;

// ---- contracts ---------------------------------------------------------------------------------
export const CONTRACT_STATUSES = [
  'requested',
  'accepted',
  'rejected',
  'provisioning',
  'provisioned',
  'provisioning_failed',
  'cancelled',
] as const;
export type ContractStatus = (typeof CONTRACT_STATUSES)[number];
export const PAYMENT_STATUSES = ['pending', 'succeeded', 'failed', 'refunded'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const InstanceConfig = Type.Object(
  {
    hostname: Type.Optional(Type.String({ pattern: HOSTNAME_PATTERN })),
    os_image: Type.Optional(Type.String({ pattern: OS_IMAGE_PATTERN })),
    cpu_cores: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
    memory_mb: Type.Optional(Type.Integer({ minimum: 1, maximum: 16_777_216 })),
    disk_gb: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_048_576 })),
  },
  { additionalProperties: false },
);
export type InstanceConfig = Static<typeof InstanceConfig>;

export const ContractCreate = Type.Object(
  {
    provider_pubkey: Pubkey,
    offering_id: Type.String({ pattern: OFFERING_ID_PATTERN }),
    ssh_pubkey: Type.Optional(Type.String({ minLength: 1, maxLength: 8192 })),
    instance_config: Type.Optional(InstanceConfig),
  },
  { additionalProperties: false },
);
export type ContractCreate = Static<typeof ContractCreate>;

export const PaymentInput = Type.Object(
  { status: Type.String({ enum: ['succeeded', 'failed', 'refunded'] }) },
  { additionalProperties: false },
);

export const Contract = Type.Object({
  contract_id: Type.String(),
  provider_pubkey: Type.String(),
  offering_id: Type.String(),
  customer_pubkey: Type.String(),
  status: Type.String({ enum: [...CONTRACT_STATUSES] }),
  payment_status: Type.String({ enum: [...PAYMENT_STATUSES] }),
  created_at: DateTime,
  updated_at: DateTime,
  lock_agent: Nullable(Type.String()),
  lock_token: Type.Integer(),
  lock_expires_at: NullableDateTime,
  attempts: Type.Integer(),
  next_attempt_at: NullableDateTime,
  last_error: Nullable(Type.String()),
  provisioned_by: Nullable(Type.String()),
  provisioned_at: NullableDateTime,
  instance_details: Nullable(Type.Object({}, { additionalProperties: true })),
  ssh_pubkey: Nullable(Type.String()),
  instance_config: Nullable(Type.Object({}, { additionalProperties: true })),
  offering_name: Nullable(Type.String()),
  datacenter_region: Nullable(Type.String()),
  resolved_pool_id: Nullable(Type.String()),
});
export type Contract = Static<typeof Contract>;

export const ContractListQuery = Type.Composite([
  ListQuery,
  Type.Object({ status: Type.Optional(Type.String({ enum: [...CONTRACT_STATUSES] })) }),
]);

export function listOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item) });
}
export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), total: Type.Integer() });
}

export const ContractEvent = Type.Object({
  event_id: Type.Integer(),
  at: DateTime,
  event: Type.String({ enum: ['granted', 'renewed', 'released', 'expired', 'provisioned', 'failed', 'handed_off', 'cancelled', 'retried'] }),
  agent_pubkey: Nullable(Type.String()),
  lock_token: Type.Integer(),
  detail: Nullable(Type.String()),
});
export type ContractEvent = Static<typeof ContractEvent>;
