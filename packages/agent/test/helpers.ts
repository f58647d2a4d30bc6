// Agent test harness: a real dc-api (in-process, listening on a free loopback port, on its own
// database: PGlite, or PostgreSQL with TEST_DATABASE_URL), the test kit's signed client for
// providers, customers and the operator, and helpers to run dc-agent (the built bundle) as a child
// process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import type { BodyOf, Contract, ContractEvent, ENDPOINTS, KeyHeader, OfferingCreate, SetupFields } from '@dc/core';
import { generateIdentity, type Identity } from '@dc/core/node';
import { SignedClient, mustOk, type Res } from '@dc/testkit';
import type { RunningServer } from '@dc/server/dist/src/server.js';
import type { TestDb } from '@dc/server/dist/test/helpers.js';
import { writeKeyFile } from '../src/keys.js';

/**
 * dc-api and its test helpers, loaded on first use: tests against the fake API do not load the
 * server at all (and keep running while it is being changed).
 */
const loadServer = async () => ({ ...(await import('@dc/server/dist/src/server.js')), ...(await import('@dc/server/dist/test/helpers.js')) });

/** packages/agent (tests run from packages/agent/dist/test). */
export const PKG_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const BUNDLE = join(PKG_DIR, 'dist', 'dc-agent.mjs');
export const FIXTURES = join(PKG_DIR, 'test', 'fixtures');
export const INSTALLER = join(PKG_DIR, 'installer', 'setup.sh');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Deadlines are upper bounds for a loaded 2-core CI machine running suites side by side; a
 * passing test never waits for them, so they are scaled generously (TEST_TIMEOUT_SCALE, default 3).
 */
export const TIMEOUT_SCALE = Number(process.env.TEST_TIMEOUT_SCALE ?? 3);

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 15_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs * TIMEOUT_SCALE;
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    await sleep(stepMs);
  }
}

/** Whether a command-line tool is installed (tests that need openssl skip without it). */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync(cmd, ['version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

export function tempDir(name = 'dc-agent-test-'): string {
  const d = mkdtempSync(join(tmpdir(), name));
  // Scripts run as an unprivileged user when the tests run as root: let them in.
  chmodSync(d, 0o755);
  return d;
}

// ---- the API --------------------------------------------------------------------------------

export interface TestApi {
  url: string;
  port: number;
  server: RunningServer;
  testDb: TestDb;
  client: SignedClient;
  call<T = any>(who: Identity | null, method: string, path: string, body?: unknown, keyHeader?: KeyHeader): Promise<Res<T>>;
  ok<T = any>(who: Identity | null, method: string, path: string, body?: unknown): Promise<T>;
  /** Stops listening (the database stays, so start() can bring the same API back). */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A dc-api on 127.0.0.1 with short timings unless `env` says otherwise. */
export async function startApi(env: Record<string, string> = {}, opts: { port?: number } = {}): Promise<TestApi> {
  const { createTestDb, startServer, testConfig } = await loadServer();
  const testDb = await createTestDb();
  const config = testConfig({ HOST: '127.0.0.1', PORT: String(opts.port ?? 0), DC_AGENT_OFFLINE_AFTER_SECONDS: '6', ...env });
  let server = await startServer(config, { db: testDb.db, listen: true, jobs: true, logger: false });
  const port = (server.app.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const agent = new http.Agent({ keepAlive: true });
  const client = SignedClient.http(url, agent);
  let running = true;
  const api: TestApi = {
    url,
    port,
    get server() {
      return server;
    },
    testDb,
    client,
    call<T = any>(who: Identity | null, method: string, path: string, body?: unknown, keyHeader: KeyHeader = 'X-Public-Key'): Promise<Res<T>> {
      return client.request<T>(who, method, path, body, { keyHeader });
    },
    async ok<T = any>(who: Identity | null, method: string, path: string, body?: unknown): Promise<T> {
      return mustOk(await api.call<T>(who, method, path, body), `${method} ${path}`).body;
    },
    async stop() {
      if (!running) return;
      running = false;
      await server.close();
    },
    async start() {
      if (running) return;
      server = await startServer({ ...config, port }, { db: testDb.db, listen: true, jobs: true, logger: false });
      running = true;
    },
    async close() {
      await api.stop();
      agent.destroy();
      await testDb.drop();
    },
  };
  return api;
}

export interface ProviderPool {
  provider: Identity;
  poolId: string;
}

// Typed calls are "call, then mustOk" in two statements: TypeScript gives up (too deep) when the
// call's generic result is inferred inside mustOk's argument.
export async function createProvider(api: TestApi, name = 'Test Provider'): Promise<Identity> {
  const provider = generateIdentity();
  const r = await api.client.call(provider, 'putProvider', { params: { pubkey: provider.publicKey }, body: { name } });
  mustOk(r);
  return provider;
}

export async function createPool(api: TestApi, provider: Identity, pool: BodyOf<(typeof ENDPOINTS)['createPool']>): Promise<string> {
  const r = await api.client.call(provider, 'createPool', { params: { pubkey: provider.publicKey }, body: pool });
  return mustOk(r).body.pool_id;
}

export interface CreatedToken {
  token: string;
  /** The dashboard's one-liner, as the server wrote it. */
  setup_command: string;
  /** What the one-liner and `dc-agent setup` are built from (core's setupOneLiner / setupArgs). */
  fields: SetupFields;
}

export async function createToken(api: TestApi, provider: Identity, poolId: string, label?: string): Promise<CreatedToken> {
  const r = await api.client.call(provider, 'createSetupToken', { params: { pubkey: provider.publicKey, pool_id: poolId }, body: label ? { label } : {} });
  const { token, setup_command, api_url, server_key } = mustOk(r).body;
  return { token, setup_command, fields: { api_url, token, server_key } };
}

export async function serverKey(api: TestApi): Promise<string> {
  const r = await api.client.call(null, 'serverKey');
  return mustOk(r).body.public_key;
}

export async function createOffering(api: TestApi, provider: Identity, o: Partial<OfferingCreate> & { offering_id: string }): Promise<void> {
  const body: OfferingCreate = { name: o.offering_id, product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR', provisioner_type: 'script', ...o };
  const r = await api.client.call(provider, 'createOffering', { params: { pubkey: provider.publicKey }, body });
  mustOk(r);
}

/** A contract for `offeringId`, accepted by the provider and paid (operator). */
export async function paidContract(
  api: TestApi,
  provider: Identity,
  offeringId: string,
  extra: { ssh_pubkey?: string; instance_config?: Record<string, unknown> } = {},
  customer: Identity = generateIdentity(),
): Promise<{ id: string; customer: Identity }> {
  const created = await api.client.call(customer, 'createContract', { body: { provider_pubkey: provider.publicKey, offering_id: offeringId, ...extra } });
  const { contract_id: id } = mustOk(created).body;
  const accepted = await api.client.call(provider, 'acceptContract', { params: { pubkey: provider.publicKey, id } });
  mustOk(accepted);
  const { operator } = await loadServer();
  const paid = await api.client.call(operator, 'recordPayment', { params: { id }, body: { status: 'succeeded' } });
  mustOk(paid);
  return { id, customer };
}

export async function contractOf(api: TestApi, provider: Identity, id: string): Promise<Contract> {
  const r = await api.client.call(provider, 'listContracts', { params: { pubkey: provider.publicKey }, query: { limit: 500 } });
  const c = mustOk(r).body.items.find((c) => c.contract_id === id);
  if (!c) throw new Error(`contract ${id} is not in the provider's list`);
  return c;
}

export async function eventsOf(api: TestApi, provider: Identity, id: string): Promise<ContractEvent[]> {
  const r = await api.client.call(provider, 'contractEvents', { params: { pubkey: provider.publicKey, id } });
  return mustOk(r).body.items;
}

// ---- config files -----------------------------------------------------------------------------

export function readToml(path: string): Record<string, any> {
  return parseToml(readFileSync(path, 'utf8')) as Record<string, any>;
}

/** Merges `patch` (by section) into a TOML config file, keeping its mode. */
export function patchToml(path: string, patch: Record<string, Record<string, unknown>>): void {
  const doc = readToml(path);
  for (const [section, values] of Object.entries(patch)) {
    const parts = section.split('.');
    let t = doc;
    for (const p of parts) t = t[p] ??= {};
    Object.assign(t, values);
  }
  writeFileSync(path, stringifyToml(doc), { mode: 0o600 });
}

/** A provisioning script fixture copied where an unprivileged user can run it. */
export function scriptFixture(dir: string, name = 'provision.sh'): string {
  const to = join(dir, name);
  writeFileSync(to, readFileSync(join(FIXTURES, name)));
  chmodSync(to, 0o755);
  return to;
}

/** A directory every user may write (scripts running as `nobody` record what they did there). */
export function sharedDir(parent: string, name: string): string {
  const d = join(parent, name);
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o777);
  return d;
}

/** The user scripts run as in these tests: nobody when we are root, else ourselves. */
export const SCRIPT_USER = process.getuid?.() === 0 ? 'nobody' : (process.env.USER ?? 'nobody');

// ---- dc-agent as a child process ---------------------------------------------------------------

export interface LogLine {
  ts: string;
  level: string;
  event: string;
  msg: string;
  [k: string]: unknown;
}

export interface AgentProcess {
  child: ChildProcess;
  logs: LogLine[];
  stderr: () => string;
  stdout: () => string;
  exit: Promise<number>;
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

export function runAgentCli(args: string[], opts: { env?: Record<string, string>; cwd?: string; bin?: string } = {}): AgentProcess {
  const bin = opts.bin ?? BUNDLE;
  // The bundle runs under this node; an installed launcher (a shell script) runs as it is.
  const [cmd, argv] = /\.m?js$/.test(bin) ? [process.execPath, [bin, ...args]] : [bin, args];
  const child = spawn(cmd, argv, {
    cwd: opts.cwd ?? tmpdir(),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', ...(opts.env ?? {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let buf = '';
  const logs: LogLine[] = [];
  const waiters: (() => void)[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (c: string) => {
    out += c;
    buf += c;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        /* not a log line */
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => (err += c));
  const exit = new Promise<number>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : -1))));
  const p: AgentProcess = {
    child,
    logs,
    stderr: () => err,
    stdout: () => out,
    exit,
    async waitForLog(pred, timeoutMs = 20_000, what = 'a log line') {
      const deadline = Date.now() + timeoutMs * TIMEOUT_SCALE;
      let exited = false;
      void exit.then(() => (exited = true));
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (exited || Date.now() > deadline) {
          throw new Error(`${exited ? 'agent exited' : 'timed out'} waiting for ${what}; stderr: ${err.slice(-2000)}; last logs: ${logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`);
        }
        await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(100)]);
      }
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exit;
      // DC_TEST_SHOW_LOGS=1 prints what each agent logged (for debugging a test).
      if (process.env.DC_TEST_SHOW_LOGS) process.stderr.write(`--- dc-agent ${args.join(' ')} (exit ${code})\n${out}${err}`);
      return code;
    },
  };
  return p;
}

/** Runs a dc-agent command to completion. */
export async function agentCli(args: string[], opts: { env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = runAgentCli(args, opts);
  const code = await p.exit;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export { dirname };

// ---- registered agents ------------------------------------------------------------------------

export interface RegisteredAgent {
  config: string;
  pubkey: string;
  home: string;
}

/** Registers an agent through the real setup path and fills in the script provisioner. */
export async function setupScriptAgent(
  api: TestApi,
  provider: Identity,
  poolId: string,
  parent: string,
  opts: { name: string; records?: string; script?: Record<string, unknown>; agent?: Record<string, unknown>; provisioner?: Record<string, Record<string, unknown>> },
): Promise<RegisteredAgent> {
  const { runSetup } = await import('../src/setup.js');
  const home = join(parent, opts.name);
  mkdirSync(home, { recursive: true });
  const { fields } = await createToken(api, provider, poolId, opts.name);
  const out = await runSetup({ token: fields.token, apiUrl: fields.api_url, serverKey: fields.server_key, config: join(home, 'config.toml'), nonInteractive: true });
  const patch: Record<string, Record<string, unknown>> = {
    agent: { claim_wait_seconds: 10, poll_interval_seconds: 0.5, max_backoff_seconds: 1, shutdown_grace_seconds: 10, ...(opts.agent ?? {}) },
  };
  if (opts.provisioner) Object.assign(patch, opts.provisioner);
  else {
    patch['provisioner.script'] = {
      command: scriptFixture(home),
      user: SCRIPT_USER,
      timeout_seconds: 20,
      env: { RECORD_DIR: opts.records ?? sharedDir(home, 'records'), AGENT_NAME: opts.name },
      ...(opts.script ?? {}),
    };
  }
  patchToml(out.configPath, patch);
  chmodSync(home, 0o755);
  return { config: out.configPath, pubkey: out.agentPubkey, home };
}

export function startAgent(a: RegisteredAgent, env: Record<string, string> = {}): AgentProcess {
  return runAgentCli(['run', '--config', a.config], { env });
}

// ---- agents of a fake API -----------------------------------------------------------------------

/**
 * Writes a key and a complete script-provisioner config for an agent of a fake API (no setup
 * round trip): `scriptEnv` goes to the fixture script, `agentExtra`/`scriptExtra` are TOML lines.
 */
export function writeAgentConfig(
  api: { url: string; provider: string; poolId: string },
  home: string,
  records: string,
  scriptExtra = '',
  opts: { scriptEnv?: Record<string, string>; agentExtra?: string } = {},
): { config: string; pubkey: string } {
  mkdirSync(home, { recursive: true, mode: 0o755 });
  const id = generateIdentity();
  const keyPath = join(home, 'agent.key');
  writeKeyFile(keyPath, id);
  const config = join(home, 'config.toml');
  const env = { RECORD_DIR: records, SCRIPT_MODE: 'ok', ...(opts.scriptEnv ?? {}) };
  writeFileSync(
    config,
    `[agent]
api_url = "${api.url}"
provider_pubkey = "${api.provider}"
pool_id = "${api.poolId}"
poll_interval_seconds = 0.5
claim_wait_seconds = 25
max_backoff_seconds = 0.5
max_concurrent = 2
${opts.agentExtra ?? ''}

[keys]
private_key_path = "${keyPath}"

[provisioner]
type = "script"

[provisioner.script]
command = "${scriptFixture(home)}"
user = "${SCRIPT_USER}"
env = { ${Object.entries(env).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ')} }
${scriptExtra}`,
    { mode: 0o600 },
  );
  return { config, pubkey: id.publicKey };
}
