// Long-poll wake-ups (DESIGN.md "Long-poll across replicas"). One LISTEN per replica on the work
// channel; a waiting request parks here until a notification for its provider arrives, its
// deadline passes, or the server shuts down. A notification is only a hint: the woken request
// re-queries and parks again if the work went to someone else.
import type { Db } from './db/db.js';
import { WORK_CHANNEL } from './store/work-notify.js';

/** Without any notification, parked requests re-check this often (lease expiry writes nothing). */
export const WAIT_RECHECK_MS = 2000;

interface Waiter {
  wake: () => void;
}

export class Dispatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private unlisten: (() => Promise<void>) | null = null;
  private closed = false;

  constructor(private readonly db: Db) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(WORK_CHANNEL, (provider) => this.wakeProvider(provider));
  }

  private wakeProvider(provider: string): void {
    const set = this.waiters.get(provider);
    if (!set) return;
    for (const w of set) w.wake();
  }

  /** Resolves when work may exist for `provider`, after `ms`, or at shutdown. */
  park(provider: string, ms: number): Promise<void> {
    if (this.closed || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(provider);
      if (!set) this.waiters.set(provider, (set = new Set()));
      const waiter: Waiter = {
        wake: () => {
          clearTimeout(timer);
          set!.delete(waiter);
          if (set!.size === 0) this.waiters.delete(provider);
          resolve();
        },
      };
      const timer = setTimeout(waiter.wake, Math.min(ms, WAIT_RECHECK_MS));
      set.add(waiter);
    });
  }

  /** Repeats `query` until it returns something or `waitSeconds` pass. */
  async poll<T>(provider: string, waitSeconds: number, query: () => Promise<T[]>): Promise<T[]> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const items = await query();
      const left = deadline - Date.now();
      if (items.length > 0 || left <= 0 || this.closed) return items;
      await this.park(provider, left);
    }
  }

  get parked(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  /** Answers every held long-poll (they return empty) and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.wake();
    await this.unlisten?.();
  }
}
