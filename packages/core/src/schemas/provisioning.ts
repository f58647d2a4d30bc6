// The agent's work: pending-provision and claim items, and the lease calls' bodies.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  CLAIM_EXCLUDE_MAX, CLAIM_MAX, CONTRACT_ID_MAX, ERROR_MESSAGE_MAX, HANDOFF_NOTE_MAX, PENDING_LIMIT_MAX, WAIT_MAX_SECONDS,
} from '../limits.js';
import { AnyObject, ContractId, ErrorBody, Nullable } from './common.js';
import { Contract, WorkActionSchema } from './contracts.js';
import { WORK_ACTIONS } from '../contract-states.js';

/** A contract an agent may work on, with what it needs to provision it. */
export const WorkItem = Type.Composite([
  Contract,
  Type.Object({
    /** `provision`: build the machine; `terminate`: destroy what carries this contract's tag (instance_details, provisioned_by say what was built). */
    action: WorkActionSchema,
    /** The provisioner to use: the offering's for a provision, the one recorded at provisioning for a teardown. */
    provisioner_type: Nullable(Type.String()),
    provisioner_config: Nullable(AnyObject),
    lock_ttl_seconds: Type.Integer(),
    /** The lease was granted to an agent of a fallback pool of the routed pool (lease_pool_id ≠ routed_pool_id). */
    via_fallback: Type.Boolean(),
  }),
]);
export type WorkItem = Static<typeof WorkItem>;

const Wait = Type.Optional(Type.Integer({ minimum: 0, maximum: WAIT_MAX_SECONDS, description: `seconds to hold an empty answer, 0 to ${WAIT_MAX_SECONDS}` }));
export const LockToken = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'the fencing token of your lease' });
export const InstanceDetails = Type.Object({}, { additionalProperties: true, description: 'instance details shown to the customer' });

/** Which work a client takes: `provision,terminate` asks for teardowns too; default provision only (older clients never see a teardown). */
export const ACTIONS_QUERY_PATTERN = '^(provision|terminate)(,(provision|terminate))?$';
export const PendingProvisionQuery = Type.Object({
  actions: Type.Optional(Type.String({ pattern: ACTIONS_QUERY_PATTERN, description: 'a comma-separated list of provision and terminate, e.g. provision,terminate' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PENDING_LIMIT_MAX, description: `1 to ${PENDING_LIMIT_MAX}` })),
  wait: Wait,
});
export type PendingProvisionQuery = Static<typeof PendingProvisionQuery>;
export const WaitQuery = Type.Object({ wait: Wait });
export type WaitQuery = Static<typeof WaitQuery>;

export const ClaimInput = Type.Object(
  {
    max: Type.Optional(Type.Integer({ minimum: 1, maximum: CLAIM_MAX, description: `1 to ${CLAIM_MAX}` })),
    exclude: Type.Optional(Type.Array(Type.String({ maxLength: CONTRACT_ID_MAX }), { maxItems: CLAIM_EXCLUDE_MAX })),
    /** Default ["provision"]. With both, teardowns come first; `max` bounds the total. */
    actions: Type.Optional(Type.Array(WorkActionSchema, { minItems: 1, maxItems: WORK_ACTIONS.length, uniqueItems: true, description: 'provision and/or terminate, each at most once' })),
  },
  { additionalProperties: false },
);
export type ClaimInput = Static<typeof ClaimInput>;

export const LockInput = Type.Object({ lock_token: Type.Optional(LockToken) }, { additionalProperties: false });
export type LockInput = Static<typeof LockInput>;
export const ReleaseInput = Type.Object({ lock_token: LockToken }, { additionalProperties: false });
export type ReleaseInput = Static<typeof ReleaseInput>;
/** Agents send lock_token; a provider completing a handed-off contract sends none. */
export const ProvisionedInput = Type.Object({ lock_token: Type.Optional(LockToken), instance_details: InstanceDetails }, { additionalProperties: false });
export type ProvisionedInput = Static<typeof ProvisionedInput>;
export const ERROR_CLASSES = ['agent', 'contract'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];
/** `agent` (default): the agent or its host is at fault and the failure counts toward its cool-down; `contract`: the contract's own input is. */
export const ErrorClassSchema = Type.Unsafe<ErrorClass>(Type.String({ enum: [...ERROR_CLASSES], description: 'agent or contract' }));
export const FailedInput = Type.Object(
  { lock_token: Type.Optional(LockToken), error_message: Type.String({ minLength: 1, maxLength: ERROR_MESSAGE_MAX }), error_class: Type.Optional(ErrorClassSchema) },
  { additionalProperties: false },
);
export type FailedInput = Static<typeof FailedInput>;
export const HandoffInput = Type.Object(
  { lock_token: LockToken, note: Type.Optional(Type.String({ maxLength: HANDOFF_NOTE_MAX })) },
  { additionalProperties: false },
);
export type HandoffInput = Static<typeof HandoffInput>;
/** POST …/contracts/{id}/terminated: an agent sends its lease's lock_token; a provider marking it by hand sends none (an optional note). */
export const TerminatedInput = Type.Object(
  { lock_token: Type.Optional(LockToken), note: Type.Optional(Type.String({ maxLength: HANDOFF_NOTE_MAX, description: `at most ${HANDOFF_NOTE_MAX} characters` })) },
  { additionalProperties: false },
);
export type TerminatedInput = Static<typeof TerminatedInput>;

/** v3 batch confirmations (DESIGN.md "v3, batches"): at most this many items, contract ids distinct. */
export const BATCH_MAX = 100;
/** An agent's batch item always carries its lease's token (the batch forms are agent endpoints). */
const BatchOf = <T extends Record<string, TSchema>>(item: T) =>
  Type.Object(
    {
      items: Type.Array(Type.Object({ contract_id: ContractId, lock_token: LockToken, ...item }, { additionalProperties: false }), {
        minItems: 1, maxItems: BATCH_MAX, description: `1 to ${BATCH_MAX} items, contract ids distinct`,
      }),
    },
    { additionalProperties: false },
  );
export const ProvisionedBatchInput = BatchOf({ instance_details: InstanceDetails });
export type ProvisionedBatchInput = Static<typeof ProvisionedBatchInput>;
export const FailedBatchInput = BatchOf({
  error_message: Type.String({ minLength: 1, maxLength: ERROR_MESSAGE_MAX }),
  error_class: Type.Optional(ErrorClassSchema),
});
export type FailedBatchInput = Static<typeof FailedBatchInput>;
export const TerminatedBatchInput = BatchOf({});
export type TerminatedBatchInput = Static<typeof TerminatedBatchInput>;
/** One item's outcome: the status the single call would have answered and, unless 200, its error object. */
export const BatchItemResult = Type.Object({
  contract_id: Type.String(),
  status: Type.Integer(),
  error: Type.Optional(Type.Object({ code: ErrorBody.properties.error.properties.code, message: Type.String() }, { additionalProperties: true })),
});
export type BatchItemResult = Static<typeof BatchItemResult>;
/** In request order. */
export const BatchResult = Type.Object({ items: Type.Array(BatchItemResult) });
export type BatchResult = Static<typeof BatchResult>;

/** The `actions` query value as a list (default provision only). */
export function parseActions(value: string | undefined): Array<(typeof WORK_ACTIONS)[number]> {
  if (!value) return ['provision'];
  return [...new Set(value.split(','))] as Array<(typeof WORK_ACTIONS)[number]>;
}
