// dc-api resource: the agent's provisioning endpoints (DESIGN.md "Provisioning (agent-signed)").
import type { Contract } from '@dc/core';
import type { Transport } from './transport.js';

/** A contract as pending-provision, claim and the lock endpoints return it. */
export type WorkItem = Contract & {
  provisioner_type: string | null;
  provisioner_config: Record<string, unknown> | null;
  lock_ttl_seconds?: number;
};

/** Extra time over a long-poll's `wait` before the request counts as hung. */
const LONG_POLL_SLACK_MS = 15_000;

export class ContractsApi {
  private readonly base: string;
  constructor(
    private readonly t: Transport,
    providerPubkey: string,
  ) {
    this.base = `/api/v1/providers/${providerPubkey}/contracts`;
  }

  /** Leases up to `max` contracts, holding an empty answer up to `wait` seconds. */
  async claim(opts: { max: number; exclude: string[]; wait: number }, signal?: AbortSignal): Promise<WorkItem[]> {
    const r = await this.t.request<{ items: WorkItem[] }>('POST', `${this.base}/claim`, {
      query: { wait: opts.wait },
      body: { max: opts.max, exclude: opts.exclude },
      signal,
      timeoutMs: opts.wait * 1000 + LONG_POLL_SLACK_MS,
    });
    return r.items;
  }

  async pendingProvision(opts: { limit: number; wait: number }, signal?: AbortSignal): Promise<WorkItem[]> {
    const r = await this.t.request<{ items: WorkItem[] }>('GET', `${this.base}/pending-provision`, {
      query: { limit: opts.limit, wait: opts.wait },
      signal,
      timeoutMs: opts.wait * 1000 + LONG_POLL_SLACK_MS,
    });
    return r.items;
  }

  /** Grants a lease (no token) or renews ours (with our token). */
  lock(id: string, lockToken?: number, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.request<WorkItem>('POST', `${this.base}/${encodeURIComponent(id)}/lock`, {
      body: lockToken === undefined ? {} : { lock_token: lockToken },
      signal,
    });
  }

  release(id: string, lockToken: number, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.request<WorkItem>('DELETE', `${this.base}/${encodeURIComponent(id)}/lock`, { body: { lock_token: lockToken }, signal });
  }

  provisioned(id: string, lockToken: number, instanceDetails: Record<string, unknown>, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.request<WorkItem>('POST', `${this.base}/${encodeURIComponent(id)}/provisioned`, {
      body: { lock_token: lockToken, instance_details: instanceDetails },
      signal,
    });
  }

  failed(id: string, lockToken: number, errorMessage: string, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.request<WorkItem>('POST', `${this.base}/${encodeURIComponent(id)}/failed`, {
      body: { lock_token: lockToken, error_message: errorMessage.slice(0, 100_000) || 'provisioning failed' },
      signal,
    });
  }

  handoff(id: string, lockToken: number, note: string | undefined, signal?: AbortSignal): Promise<WorkItem> {
    return this.t.request<WorkItem>('POST', `${this.base}/${encodeURIComponent(id)}/handoff`, {
      body: { lock_token: lockToken, ...(note ? { note: note.slice(0, 2000) } : {}) },
      signal,
    });
  }
}
