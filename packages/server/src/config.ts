// Configuration from the environment (DESIGN.md "Running and configuration"). Every variable is
// optional; a bad value is a ConfigError naming the variable, which main() prints before exiting.
import { HEX_KEY_RE } from '@dc/core';

export class ConfigError extends Error {}

// Defaults of the operator settings (DESIGN.md "Running and configuration"), each with why.
export const DEFAULT_PORT = 8080;
/** A lease outlives one slow provisioning step; agents renew well before it runs out. */
export const DEFAULT_LOCK_TTL_SECONDS = 300;
/** Expired leases are cleared within a minute even when no request touches them. */
export const DEFAULT_LOCK_SWEEP_SECONDS = 60;
/** Agents beat every third of this (30 s): one or two lost beats never mark an agent offline. */
export const DEFAULT_AGENT_OFFLINE_AFTER_SECONDS = 90;
/** The first retry after a failure waits half a minute, doubling each time. */
export const DEFAULT_RETRY_BACKOFF_SECONDS = 30;
/** After five failed attempts a person looks at the contract (provisioning_failed). */
export const DEFAULT_MAX_PROVISION_ATTEMPTS = 5;
/** A teardown waits this long for the agent that built the machine before others of its pool may take it. */
export const DEFAULT_STICKY_GRACE_SECONDS = 600;
/** Three agent-class failures in a row (or expiries) mean the agent, not one contract, is broken. */
export const DEFAULT_AGENT_FAILURE_THRESHOLD = 3;
/** The first cool-down is a minute (doubling with each further one, at most MAX_COOLDOWN_SECONDS). */
export const DEFAULT_AGENT_COOLDOWN_SECONDS = 60;
/** After X fails a contract, other agents of its pool get two minutes to take it first. */
export const DEFAULT_RETRY_ELSEWHERE_SECONDS = 120;
/** Enough for a provider setting up a rack by hand; too few to guess a token. */
export const DEFAULT_SETUP_RATE_LIMIT_PER_MINUTE = 30;
const MIB = 1_048_576;
/** A year of audit history: who changed what is asked about long after the fact. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 365;
/** Pool gauges on /metrics are recomputed at most this often per replica (one grouped query). */
export const DEFAULT_POOL_METRICS_SECONDS = 5;
/** JSON bodies are a few KiB; a MiB leaves room for large instance details. */
export const DEFAULT_BODY_LIMIT_BYTES = MIB;
/** CSV imports carry tens of thousands of offerings at once. */
export const CSV_BODY_LIMIT_MIN_BYTES = 8 * MIB;

// Ranges an operator may set: wide, only to catch typos (a TTL of a week, a 0-byte body limit).
const ONE_DAY_SECONDS = 86_400;
const ONE_HOUR_SECONDS = 3600;
const MAX_ATTEMPTS_LIMIT = 1000;
const RATE_LIMIT_MAX = 1_000_000;
const BODY_LIMIT_RANGE = [1024, 1024 * MIB] as const;
/** More proxy hops than this is a misconfiguration, not a network. */
const PROXY_HOPS_MAX = 99;

export interface Config {
  port: number;
  host: string;
  databaseUrl: string | null;
  /** A direct connection for LISTEN when DATABASE_URL goes through a transaction pooler (null: DATABASE_URL). */
  databaseListenUrl: string | null;
  /** Named prepared statements for hot queries (off for poolers that cannot keep them). */
  preparedStatements: boolean;
  dataDir: string;
  publicUrl: string | null;
  lockTtlSeconds: number;
  lockSweepSeconds: number;
  agentOfflineAfterSeconds: number;
  retryBackoffSeconds: number;
  maxProvisionAttempts: number;
  stickyGraceSeconds: number;
  /** Fleet operations (DESIGN.md v3): consecutive agent-class failures before a cool-down, its first length, retry-elsewhere window. */
  agentFailureThreshold: number;
  agentCooldownSeconds: number;
  retryElsewhereSeconds: number;
  setupRateLimitPerMinute: number;
  /** Proxy hops whose X-Forwarded-For entries are trusted (0: ignore the header). */
  trustProxy: number;
  bodyLimitBytes: number;
  csvBodyLimitBytes: number;
  operatorPubkeys: string[];
  logLevel: string;
  /** Audit rows older than this many days are deleted by the sweeper. */
  auditRetentionDays: number;
  /** Seconds a replica reuses its per-pool gauges before recomputing them. */
  poolMetricsSeconds: number;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^[0-9]+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

/**
 * DC_TRUST_PROXY: true (one proxy in front) or a hop count. Only the entries appended by trusted
 * proxies are used, so a client cannot pick its own address by sending X-Forwarded-For itself.
 */
function proxyHops(env: Env): number {
  const raw = (env.DC_TRUST_PROXY ?? '').trim();
  if (/^[0-9]+$/.test(raw) && Number(raw) <= PROXY_HOPS_MAX) return Number(raw);
  return bool(env, 'DC_TRUST_PROXY') ? 1 : 0;
}

export function loadConfig(env: Env = process.env): Config {
  const publicUrl = env.DC_PUBLIC_URL?.trim() || null;
  if (publicUrl !== null) {
    let u: URL;
    try {
      u = new URL(publicUrl);
    } catch {
      throw new ConfigError(`DC_PUBLIC_URL must be an absolute URL such as https://api.example.net, got "${publicUrl}"`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      throw new ConfigError(`DC_PUBLIC_URL must use http or https, got "${publicUrl}"`);
    }
  }
  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql://');
  }
  const databaseListenUrl = env.DATABASE_LISTEN_URL?.trim() || null;
  if (databaseListenUrl !== null) {
    if (!/^postgres(ql)?:\/\//.test(databaseListenUrl)) throw new ConfigError('DATABASE_LISTEN_URL must start with postgres:// or postgresql://');
    if (databaseUrl === null) throw new ConfigError('DATABASE_LISTEN_URL needs DATABASE_URL (it is the LISTEN connection beside a pooled DATABASE_URL)');
  }
  const prepared = (env.DC_PREPARED_STATEMENTS ?? '').trim().toLowerCase();
  if (!['', 'on', 'off'].includes(prepared)) throw new ConfigError(`DC_PREPARED_STATEMENTS must be on or off, got "${env.DC_PREPARED_STATEMENTS}"`);
  const operatorPubkeys = (env.DC_OPERATOR_PUBKEYS ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  for (const k of operatorPubkeys) {
    if (!HEX_KEY_RE.test(k)) throw new ConfigError(`DC_OPERATOR_PUBKEYS must be comma-separated 64-hex keys; "${k}" is not one`);
  }
  const logLevel = (env.LOG_LEVEL ?? 'info').trim();
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${logLevel}"`);
  }
  const host = env.HOST?.trim() || '127.0.0.1';
  const bodyLimitBytes = int(env, 'DC_BODY_LIMIT_BYTES', DEFAULT_BODY_LIMIT_BYTES, ...BODY_LIMIT_RANGE);
  return {
    port: int(env, 'PORT', DEFAULT_PORT, 0, 65535),
    host,
    databaseUrl,
    databaseListenUrl,
    preparedStatements: prepared !== 'off',
    dataDir: env.DC_DATA_DIR?.trim() || './data',
    publicUrl: publicUrl?.replace(/\/+$/, '') ?? null,
    lockTtlSeconds: int(env, 'DC_LOCK_TTL_SECONDS', DEFAULT_LOCK_TTL_SECONDS, 1, ONE_DAY_SECONDS),
    lockSweepSeconds: int(env, 'DC_LOCK_SWEEP_SECONDS', DEFAULT_LOCK_SWEEP_SECONDS, 1, ONE_DAY_SECONDS),
    agentOfflineAfterSeconds: int(env, 'DC_AGENT_OFFLINE_AFTER_SECONDS', DEFAULT_AGENT_OFFLINE_AFTER_SECONDS, 1, ONE_DAY_SECONDS),
    retryBackoffSeconds: int(env, 'DC_RETRY_BACKOFF_SECONDS', DEFAULT_RETRY_BACKOFF_SECONDS, 0, ONE_HOUR_SECONDS),
    maxProvisionAttempts: int(env, 'DC_MAX_PROVISION_ATTEMPTS', DEFAULT_MAX_PROVISION_ATTEMPTS, 1, MAX_ATTEMPTS_LIMIT),
    stickyGraceSeconds: int(env, 'DC_STICKY_GRACE_SECONDS', DEFAULT_STICKY_GRACE_SECONDS, 0, ONE_DAY_SECONDS),
    agentFailureThreshold: int(env, 'DC_AGENT_FAILURE_THRESHOLD', DEFAULT_AGENT_FAILURE_THRESHOLD, 1, MAX_ATTEMPTS_LIMIT),
    agentCooldownSeconds: int(env, 'DC_AGENT_COOLDOWN_SECONDS', DEFAULT_AGENT_COOLDOWN_SECONDS, 1, ONE_HOUR_SECONDS),
    retryElsewhereSeconds: int(env, 'DC_RETRY_ELSEWHERE_SECONDS', DEFAULT_RETRY_ELSEWHERE_SECONDS, 0, ONE_DAY_SECONDS),
    setupRateLimitPerMinute: int(env, 'DC_SETUP_RATE_LIMIT_PER_MINUTE', DEFAULT_SETUP_RATE_LIMIT_PER_MINUTE, 1, RATE_LIMIT_MAX),
    trustProxy: proxyHops(env),
    bodyLimitBytes,
    csvBodyLimitBytes: Math.max(bodyLimitBytes, CSV_BODY_LIMIT_MIN_BYTES),
    operatorPubkeys,
    logLevel,
    auditRetentionDays: int(env, 'DC_AUDIT_RETENTION_DAYS', DEFAULT_AUDIT_RETENTION_DAYS, 1, 36_500),
    poolMetricsSeconds: int(env, 'DC_POOL_METRICS_SECONDS', DEFAULT_POOL_METRICS_SECONDS, 1, ONE_HOUR_SECONDS),
  };
}
