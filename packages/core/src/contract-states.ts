// The contract state machine of DESIGN.md "Leases and exactly-once" → Statuses. Everything not
// listed here is answered 409 by the server; the dashboard uses it to offer only valid actions.
import type { ContractStatus, PaymentStatus } from './schemas.js';

export type ContractAction = 'accept' | 'reject' | 'cancel' | 'retry' | 'handoff' | 'provision' | 'fail' | 'refund';

/** From which statuses each action may move a contract. */
export const ALLOWED_FROM: Readonly<Record<ContractAction, readonly ContractStatus[]>> = {
  accept: ['requested'],
  reject: ['requested'],
  cancel: ['requested', 'accepted', 'provisioning', 'provisioning_failed'],
  retry: ['provisioning_failed'],
  handoff: ['accepted'],
  // A late confirmation with the current token also lands on provisioning_failed (the machine exists).
  provision: ['accepted', 'provisioning', 'provisioning_failed'],
  fail: ['accepted', 'provisioning', 'provisioning_failed'],
  // A refund cancels the contract, provisioned or not; rejected and cancelled stay as they are.
  refund: ['requested', 'accepted', 'provisioning', 'provisioned', 'provisioning_failed'],
};

export const PAYMENT_ALLOWED_FROM: Readonly<Record<Exclude<PaymentStatus, 'pending'>, readonly PaymentStatus[]>> = {
  succeeded: ['pending'],
  failed: ['pending'],
  refunded: ['succeeded'],
};

export function isTerminal(status: ContractStatus): boolean {
  switch (status) {
    case 'provisioned':
    case 'rejected':
    case 'cancelled':
      return true;
    case 'requested':
    case 'accepted':
    case 'provisioning':
    case 'provisioning_failed':
      return false;
    default: {
      const never: never = status;
      return never;
    }
  }
}
