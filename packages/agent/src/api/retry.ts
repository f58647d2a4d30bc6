// Retry policies, named so each call site shows how it retries. Retries stop on anything that
// classify() does not call transient (a 409 is an answer, not an outage).
import { classify, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { Backoff, sleep } from '../util.js';

export interface RetryPolicy {
  /** Total tries including the first; Infinity retries until the signal fires. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

/** Confirmations (provisioned, failed, handoff): the machine exists, keep trying while we may. */
export const UNTIL_ABORTED = (maxMs: number): RetryPolicy => ({ attempts: Infinity, baseMs: 500, maxMs });
/** Best-effort calls on the way out (release at shutdown). */
export const A_FEW_TIMES: RetryPolicy = { attempts: 3, baseMs: 300, maxMs: 2_000 };

export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  policy: RetryPolicy,
  opts: { signal?: AbortSignal; log?: Logger; fields?: Record<string, unknown> } = {},
): Promise<T> {
  const backoff = new Backoff(policy.baseMs, policy.maxMs);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (classify(err).kind !== 'transient' || attempt >= policy.attempts || opts.signal?.aborted) throw err;
      const delay = Math.max(backoff.next(), (err as { retryAfterMs?: number | null }).retryAfterMs ?? 0);
      opts.log?.warn('api.retry', `${what} failed (${errorMessage(err)}); retrying in ${delay} ms`, { ...opts.fields, attempt, delay_ms: delay });
      await sleep(delay, opts.signal);
    }
  }
}
