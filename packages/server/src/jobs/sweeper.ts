// Background sweepers. Safe on every replica at once: each is one conditional statement, so two
// replicas sweeping together change each row once. Each run logs how many rows it changed.
import type { FastifyBaseLogger } from 'fastify';
import { MAX_CLOCK_PAST_MS } from '@dc/core';
import type { AppContext } from '../context.js';
import { expireLeases } from '../store/leases.js';

/** Unused expired setup tokens are deleted hourly; until then their users get 410, not 401. */
export const TOKEN_SWEEP_SECONDS = 3600;
/** Nonces older than the signing window can never be replayed (the timestamp check refuses them). */
export const NONCE_SWEEP_SECONDS = 60;

export async function sweepExpiredTokens(ctx: AppContext): Promise<number> {
  const r = await ctx.db.query(`DELETE FROM agent_setup_tokens WHERE used_at IS NULL AND expires_at < now()`);
  return r.rowCount;
}

export async function pruneNonces(ctx: AppContext): Promise<number> {
  const r = await ctx.db.query(
    `DELETE FROM request_nonces WHERE request_at < now() - make_interval(secs => $1)`,
    [MAX_CLOCK_PAST_MS / 1000 + 60],
  );
  const r2 = await ctx.db.query(`DELETE FROM rate_limits WHERE window_start < now() - interval '2 minutes'`);
  return r.rowCount + r2.rowCount;
}

export async function sweepLeases(ctx: AppContext): Promise<number> {
  return expireLeases(ctx.db, ctx.config.maxProvisionAttempts);
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
    { name: 'prune_nonces', everySeconds: NONCE_SWEEP_SECONDS, run: pruneNonces },
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
