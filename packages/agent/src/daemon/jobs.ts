// Runs leased contracts, at most max_concurrent at once. A provision job keeps the lease,
// provisions, confirms with the fencing token, and removes whatever it created when the attempt
// fails or the lease is gone. A teardown job (action "terminate", or a provision whose contract
// ended meanwhile) destroys what carries the contract's tag and confirms `…/terminated` with the
// same token.
import type { ErrorClass, WorkAction, WorkItem } from '@dc/core';
import { A_FEW_TIMES, UNTIL_ABORTED, withRetry } from '../api/retry.js';
import { classify, errorMessage } from '../errors.js';
import { errorClassOf, type ProvisionJob, type ProvisionOutcome, type TeardownOutcome } from '../provisioners/types.js';
import { isAbortError, linkSignals } from '../util.js';
import type { DaemonContext } from './context.js';
import { keepLease, type Lease } from './lease-loop.js';

/** Removing what a failed or lost attempt created gets this long, whatever stopped the job. */
const CLEANUP_TIMEOUT_MS = 15 * 60_000;

type Log = DaemonContext['log'];

/** An item's action; an API without teardowns sends none, and only provisions. */
export function actionOf(item: WorkItem): WorkAction {
  return item.action === 'terminate' ? 'terminate' : 'provision';
}

export function toProvisionJob(item: WorkItem, poolId: string): ProvisionJob {
  return {
    contractId: item.contract_id,
    offeringId: item.offering_id,
    providerPubkey: item.provider_pubkey,
    customerPubkey: item.customer_pubkey,
    poolId: (actionOf(item) === 'terminate' ? item.provisioned_pool_id : null) ?? item.resolved_pool_id ?? poolId,
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
    const action = actionOf(item);
    const log = ctx.log.child({ contract_id: id, lock_token: token });
    const job = toProvisionJob(item, ctx.cfg.poolId);
    const lease = keepLease(
      { api: ctx.api, log: ctx.log, fatal: (e) => ctx.fatal(e), maxBackoffMs: ctx.cfg.maxBackoffSeconds * 1000 },
      id,
      token,
      item.lock_ttl_seconds ?? ctx.cfg.lockTimeoutSeconds,
      action,
    );
    const phase = action === 'terminate' ? 'tearing_down' : 'provisioning';
    ctx.state.setJob(id, { contract_id: id, offering_id: item.offering_id, action, lock_token: token, phase, started_at: new Date().toISOString() });
    if (action === 'terminate') {
      log.info('contract.claimed', `tearing down contract ${id} (offering ${item.offering_id})`, { action, offering_id: item.offering_id, instance_details: item.instance_details });
    } else {
      log.info('contract.claimed', `provisioning contract ${id} (offering ${item.offering_id})`, { action, offering_id: item.offering_id, lock_ttl_seconds: item.lock_ttl_seconds ?? null });
    }
    try {
      if (action === 'terminate') await this.tearDownAndConfirm(job, token, item.instance_details, lease, log);
      else await this.provisionAndConfirm(job, token, lease, log);
    } finally {
      lease.stop();
      await lease.done;
    }
  }

  private async provisionAndConfirm(job: ProvisionJob, token: number, lease: Lease, log: Log): Promise<void> {
    const { ctx } = this;
    const id = job.contractId;
    // The provision and its confirmation stop when the lease is gone, the contract ends or the agent stops.
    const interrupted = linkSignals(lease.lost, lease.ended, this.stop);
    try {
      let outcome: ProvisionOutcome;
      try {
        outcome = await ctx.provisioner.provision(job, interrupted.signal);
      } catch (err) {
        if (lease.ended.aborted && !lease.lost.aborted) return this.tearDownEnded(job, token, null, lease, log);
        if (lease.lost.aborted) return this.cleanup(job, null, `its lease is gone (${lease.lostCode()})`, log);
        if (this.stop.aborted && isAbortError(err)) {
          await this.cleanup(job, null, 'the agent is stopping', log);
          return this.release(id, token, log);
        }
        // What a failed attempt created must not be left for the next agent to collide with.
        await this.cleanup(job, null, `its provision failed (${errorMessage(err)})`, log);
        return this.reportFailure('provision', job, token, errorMessage(err), errorClassOf(err), log);
      }
      if (lease.ended.aborted && !lease.lost.aborted) return this.tearDownEnded(job, token, detailsOf(outcome), lease, log);
      if (lease.lost.aborted) return this.cleanup(job, detailsOf(outcome), `its lease is gone (${lease.lostCode()})`, log);

      ctx.state.phase(id, 'confirming');
      try {
        if (outcome.kind === 'provisioned') {
          await withRetry('confirming provisioned', () => ctx.api.contracts.provisioned(id, token, outcome.details, interrupted.signal), UNTIL_ABORTED(ctx.cfg.maxBackoffSeconds * 1000), {
            signal: interrupted.signal,
            log,
          });
          ctx.state.count('provisioned');
          log.info('contract.provisioned', `contract ${id} is provisioned`, { instance_details: outcome.details });
        } else {
          await withRetry('handing off', () => ctx.api.contracts.handoff(id, token, outcome.note, interrupted.signal), UNTIL_ABORTED(ctx.cfg.maxBackoffSeconds * 1000), {
            signal: interrupted.signal,
            log,
          });
          ctx.state.count('handed_off');
          log.info('contract.handed_off', `contract ${id} is handed off to a person`, { note: outcome.note });
        }
      } catch (err) {
        const d = classify(err);
        if (d.kind === 'fatal') ctx.fatal(err);
        // 409 contract_cancelled: the contract ended before our confirmation; the lease is its teardown now.
        if (d.kind === 'lease_gone' && d.code === 'contract_cancelled') lease.end();
        if (lease.ended.aborted && !lease.lost.aborted) return this.tearDownEnded(job, token, detailsOf(outcome), lease, log);
        const why =
          d.kind === 'lease_gone' ? `the API refused the confirmation (${d.code})` : lease.lost.aborted ? `its lease is gone (${lease.lostCode()})` : `it could not be confirmed (${errorMessage(err)})`;
        await this.cleanup(job, detailsOf(outcome), why, log);
        const leaseStillOurs = d.kind !== 'lease_gone' && d.kind !== 'fatal' && !lease.lost.aborted;
        if (!leaseStillOurs) return;
        // Stopping: give the contract back. Refused (say, instance details too large): record why.
        if (this.stop.aborted) await this.release(id, token, log);
        else await this.reportFailure('provision', job, token, `the API refused the confirmation: ${errorMessage(err)}`, 'agent', log);
      }
    } finally {
      interrupted.dispose();
    }
  }

  /** The contract ended while we provisioned it: tear down under the same lease and confirm. */
  private async tearDownEnded(job: ProvisionJob, token: number, details: Record<string, unknown> | null, lease: Lease, log: Log): Promise<void> {
    log.warn('contract.ended', `contract ${job.contractId} ended while it was being provisioned; tearing down what was created`);
    this.ctx.state.setJob(job.contractId, { ...this.inFlight(job.contractId, token), action: 'terminate', phase: 'tearing_down' });
    await this.tearDownAndConfirm(job, token, details, lease, log);
  }

  private inFlight(id: string, token: number) {
    return (
      this.ctx.state.current.in_flight.find((j) => j.contract_id === id) ?? {
        contract_id: id,
        offering_id: '',
        action: 'terminate' as const,
        lock_token: token,
        phase: 'tearing_down' as const,
        started_at: new Date().toISOString(),
      }
    );
  }

  /** A teardown lease: destroy what carries the contract's tag, then confirm with the lease's token. */
  private async tearDownAndConfirm(job: ProvisionJob, token: number, details: Record<string, unknown> | null, lease: Lease, log: Log): Promise<void> {
    const { ctx } = this;
    const id = job.contractId;
    const interrupted = linkSignals(lease.lost, this.stop);
    try {
      let outcome: TeardownOutcome;
      try {
        outcome = await ctx.provisioner.terminate({ ...job, instanceDetails: details, why: 'teardown' }, interrupted.signal);
      } catch (err) {
        if (lease.lost.aborted) {
          log.warn('teardown.lease_lost', `stopped tearing down contract ${id}: its lease is gone (${lease.lostCode()}); whoever holds it now finishes the teardown`);
          return;
        }
        if (this.stop.aborted && isAbortError(err)) return this.release(id, token, log);
        return this.reportFailure('terminate', job, token, errorMessage(err), errorClassOf(err), log);
      }
      if (lease.lost.aborted) {
        log.warn('teardown.lease_lost', `tore down contract ${id}, but its lease is gone (${lease.lostCode()}); the new holder confirms it`);
        return;
      }

      ctx.state.phase(id, 'confirming');
      try {
        if (outcome.kind === 'terminated') {
          await withRetry('confirming terminated', () => ctx.api.contracts.terminated(id, token, interrupted.signal), UNTIL_ABORTED(ctx.cfg.maxBackoffSeconds * 1000), {
            signal: interrupted.signal,
            log,
          });
          ctx.state.count('terminated');
          log.info('contract.terminated', `contract ${id} is terminated: nothing tagged for it is left`, { host_scope: ctx.provisioner.hostScope });
        } else {
          await withRetry('handing off the teardown', () => ctx.api.contracts.handoff(id, token, outcome.note, interrupted.signal), UNTIL_ABORTED(ctx.cfg.maxBackoffSeconds * 1000), {
            signal: interrupted.signal,
            log,
          });
          ctx.state.count('handed_off');
          log.info('contract.teardown_handed_off', `the teardown of contract ${id} is handed off to a person`, { note: outcome.note });
        }
      } catch (err) {
        const d = classify(err);
        if (d.kind === 'fatal') ctx.fatal(err);
        if (d.kind === 'lease_gone' || lease.lost.aborted) {
          log.warn('teardown.confirm_refused', `the API refused the teardown confirmation of contract ${id} (${errorMessage(err)})`);
          return;
        }
        if (d.kind === 'fatal') return;
        if (this.stop.aborted) await this.release(id, token, log);
        else await this.reportFailure('terminate', job, token, `the API refused the confirmation: ${errorMessage(err)}`, 'agent', log);
      }
    } finally {
      interrupted.dispose();
    }
  }

  /** `errorClass` `contract`: the contract's own input is at fault, so the failure does not count toward this agent's cool-down. */
  private async reportFailure(action: WorkAction, job: ProvisionJob, token: number, message: string, errorClass: ErrorClass, log: Log): Promise<void> {
    const { ctx } = this;
    const what = action === 'terminate' ? 'tearing down' : 'provisioning';
    ctx.state.count('failed');
    const blame = errorClass === 'contract' ? " (the contract's input is at fault: error_class contract)" : '';
    log.warn('contract.failed', `${what} contract ${job.contractId} failed${blame}: ${message}`, { action, error: message, error_class: errorClass });
    try {
      await withRetry('reporting the failure', () => ctx.api.contracts.failed(job.contractId, token, message, errorClass, this.stop), UNTIL_ABORTED(ctx.cfg.maxBackoffSeconds * 1000), {
        signal: this.stop,
        log,
      });
    } catch (err) {
      const d = classify(err);
      if (d.kind === 'fatal') ctx.fatal(err);
      if (d.kind === 'lease_gone') log.warn('contract.report_refused', `the API refused the failure report (${d.code}); the lease is no longer ours`);
      else log.warn('contract.report_failed', `could not report the failure (${errorMessage(err)}); the lease will expire and count as a failed attempt`);
    }
  }

  /** Removes what this agent's own attempt created (by the contract's tag); best effort. */
  private async cleanup(job: ProvisionJob, details: Record<string, unknown> | null, why: string, log: Log): Promise<void> {
    this.ctx.state.phase(job.contractId, 'cleaning_up');
    log.warn('contract.teardown', `removing what was created for contract ${job.contractId}: ${why}`);
    try {
      await this.ctx.provisioner.terminate({ ...job, instanceDetails: details, why: 'cleanup' }, AbortSignal.timeout(CLEANUP_TIMEOUT_MS));
      this.ctx.state.count('torn_down');
      log.info('contract.torn_down', `removed what was created for contract ${job.contractId}`);
    } catch (err) {
      log.error('contract.teardown_failed', `could not remove what was created for contract ${job.contractId}: ${errorMessage(err)}; remove it by hand`);
    }
  }

  private async release(id: string, token: number, log: Log): Promise<void> {
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
