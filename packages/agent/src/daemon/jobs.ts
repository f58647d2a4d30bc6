// Runs leased contracts, at most max_concurrent at once. One job: keep the lease, provision,
// confirm with the fencing token, and tear down whatever was created when the lease is gone.
import type { WorkItem } from '@dc/core';
import { A_FEW_TIMES, UNTIL_ABORTED, withRetry } from '../api/retry.js';
import { classify, errorMessage } from '../errors.js';
import type { ProvisionJob, ProvisionOutcome } from '../provisioners/types.js';
import { isAbortError, linkSignals } from '../util.js';
import type { DaemonContext } from './context.js';
import { keepLease, type Lease } from './lease-loop.js';

/** Teardown gets this long, whatever stopped the job. */
const TEARDOWN_TIMEOUT_MS = 15 * 60_000;

export function toProvisionJob(item: WorkItem, poolId: string): ProvisionJob {
  return {
    contractId: item.contract_id,
    offeringId: item.offering_id,
    providerPubkey: item.provider_pubkey,
    customerPubkey: item.customer_pubkey,
    poolId: item.resolved_pool_id ?? poolId,
    sshPubkey: item.ssh_pubkey,
    instanceConfig: item.instance_config,
    provisionerConfig: item.provisioner_config,
  };
}

export class JobRunner {
  private readonly running = new Map<string, Promise<void>>();
  private slotWaiters: (() => void)[] = [];

  /** `stop` aborts every job (shutdown grace over, second signal, fatal error). */
  constructor(
    private readonly ctx: DaemonContext,
    private readonly stop: AbortSignal,
  ) {}

  get size(): number {
    return this.running.size;
  }

  ids(): string[] {
    return [...this.running.keys()];
  }

  has(id: string): boolean {
    return this.running.has(id);
  }

  start(item: WorkItem): void {
    if (this.running.has(item.contract_id)) return;
    const p = this.run(item)
      .catch((err) => this.ctx.log.error('job.crashed', `unexpected error in contract ${item.contract_id}: ${errorMessage(err)}`, { contract_id: item.contract_id }))
      .finally(() => {
        this.running.delete(item.contract_id);
        this.ctx.state.setJob(item.contract_id, null);
        const waiters = this.slotWaiters;
        this.slotWaiters = [];
        for (const w of waiters) w();
      });
    this.running.set(item.contract_id, p);
  }

  /** Resolves true when fewer than max_concurrent jobs run, false when `signal` fires first. */
  async waitForSlot(signal: AbortSignal): Promise<boolean> {
    while (this.running.size >= this.ctx.cfg.maxConcurrent) {
      if (signal.aborted) return false;
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.slotWaiters.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return !signal.aborted;
  }

  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  private async run(item: WorkItem): Promise<void> {
    const { ctx } = this;
    const id = item.contract_id;
    const token = item.lock_token;
    const log = ctx.log.child({ contract_id: id, lock_token: token });
    const job = toProvisionJob(item, ctx.cfg.poolId);
    const lease = keepLease(
      { api: ctx.api, log: ctx.log, fatal: (e) => ctx.fatal(e), maxBackoffMs: ctx.cfg.maxBackoffSeconds * 1000 },
      id,
      token,
      item.lock_ttl_seconds ?? ctx.cfg.lockTimeoutSeconds,
    );
    ctx.state.setJob(id, { contract_id: id, offering_id: item.offering_id, lock_token: token, phase: 'provisioning', started_at: new Date().toISOString() });
    log.info('contract.claimed', `provisioning contract ${id} (offering ${item.offering_id})`, { offering_id: item.offering_id, lock_ttl_seconds: item.lock_ttl_seconds ?? null });
    // The provision and its confirmation stop when the lease is gone or the agent stops.
    const interrupted = linkSignals(lease.lost, this.stop);
    try {
      await this.provisionAndConfirm(item, job, lease, interrupted.signal, log);
    } finally {
      interrupted.dispose();
      lease.stop();
      await lease.done;
    }
  }

  private async provisionAndConfirm(item: WorkItem, job: ProvisionJob, lease: Lease, interrupted: AbortSignal, log: DaemonContext['log']): Promise<void> {
    const { ctx } = this;
    const id = item.contract_id;
    const token = item.lock_token;

    let outcome: ProvisionOutcome;
    try {
      outcome = await ctx.provisioner.provision(job, interrupted);
    } catch (err) {
      if (lease.lost.aborted) return this.teardown(job, null, `its lease is gone (${lease.lostCode()})`, log);
      if (this.stop.aborted && isAbortError(err)) {
        await this.teardown(job, null, 'the agent is stopping', log);
        return this.release(id, token, log);
      }
      return this.reportFailure(job, token, errorMessage(err), log);
    }
    if (lease.lost.aborted) return this.teardown(job, detailsOf(outcome), `its lease is gone (${lease.lostCode()})`, log);

    ctx.state.phase(id, 'confirming');
    try {
      if (outcome.kind === 'provisioned') {
        await withRetry('confirming provisioned', () => ctx.api.contracts.provisioned(id, token, outcome.details, interrupted), UNTIL_ABORTED(ctx.cfg.maxBackoffSeconds * 1000), {
          signal: interrupted,
          log,
        });
        ctx.state.count('provisioned');
        log.info('contract.provisioned', `contract ${id} is provisioned`, { instance_details: outcome.details });
      } else {
        await withRetry('handing off', () => ctx.api.contracts.handoff(id, token, outcome.note, interrupted), UNTIL_ABORTED(ctx.cfg.maxBackoffSeconds * 1000), {
          signal: interrupted,
          log,
        });
        ctx.state.count('handed_off');
        log.info('contract.handed_off', `contract ${id} is handed off to a person`, { note: outcome.note });
      }
    } catch (err) {
      const d = classify(err);
      if (d.kind === 'fatal') ctx.fatal(err);
      const why =
        d.kind === 'lease_gone' ? `the API refused the confirmation (${d.code})` : lease.lost.aborted ? `its lease is gone (${lease.lostCode()})` : `it could not be confirmed (${errorMessage(err)})`;
      await this.teardown(job, detailsOf(outcome), why, log);
      const leaseStillOurs = d.kind !== 'lease_gone' && d.kind !== 'fatal' && !lease.lost.aborted;
      if (!leaseStillOurs) return;
      // Stopping: give the contract back. Refused (say, instance details too large): record why.
      if (this.stop.aborted) await this.release(id, token, log);
      else await this.reportFailure(job, token, `the API refused the confirmation: ${errorMessage(err)}`, log);
    }
  }

  private async reportFailure(job: ProvisionJob, token: number, message: string, log: DaemonContext['log']): Promise<void> {
    const { ctx } = this;
    ctx.state.count('failed');
    log.warn('contract.failed', `provisioning contract ${job.contractId} failed: ${message}`, { error: message });
    try {
      await withRetry('reporting the failure', () => ctx.api.contracts.failed(job.contractId, token, message, this.stop), UNTIL_ABORTED(ctx.cfg.maxBackoffSeconds * 1000), {
        signal: this.stop,
        log,
      });
    } catch (err) {
      const d = classify(err);
      if (d.kind === 'fatal') ctx.fatal(err);
      if (d.kind === 'lease_gone') await this.teardown(job, null, `the API refused the failure report (${d.code})`, log);
      else log.warn('contract.report_failed', `could not report the failure (${errorMessage(err)}); the lease will expire and count as a failed attempt`);
    }
  }

  private async teardown(job: ProvisionJob, details: Record<string, unknown> | null, why: string, log: DaemonContext['log']): Promise<void> {
    this.ctx.state.phase(job.contractId, 'tearing_down');
    log.warn('contract.teardown', `tearing down contract ${job.contractId}: ${why}`);
    try {
      await this.ctx.provisioner.terminate(job, AbortSignal.timeout(TEARDOWN_TIMEOUT_MS), details);
      this.ctx.state.count('torn_down');
      log.info('contract.torn_down', `removed what was created for contract ${job.contractId}`);
    } catch (err) {
      log.error('contract.teardown_failed', `could not tear down contract ${job.contractId}: ${errorMessage(err)}; remove it by hand`);
    }
  }

  private async release(id: string, token: number, log: DaemonContext['log']): Promise<void> {
    this.ctx.state.phase(id, 'releasing');
    try {
      await withRetry('releasing the lease', () => this.ctx.api.contracts.release(id, token), A_FEW_TIMES, { log });
      log.info('lease.released', `released the lease on contract ${id}`);
    } catch (err) {
      log.warn('lease.release_failed', `could not release the lease on contract ${id} (${errorMessage(err)}); it will expire`);
    }
  }
}

function detailsOf(o: ProvisionOutcome): Record<string, unknown> | null {
  return o.kind === 'provisioned' ? o.details : null;
}
