// A PostgreSQL instance of the test's own (initdb into a temp dir, a free port), for drills that
// stop, crash and restart the database: the shared server at 127.0.0.1:5432 is never touched.
// Optionally a PgBouncer in transaction mode in front of it. Servers run as the `postgres` OS user
// when the test runs as root (initdb, postgres and pgbouncer refuse root).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, sleep } from '@dc/testkit';

/** Debian's PostgreSQL 15 binaries (CI installs the `postgresql` package). */
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Why a private instance cannot run here, or null when it can. */
export function privatePgUnavailable(): string | null {
  if (!existsSync(join(PG_BIN, 'initdb'))) return `no PostgreSQL binaries in ${PG_BIN} (set PG_BIN)`;
  return null;
}

export function pgBouncerUnavailable(): string | null {
  try {
    execFileSync('pgbouncer', ['--version'], { stdio: 'ignore' });
    return null;
  } catch {
    return 'pgbouncer is not installed (apt-get install pgbouncer)';
  }
}

const asRoot = process.getuid?.() === 0;
const pgUser = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString().trim()) : null;
const pgGroup = asRoot ? Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) : null;

/** argv run as the postgres OS user when we are root. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

function run(cmd: string, args: string[]): string {
  const [c, a] = asPostgres(cmd, args);
  return execFileSync(c, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface PrivatePg {
  port: number;
  /** Superuser connection string to database `postgres`. */
  url: string;
  /** Connection string for another database on this instance. */
  urlFor(database: string): string;
  dir: string;
  stop(mode: StopMode): Promise<void>;
  start(): Promise<void>;
  /** pg_ctl restart -m mode: `fast` is a clean restart, `immediate` a crash (recovery on start). */
  restart(mode: StopMode): Promise<void>;
  /** Stops the server (immediate) and deletes its directory. */
  close(): Promise<void>;
}

export async function startPrivatePg(): Promise<PrivatePg> {
  const dir = mkdtempSync(join(tmpdir(), 'dc-pg-'));
  if (asRoot) chownSync(dir, pgUser!, pgGroup!);
  const data = join(dir, 'data');
  const port = await freePort();
  run(join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  // No fsync (the drills crash PostgreSQL, never the machine: the OS keeps what was written), but
  // synchronous commit stays on: a crash must not lose commits a client was told about, or the
  // drills would count the lost confirmations as double provisioning. Sockets in our directory,
  // TCP on 127.0.0.1 only.
  writeFileSync(
    join(data, 'postgresql.auto.conf'),
    [`port = ${port}`, `listen_addresses = '127.0.0.1'`, `unix_socket_directories = '${dir}'`, 'fsync = off', 'full_page_writes = off',
      'max_connections = 200', 'shared_buffers = 64MB', ''].join('\n'),
  );
  if (asRoot) chownSync(join(data, 'postgresql.auto.conf'), pgUser!, pgGroup!);
  const ctl = (...args: string[]) => run(join(PG_BIN, 'pg_ctl'), ['-D', data, '-l', join(dir, 'log'), ...args]);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const instance: PrivatePg = {
    port,
    url,
    urlFor: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    dir,
    async stop(mode) {
      ctl('stop', '-m', mode, '-w');
    },
    async start() {
      ctl('start', '-w', '-t', '60');
    },
    async restart(mode) {
      ctl('restart', '-m', mode, '-w', '-t', '60');
    },
    async close() {
      try {
        ctl('stop', '-m', 'immediate', '-w');
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await instance.start();
  return instance;
}

/** Creates a database on the instance; returns its connection string. */
export async function createDatabase(instance: PrivatePg, name: string): Promise<string> {
  const c = new pg.Client({ connectionString: instance.url });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await c.end();
  }
  return instance.urlFor(name);
}

export interface PgBouncer {
  port: number;
  /** Connection string through PgBouncer for `database`. */
  urlFor(database: string): string;
  close(): Promise<void>;
}

/**
 * PgBouncer in transaction mode in front of `upstream` (host:port), every database passed through,
 * no authentication (127.0.0.1 only). Debian 12's 1.18 keeps no prepared statements in this mode.
 */
export async function startPgBouncer(upstream: { host?: string; port: number }, opts: { poolSize?: number } = {}): Promise<PgBouncer> {
  const dir = mkdtempSync(join(tmpdir(), 'dc-pgbouncer-'));
  if (asRoot) chownSync(dir, pgUser!, pgGroup!);
  const port = await freePort();
  writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${upstream.host ?? '127.0.0.1'} port=${upstream.port}`,
      '[pgbouncer]',
      `listen_addr = 127.0.0.1`,
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${opts.poolSize ?? 40}`,
      'max_client_conn = 2000',
      // A dropped database (tests drop theirs) must not leave pooled server connections behind.
      'server_check_delay = 0',
      // After a failed connection to the server PgBouncer waits this long before trying again
      // (default 15 s: a database restart would look like a 15 s outage).
      'server_login_retry = 1',
      'ignore_startup_parameters = extra_float_digits,options',
      '',
    ].join('\n'),
  );
  const [c, a] = asPostgres('pgbouncer', [join(dir, 'pgbouncer.ini')]);
  const proc: ChildProcess = spawn(c, a, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`pgbouncer exited: ${stderr}`);
    try {
      const cl = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
      await cl.connect();
      await cl.end();
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`pgbouncer not answering: ${(err as Error).message} ${stderr}`);
      await sleep(100);
    }
  }
  return {
    port,
    urlFor: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async close() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
