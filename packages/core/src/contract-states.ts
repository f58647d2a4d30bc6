// The non-lease part of the contract state machine of DESIGN.md "Leases and exactly-once" →
// Statuses; everything not listed is answered 409 by the server.
import type { ContractStatus, PaymentStatus } from './schemas.js';

/**
 * Transitions decided by a person or a payment. Lease-driven moves (handoff → provisioning,
 * provisioned, failed) are fenced by the lease token and live in the server's leases module.
 */
export type ContractAction = 'accept' | 'reject' | 'cancel' | 'retry' | 'refund';

/** From which statuses each action may move a contract. */
export const ALLOWED_FROM: Readonly<Record<ContractAction, readonly ContractStatus[]>> = {
  accept: ['requested'],
  reject: ['requested'],
  cancel: ['requested', 'accepted', 'provisioning', 'provisioning_failed'],
  retry: ['provisioning_failed'],
  // A refund cancels the contract, provisioned or not; rejected and cancelled stay as they are.
  refund: ['requested', 'accepted', 'provisioning', 'provisioned', 'provisioning_failed'],
};

export const PAYMENT_ALLOWED_FROM: Readonly<Record<Exclude<PaymentStatus, 'pending'>, readonly PaymentStatus[]>> = {
  succeeded: ['pending'],
  failed: ['pending'],
  refunded: ['succeeded'],
};
