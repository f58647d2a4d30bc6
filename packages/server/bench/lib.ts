// Shared pieces of the benchmark suite (bench/run.ts and the parts it runs): sizes, statistics,
// CPU and memory accounting from /proc, a lean signed HTTP client and SQL seeding helpers.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { COUNTRY_REGIONS, authorityOf, generateIdentity, signRequestHeaders, type Identity, type KeyHeader } from '@dc/core';
import type { Db, Queryable } from '../src/db/db.js';
import type { ApiResponse } from '../test/fixtures/agent-worker.js';

export const QUICK = process.env.BENCH_QUICK === '1';
export const SCALE = Number(process.env.BENCH_SCALE ?? '1');
if (!(SCALE > 0)) throw new Error('BENCH_SCALE must be a positive number');
/** A size: `full` times BENCH_SCALE in a full run, `quick` in BENCH_QUICK. */
export const sz = (full: number, quick: number) => (QUICK ? quick : Math.max(1, Math.round(full * SCALE)));
/** A duration or count that does not scale with BENCH_SCALE. */
export const pick = <T>(full: T, quick: T): T => (QUICK ? quick : full);

export const TTL_SECONDS = 300;
/** The operator key every replica trusts (DC_OPERATOR_PUBKEYS). */
export const operator = generateIdentity();

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function must<T extends ApiResponse>(r: T, what: string): T {
  if (r.status >= 300) throw new Error(`${what}: expected success, got ${r.status}: ${r.text}`);
  return r;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

// ---- statistics -----------------------------------------------------------------------------------

export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
export type Stats = { n: number; p50: number; p90: number; p99: number; max: number; mean: number };
export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, p50: pct(s, 0.5), p90: pct(s, 0.9), p99: pct(s, 0.99), max: s[s.length - 1] ?? NaN, mean };
}
export const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
export const mib = (kb: number | null | undefined) => (kb === null || kb === undefined || !Number.isFinite(kb) ? 'n/a' : (kb / 1024).toFixed(1));

/** Runs the jobs with at most `c` at a time. */
export async function pool<T>(items: T[], c: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(c, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

// ---- environment ----------------------------------------------------------------------------------

export interface Env {
  kind: 'postgres' | 'pglite';
  db: Db;
  urls: string[];
  pgVersion: string;
  /** Processes whose CPU time counts as "API" (the replicas; none on PGlite: the API runs in this process). */
  apiPids: number[];
  /** PostgreSQL: the server's URL as given (to create more databases) and the bench database's name. */
  adminUrl: string | null;
  dbName: string | null;
  /** VmRSS (KiB) of each API process shortly after start, before any traffic. */
  rssAtStart: (number | null)[];
  close(): Promise<void>;
}

// ---- CPU and memory from /proc ----------------------------------------------------------------------

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // assume 100 Hz
}
export function procCpuMs(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
  } catch {
    return null;
  }
}
/** VmRSS of a process in KiB (null when it is gone or not on Linux). */
export function procRssKb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
/** PostgreSQL backends connected to a database (this Db's own by default). */
export async function backendPids(db: Pick<Queryable, 'query'> & { kind?: string }, datname?: string): Promise<number[]> {
  if (db.kind === 'pglite') return [];
  const r = datname
    ? await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, [datname])
    : await db.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`);
  return r.rows.map((x) => x.pid);
}
export interface CpuSnapshot {
  api: Map<number, number>;
  db: Map<number, number>;
  self: NodeJS.CpuUsage;
}
const snapPids = (pids: number[]) => new Map(pids.flatMap((p) => { const v = procCpuMs(p); return v === null ? [] : [[p, v] as [number, number]]; }));
export interface CpuSplit {
  apiMs: number;
  dbMs: number;
  selfMs: number;
}
/** `dbPids` overrides which backends count (another database on the same server). */
export async function cpuSnapshot(env: Env, dbPids?: () => Promise<number[]>): Promise<CpuSnapshot> {
  return { api: snapPids(env.apiPids), db: snapPids(dbPids ? await dbPids() : await backendPids(env.db)), self: process.cpuUsage() };
}
/** CPU milliseconds spent between two snapshots by the API processes, the database backends and this process. */
export async function cpuSince(env: Env, before: CpuSnapshot, dbPids?: () => Promise<number[]>): Promise<CpuSplit> {
  const after = await cpuSnapshot(env, dbPids);
  // Backends that ended in between are lost; backends that started count from zero.
  const delta = (a: Map<number, number>, b: Map<number, number>) => [...a].reduce((sum, [pid, v]) => sum + v - (b.get(pid) ?? 0), 0);
  const self = process.cpuUsage(before.self);
  return { apiMs: env.kind === 'pglite' ? 0 : delta(after.api, before.api), dbMs: delta(after.db, before.db), selfMs: (self.user + self.system) / 1000 };
}
export const perItem = (c: CpuSplit, n: number): CpuSplit => ({ apiMs: c.apiMs / n, dbMs: c.dbMs / n, selfMs: c.selfMs / n });

// ---- a lean signed HTTP client ----------------------------------------------------------------------

/**
 * Like ApiClient (test/fixtures/agent-worker.ts), signs every request (DESIGN.md "Request
 * signing"), but on node:http with a caller-chosen keep-alive agent: fetch (undici) costs the
 * client several times more CPU per request, and at thousands of requests per second on two
 * cores the client's CPU would be what we measure.
 */
export class FastClient {
  readonly host: string;
  private readonly hostname: string;
  private readonly port: number;
  constructor(
    readonly baseUrl: string,
    readonly identity: Identity | null,
    readonly keyHeader: KeyHeader,
    readonly agent: http.Agent,
  ) {
    const u = new URL(baseUrl);
    this.host = authorityOf(baseUrl);
    this.hostname = u.hostname;
    this.port = Number(u.port || 80);
  }

  request<T = any>(method: string, path: string, body?: unknown, opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<ApiResponse<T>> {
    const raw = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(raw));
    }
    if (this.identity) Object.assign(headers, signRequestHeaders(this.identity, { method, host: this.host, path, body: raw }, { keyHeader: this.keyHeader }));
    return new Promise((resolve, reject) => {
      const req = http.request({ hostname: this.hostname, port: this.port, method, path, headers, agent: this.agent, signal: opts.signal, timeout: opts.timeoutMs ?? 15_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T, text });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 15_000} ms`)));
      req.on('error', reject);
      req.end(raw);
    });
  }
}

export const keepAliveAgent = (maxSockets = Infinity) => new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: Math.min(maxSockets, 1024), scheduling: 'lifo' });

// ---- SQL seeding ------------------------------------------------------------------------------------

export interface SeededPool {
  id: string;
  location: string;
  type: string;
  offerings: string[];
  agents: Identity[];
}
export interface Seeded {
  provider: Identity;
  pools: SeededPool[];
}

const countryOf = (region: string) => Object.entries(COUNTRY_REGIONS).find(([, r]) => r === region)![0];

/**
 * A provider with pools (each with `offerings` location-routed offerings of its region and type,
 * and `agents` active agents) written directly with SQL, as the API would leave them. Pools of
 * one (location, type) pair would shadow each other in routing, so give each pool its own pair.
 */
export async function seedProvider(db: Queryable, spec: { pools: { location: string; type: string; offerings: number; agents: number }[]; label: string }): Promise<Seeded> {
  const provider = generateIdentity();
  const pk = provider.publicKey;
  const tag = randomBytes(3).toString('hex');
  await db.query(`INSERT INTO provider_registrations (pubkey, name) VALUES ($1, $2)`, [pk, `Bench ${spec.label}`]);
  const pools: SeededPool[] = spec.pools.map((p, i) => ({
    id: `${spec.label}-${i}-${tag}`,
    location: p.location,
    type: p.type,
    offerings: Array.from({ length: p.offerings }, (_, j) => `${spec.label}-${i}-${j}`.toLowerCase()),
    agents: Array.from({ length: p.agents }, () => generateIdentity()),
  }));
  await db.query(
    `INSERT INTO agent_pools (pool_id, provider_pubkey, name, location, provisioner_type)
     SELECT u.id, $1, u.id, u.loc, u.typ FROM unnest($2::text[], $3::text[], $4::text[]) AS u(id, loc, typ)`,
    [pk, pools.map((p) => p.id), pools.map((p) => p.location), pools.map((p) => p.type)],
  );
  const off = pools.flatMap((p) => p.offerings.map((o) => ({ id: o, country: countryOf(p.location), region: p.location, type: p.type })));
  await db.query(
    `INSERT INTO provider_offerings (provider_pubkey, offering_id, name, product_type, datacenter_country, datacenter_region,
       monthly_price, currency, provisioner_type, provisioner_config)
     SELECT $1, u.id, 'Offering ' || u.id, 'compute', u.country, u.region, 10, 'EUR', u.typ, '{"template": 9000}'::jsonb
     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(id, country, region, typ)`,
    [pk, off.map((o) => o.id), off.map((o) => o.country), off.map((o) => o.region), off.map((o) => o.type)],
  );
  const ag = pools.flatMap((p) => p.agents.map((a) => ({ key: a.publicKey, pool: p.id })));
  await db.query(
    `INSERT INTO provider_agent_delegations (agent_pubkey, provider_pubkey, pool_id, permissions, label, issued_at, signature)
     SELECT u.agent, $1, u.pool, ARRAY['fetch_contracts', 'heartbeat', 'provision'], 'bench-' || u.i, now(), repeat('0', 128)
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(agent, pool, i)`,
    [pk, ag.map((a) => a.key), ag.map((a) => a.pool)],
  );
  return { provider, pools };
}

/**
 * `offeringIds.length` contracts (one per entry, created in that order), accepted by the provider;
 * payment `pending` (then paid through the API) or `succeeded` (ready to claim). Returns their ids.
 */
export async function seedContracts(db: Queryable, provider: string, offeringIds: string[], payment: 'pending' | 'succeeded'): Promise<string[]> {
  const ids = offeringIds.map(() => randomUUID());
  for (let at = 0; at < ids.length; at += 10_000) {
    await db.query(
      `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, status, payment_status, created_at)
       SELECT u.id, $1, u.offering_id, md5(u.id) || md5(u.offering_id || u.id), 'accepted', $4,
         clock_timestamp() + u.i * interval '1 microsecond'
       FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(id, offering_id, i) ORDER BY u.i`,
      [provider, ids.slice(at, at + 10_000), offeringIds.slice(at, at + 10_000), payment],
    );
  }
  return ids;
}
