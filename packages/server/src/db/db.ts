// One interface over the two PostgreSQL engines we run on: a server (`pg` pool) when DATABASE_URL
// is set, else embedded PGlite. Only PostgreSQL 15-compatible SQL goes through it.
import pg from 'pg';
import type { PGlite as PGliteType } from '@electric-sql/pglite';
import { LISTEN_RECONNECT_MS, LISTEN_RETRY_MS } from '../timing.js';

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Name for a server-side prepared statement (PostgreSQL; PGlite ignores it). Only for hot
   * statements whose text never varies: each name must always carry the same SQL.
   */
  prepare?: string;
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
  /** One LISTEN per process and channel; the callback gets every payload. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

// int8 counts and numeric prices come back as JS numbers on both engines.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

export class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  private listener: pg.Client | null = null;
  private listenerConnecting: Promise<pg.Client> | null = null;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private closed = false;

  constructor(connectionString: string, opts: { max?: number; applicationName?: string } = {}) {
    this.pool = new pg.Pool({
      connectionString,
      max: opts.max ?? 16,
      types: pgTypes,
      application_name: opts.applicationName ?? 'dc-api',
    });
    // An idle client losing its connection must not crash the process; the pool replaces it.
    this.pool.on('error', () => {});
  }

  async query<T>(sql: string, params: readonly unknown[] = [], opts: QueryOptions = {}): Promise<QueryResult<T>> {
    const r = await this.pool.query({ text: sql, values: params as unknown[], name: opts.prepare });
    return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Queryable = {
      async query<R>(sql: string, params: readonly unknown[] = [], opts: QueryOptions = {}) {
        const r = await client.query({ text: sql, values: params as unknown[], name: opts.prepare });
        return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
      },
      async exec(sql: string) {
        await client.query(sql);
      },
    };
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      client.release();
      throw err;
    }
  }

  private async listenerClient(): Promise<pg.Client> {
    if (this.listener) return this.listener;
    if (!this.listenerConnecting) {
      this.listenerConnecting = (async () => {
        const client = new pg.Client({ connectionString: (this.pool.options as { connectionString: string }).connectionString });
        client.on('notification', (n) => {
          for (const h of this.handlers.get(n.channel) ?? []) h(n.payload ?? '');
        });
        client.on('error', () => {
          // Reconnect lazily: the next listen() or the reconnect timer opens a new connection.
          this.listener = null;
          this.listenerConnecting = null;
          if (!this.closed) setTimeout(() => void this.relisten(), LISTEN_RECONNECT_MS).unref();
        });
        await client.connect();
        this.listener = client;
        return client;
      })();
      this.listenerConnecting.catch(() => {
        this.listenerConnecting = null;
      });
    }
    return this.listenerConnecting;
  }

  private async relisten(): Promise<void> {
    try {
      const client = await this.listenerClient();
      for (const ch of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
    } catch {
      if (!this.closed) setTimeout(() => void this.relisten(), LISTEN_RETRY_MS).unref();
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      const client = await this.listenerClient();
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    set.add(onNotify);
    return async () => {
      set.delete(onNotify);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    const l = this.listener;
    this.listener = null;
    if (l) await l.end().catch(() => {});
    await this.pool.end();
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

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const unsub = await this.pg.listen(channel, onNotify);
    return async () => unsub();
  }

  async close(): Promise<void> {
    await this.pg.close();
  }
}

export async function openDb(opts: { databaseUrl: string | null; dataDir: string | null; poolMax?: number }): Promise<Db> {
  if (opts.databaseUrl) return new PostgresDb(opts.databaseUrl, { max: opts.poolMax });
  return PgliteDb.open(opts.dataDir);
}
