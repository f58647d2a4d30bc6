// The contract state table (DESIGN.md "Leases and exactly-once" → Statuses, and "Teardown after
// provisioning (v3)"). Every status change the server makes is checked against TRANSITIONS; the
// dashboard and dcctl offer an action only where the table allows it.

export const CONTRACT_STATUSES = [
  'requested',
  'accepted',
  'rejected',
  'provisioning',
  'provisioned',
  'provisioning_failed',
  'cancelled',
  'terminating',
  'terminated',
  'termination_failed',
] as const;
export type ContractStatus = (typeof CONTRACT_STATUSES)[number];

export const TERMINAL_STATUSES: readonly ContractStatus[] = ['rejected', 'cancelled', 'terminated'];

export const PAYMENT_STATUSES = ['pending', 'succeeded', 'failed', 'refunded'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/**
 * What moves a contract. People and payments: accept, reject, cancel (customer), refund
 * (operator), terminate (provider, v3), retry (provider). Leases: grant (a new lease or a
 * renewal), release, expire (the lease ran out, attempts left), exhaust (a failure or expiry that
 * reaches the attempt limit), fail (a failed attempt with attempts left), provision (agent, or a
 * provider completing a handed-off contract), handoff (to a person), terminated (teardown done).
 */
export const CONTRACT_ACTIONS = [
  'accept',
  'reject',
  'cancel',
  'refund',
  'terminate',
  'retry',
  'grant',
  'release',
  'expire',
  'fail',
  'exhaust',
  'provision',
  'handoff',
  'terminated',
] as const;
export type ContractAction = (typeof CONTRACT_ACTIONS)[number];

type Table = { readonly [S in ContractStatus]: { readonly [A in ContractAction]?: ContractStatus } };

/**
 * from → action → to. A pair that is not listed is refused (409). Teardown rows (terminate,
 * terminating, termination_failed) are the v3 contract; until teardown is built, cancel and refund
 * of a contract that was granted a lease still end in `cancelled` (v2), and the teardown issue
 * moves those rows to `terminating`.
 */
export const TRANSITIONS: Table = {
  requested: { accept: 'accepted', reject: 'rejected', cancel: 'cancelled', refund: 'cancelled' },
  accepted: {
    grant: 'accepted',
    release: 'accepted',
    expire: 'accepted',
    fail: 'accepted',
    exhaust: 'provisioning_failed',
    provision: 'provisioned',
    handoff: 'provisioning',
    cancel: 'cancelled',
    refund: 'cancelled',
  },
  provisioning: { provision: 'provisioned', fail: 'accepted', cancel: 'cancelled', refund: 'cancelled' },
  // The attempt limit ended it while the agent's lease was still open (expiry at the limit): a late
  // confirmation with the current token wins, the machine exists; a late failure or release keeps it failed.
  provisioning_failed: {
    provision: 'provisioned',
    fail: 'provisioning_failed',
    exhaust: 'provisioning_failed',
    release: 'provisioning_failed',
    retry: 'accepted',
    cancel: 'cancelled',
    refund: 'cancelled',
  },
  provisioned: { refund: 'cancelled', terminate: 'terminating' },
  terminating: {
    grant: 'terminating',
    release: 'terminating',
    expire: 'terminating',
    fail: 'terminating',
    exhaust: 'termination_failed',
    terminated: 'terminated',
  },
  termination_failed: { retry: 'terminating', terminated: 'terminated' },
  rejected: {},
  cancelled: {},
  terminated: {},
};

/** The status `action` moves a `from` contract to, or null when the table refuses it. */
export function nextStatus(from: ContractStatus, action: ContractAction): ContractStatus | null {
  return TRANSITIONS[from][action] ?? null;
}

export function canApply(from: ContractStatus, action: ContractAction): boolean {
  return nextStatus(from, action) !== null;
}

/** Statuses from which `action` is allowed. */
export function allowedFrom(action: ContractAction): ContractStatus[] {
  return CONTRACT_STATUSES.filter((s) => canApply(s, action));
}

/** Payment: pending → succeeded | failed; succeeded → refunded. */
export const PAYMENT_TRANSITIONS: { readonly [P in PaymentStatus]: readonly PaymentStatus[] } = {
  pending: ['succeeded', 'failed'],
  succeeded: ['refunded'],
  failed: [],
  refunded: [],
};

export function canSetPayment(from: PaymentStatus, to: PaymentStatus): boolean {
  return PAYMENT_TRANSITIONS[from].includes(to);
}

/** The actions a provider can take on a contract from the dashboard or dcctl. */
export const PROVIDER_ACTIONS = ['accept', 'reject', 'retry'] as const satisfies readonly ContractAction[];
export type ProviderAction = (typeof PROVIDER_ACTIONS)[number];

export function providerActionsFor(status: ContractStatus): ProviderAction[] {
  return PROVIDER_ACTIONS.filter((a) => canApply(status, a));
}
