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
 * from → action → to. A pair that is not listed is refused (409). The triggers (cancel, refund,
 * terminate) lead to `terminating` from every status where a machine may exist; on a contract
 * never granted a lease they end it `cancelled` instead (`triggerTarget`), and on a contract
 * already ending they change nothing (`TEARDOWN_STATUSES`).
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
    cancel: 'terminating',
    refund: 'terminating',
    terminate: 'terminating',
  },
  provisioning: { provision: 'provisioned', fail: 'accepted', cancel: 'terminating', refund: 'terminating', terminate: 'terminating' },
  // The attempt limit ended it while the agent's lease was still open (expiry at the limit): a late
  // confirmation with the current token wins, the machine exists; a late failure or release keeps it failed.
  provisioning_failed: {
    provision: 'provisioned',
    fail: 'provisioning_failed',
    exhaust: 'provisioning_failed',
    release: 'provisioning_failed',
    retry: 'accepted',
    cancel: 'terminating',
    refund: 'terminating',
    terminate: 'terminating',
  },
  provisioned: { cancel: 'terminating', refund: 'terminating', terminate: 'terminating' },
  // Teardown leases work as provisioning leases; `handoff` keeps the status (a person finishes it).
  terminating: {
    grant: 'terminating',
    release: 'terminating',
    expire: 'terminating',
    fail: 'terminating',
    exhaust: 'termination_failed',
    handoff: 'terminating',
    terminated: 'terminated',
  },
  // As provisioning_failed: a late confirmation with the current token wins, a late failure keeps it failed.
  termination_failed: {
    retry: 'terminating',
    terminated: 'terminated',
    fail: 'termination_failed',
    exhaust: 'termination_failed',
    release: 'termination_failed',
  },
  rejected: {},
  cancelled: {},
  terminated: {},
};

/** The two kinds of work an agent leases: building a machine and destroying it. */
export const WORK_ACTIONS = ['provision', 'terminate'] as const;
export type WorkAction = (typeof WORK_ACTIONS)[number];

/** Statuses of a contract whose machine is being or has been torn down: their leases are teardowns. */
export const TEARDOWN_STATUSES: readonly ContractStatus[] = ['terminating', 'termination_failed', 'terminated'];

/** What a lease (and its events) on a contract in `status` does. */
export function workActionOf(status: ContractStatus): WorkAction {
  return TEARDOWN_STATUSES.includes(status) ? 'terminate' : 'provision';
}

/** The actions that end a contract: the customer's cancel, the operator's refund, the provider's terminate. */
export const TRIGGERS = ['cancel', 'refund', 'terminate'] as const satisfies readonly ContractAction[];
export type Trigger = (typeof TRIGGERS)[number];

/**
 * Where a trigger moves a `from` contract: the table's target, except that a contract never
 * granted a lease (`everGranted` false: lock_token 0) cannot have a machine and ends `cancelled`;
 * 'unchanged' on a contract already ending (a repeat: 200, nothing but the record changes);
 * null where refused.
 */
export function triggerTarget(from: ContractStatus, trigger: Trigger, everGranted: boolean): ContractStatus | 'unchanged' | null {
  if (TEARDOWN_STATUSES.includes(from)) return 'unchanged';
  const to = nextStatus(from, trigger);
  if (to === 'terminating' && !everGranted && from !== 'provisioned') return 'cancelled';
  return to;
}

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

/**
 * The actions a provider can take on a contract from the dashboard or dcctl: `terminate` (ends
 * it, tearing its machine down), `terminated` (marks a teardown done by hand).
 */
export const PROVIDER_ACTIONS = ['accept', 'reject', 'retry', 'terminate', 'terminated'] as const satisfies readonly ContractAction[];
export type ProviderAction = (typeof PROVIDER_ACTIONS)[number];

export function providerActionsFor(status: ContractStatus): ProviderAction[] {
  return PROVIDER_ACTIONS.filter((a) => canApply(status, a));
}
