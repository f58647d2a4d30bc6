// Every time threshold of the server's own machinery, each with why it has this value. Wire limits
// are in core (limits.ts, signing.ts); operator settings (lease TTL, back-off base, offline
// cutoff, sweep interval) are in config.ts.
import { MAX_CLOCK_PAST_MS } from '@dc/core';

/** Back-off never grows past an hour: a fixed hypervisor should be retried the same day. */
export const MAX_BACKOFF_SECONDS = 3600;

/** A cool-down never grows past an hour either (DESIGN.md "Health"): a repaired host is back the same hour. */
export const MAX_COOLDOWN_SECONDS = 3600;
/** Fallback chains are followed this deep at most (cycles are refused; this only bounds the recursion). */
export const FALLBACK_CHAIN_MAX_DEPTH = 16;

/** Unused expired setup tokens are deleted hourly; until then their users get 410, not 401. */
export const TOKEN_SWEEP_SECONDS = 3600;

/** Spent nonces and old rate-limit windows are pruned every minute: both tables stay small. */
export const NONCE_SWEEP_SECONDS = 60;
/**
 * A nonce is kept for the signing window plus a minute: older timestamps are refused before the
 * nonce is looked at, so it can never be replayed; the minute covers replicas' clocks and a
 * request in flight while its nonce would be pruned.
 */
export const NONCE_KEEP_SECONDS = MAX_CLOCK_PAST_MS / 1000 + 60;

/** Rate limits count attempts in fixed windows of one minute (date_trunc('minute') in rate-limit.ts). */
export const RATE_LIMIT_WINDOW_SECONDS = 60;
/** Windows are kept for two minutes: the current one and the one just ended, nothing older counts. */
export const RATE_LIMIT_KEEP_SECONDS = 2 * RATE_LIMIT_WINDOW_SECONDS;

/**
 * A parked long-poll re-checks on its own at most this long after parking (a lost notice, a LISTEN
 * reconnect, or eligibility that changed by time alone: fallback timers, grace periods, cool-down
 * ends, agents going offline), jittered down to WAIT_FALLBACK_MIN_FRACTION of it.
 */
export const WAIT_FALLBACK_MS = 10_000;
export const WAIT_FALLBACK_MIN_FRACTION = 0.8;
/** The expiry timer re-reads the earliest lease at least this often (other replicas' grants are not announced). */
export const EXPIRY_RECHECK_MAX_MS = 10_000;
/** The expiry timer never fires sooner than this: leases expiring together are announced in one check. */
export const EXPIRY_RECHECK_MIN_MS = 20;
/** Fire a little after the lease's expiry time, so the check sees it expired by the database clock. */
export const EXPIRY_TIMER_SLACK_MS = 5;

/**
 * A lost LISTEN connection is reopened at once (wake-ups are late until it is back), then retried
 * after 100 ms, doubling to at most a second while the database is away.
 */
export const LISTEN_RETRY_FIRST_MS = 100;
export const LISTEN_RETRY_MAX_MS = 1000;

/**
 * An idle pooled connection is closed after this (pg's default is 10 s). Prepared statements live
 * per connection and the claim statement's plan takes ~100 ms of database CPU on a loaded 2-core
 * machine, so a pool that shrinks after every 10 s lull replans it on every burst.
 */
export const DB_IDLE_CLOSE_MS = 5 * 60_000;
/** Connecting to the database gives up after this: a request fails with 503, not after minutes. */
export const DB_CONNECT_TIMEOUT_MS = 5000;
/** Retry-After of a 503 database_unavailable: a restart takes a few seconds, a failover longer. */
export const DB_RETRY_AFTER_SECONDS = 2;

/**
 * SIGTERM: held long-polls answer at once and in-flight requests finish; what is still open after
 * this is cut so the process exits inside systemd's TimeoutStopSec (30 s in deploy/).
 */
export const DRAIN_TIMEOUT_MS = 20_000;
