// Small async helpers shared by the daemon and the provisioners. Node 18 compatible (the bundle
// targets it), so no AbortSignal.any.

export class AbortedError extends Error {
  override name = 'AbortError';
  constructor(message = 'aborted', readonly reason?: unknown) {
    super(message);
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || err instanceof AbortedError);
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortErrorOf(signal);
}

export function abortErrorOf(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name === 'AbortError') return r;
  return new AbortedError(r instanceof Error ? r.message : 'aborted', r);
}

/** Resolves after `ms`, or rejects with an AbortError when `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortErrorOf(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortErrorOf(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Like sleep, but resolves (false) instead of rejecting when aborted; true when the time passed. */
export async function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * A signal that fires when any of `signals` fires (AbortSignal.any needs Node 20). Call dispose()
 * when done, so long-lived parents do not collect one listener per child.
 */
export function linkSignals(...signals: (AbortSignal | undefined)[]): { signal: AbortSignal; dispose(): void } {
  const ctrl = new AbortController();
  const undo: (() => void)[] = [];
  const dispose = () => {
    for (const u of undo.splice(0)) u();
  };
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) {
      ctrl.abort(s.reason);
      break;
    }
    const on = () => {
      ctrl.abort(s.reason);
      dispose();
    };
    s.addEventListener('abort', on, { once: true });
    undo.push(() => s.removeEventListener('abort', on));
  }
  if (ctrl.signal.aborted) dispose();
  return { signal: ctrl.signal, dispose };
}

/**
 * Exponential back-off with "equal jitter": half the step is fixed, half random, so many agents
 * that lost the API at the same moment do not come back in lockstep, and none retries at once.
 */
export class Backoff {
  private failures = 0;
  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const step = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.round(step / 2 + this.random() * (step / 2));
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}

/** The last `max` characters of a growing text (stderr tails). */
export class Tail {
  private text = '';
  constructor(private readonly max: number) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  toString(): string {
    const t = this.text.length > this.max ? '…' + this.text.slice(-this.max) : this.text;
    return t.trim();
  }
}
