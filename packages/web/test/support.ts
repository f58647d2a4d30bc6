// Shared by the dashboard tests: a real dc-api on a free loopback port (embedded PGlite, or a new
// database on TEST_DATABASE_URL), Debian's Chromium through playwright-core, and signed fetches
// from node the way a provider or an agent would send them.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext } from 'playwright-core';
import { authorityOf, signRequestHeaders, type Identity, type KeyHeader } from '@dc/core';
import { startServer, type RunningServer } from '@dc/server/dist/src/server.js';
import { createTestDb, testConfig, type TestDb } from '@dc/server/dist/test/helpers.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** /work/main/test-output (gitignored): screenshots the tests save for a person to look at. */
export const OUTPUT_DIR = fileURLToPath(new URL('../../../../test-output/', import.meta.url));
export const WEB_DIST = fileURLToPath(new URL('../', import.meta.url));

export interface LiveServer {
  server: RunningServer;
  testDb: TestDb;
  baseUrl: string;
  close(): Promise<void>;
}

export async function startLiveServer(env: Record<string, string> = {}): Promise<LiveServer> {
  const testDb = await createTestDb();
  const server = await startServer(testConfig({ PORT: '0', HOST: '127.0.0.1', ...env }), { db: testDb.db, listen: true, jobs: false, logger: false });
  const { port } = server.app.server.address() as AddressInfo;
  return {
    server,
    testDb,
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      await server.close();
      await testDb.drop();
    },
  };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(opts: { width?: number; height?: number } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const userDataDir = mkdtempSync(join(tmpdir(), 'dc-web-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 },
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(name: string): string {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  return join(OUTPUT_DIR, `${name}.png`);
}

export interface SignedResponse<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/** A request signed by `who`, sent over loopback HTTP like any independent client would. */
export async function signedFetch<T = any>(
  baseUrl: string,
  who: Identity,
  method: string,
  path: string,
  body?: unknown,
  opts: { keyHeader?: KeyHeader; contentType?: string } = {},
): Promise<SignedResponse<T>> {
  const raw = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = signRequestHeaders(who, { method, host: authorityOf(baseUrl), path, body: raw }, opts.keyHeader ? { keyHeader: opts.keyHeader } : {});
  if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(baseUrl + path, { method, headers, ...(body !== undefined ? { body: raw } : {}) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed as T, text, headers: res.headers };
}

export async function mustOk<T = any>(p: Promise<SignedResponse<T>>): Promise<SignedResponse<T>> {
  const r = await p;
  if (r.status >= 300) throw new Error(`expected success, got ${r.status}: ${r.text}`);
  return r;
}

/** CSV text of `n` offerings: alternating types, statuses and countries (DE → europe, US → na). */
export function bulkOfferingsCsv(n: number, prefix = 'bulk'): string {
  const lines = ['offering_id,name,product_type,datacenter_country,monthly_price,currency,status'];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${String(i).padStart(4, '0')}`;
    const type = i % 4 === 0 ? 'dedicated' : 'compute';
    const status = i % 10 === 0 ? 'inactive' : 'active';
    const country = i % 2 === 0 ? 'DE' : 'US';
    lines.push(`${id},Bulk ${type} ${i},${type},${country},${(5 + (i % 50)).toFixed(2)},EUR,${status}`);
  }
  return lines.join('\n') + '\n';
}
