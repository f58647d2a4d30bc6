// Confirmations that complete together go out as one batch request (DESIGN.md "v3, batches";
// issue 14). A lone confirmation is sent at once as its single call: only items that arrive
// while a request of their kind is in flight wait, and never longer than that request or
// BATCH_WINDOW_MS. Every caller still gets its own item's outcome, as the same ApiError the single
// call would have thrown, so classify() and withRetry treat it exactly as before.
import { BATCH_MAX, type BatchItemResult, type BatchResult } from '@dc/core';
import { ApiError, NetworkError } from '../errors.js';
import { abortErrorOf } from '../util.js';

/** Longest a queued confirmation waits for the in-flight request before going out anyway. */
export const BATCH_WINDOW_MS = 50;

/** One kind of confirmation (provisioned, failed, terminated): its single and its batch call. */
export interface ConfirmKind<I extends { contract_id: string }> {
  /** The single call: a lone confirmation, and every one once the API lacks the batch route. */
  single(item: I, signal?: AbortSignal): Promise<unknown>;
  /** The batch call; throws what the transport throws for the whole request. */
  batch(items: I[]): Promise<BatchResult>;
  /** "POST <path>" of the item's single call, for an error message the answer does not carry. */
  describe(item: I): string;
}

interface Pending<I> {
  item: I;
  signal?: AbortSignal;
  settled: boolean;
  settle(err: unknown): void;
}

export class ConfirmBatcher<I extends { contract_id: string }> {
  private queue: Pending<I>[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Off for good once the API answered the batch path 404/405: a dc-api from before batches. */
  private batchSupported = true;

  constructor(
    private readonly kind: ConfirmKind<I>,
    private readonly windowMs = BATCH_WINDOW_MS,
  ) {}

  submit(item: I, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortErrorOf(signal));
    if (!this.batchSupported) return this.kind.single(item, signal).then(() => undefined);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        // Not sent yet: it leaves the queue. Sent in a batch: the others' request goes on, but
        // this caller stops waiting, as an aborted single call would.
        this.queue = this.queue.filter((q) => q !== p);
        p.settle(abortErrorOf(signal!));
      };
      const p: Pending<I> = {
        item,
        signal,
        settled: false,
        settle(err) {
          if (p.settled) return;
          p.settled = true;
          signal?.removeEventListener('abort', onAbort);
          if (err === null) resolve();
          else reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.inFlight === 0 && this.queue.length === 0) return this.sendSingle(p);
      this.queue.push(p);
      if (this.queue.length >= BATCH_MAX) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.windowMs);
    });
  }

  /** Counts `req` as in flight; when it settles, whatever queued meanwhile goes out. */
  private track<T>(req: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = () => {
      this.inFlight--;
      if (this.queue.length > 0) this.flush();
    };
    req.then(done, done);
    return req;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const queued = this.queue;
    this.queue = [];
    // At most BATCH_MAX items per request, and a contract id once (the API refuses repeats).
    const chunks: Pending<I>[][] = [];
    let chunk: Pending<I>[] = [];
    let ids = new Set<string>();
    for (const p of queued) {
      if (chunk.length >= BATCH_MAX || ids.has(p.item.contract_id)) {
        chunks.push(chunk);
        chunk = [];
        ids = new Set();
      }
      chunk.push(p);
      ids.add(p.item.contract_id);
    }
    if (chunk.length > 0) chunks.push(chunk);
    for (const c of chunks) {
      // A batch of one saves nothing: the single call is the reference answer anyway.
      if (c.length === 1 || !this.batchSupported) c.forEach((p) => this.sendSingle(p));
      else this.sendBatch(c);
    }
  }

  private sendSingle(p: Pending<I>): void {
    if (p.settled) return;
    this.track(this.kind.single(p.item, p.signal)).then(
      () => p.settle(null),
      (err) => p.settle(err),
    );
  }

  private sendBatch(chunk: Pending<I>[]): void {
    this.track(this.kind.batch(chunk.map((p) => p.item))).then(
      (answer) => {
        const byId = new Map(answer.items.map((r) => [r.contract_id, r]));
        for (const p of chunk) {
          const r = byId.get(p.item.contract_id);
          if (!r) p.settle(new NetworkError(`${this.kind.describe(p.item)}: the batch answer has no item for this contract`));
          else p.settle(r.status >= 200 && r.status < 300 ? null : itemError(r, this.kind.describe(p.item)));
        }
      },
      (err) => {
        if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
          this.batchSupported = false;
          chunk.forEach((p) => this.sendSingle(p));
        } else if (err instanceof ApiError && err.status === 400) {
          // Malformed as a whole (one item's body, say): each item gets its own answer instead.
          chunk.forEach((p) => this.sendSingle(p));
        } else {
          // Network, 5xx, 429, 401: every item failed as its single call would have; withRetry decides.
          chunk.forEach((p) => p.settle(err));
        }
      },
    );
  }
}

/** The ApiError the transport builds from the single call's status and error body. */
function itemError(r: BatchItemResult, what: string): ApiError {
  const code = typeof r.error?.code === 'string' ? r.error.code : `http_${r.status}`;
  const message = typeof r.error?.message === 'string' ? r.error.message : `HTTP ${r.status} from ${what}`;
  return new ApiError(r.status, code, message);
}
