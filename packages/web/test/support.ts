// Shared by the dashboard tests: a real dc-api on a free loopback port (embedded PGlite, or a new
// database on TEST_DATABASE_URL) with the test kit's signed client for what providers, agents and
// customers send from node, and Debian's Chromium through playwright-core.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { keepAliveAgent, SignedClient } from '@dc/testkit';
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
/** <repository>/test-output (gitignored): screenshots the tests save for a person to look at. */
export const OUTPUT_DIR = fileURLToPath(new URL('../../../../test-output/', import.meta.url));
export const WEB_DIST = fileURLToPath(new URL('../', import.meta.url));

export interface LiveServer {
  server: RunningServer;
  testDb: TestDb;
  baseUrl: string;
  /** Signed requests over real HTTP to this server. */
  client: SignedClient;
  close(): Promise<void>;
}

export async function startLiveServer(env: Record<string, string> = {}): Promise<LiveServer> {
  const testDb = await createTestDb();
  const server = await startServer(testConfig({ PORT: '0', HOST: '127.0.0.1', ...env }), { db: testDb.db, listen: true, jobs: false, logger: false });
  const { port } = server.app.server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const agent = keepAliveAgent();
  return {
    server,
    testDb,
    baseUrl,
    client: SignedClient.http(baseUrl, agent),
    async close() {
      agent.destroy();
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

// ---- waiting on the page: the UI polls the API, so checks are retried ------------------------

/** Retries `check` until it passes or `ms` elapse (the UI polls the API every 2.5 s). */
export async function eventually<T>(check: () => Promise<T>, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}: ${(last as Error)?.message ?? last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The first match's text, whitespace runs collapsed. */
export async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).first().textContent({ timeout: 2000 })) ?? '').replace(/\s+/g, ' ').trim();
}

export async function expectText(page: Page, selector: string, expected: string | RegExp, ms = 10_000): Promise<void> {
  await eventually(
    async () => {
      const t = await text(page, selector);
      if (typeof expected === 'string' ? t !== expected : !expected.test(t)) throw new Error(`"${selector}" is "${t}"`);
    },
    ms,
    `${selector} to read ${expected}`,
  );
}
