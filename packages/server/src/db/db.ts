// One interface over the two PostgreSQL engines we run on: a server (`pg` pool) when DATABASE_URL
// is set, else embedded PGlite. Only PostgreSQL 15-compatible SQL goes through it.
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import { DomainError } from '../errors.js';
import { DB_CONNECT_TIMEOUT_MS, DB_IDLE_CLOSE_MS, DB_RETRY_AFTER_SECONDS, LISTEN_RETRY_FIRST_MS, LISTEN_RETRY_MAX_MS } from '../timing.js';

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Name for a server-side prepared statement (PostgreSQL; PGlite ignores it), planned once per
   * connection. A string must always carry the same SQL; `true` names the statement by its text,
   * for statements built from a few variants. Only for statements whose text takes no values
   * (those go in parameters) and where one generic plan fits every call.
   */
  prepare?: string | true;
}

/** Statement names for `prepare: true`, by SQL text (a finite set: the text takes no values). */
const namesByText = new Map<string, string>();
function preparedName(sql: string): string {
  let name = namesByText.get(sql);
  if (name === undefined) {
    name = `dc_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    namesByText.set(sql, name);
  }
  return name;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], opts?: QueryOptions): Promise<QueryResult<T>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs fn in one transaction (READ COMMITTED); rolls back when fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * One LISTEN per process and channel; the callback gets every payload. `onReconnect` runs each
   * time the LISTEN connection is back after a loss: notices sent meanwhile are gone, re-check.
   */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>;
  /** False while the LISTEN connection is lost (wake-ups across replicas are not arriving). */
  readonly listening: boolean;
  /**
   * A small read for /readyz on a connection of its own: behind the request pool's queue, a
   * replica busy serving (a restart under load) answered its probes too late and never looked ready.
   */
  probe<T = Record<string, unknown>>(sql: string): Promise<QueryResult<T>>;
  close(): Promise<void>;
}

// int8 counts and numeric prices come back as JS numbers on both engines.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

// SQLSTATEs of a database that is going away, starting, overloaded or unreachable, and PgBouncer's
// "cannot reach the server" errors (08P01 is what it sends for them). Not bugs, not bad input.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006', '08P01']);
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
// node-postgres reports a dropped or timed-out connection with a message only. A query a request
// issues after its replica ended the pool (a long-poll woken during shutdown) is the same to the
// client: 503, retry on another replica.
const UNAVAILABLE_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Cannot use a pool after calling end on the pool)/;

/** True when `err` means the database cannot be reached right now (the request may be retried). */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DomainError) return err.code === 'database_unavailable';
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
  return UNAVAILABLE_MESSAGE.test((err as { message?: string }).message ?? '');
}

/** A database-unavailable error becomes the 503 the API answers; everything else passes through. */
function translate(err: unknown): unknown {
  if (!isDatabaseUnavailable(err) || err instanceof DomainError) return err;
  // The cause is logged (app.ts), never sent.
  return Object.assign(new DomainError('database_unavailable', undefined, {}, DB_RETRY_AFTER_SECONDS), { cause: err });
}

class ConnectTimeoutClient extends pg.Client {
  constructor(config: pg.ClientConfig) {
    super({ ...config, connectionTimeoutMillis: DB_CONNECT_TIMEOUT_MS });
  }
}

export interface PostgresOptions {
  max?: number;
  applicationName?: string;
  /** A direct connection for LISTEN when the pool goes through a transaction-pooling PgBouncer. */
  listenUrl?: string | null;
  /** false: no named prepared statements (poolers that cannot keep them, PgBouncer < 1.21). */
  preparedStatements?: boolean;
}

/** Startup option: named prepared statements keep one generic plan per connection. */
export const GENERIC_PLANS_OPTION = '-c plan_cache_mode=force_generic_plan';

export class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly probePool: pg.Pool;
  private readonly listenUrl: string;
  private readonly prepared: boolean;
  private readonly applicationName: string;
  private listener: pg.Client | null = null;
  private listenerConnecting: Promise<pg.Client> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectAttempts = 0;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private readonly reconnectHooks = new Set<() => void>();
  private closed = false;

  constructor(connectionString: string, opts: PostgresOptions = {}) {
    this.applicationName = opts.applicationName ?? 'dc-api';
    this.listenUrl = opts.listenUrl ?? connectionString;
    this.prepared = opts.preparedStatements ?? true;
    this.pool = new pg.Pool({
      connectionString,
      max: opts.max ?? 16,
      idleTimeoutMillis: DB_IDLE_CLOSE_MS,
      types: pgTypes,
      application_name: this.applicationName,
      // Named statements (the hot paths: QueryOptions.prepare) are planned once per connection. A
      // custom plan per call cost the claim statement ~6 ms of planning for ~2 ms of execution.
      // Only on a direct connection: a separate LISTEN URL means a pooler (PgBouncer), which
      // refuses startup options it does not track.
      ...(this.prepared && !opts.listenUrl && { options: GENERIC_PLANS_OPTION }),
      // An unreachable host fails a request in seconds, not after the kernel's TCP timeout. Only
      // opening a connection is bounded: the pool's own timeout would also bound the wait for a
      // free connection and turn a busy replica's queueing into 503s.
      Client: ConnectTimeoutClient as unknown as new () => pg.ClientBase,
      // A peer that vanished (failover, cut network) is noticed on idle connections too.
      keepAlive: true,
    });
    this.probePool = new pg.Pool({
      connectionString,
      max: 1,
      types: pgTypes,
      application_name: `${this.applicationName} probe`,
      Client: ConnectTimeoutClient as unknown as new () => pg.ClientBase,
      keepAlive: true,
    });
    // A connection lost while idle must not crash the process; the pool replaces it.
    this.probePool.on('error', () => {});
    this.probePool.on('connect', (client) => client.on('error', () => {}));
    this.pool.on('error', () => {});
    // Nor while checked out between two queries (pg emits 'error' on the client then, and an
    // unlistened 'error' event kills the process): the next query on it fails and it is dropped.
    this.pool.on('connect', (client) => client.on('error', () => {}));
  }

  get listening(): boolean {
    return this.handlers.size === 0 || this.listener !== null;
  }

  private statement(sql: string, params: readonly unknown[], opts: QueryOptions): pg.QueryConfig {
    const name = !this.prepared || opts.prepare === undefined ? undefined : opts.prepare === true ? preparedName(sql) : opts.prepare;
    return { text: sql, values: params as unknown[], name };
  }

  async query<T>(sql: string, params: readonly unknown[] = [], opts: QueryOptions = {}): Promise<QueryResult<T>> {
    try {
      const r = await this.pool.query(this.statement(sql, params, opts));
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw translate(err);
    }
  }

  async probe<T>(sql: string): Promise<QueryResult<T>> {
    try {
      const r = await this.probePool.query(sql);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw translate(err);
    }
  }

  async exec(sql: string): Promise<void> {
    try {
      await this.pool.query(sql);
    } catch (err) {
      throw translate(err);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw translate(err);
    }
    const statement = this.statement.bind(this);
    const tx: Queryable = {
      async query<R>(sql: string, params: readonly unknown[] = [], opts: QueryOptions = {}) {
        try {
          const r = await client.query(statement(sql, params, opts));
          return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
        } catch (err) {
          throw translate(err);
        }
      },
      async exec(sql: string) {
        try {
          await client.query(sql);
        } catch (err) {
          throw translate(err);
        }
      },
    };
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      // A connection that cannot even roll back is broken: destroy it instead of pooling it.
      const rollback = await client.query('ROLLBACK').then(() => null, (e: Error) => e);
      client.release(rollback ?? undefined);
      throw translate(err);
    }
  }

  /** The LISTEN connection, opened once; on loss it is reopened at once (see listenerLost). */
  private listenerClient(): Promise<pg.Client> {
    if (this.listener) return Promise.resolve(this.listener);
    if (!this.listenerConnecting) {
      this.listenerConnecting = (async () => {
        const client = new pg.Client({
          connectionString: this.listenUrl,
          application_name: this.applicationName,
          connectionTimeoutMillis: DB_CONNECT_TIMEOUT_MS,
          keepAlive: true,
        });
        client.on('notification', (n) => {
          for (const h of this.handlers.get(n.channel) ?? []) h(n.payload ?? '');
        });
        // A server restart ends the connection with an error, a pooler or a proxy sometimes
        // without one: either way it is lost.
        client.on('error', () => this.listenerLost(client));
        client.on('end', () => this.listenerLost(client));
        try {
          await client.connect();
          for (const ch of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
        } catch (err) {
          client.end().catch(() => {});
          throw err;
        }
        if (this.closed) {
          await client.end().catch(() => {});
          throw new Error('database closed');
        }
        this.listener = client;
        return client;
      })().finally(() => {
        this.listenerConnecting = null;
      });
    }
    return this.listenerConnecting;
  }

  private listenerLost(client: pg.Client): void {
    if (this.listener !== client) return;
    this.listener = null;
    client.end().catch(() => {});
    this.reconnectAttempts = 0;
    this.scheduleReconnect(0);
  }

  /** Reopens LISTEN at once, then with a short back-off while the database is away. */
  private scheduleReconnect(ms: number): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.listenerClient().then(
        () => {
          this.reconnectAttempts = 0;
          for (const hook of this.reconnectHooks) hook();
        },
        () => {
          this.reconnectAttempts++;
          this.scheduleReconnect(Math.min(LISTEN_RETRY_MAX_MS, LISTEN_RETRY_FIRST_MS * 2 ** (this.reconnectAttempts - 1)));
        },
      );
    }, ms);
    this.reconnectTimer.unref();
  }

  async listen(channel: string, onNotify: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      // LISTEN is idempotent: repeated in case a connection being opened missed the new channel.
      const client = await this.listenerClient();
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    set.add(onNotify);
    if (onReconnect) this.reconnectHooks.add(onReconnect);
    return async () => {
      set.delete(onNotify);
      if (onReconnect) this.reconnectHooks.delete(onReconnect);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const l = this.listener;
    this.listener = null;
    if (l) await l.end().catch(() => {});
    await Promise.all([this.pool.end(), this.probePool.end()]);
  }
}

export class PgliteDb implements Db {
  readonly kind = 'pglite' as const;
  constructor(readonly pg: PGliteType) {}

  static async open(dataDir: string | null): Promise<PgliteDb> {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
    return new PgliteDb(db);
  }

  async query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    const r = await this.pg.query<T>(sql, params as unknown[]);
    return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
  }

  async exec(sql: string): Promise<void> {
    await this.pg.exec(sql);
  }

  /** PGlite runs one statement at a time anyway: a probe is a query. */
  probe<T>(sql: string): Promise<QueryResult<T>> {
    return this.query<T>(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.pg.transaction(async (t) =>
      fn({
        async query<R>(sql: string, params: readonly unknown[] = []) {
          const r = await t.query<R>(sql, params as unknown[]);
          return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
        },
        async exec(sql: string) {
          await t.exec(sql);
        },
      }),
    );
  }

  /** In-process: the listener cannot be lost, so onReconnect never runs. */
  readonly listening = true;

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const unsub = await this.pg.listen(channel, onNotify);
    return async () => unsub();
  }

  async close(): Promise<void> {
    await this.pg.close();
  }
}

export async function openDb(opts: {
  databaseUrl: string | null;
  dataDir: string | null;
  poolMax?: number;
  listenUrl?: string | null;
  preparedStatements?: boolean;
}): Promise<Db> {
  if (opts.databaseUrl) {
    return new PostgresDb(opts.databaseUrl, { max: opts.poolMax, listenUrl: opts.listenUrl, preparedStatements: opts.preparedStatements });
  }
  return PgliteDb.open(opts.dataDir);
}
