// dc-api resource: the agent's provisioning and teardown endpoints (DESIGN.md "Provisioning
// (agent-signed)", "Teardown after provisioning (v3)").
import { ENDPOINTS, ERROR_MESSAGE_MAX, HANDOFF_NOTE_MAX, WORK_ACTIONS, type ErrorClass, type WorkItem } from '@dc/core';
import type { Transport } from './transport.js';

/** Extra time over a long-poll's `wait` before the request counts as hung. */
const LONG_POLL_SLACK_MS = 15_000;
/** dc-agent takes both kinds of work: building machines and tearing them down. */
const ACTIONS = [...WORK_ACTIONS];

export class ContractsApi {
  constructor(
    private readonly t: Transport,
    private readonly providerPubkey: string,
  ) {}

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

  provisioned(id: string, lockToken: number, instanceDetails: Record<string, unknown>, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.call(ENDPOINTS.provisioned, { params: this.of(id), body: { lock_token: lockToken, instance_details: instanceDetails }, signal });
  }

  /** `errorClass`: `contract` when the contract's own input is at fault, else `agent` (counts toward this agent's cool-down). */
  failed(id: string, lockToken: number, errorMessage: string, errorClass: ErrorClass, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.call(ENDPOINTS.failed, {
      params: this.of(id),
      body: { lock_token: lockToken, error_message: errorMessage.slice(0, ERROR_MESSAGE_MAX) || 'provisioning failed', error_class: errorClass },
      signal,
    });
  }

  /** Confirms a teardown lease: nothing carrying the contract's tag exists any more. */
  terminated(id: string, lockToken: number, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.call(ENDPOINTS.terminated, { params: this.of(id), body: { lock_token: lockToken }, signal });
  }

  handoff(id: string, lockToken: number, note: string | undefined, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.call(ENDPOINTS.handoff, { params: this.of(id), body: { lock_token: lockToken, ...(note ? { note: note.slice(0, HANDOFF_NOTE_MAX) } : {}) }, signal });
  }
}
