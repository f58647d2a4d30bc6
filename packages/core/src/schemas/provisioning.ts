// The agent's work: pending-provision and claim items, and the lease calls' bodies.
import { Type, type Static } from '@sinclair/typebox';
import {
  CLAIM_EXCLUDE_MAX, CLAIM_MAX, CONTRACT_ID_MAX, ERROR_MESSAGE_MAX, HANDOFF_NOTE_MAX, PENDING_LIMIT_MAX, WAIT_MAX_SECONDS,
} from '../limits.js';
import { AnyObject, Nullable } from './common.js';
import { Contract } from './contracts.js';

/** A contract an agent may work on, with what it needs to provision it. */
export const WorkItem = Type.Composite([
  Contract,
  Type.Object({
    provisioner_type: Nullable(Type.String()),
    provisioner_config: Nullable(AnyObject),
    lock_ttl_seconds: Type.Integer(),
  }),
]);
export type WorkItem = Static<typeof WorkItem>;

const Wait = Type.Optional(Type.Integer({ minimum: 0, maximum: WAIT_MAX_SECONDS, description: `seconds to hold an empty answer, 0 to ${WAIT_MAX_SECONDS}` }));
export const LockToken = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'the fencing token of your lease' });
export const InstanceDetails = Type.Object({}, { additionalProperties: true, description: 'instance details shown to the customer' });

export const PendingProvisionQuery = Type.Object({
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
export const FailedInput = Type.Object(
  { lock_token: Type.Optional(LockToken), error_message: Type.String({ minLength: 1, maxLength: ERROR_MESSAGE_MAX }) },
  { additionalProperties: false },
);
export type FailedInput = Static<typeof FailedInput>;
export const HandoffInput = Type.Object(
  { lock_token: LockToken, note: Type.Optional(Type.String({ maxLength: HANDOFF_NOTE_MAX })) },
  { additionalProperties: false },
);
export type HandoffInput = Static<typeof HandoffInput>;
