// dc-api resource: the agent's provisioning and teardown endpoints (DESIGN.md "Provisioning
// (agent-signed)", "Teardown after provisioning (v3)").
import { ENDPOINTS, ERROR_MESSAGE_MAX, HANDOFF_NOTE_MAX, WORK_ACTIONS, pathOf, type Endpoint, type ErrorClass, type FailedBatchInput, type ProvisionedBatchInput, type TerminatedBatchInput, type WorkItem } from '@dc/core';
import { ConfirmBatcher } from './confirm-batcher.js';
import type { Transport } from './transport.js';

/** Extra time over a long-poll's `wait` before the request counts as hung. */
const LONG_POLL_SLACK_MS = 15_000;
/** dc-agent takes both kinds of work: building machines and tearing them down. */
const ACTIONS = [...WORK_ACTIONS];

type ProvisionedItem = ProvisionedBatchInput['items'][number];
type FailedItem = FailedBatchInput['items'][number];
type TerminatedItem = TerminatedBatchInput['items'][number];

export class ContractsApi {
  // Confirmations that complete together share a request (confirm-batcher.ts), one queue per
  // kind; a batch item is the single call's body plus its contract id.
  private readonly provisionedQ = new ConfirmBatcher<ProvisionedItem>({
    single: ({ contract_id, ...body }, signal) => this.t.call(ENDPOINTS.provisioned, { params: this.of(contract_id), body, signal }),
    batch: (items) => this.t.call(ENDPOINTS.provisionedBatch, { params: this.provider(), body: { items } }),
    describe: (item) => this.describe(ENDPOINTS.provisioned, item),
  });
  private readonly failedQ = new ConfirmBatcher<FailedItem>({
    single: ({ contract_id, ...body }, signal) => this.t.call(ENDPOINTS.failed, { params: this.of(contract_id), body, signal }),
    batch: (items) => this.t.call(ENDPOINTS.failedBatch, { params: this.provider(), body: { items } }),
    describe: (item) => this.describe(ENDPOINTS.failed, item),
  });
  private readonly terminatedQ = new ConfirmBatcher<TerminatedItem>({
    single: ({ contract_id, ...body }, signal) => this.t.call(ENDPOINTS.terminated, { params: this.of(contract_id), body, signal }),
    batch: (items) => this.t.call(ENDPOINTS.terminatedBatch, { params: this.provider(), body: { items } }),
    describe: (item) => this.describe(ENDPOINTS.terminated, item),
  });

  constructor(
    private readonly t: Transport,
    private readonly providerPubkey: string,
  ) {}

  private provider() {
    return { pubkey: this.providerPubkey };
  }

  private describe(e: Endpoint, item: { contract_id: string }): string {
    return `${e.method} ${pathOf(e, this.of(item.contract_id))}`;
  }

  private of(id: string) {
    return { pubkey: this.providerPubkey, id };
  }

  /** Leases up to `max` contracts (teardowns first), holding an empty answer up to `wait` seconds. */
  async claim(opts: { max: number; exclude: string[]; wait: number }, signal?: AbortSignal): Promise<WorkItem[]> {
    const r = await this.t.call(ENDPOINTS.claim, {
      params: { pubkey: this.providerPubkey },
      query: { wait: opts.wait },
      body: { max: opts.max, exclude: opts.exclude, actions: ACTIONS },
      signal,
      timeoutMs: opts.wait * 1000 + LONG_POLL_SLACK_MS,
    });
    return r.items;
  }

  async pendingProvision(opts: { limit: number; wait: number }, signal?: AbortSignal): Promise<WorkItem[]> {
    const r = await this.t.call(ENDPOINTS.pendingProvision, {
      params: { pubkey: this.providerPubkey },
      query: { limit: opts.limit, wait: opts.wait, actions: ACTIONS.join(',') },
      signal,
      timeoutMs: opts.wait * 1000 + LONG_POLL_SLACK_MS,
    });
    return r.items;
  }

  /** Grants a lease (no token) or renews ours (with our token). */
  lock(id: string, lockToken?: number, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.call(ENDPOINTS.lock, { params: this.of(id), body: lockToken === undefined ? {} : { lock_token: lockToken }, signal });
  }

  release(id: string, lockToken: number, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.call(ENDPOINTS.release, { params: this.of(id), body: { lock_token: lockToken }, signal });
  }

  /** Resolves once dc-api recorded it; a rejection is the single call's ApiError (batched or not). */
  provisioned(id: string, lockToken: number, instanceDetails: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    return this.provisionedQ.submit({ contract_id: id, lock_token: lockToken, instance_details: instanceDetails }, signal);
  }

  /** `errorClass`: `contract` when the contract's own input is at fault, else `agent` (counts toward this agent's cool-down). */
  failed(id: string, lockToken: number, errorMessage: string, errorClass: ErrorClass, signal?: AbortSignal): Promise<void> {
    const message = errorMessage.slice(0, ERROR_MESSAGE_MAX) || 'provisioning failed';
    return this.failedQ.submit({ contract_id: id, lock_token: lockToken, error_message: message, error_class: errorClass }, signal);
  }

  /** Confirms a teardown lease: nothing carrying the contract's tag exists any more. */
  terminated(id: string, lockToken: number, signal?: AbortSignal): Promise<void> {
    return this.terminatedQ.submit({ contract_id: id, lock_token: lockToken }, signal);
  }

  handoff(id: string, lockToken: number, note: string | undefined, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.call(ENDPOINTS.handoff, { params: this.of(id), body: { lock_token: lockToken, ...(note ? { note: note.slice(0, HANDOFF_NOTE_MAX) } : {}) }, signal });
  }
}
