// `dc-agent run`: wires the loops together and owns the shutdown order.
//
//   heartbeat-loop   keeps the agent online, advertises the actions it takes and its host_scope,
//                    and reports the inventory of tagged machines (at most every 10 minutes)
//   claim-loop       takes work (teardowns first, then provisions) while there is a free slot
//   jobs             one per leased contract (lease-loop renews each lease)
//
// SIGTERM: stop taking work, let running contracts finish for shutdown_grace_seconds, then abort
// them (tear down, release the lease), release any lease a cut-off claim left us, exit 0.
// A fatal error (revoked: exit 78) stops everything at once and tears down unconfirmed work.
import type { Identity } from '@dc/core/node';
import { ApiClient } from '../api/client.js';
import { A_FEW_TIMES, withRetry } from '../api/retry.js';
import type { AgentConfig } from '../config.js';
import { checkIdentity } from '../delegation.js';
import { EXIT_OK, EXIT_REVOKED, classify, errorMessage, type Disposition } from '../errors.js';
import type { Logger } from '../log.js';
import { createProvisioner } from '../provisioners/index.js';
import type { Provisioner } from '../provisioners/types.js';
import { AGENT_VERSION } from '../version.js';
import { claimLoop } from './claim-loop.js';
import type { DaemonContext } from './context.js';
import { heartbeatLoop } from './heartbeat-loop.js';
import { JobRunner } from './jobs.js';
import { StateFile } from './state.js';

export interface DaemonOptions {
  config: AgentConfig;
  identity: Identity;
  log: Logger;
  /** SIGTERM / SIGINT: stop taking work and wind down. */
  stop: AbortSignal;
  /** A second signal: abort running work now (it is still torn down and released). */
  force: AbortSignal;
  /** Tests may pass their own provisioner. */
  provisioner?: Provisioner;
}

export interface DaemonResult {
  exitCode: number;
  /** Why it stopped, when that was not a signal. */
  reason: string | null;
}

export async function runDaemon(opts: DaemonOptions): Promise<DaemonResult> {
  const { config, identity, log } = opts;
  checkIdentity(config, identity);
  const provisioner = opts.provisioner ?? createProvisioner(config.provisioner!, log);
  const api = new ApiClient(config.agent.apiUrl, identity, config.agent.providerPubkey);
  const state = new StateFile(
    config.agent.stateFile,
    {
      pid: process.pid,
      version: AGENT_VERSION,
      agent_pubkey: identity.publicKey,
      provider_pubkey: config.agent.providerPubkey,
      pool_id: config.agent.poolId,
      pool_name: config.agent.poolName,
      provisioner_type: provisioner.type,
      host_scope: provisioner.hostScope,
      started_at: new Date().toISOString(),
    },
    (err) => log.warn('state.write_failed', `cannot write the state file ${config.agent.stateFile}: ${err.message} (dc-agent status will not show this run)`),
  );

  // A holder, not a `let`: closures set it, and TypeScript would narrow a `let` to null below.
  const stopped: { fatal: Extract<Disposition, { kind: 'fatal' }> | null } = { fatal: null };
  const fatalCtrl = new AbortController();
  const jobsCtrl = new AbortController(); // aborts running contracts
  const takingCtrl = new AbortController(); // stops the claim loop
  const beatCtrl = new AbortController(); // stops heartbeats (last)

  const ctx: DaemonContext = {
    cfg: config.agent,
    api,
    provisioner,
    log,
    state,
    agentPubkey: identity.publicKey,
    fatal(err) {
      const d = classify(err);
      if (d.kind !== 'fatal') return false;
      if (!stopped.fatal) {
        stopped.fatal = d;
        log.error(d.exitCode === EXIT_REVOKED ? 'agent.revoked' : 'agent.fatal', `dc-agent stops: ${d.message}`, { exit_code: d.exitCode });
        state.update({ last_error: d.message });
        fatalCtrl.abort();
      }
      return true;
    },
  };
  const onStop = () => takingCtrl.abort();
  const onForce = () => jobsCtrl.abort();
  const onFatal = () => {
    takingCtrl.abort();
    jobsCtrl.abort();
    beatCtrl.abort();
  };
  opts.stop.addEventListener('abort', onStop, { once: true });
  opts.force.addEventListener('abort', onForce, { once: true });
  fatalCtrl.signal.addEventListener('abort', onFatal, { once: true });
  if (opts.stop.aborted) onStop();
  if (opts.force.aborted) onForce();

  const jobs = new JobRunner(ctx, jobsCtrl.signal);
  log.info('agent.started', `dc-agent ${AGENT_VERSION} started: pool ${config.agent.poolName ?? config.agent.poolId}, provisioner ${provisioner.type} (host scope ${provisioner.hostScope}), up to ${config.agent.maxConcurrent} contracts at once`, {
    agent_pubkey: identity.publicKey,
    host_scope: provisioner.hostScope,
    pool_id: config.agent.poolId,
    api_url: config.agent.apiUrl,
  });
  const beats = heartbeatLoop(ctx, () => jobs.size, beatCtrl.signal);
  await claimLoop(ctx, jobs, takingCtrl.signal);

  if (!stopped.fatal && jobs.size > 0) {
    log.info('agent.stopping', `stopping: waiting up to ${config.agent.shutdownGraceSeconds} s for ${jobs.size} running contracts`, { contracts: jobs.ids() });
  }
  const grace = setTimeout(() => {
    if (jobs.size > 0) log.warn('agent.grace_over', `shutdown grace is over; aborting ${jobs.size} contracts (they are torn down and released)`);
    jobsCtrl.abort();
  }, config.agent.shutdownGraceSeconds * 1000);
  await jobs.drain();
  clearTimeout(grace);
  if (!stopped.fatal) await releaseOrphans(ctx);
  beatCtrl.abort();
  await beats;

  opts.stop.removeEventListener('abort', onStop);
  opts.force.removeEventListener('abort', onForce);
  const exitCode = stopped.fatal?.exitCode ?? EXIT_OK;
  state.update({ stopped_at: new Date().toISOString(), exit_code: exitCode, in_flight: [] });
  state.flush();
  api.close();
  log.info('agent.stopped', `dc-agent stopped (exit code ${exitCode})`, { exit_code: exitCode });
  return { exitCode, reason: stopped.fatal?.message ?? null };
}

/**
 * A claim cut off by shutdown may still have been granted on the server. pending-provision lists
 * contracts (provisions and teardowns) leased to us; with no job left running, any such lease is
 * an orphan: release it.
 */
async function releaseOrphans(ctx: DaemonContext): Promise<void> {
  try {
    const items = await ctx.api.contracts.pendingProvision({ limit: 100, wait: 0 }, AbortSignal.timeout(10_000));
    for (const c of items) {
      if (c.lock_agent !== ctx.agentPubkey) continue;
      await withRetry('releasing an orphaned lease', () => ctx.api.contracts.release(c.contract_id, c.lock_token), A_FEW_TIMES).then(
        () => ctx.log.info('lease.released', `released orphaned lease on contract ${c.contract_id}`, { contract_id: c.contract_id, lock_token: c.lock_token }),
        (err) => ctx.log.warn('lease.release_failed', `could not release contract ${c.contract_id}: ${errorMessage(err)}`, { contract_id: c.contract_id }),
      );
    }
  } catch (err) {
    ctx.log.debug('lease.orphan_check_failed', `could not check for orphaned leases: ${errorMessage(err)}`);
  }
}
