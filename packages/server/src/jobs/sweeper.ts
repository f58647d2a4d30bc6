// Background sweepers. Safe on every replica at once: each is one conditional statement, so two
// replicas sweeping together change each row once. Each run logs how many rows it changed.
import type { FastifyBaseLogger } from 'fastify';
import type { AppContext } from '../context.js';
import { pruneNonces } from '../store/auth.js';
import { expireLeases } from '../store/leases.js';
import { fleetPolicyOf } from '../store/eligibility.js';
import { pruneRateLimits } from '../store/rate-limit.js';
import { deleteExpiredTokens } from '../store/tokens.js';
import { deleteOldAudit } from '../store/audit.js';
import { NONCE_SWEEP_SECONDS, TOKEN_SWEEP_SECONDS } from '../timing.js';

export async function sweepExpiredTokens(ctx: AppContext): Promise<number> {
  return deleteExpiredTokens(ctx.db);
}

export async function pruneReplayState(ctx: AppContext): Promise<number> {
  return (await pruneNonces(ctx.db)) + (await pruneRateLimits(ctx.db));
}

export async function sweepLeases(ctx: AppContext): Promise<number> {
  return expireLeases(ctx.db, ctx.config.maxProvisionAttempts, fleetPolicyOf(ctx.config));
}

export async function pruneAudit(ctx: AppContext): Promise<number> {
  return deleteOldAudit(ctx.db, ctx.config.auditRetentionDays);
}

export interface Job {
  name: string;
  everySeconds: number;
  run: (ctx: AppContext) => Promise<number>;
}

export function jobs(ctx: AppContext): Job[] {
  return [
    { name: 'expire_leases', everySeconds: ctx.config.lockSweepSeconds, run: sweepLeases },
    { name: 'delete_expired_setup_tokens', everySeconds: TOKEN_SWEEP_SECONDS, run: sweepExpiredTokens },
    { name: 'prune_nonces', everySeconds: NONCE_SWEEP_SECONDS, run: pruneReplayState },
    // Hourly like the token sweep: retention is counted in days.
    { name: 'prune_audit', everySeconds: TOKEN_SWEEP_SECONDS, run: pruneAudit },
  ];
}

/** Starts every job on its interval; returns a stop function that waits for running jobs. */
export function startJobs(ctx: AppContext, log: FastifyBaseLogger): () => Promise<void> {
  const running = new Set<Promise<unknown>>();
  const timers = jobs(ctx).map((job) =>
    setInterval(() => {
      const started = Date.now();
      const p = job
        .run(ctx)
        .then((changed) => {
          ctx.metrics.jobRuns.inc({ job: job.name }, changed);
          log.info({ job: job.name, changed, ms: Date.now() - started }, 'job run');
        })
        .catch((err: Error) => log.error({ job: job.name, err: err.message }, 'job failed'))
        .finally(() => running.delete(p));
      running.add(p);
    }, job.everySeconds * 1000),
  );
  return async () => {
    for (const t of timers) clearInterval(t);
    await Promise.all(running);
  };
}
