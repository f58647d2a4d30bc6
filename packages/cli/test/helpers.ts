// dcctl test harness: a real dc-api listening on a free loopback port (its own database: PGlite,
// or a new PostgreSQL database with TEST_DATABASE_URL), dcctl run as a child process exactly as a
// person runs it (the committed bin), and the test kit's signed client for what agents do.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Identity } from '@dc/core/node';
import { SignedClient } from '@dc/testkit';
import { startServer, type RunningServer } from '@dc/server/dist/src/server.js';
import { createTestDb, testConfig, type TestDb } from '@dc/server/dist/test/helpers.js';
import { keyFileContent } from '../src/keyfile.js';

/** The bin npm links as node_modules/.bin/dcctl. */
export const DCCTL = fileURLToPath(new URL('../../bin/dcctl.mjs', import.meta.url));

export interface LiveApi {
  url: string;
  server: RunningServer;
  testDb: TestDb;
  /** Signed requests over real HTTP (agents, and checks of what dcctl did). */
  client: SignedClient;
  close(): Promise<void>;
}

export async function startLiveApi(env: Record<string, string> = {}): Promise<LiveApi> {
  const testDb = await createTestDb();
  const server = await startServer(testConfig({ HOST: '127.0.0.1', PORT: '0', ...env }), { db: testDb.db, listen: true, jobs: false, logger: false });
  const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  const agent = new http.Agent({ keepAlive: true });
  return {
    url,
    server,
    testDb,
    client: SignedClient.http(url, agent),
    async close() {
      agent.destroy();
      await server.close();
      await testDb.drop();
    },
  };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs dcctl to completion. Asynchronous on purpose: the API answers from this same process. The
 * environment carries no DC_* variable of the test runner's, only what `env` gives.
 */
export function dcctl(args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DC_'))) as Record<string, string>;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DCCTL, ...args], { env: { ...base, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'dcctl-test-'));
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A key file for an identity the test already has (the operator of testConfig, say), mode 0600. */
export function writeKeyFileOf(path: string, who: Identity): string {
  writeFileSync(path, JSON.stringify(keyFileContent(who), null, 2) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** Parses stdout as JSON, saying what it was when it is not. */
export function json<T = any>(r: Run): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

/** The lines of a table (header first), cells split on runs of 2+ spaces. */
export function rows(stdout: string): string[][] {
  return stdout.trimEnd().split('\n').map((l) => l.split(/ {2,}/));
}

/** "field  value" lines as an object. */
export function fieldsOf(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.trimEnd().split('\n')) {
    const m = /^(\S.*?) {2,}(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}
