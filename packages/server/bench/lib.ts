// Shared pieces of the benchmark suite (bench/run.ts and the parts it runs): sizes, statistics,
// CPU and memory accounting from /proc and SQL seeding helpers. The signed HTTP client, free
// ports and readiness polling come from @dc/testkit.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { COUNTRY_REGIONS } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import type { SignedClient } from '@dc/testkit';
import type { Db, Queryable } from '../src/db/db.js';
import { refreshRoutes } from '../src/store/routing.js';

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
  /** One signed client per URL, on one keep-alive agent that close() destroys. */
  clients: SignedClient[];
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

/** The client of replica `i` modulo the replica count (round-robin spreading). */
export const replica = (env: Env, i: number): SignedClient => env.clients[i % env.clients.length]!;

// ---- scratch databases -------------------------------------------------------------------------------

export interface ScratchDatabases {
  /** The connection to the server's own database: creates and drops, and reads other databases' backends. */
  admin: pg.Client;
  /** Creates database `name` and answers its connection string. */
  create(name: string): Promise<string>;
  /** Drops every database created here (unless `keep`) and ends the admin connection. */
  close(opts?: { keep?: boolean }): Promise<void>;
}

export async function scratchDatabases(adminUrl: string): Promise<ScratchDatabases> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const created: string[] = [];
  let closed = false;
  return {
    admin,
    async create(name) {
      await admin.query(`CREATE DATABASE ${name}`);
      created.push(name);
      const u = new URL(adminUrl);
      u.pathname = `/${name}`;
      return u.toString();
    },
    async close(opts = {}) {
      if (closed) return;
      closed = true;
      if (!opts.keep) for (const name of created) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await admin.end();
    },
  };
}

/** EXPLAIN (ANALYZE, BUFFERS) of one statement in a rolled-back transaction, run twice: the lines of the second (warm) plan. */
export async function explainAnalyze(url: string, sql: string, params: readonly unknown[]): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    let lines: string[] = [];
    for (let k = 0; k < 2; k++) {
      await c.query('BEGIN');
      const r = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, [...params]);
      await c.query('ROLLBACK');
      lines = r.rows.map((x) => x['QUERY PLAN']);
    }
    return lines;
  } finally {
    await c.end();
  }
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
  await refreshRoutes(db, pk); // rows written with SQL: store their routes as the API would
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
