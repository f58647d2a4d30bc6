import { Type, type Static } from '@sinclair/typebox';
import { CONTRACT_STATUSES, PAYMENT_STATUSES, WORK_ACTIONS, type ContractStatus, type PaymentStatus, type WorkAction } from '../contract-states.js';
import { HANDOFF_NOTE_MAX, HOSTNAME, OFFERING_ID, OS_IMAGE } from '../limits.js';
import { AnyObject, DateTime, Nullable, NullableDateTime, Pubkey, RuleString } from './common.js';
import { ListQuery } from './offerings.js';
import { RegionIdSchema } from './pools.js';

export const ContractStatusSchema = Type.Unsafe<ContractStatus>(Type.String({ enum: [...CONTRACT_STATUSES] }));
export const PaymentStatusSchema = Type.Unsafe<PaymentStatus>(Type.String({ enum: [...PAYMENT_STATUSES] }));

export const InstanceConfig = Type.Object(
  {
    hostname: Type.Optional(RuleString(HOSTNAME)),
    os_image: Type.Optional(RuleString(OS_IMAGE)),
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
    offering_id: RuleString(OFFERING_ID),
    ssh_pubkey: Type.Optional(Type.String({ minLength: 1, maxLength: 8192, description: 'one line of OpenSSH public key' })),
    instance_config: Type.Optional(InstanceConfig),
  },
  { additionalProperties: false },
);
export type ContractCreate = Static<typeof ContractCreate>;

export const PAYMENT_OUTCOMES = ['succeeded', 'failed', 'refunded'] as const satisfies readonly PaymentStatus[];
export type PaymentOutcome = (typeof PAYMENT_OUTCOMES)[number];
export const PaymentInput = Type.Object(
  { status: Type.Unsafe<PaymentOutcome>(Type.String({ enum: [...PAYMENT_OUTCOMES], description: 'succeeded, failed or refunded' })) },
  { additionalProperties: false },
);
export type PaymentInput = Static<typeof PaymentInput>;

export const Contract = Type.Object({
  contract_id: Type.String(),
  provider_pubkey: Type.String(),
  offering_id: Type.String(),
  customer_pubkey: Type.String(),
  status: ContractStatusSchema,
  payment_status: PaymentStatusSchema,
  created_at: DateTime,
  updated_at: DateTime,
  lock_agent: Nullable(Type.String()),
  /** The lock holder's label (null when it has none or no lease is held), so lists need no agent lookup. */
  lock_agent_label: Nullable(Type.String()),
  lock_token: Type.Integer(),
  lock_expires_at: NullableDateTime,
  attempts: Type.Integer(),
  next_attempt_at: NullableDateTime,
  last_error: Nullable(Type.String()),
  provisioned_by: Nullable(Type.String()),
  provisioned_by_label: Nullable(Type.String()),
  provisioned_at: NullableDateTime,
  instance_details: Nullable(AnyObject),
  /** v3 teardown: the pool whose agent built the machine (teardowns route by it), the agent that owns its teardown (sticky owner), the hypervisor scope it lives in. */
  provisioned_pool_id: Nullable(Type.String()),
  teardown_owner: Nullable(Type.String()),
  host_scope: Nullable(Type.String()),
  /** A teardown handed off to a person (manual): the provider confirms it with …/terminated. */
  teardown_handed_off: Type.Boolean(),
  terminated_at: NullableDateTime,
  /** The agent that confirmed the teardown, or the provider who marked it terminated by hand. */
  terminated_by: Nullable(Type.String()),
  ssh_pubkey: Nullable(Type.String()),
  instance_config: Nullable(AnyObject),
  offering_name: Nullable(Type.String()),
  datacenter_region: Nullable(RegionIdSchema),
  resolved_pool_id: Nullable(Type.String()),
  /** Fleet operations (v3): the pool the offering routes to now (= resolved_pool_id), and the pool of the agent holding (or last granted) the lease. */
  routed_pool_id: Nullable(Type.String()),
  lease_pool_id: Nullable(Type.String()),
});
export type Contract = Static<typeof Contract>;

export const ContractListQuery = Type.Composite([ListQuery, Type.Object({ status: Type.Optional(ContractStatusSchema) })]);
export type ContractListQuery = Static<typeof ContractListQuery>;
/** Contracts counted exactly up to this many matches; beyond, `total` is the planner's estimate. */
export const CONTRACT_COUNT_EXACT_MAX = 10_000;
export const ContractPage = Type.Object({
  items: Type.Array(Contract),
  total: Type.Integer(),
  /** Present and true when more than CONTRACT_COUNT_EXACT_MAX match: `total` is then an estimate ("about"). */
  total_estimated: Type.Optional(Type.Boolean()),
});
export type ContractPage = Static<typeof ContractPage>;

export const CONTRACT_EVENTS = [
  'granted', 'renewed', 'released', 'expired', 'provisioned', 'failed', 'handed_off', 'cancelled', 'retried',
  'terminate_requested', 'terminated', 'termination_failed',
] as const;
export type ContractEventKind = (typeof CONTRACT_EVENTS)[number];
export const WorkActionSchema = Type.Unsafe<WorkAction>(Type.String({ enum: [...WORK_ACTIONS], description: 'provision or terminate' }));
export const ContractEvent = Type.Object({
  event_id: Type.Integer(),
  at: DateTime,
  event: Type.Unsafe<ContractEventKind>(Type.String({ enum: [...CONTRACT_EVENTS] })),
  /** Whether the event belongs to building the machine or tearing it down. */
  action: WorkActionSchema,
  agent_pubkey: Nullable(Type.String()),
  lock_token: Type.Integer(),
  detail: Nullable(Type.String()),
  /** On `granted`: the grantee's pool is a fallback of the routed pool. */
  via_fallback: Type.Optional(Type.Boolean()),
});
export type ContractEvent = Static<typeof ContractEvent>;

/** Provider's POST …/contracts/{id}/terminate. */
export const TerminateInput = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: HANDOFF_NOTE_MAX, description: `at most ${HANDOFF_NOTE_MAX} characters` })) },
  { additionalProperties: false },
);
export type TerminateInput = Static<typeof TerminateInput>;
