// Long-poll wake-ups (DESIGN.md "Long-poll across replicas"). One LISTEN per replica on the work
// channel. A waiting request parks here with its provider and pool; a notice "provider pool n"
// wakes at most n waiters of that pool (then legacy, pool-less agents of the provider), so new
// work never wakes every agent. Lease expiry writes nothing, so a single timer per replica fires
// at the earliest lease expiry and announces expired leases the same way. A notice is only a hint:
// the woken request re-queries and parks again if another agent took the work.
// Capacity-aware (DESIGN.md "Fleet operations (v3)"): among a pool's waiters, the one with the most
// free provision slots (recorded at park time from its claim's eligibility read, plus the leases
// it ended through this replica since) is woken first, ties going to the least recently granted;
// best effort per replica.
import type { WorkAction } from '@dc/core';
import type { Db } from './db/db.js';
import { DEFAULT_AGENT_OFFLINE_AFTER_SECONDS } from './config.js';
import { EXPIRY_RECHECK_MAX_MS, EXPIRY_RECHECK_MIN_MS, EXPIRY_TIMER_SLACK_MS, WAIT_FALLBACK_MIN_FRACTION, WAIT_FALLBACK_MS } from './timing.js';
import { WORK_CHANNEL, expiredLeaseNotices, msUntilNextLeaseExpiry, parseWorkNotice, type WorkNotice } from './store/work-notify.js';

export interface WaitScope {
  provider: string;
  /** null: a legacy agent, woken for any of its provider's work. */
  poolId: string | null;
  /** The waiting agent and the work it asked for (default provision only): teardown notices wake their owner first. */
  agent?: string;
  actions?: readonly WorkAction[];
  /** Set by the work query before parking: free provision slots (null: unlimited) and the agent's last new grant. */
  freeSlots?: number | null;
  lastGrantedAt?: Date | null;
}

interface Waiter extends WaitScope {
  wake(): void;
}

/** Free slots as a sort key: unlimited (null) and unknown (a query that did not say) rank first. */
const slotsOf = (w: Waiter) => (w.freeSlots == null ? Infinity : w.freeSlots);

/** Wake order for provision work: most free slots first, then least recently granted (never granted first). */
function byCapacity(a: Waiter, b: Waiter): number {
  const free = slotsOf(b) - slotsOf(a);
  if (free !== 0 && !Number.isNaN(free)) return free;
  return (a.lastGrantedAt?.getTime() ?? -Infinity) - (b.lastGrantedAt?.getTime() ?? -Infinity) || 0;
}

export class Dispatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Notices seen per provider: a poll that saw it change while querying re-queries at once. */
  private readonly generation = new Map<string, number>();
  private unlisten: (() => Promise<void>) | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private expiryDueAt = 0;
  /** Database time of the last expiry check: each expiry is announced once. */
  private expiriesUntil: Date | null = null;
  private closed = false;
  /** Wake-ups sent, for tests and metrics: how many parked requests a notice released. */
  woken = 0;

  constructor(
    private readonly db: Db,
    /** Which fallback pools expired leases open reads the offline cutoff (DC_AGENT_OFFLINE_AFTER_SECONDS). */
    private readonly opts: { offlineAfterSeconds: number } = { offlineAfterSeconds: DEFAULT_AGENT_OFFLINE_AFTER_SECONDS },
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(
      WORK_CHANNEL,
      (payload) => {
        const notice = parseWorkNotice(payload);
        if (notice) this.announce(notice);
      },
      () => this.recheckAll(),
    );
  }

  /**
   * The LISTEN connection came back after a loss: notices sent meanwhile were lost, so every
   * parked request re-queries now instead of at its fallback timer (seconds later).
   */
  recheckAll(): void {
    for (const [provider, set] of [...this.waiters]) {
      this.generation.set(provider, (this.generation.get(provider) ?? 0) + 1);
      for (const w of [...set]) {
        w.wake();
        this.woken++;
      }
    }
  }

  /**
   * Wakes up to `count` waiters: the pool's own first (for provision work, most free slots first),
   * then the provider's legacy agents. An agent notice wakes only that agent's provision waiters.
   */
  announce({ provider, poolId, count, teardown, agent }: WorkNotice): void {
    this.generation.set(provider, (this.generation.get(provider) ?? 0) + 1);
    const set = this.waiters.get(provider);
    if (!set) return;
    let left = count;
    const pick = (match: (w: Waiter) => boolean) => {
      const matching = [...set].filter(match);
      if (!teardown) matching.sort(byCapacity);
      for (const w of matching) {
        if (left === 0) return;
        w.wake();
        this.woken++;
        left--;
      }
    };
    const wants = (w: Waiter) => (w.actions ?? ['provision']).includes(teardown ? 'terminate' : 'provision');
    if (agent !== undefined) {
      left = Infinity; // every request that agent holds here
      pick((w) => w.agent === agent && wants(w));
      return;
    }
    // A teardown wakes its owner; where the owner does not wait here, the pool's teardown takers
    // re-check (they take it only once the owner is no longer sticky).
    if (teardown?.owner) pick((w) => w.agent === teardown.owner && wants(w));
    if (teardown?.owner && left < count) return;
    if (poolId !== null) pick((w) => w.poolId === poolId && wants(w));
    pick((w) => w.poolId === null && wants(w));
  }

  /**
   * `agent` ended `n` provision leases through this replica (provisioned, failed): its requests
   * parked here rank with the slots that freed, not those they parked with. Best effort, like the
   * order itself: leases ended through another replica count from the waiter's next wake or
   * fallback re-check, and an exact repeat of a confirmation counts again until then.
   */
  slotsFreed(provider: string, agent: string, n: number): void {
    if (n <= 0) return;
    for (const w of this.waiters.get(provider) ?? []) if (w.agent === agent && w.freeSlots != null) w.freeSlots += n;
  }

  /** Resolves when work may exist for this scope, after `ms`, at shutdown, or when `signal` aborts. */
  park(scope: WaitScope, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(scope.provider);
      if (!set) this.waiters.set(scope.provider, (set = new Set()));
      const waiter: Waiter = {
        ...scope,
        wake: () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', waiter.wake);
          set!.delete(waiter);
          if (set!.size === 0) this.waiters.delete(scope.provider);
          resolve();
        },
      };
      // Jitter spreads fallback re-checks of many agents parked at the same moment, never past
      // WAIT_FALLBACK_MS: eligibility that changes by time alone is noticed within it.
      const fallback = WAIT_FALLBACK_MS * (WAIT_FALLBACK_MIN_FRACTION + Math.random() * (1 - WAIT_FALLBACK_MIN_FRACTION));
      const timer = setTimeout(waiter.wake, Math.min(ms, fallback));
      signal?.addEventListener('abort', waiter.wake);
      set.add(waiter);
      if (!this.expiryTimer) this.scheduleExpiryCheck(0);
    });
  }

  /**
   * Runs `query` until it returns something, `waitSeconds` pass, the server shuts down, or the
   * client goes away (`signal`: a claim must not grant leases to a closed connection).
   */
  async poll<T>(scope: WaitScope, waitSeconds: number, query: () => Promise<T[]>, signal?: AbortSignal): Promise<T[]> {
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const seen = this.generation.get(scope.provider) ?? 0;
      const items = await query();
      const left = deadline - Date.now();
      if (items.length > 0 || left <= 0 || this.closed || signal?.aborted) return items;
      // A notice that arrived while we queried may be for work our snapshot missed.
      if ((this.generation.get(scope.provider) ?? 0) !== seen) continue;
      await this.park(scope, left, signal);
      if (signal?.aborted) return [];
    }
  }

  get parked(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }

  /** A lease granted by this replica expires in `ms`: make sure the expiry timer fires by then. */
  leaseGranted(ms: number): void {
    if (this.parked === 0 || this.closed) return;
    if (this.expiryTimer && this.expiryDueAt <= Date.now() + ms) return;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.scheduleExpiryCheck(ms + EXPIRY_TIMER_SLACK_MS);
  }

  private scheduleExpiryCheck(ms: number): void {
    if (this.closed) return;
    this.expiryDueAt = Date.now() + ms;
    this.expiryTimer = setTimeout(() => {
      this.checkExpiries().then(
        (nextMs) => {
          this.expiryTimer = null;
          if (this.parked > 0) this.scheduleExpiryCheck(nextMs);
        },
        () => {
          this.expiryTimer = null;
          if (this.parked > 0) this.scheduleExpiryCheck(EXPIRY_RECHECK_MAX_MS);
        },
      );
    }, ms);
    this.expiryTimer.unref();
  }

  /** Announces leases that expired since the last check; returns ms until the next expiry. */
  private async checkExpiries(): Promise<number> {
    const { notices, checkedAt } = await expiredLeaseNotices(this.db, this.expiriesUntil, EXPIRY_RECHECK_MAX_MS / 1000, this.opts.offlineAfterSeconds);
    for (const notice of notices) this.announce(notice);
    if (checkedAt) this.expiriesUntil = checkedAt;
    const ms = await msUntilNextLeaseExpiry(this.db);
    return ms === null ? EXPIRY_RECHECK_MAX_MS : Math.min(Math.max(ms, EXPIRY_RECHECK_MIN_MS), EXPIRY_RECHECK_MAX_MS);
  }

  /** Answers every held long-poll (they return empty) and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.wake();
    await this.unlisten?.();
  }
}
