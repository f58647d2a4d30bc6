// Takes work, provisions and teardowns alike (the API hands out teardowns first):
// `POST …/contracts/claim?wait=N` (long-poll, one round trip per grant). Against an API without
// claim (404) it falls back to pending-provision + lock, skipping contracts another agent locked
// first or whose teardown belongs to the agent that built the machine (409). When the API answers an empty long-poll at once (no long-poll
// support), it sleeps poll_interval_seconds between polls.
// A draining agent claims the same way: the API grants it no new provisions, but returns its own
// leases (after a restart) and its teardowns; see heartbeat-loop.ts.
import type { WorkItem } from '@dc/core';
import { ApiError, classify, errorMessage } from '../errors.js';
import { Backoff, isAbortError, pause } from '../util.js';
import type { DaemonContext } from './context.js';
import type { JobRunner } from './jobs.js';

/** Rows one pending-provision poll asks for in the fallback mode. */
const PENDING_LIMIT = 50;

export async function claimLoop(ctx: DaemonContext, jobs: JobRunner, signal: AbortSignal): Promise<void> {
  let mode: 'claim' | 'lock' = 'claim';
  const backoff = new Backoff(1000, ctx.cfg.maxBackoffSeconds * 1000);
  const waitS = ctx.cfg.claimWaitSeconds;
  while (await jobs.waitForSlot(signal)) {
    const free = ctx.cfg.maxConcurrent - jobs.size;
    const started = Date.now();
    let items: WorkItem[];
    try {
      items = mode === 'claim' ? await ctx.api.contracts.claim({ max: free, exclude: jobs.ids(), wait: waitS }, signal) : await lockPending(ctx, jobs, free, waitS, signal);
    } catch (err) {
      if (signal.aborted && isAbortError(err)) break;
      if (mode === 'claim' && err instanceof ApiError && (err.status === 404 || err.status === 405)) {
        mode = 'lock';
        ctx.log.info('claim.unsupported', 'the API has no claim endpoint; using pending-provision and lock instead');
        continue;
      }
      if (ctx.fatal(err)) break;
      const delay = backoff.next();
      const level = classify(err).kind === 'transient' ? 'warn' : 'error';
      ctx.log[level]('claim.failed', `asking for work failed: ${errorMessage(err)}; next try in ${delay} ms`, { attempt: backoff.attempts });
      ctx.state.update({ api_reachable: false, last_error: errorMessage(err) });
      if (!(await pause(delay, signal))) break;
      continue;
    }
    if (backoff.attempts > 0) ctx.log.info('api.recovered', `the API answers again after ${backoff.attempts} failed attempts`);
    backoff.reset();
    for (const item of items) jobs.start(item);
    if (items.length === 0) {
      // An empty answer well before `wait` ran out: the API did not hold the poll.
      const elapsed = Date.now() - started;
      if (elapsed < (waitS * 1000) / 2) {
        if (!(await pause(ctx.cfg.pollIntervalSeconds * 1000 - elapsed, signal))) break;
      }
    }
  }
}

/** The fallback: list what is pending, then lock one contract at a time (409: someone was faster). */
async function lockPending(ctx: DaemonContext, jobs: JobRunner, free: number, waitS: number, signal: AbortSignal): Promise<WorkItem[]> {
  const pending = await ctx.api.contracts.pendingProvision({ limit: PENDING_LIMIT, wait: waitS }, signal);
  const got: WorkItem[] = [];
  for (const c of pending) {
    if (got.length >= free) break;
    if (jobs.has(c.contract_id)) continue;
    try {
      got.push(await ctx.api.contracts.lock(c.contract_id, undefined, signal));
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 404 || err.status === 403)) {
        ctx.log.debug('claim.skipped', `contract ${c.contract_id} was not granted (${err.code})`, { contract_id: c.contract_id });
        continue;
      }
      // Keep what was granted so far: those leases are ours now.
      if (got.length > 0) {
        ctx.log.warn('claim.partial', `locking stopped after ${got.length} grants: ${errorMessage(err)}`);
        break;
      }
      throw err;
    }
  }
  return got;
}
