#!/usr/bin/env node
// UI benchmark of the provider dashboard in Debian's Chromium: time to first table rows and the
// response of filters, search and paging with 5,000 offerings, and of the agents table with
// 1,000 agents. Interactions are timed inside the page, from the input event to the updated rows
// in the DOM plus the next animation frame (what a person sees). Search is typed a key at a time
// and timed from the last key (the page waits for a pause before it asks). Background refreshes
// of the pool page are measured over a window, with the agents unchanged and with 20 of them
// heartbeating every 2.5 s: bytes on the wire (headers included) and main-thread CPU time per
// refresh cycle, and the main thread's CPU share while nothing changes (the 1 s clocks included).
//
//   import { runUiBench } from './packages/web/bench/ui-bench.mjs';
//   const figures = await runUiBench({ baseUrl: 'http://127.0.0.1:8080', providerSeedHex });
//
// CLI: node packages/web/bench/ui-bench.mjs [--base-url URL --provider-seed HEX] [--offerings 5000]
//        [--agents 1000] [--repeats 5] [--json]
// Without --base-url it starts dc-api in-process on a free loopback port (DATABASE_URL if set,
// else embedded PGlite in a temporary directory) with the setup rate limit lifted.
// The server must allow `agents` setups a minute from this address (DC_SETUP_RATE_LIMIT_PER_MINUTE)
// and the dashboard must be built (npm run build).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { generateIdentity, identityFromSeed } from '@dc/core/node';
import { keepAliveAgent, SignedClient } from '@dc/testkit';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const POOL_NAME = 'ui-bench-europe';
const PREFIX = 'ui-bench-';
const TYPES = ['compute', 'dedicated', 'gpu', 'storage'];

/** The body of a successful answer; anything else throws with what the server said. */
function ok(res, what) {
  if (res.status < 300) return res.body;
  const hint = res.status === 429 ? ' (raise DC_SETUP_RATE_LIMIT_PER_MINUTE on the server for the benchmark)' : '';
  throw new Error(`${what} → ${res.status}: ${res.text.slice(0, 300)}${hint}`);
}

function offeringsCsv(n) {
  const countries = ['DE', 'US', 'FR', 'JP', 'NL'];
  const lines = ['offering_id,name,product_type,datacenter_country,monthly_price,currency,status'];
  for (let i = 0; i < n; i++) {
    const type = TYPES[i % TYPES.length];
    lines.push(`${PREFIX}${String(i).padStart(5, '0')},Bench ${type} ${i},${type},${countries[i % countries.length]},${(3 + (i % 97)).toFixed(2)},EUR,${i % 7 === 0 ? 'inactive' : 'active'}`);
  }
  return lines.join('\n') + '\n';
}

async function runPool(items, concurrency, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

/** Registers the provider, one pool, `offerings` offerings and `agents` agents (idempotent). */
async function populate(signed, provider, { offerings, agents }) {
  const pubkey = provider.publicKey;
  const call = async (who, name, args = {}) => ok(await signed.call(who, name, args), name);
  await call(provider, 'putProvider', { params: { pubkey }, body: { name: 'UI bench provider' } });
  let p = (await call(provider, 'listPools', { params: { pubkey } })).items.find((x) => x.name === POOL_NAME);
  p ??= await call(provider, 'createPool', { params: { pubkey }, body: { name: POOL_NAME, location: 'europe', provisioner_type: 'proxmox' } });
  const pool = { pubkey, pool_id: p.pool_id };
  const t0 = performance.now();
  await call(provider, 'importOfferings', { params: { pubkey }, body: offeringsCsv(offerings), contentType: 'text/csv' });
  const importMs = performance.now() - t0;

  const detail = await call(provider, 'getPool', { params: pool });
  // Pool detail carried every agent before issue 16; now it carries the counts.
  const have = detail.agents ? detail.agents.length : detail.agents_count + (detail.revoked_count ?? 0);
  const missing = Math.max(0, agents - have);
  const beating = [];
  const t1 = performance.now();
  await runPool(Array.from({ length: missing }, (_, i) => have + i), 8, async (i) => {
    const label = `bench-agent-${String(i).padStart(4, '0')}`;
    const t = await call(provider, 'createSetupToken', { params: pool, body: { label } });
    const agent = generateIdentity();
    await call(agent, 'setupAgent', { body: { token: t.token, agent_pubkey: agent.publicKey } });
    // Two thirds heartbeat (online until the offline cut-off), every tenth is revoked: the table
    // shows all three statuses, and the revoked tenth is a filter result that does not drift.
    if (i % 3 !== 2) await call(agent, 'heartbeat', { params: { pubkey }, body: { version: `0.5.${i % 4}` } });
    if (i % 3 !== 2 && i % 10 !== 9 && i < 100) beating.push(agent);
    if (i % 10 === 9) await call(provider, 'revokeAgent', { params: { pubkey, agent_pubkey: agent.publicKey } });
  });
  return { poolId: p.pool_id, importMs, agentSetupMs: performance.now() - t1, agentsCreated: missing, beating };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const stats = (xs) => ({ median: round(median(xs)), max: round(Math.max(...xs)), samples: xs.map(round) });
const round = (x) => Math.round(x * 10) / 10;
/** The dashboard's poll period (queries.ts) and the window each refresh figure is averaged over. */
const POLL_MS = 2500;
const REFRESH_WINDOW_MS = 10_000;
/** The dashboard's typing pause before a search is sent (src/lib/debounce.ts SEARCH_PAUSE_MS). */
const SEARCH_PAUSE_MS = 150;

// Runs inside the page: performs `action`, resolves with the ms until `done()` holds in the DOM
// and one more animation frame has run.
const MEASURE_IN_PAGE = `
window.__dcMeasure = (action, done, timeoutMs = 10000) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  let finished = false;
  const finish = () => {
    if (finished || !done()) return;
    finished = true;
    obs.disconnect();
    // Next frame, with style and layout forced: the time until the new rows are really laid out.
    requestAnimationFrame(() => { void document.body.offsetHeight; resolve(performance.now() - t0); });
  };
  const obs = new MutationObserver(finish);
  obs.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  setTimeout(() => { if (!finished) { obs.disconnect(); reject(new Error('timed out waiting for the table')); } }, timeoutMs);
  action();
  finish();
});
window.__dcSetSelect = (sel, value) => { const el = document.querySelector(sel); el.value = value; el.dispatchEvent(new Event('change', { bubbles: true })); };
window.__dcSetInput = (sel, value) => {
  const el = document.querySelector(sel);
  Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(el, value);
  el.dispatchEvent(new Event('input', { bubbles: true }));
};
window.__dcOfferingsShow = (total, firstId) => {
  const t = document.querySelector('[data-total]');
  const first = document.querySelector('table[data-table=offerings] tbody tr[data-row]');
  return !!t && t.getAttribute('data-total') === String(total) && (firstId === null ? !first : !!first && first.getAttribute('data-row') === firstId);
};
window.__dcAgentRows = () => document.querySelectorAll('table[data-table=agents] tbody tr[data-row]').length;
// The agents table pages 100 rows at a time; \`total\` is how many match.
window.__dcAgentsShow = (total) => {
  const info = document.querySelector('table[data-table=agents] ~ .dt-foot [data-page-info]');
  return window.__dcAgentRows() === Math.min(total, 100) && (total <= 100 ? !info : !!info && info.textContent.endsWith('of ' + total));
};
`;

/** What the benchmark created: agent i is `bench-agent-{i}`, every tenth (i % 10 == 9) revoked. */
function agentLabels(n) {
  return Array.from({ length: n }, (_, i) => ({ label: `bench-agent-${String(i).padStart(4, '0')}`, revoked: i % 10 === 9 }));
}

/**
 * Watches the page through the DevTools protocol for `ms`: API responses (count, bytes on the
 * wire with headers, statuses) and main-thread task time.
 */
async function watch(cdp, ms, during = async () => {}) {
  const sizes = new Map();
  const headerBytes = new Map();
  const statuses = {};
  const onResponse = (e) => {
    if (!e.response.url.includes('/api/v1/')) return;
    sizes.set(e.requestId, true);
    encoded.set(e.requestId, 0);
    statuses[e.response.status] = (statuses[e.response.status] ?? 0) + 1;
  };
  // Response headers as sent: Chromium reports no encoded length for a body-less 304.
  const onExtra = (e) =>
    headerBytes.set(e.requestId, e.headersText?.length ?? Object.entries(e.headers).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 17));
  const encoded = new Map();
  const onFinished = (e) => {
    if (sizes.has(e.requestId)) encoded.set(e.requestId, e.encodedDataLength);
  };
  cdp.on('Network.responseReceived', onResponse);
  cdp.on('Network.responseReceivedExtraInfo', onExtra);
  cdp.on('Network.loadingFinished', onFinished);
  // ThreadTime: the main thread's CPU time (TaskDuration is wall time, inflated on a busy machine).
  const task = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ThreadTime').value * 1000;
  const t0 = await task();
  const end = Date.now() + ms;
  await during(end);
  const left = end - Date.now();
  if (left > 0) await new Promise((r) => setTimeout(r, left));
  const busyMs = (await task()) - t0;
  // Header sizes may arrive after the request finished: added up once the window is over.
  let bytes = 0;
  for (const [id, n] of encoded) bytes += Math.max(n, headerBytes.get(id) ?? 0);
  const requests = encoded.size;
  cdp.off('Network.responseReceived', onResponse);
  cdp.off('Network.responseReceivedExtraInfo', onExtra);
  cdp.off('Network.loadingFinished', onFinished);
  return { bytes, requests, statuses, busyMs };
}

async function markTime(page, name) {
  return page.evaluate((n) => performance.getEntriesByName(n)[0]?.startTime ?? NaN, name);
}

export async function runUiBench({ baseUrl, providerSeedHex, offerings = 5000, agents = 1000, repeats = 5, log = () => {} }) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const provider = identityFromSeed(providerSeedHex);
  const pubkey = provider.publicKey;
  const httpAgent = keepAliveAgent();
  const signed = SignedClient.http(baseUrl, httpAgent);
  log(`populating: ${offerings} offerings, ${agents} agents`);
  const setup = await populate(signed, provider, { offerings, agents });
  log(`populated (import ${Math.round(setup.importMs)} ms, ${setup.agentsCreated} agents in ${Math.round(setup.agentSetupMs)} ms)`);

  const listOfferings = async (query) => ok(await signed.call(provider, 'listOfferings', { params: { pubkey }, query: { limit: 1, ...query } }), 'listOfferings');
  const total = (await listOfferings({})).total;
  const expect = async (query) => {
    const r = await listOfferings(query);
    return { total: r.total, first: r.items[0]?.offering_id ?? null };
  };
  const page2First = (await listOfferings({ offset: 50 })).items[0].offering_id;
  const poolAgents = agentLabels(agents);

  const userDataDir = mkdtempSync(join(tmpdir(), 'dc-ui-bench-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1920, height: 1080 },
  });
  const figures = {
    offerings: total,
    agents: poolAgents.length,
    repeats,
    offeringsFirstRowsMs: [],
    offeringsFilterMs: [],
    offeringsPoolFilterMs: [],
    offeringsStatusFilterMs: [],
    offeringsSearchMs: [],
    offeringsSearchRequests: [],
    offeringsNextPageMs: [],
    agentsFirstRowsMs: [],
    agentsFilterMs: [],
    agentsStatusFilterMs: [],
    refreshUnchangedBytes: [],
    refreshUnchangedMainThreadMs: [],
    refreshChangedBytes: [],
    refreshChangedMainThreadMs: [],
    idleMainThreadPercent: [],
  };
  const statuses = { unchanged: {}, changed: {} };
  const bundle = {};
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
    await context.addInitScript({ content: MEASURE_IN_PAGE });
    // Sign in through the dashboard's own import form (the key ends up in IndexedDB).
    await page.goto(`${baseUrl}/dashboard/provider/pools`);
    await page.fill('textarea[name=seed]', providerSeedHex);
    await page.click('[data-action=import]');
    await page.waitForSelector('table[data-table=pools] tbody tr[data-row]');
    // What the first (uncached) load of the pools page fetched: scripts on the wire (compressed when served so) and decoded.
    Object.assign(
      bundle,
      await page.evaluate(() => {
        const js = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('.js'));
        return { scripts: js.length, transferBytes: js.reduce((n, e) => n + e.transferSize, 0), decodedBytes: js.reduce((n, e) => n + e.decodedBodySize, 0) };
      }),
    );

    for (let r = 0; r < repeats; r++) {
      // A fresh page load each round: cold query cache, so every interaction goes to the API.
      await page.goto(`${baseUrl}/dashboard/provider/offerings`);
      await page.waitForSelector('table[data-table=offerings] tbody tr[data-row]');
      figures.offeringsFirstRowsMs.push(await markTime(page, 'dc:rows:offerings'));
      await page.waitForFunction((t) => document.querySelector('[data-total]')?.getAttribute('data-total') === String(t), total);

      const type = TYPES[(r % (TYPES.length - 1)) + 1];
      const e1 = await expect({ product_type: type });
      figures.offeringsFilterMs.push(
        await page.evaluate(([t, e]) => window.__dcMeasure(() => window.__dcSetSelect('select[name=type]', t), () => window.__dcOfferingsShow(e.total, e.first)), [type, e1]),
      );
      const q = `${PREFIX}0${r}1`;
      const e2 = await expect({ product_type: type, q });
      // Typed a key every 60 ms (a quick typist); timed from the last key to the result rows.
      let searchRequests = 0;
      const countSearch = (req) => {
        if (new URL(req.url()).pathname.endsWith('/offerings')) searchRequests++;
      };
      page.on('request', countSearch);
      figures.offeringsSearchMs.push(
        await page.evaluate(
          async ([q, e]) => {
            for (let i = 1; i < q.length; i++) {
              window.__dcSetInput('input[name=q]', q.slice(0, i));
              await new Promise((r) => setTimeout(r, 60));
            }
            return window.__dcMeasure(() => window.__dcSetInput('input[name=q]', q), () => window.__dcOfferingsShow(e.total, e.first));
          },
          [q, e2],
        ),
      );
      await page.waitForTimeout(500);
      page.off('request', countSearch);
      figures.offeringsSearchRequests.push(searchRequests);
      const e3 = await expect({});
      // One event per task: each handler must see the URL the previous one produced.
      await page.evaluate(() => window.__dcSetInput('input[name=q]', ''));
      await page.evaluate(() => window.__dcSetSelect('select[name=type]', ''));
      await page.waitForFunction((e) => window.__dcOfferingsShow(e.total, e.first), e3);
      const e4 = await expect({ pool_id: setup.poolId });
      figures.offeringsPoolFilterMs.push(
        await page.evaluate(([p, e]) => window.__dcMeasure(() => window.__dcSetSelect('select[name=pool]', p), () => window.__dcOfferingsShow(e.total, e.first)), [setup.poolId, e4]),
      );
      await page.evaluate(() => window.__dcSetSelect('select[name=pool]', ''));
      await page.waitForFunction((e) => window.__dcOfferingsShow(e.total, e.first), e3);
      const e5 = await expect({ status: 'inactive' });
      figures.offeringsStatusFilterMs.push(
        await page.evaluate((e) => window.__dcMeasure(() => window.__dcSetSelect('select[name=status]', 'inactive'), () => window.__dcOfferingsShow(e.total, e.first)), e5),
      );
      await page.evaluate(() => window.__dcSetSelect('select[name=status]', ''));
      await page.waitForFunction((e) => window.__dcOfferingsShow(e.total, e.first), e3);
      figures.offeringsNextPageMs.push(
        await page.evaluate(
          ([t, first]) => window.__dcMeasure(() => document.querySelector('button[aria-label="Next page"]').click(), () => window.__dcOfferingsShow(t, first)),
          [total, page2First],
        ),
      );

      await page.goto(`${baseUrl}/dashboard/provider/pools/${encodeURIComponent(setup.poolId)}`);
      await page.waitForFunction((n) => window.__dcAgentsShow(n), poolAgents.length);
      figures.agentsFirstRowsMs.push(await markTime(page, 'dc:rows:agents'));
      const needle = `bench-agent-0${r}1`;
      const want = poolAgents.filter((a) => a.label.includes(needle)).length;
      figures.agentsFilterMs.push(
        await page.evaluate(([s, n]) => window.__dcMeasure(() => window.__dcSetInput('input[name=agent-filter]', s), () => window.__dcAgentsShow(n)), [needle, want]),
      );
      await page.evaluate(() => window.__dcSetInput('input[name=agent-filter]', ''));
      await page.waitForFunction((n) => window.__dcAgentsShow(n), poolAgents.length);
      const revoked = poolAgents.filter((a) => a.revoked).length;
      figures.agentsStatusFilterMs.push(
        await page.evaluate((n) => window.__dcMeasure(() => window.__dcSetSelect('select[name=agent-status]', 'revoked'), () => window.__dcAgentsShow(n)), revoked),
      );
      await page.evaluate(() => window.__dcSetSelect('select[name=agent-status]', ''));
      await page.waitForFunction((n) => window.__dcAgentsShow(n), poolAgents.length);

      // Background refreshes: 10 s (4 poll cycles) with nothing changing, then 10 s with 20
      // agents heartbeating each cycle.
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Performance.enable');
      const cycles = REFRESH_WINDOW_MS / POLL_MS;
      const quiet = await watch(cdp, REFRESH_WINDOW_MS);
      figures.refreshUnchangedBytes.push(quiet.bytes / cycles);
      figures.refreshUnchangedMainThreadMs.push(quiet.busyMs / cycles);
      figures.idleMainThreadPercent.push((100 * quiet.busyMs) / REFRESH_WINDOW_MS);
      for (const [k, v] of Object.entries(quiet.statuses)) statuses.unchanged[k] = (statuses.unchanged[k] ?? 0) + v;
      const busy = await watch(cdp, REFRESH_WINDOW_MS, async (end) => {
        while (Date.now() < end - POLL_MS / 2) {
          const t = Date.now();
          await Promise.all(setup.beating.slice(0, 20).map((a) => signed.call(a, 'heartbeat', { params: { pubkey }, body: { version: '0.5.9' } })));
          await new Promise((res) => setTimeout(res, Math.max(0, POLL_MS - (Date.now() - t))));
        }
      });
      figures.refreshChangedBytes.push(busy.bytes / cycles);
      figures.refreshChangedMainThreadMs.push(busy.busyMs / cycles);
      for (const [k, v] of Object.entries(busy.statuses)) statuses.changed[k] = (statuses.changed[k] ?? 0) + v;
      await cdp.detach();
      log(`round ${r + 1}/${repeats} done`);
    }
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
    httpAgent.destroy();
  }
  const out = { offerings: figures.offerings, agents: figures.agents, repeats };
  for (const [k, v] of Object.entries(figures)) if (Array.isArray(v)) out[k] = stats(v);
  out.refreshStatuses = statuses;
  // A search is timed from the last key, so it includes the typing pause the issue asks for; the
  // interaction target applies to what follows the pause.
  out.offeringsSearchAfterPauseMs = stats(figures.offeringsSearchMs.map((x) => x - SEARCH_PAUSE_MS));
  out.agentsFilterAfterPauseMs = stats(figures.agentsFilterMs.map((x) => x - SEARCH_PAUSE_MS));
  out.targets = { interactionMs: 100, firstLoadMs: 1000, searchPauseMs: SEARCH_PAUSE_MS };
  const interactions = ['offeringsFilterMs', 'offeringsPoolFilterMs', 'offeringsStatusFilterMs', 'offeringsSearchAfterPauseMs', 'offeringsNextPageMs', 'agentsFilterAfterPauseMs', 'agentsStatusFilterMs'];
  const firstLoads = ['offeringsFirstRowsMs', 'agentsFirstRowsMs'];
  out.withinTargets = firstLoads.every((k) => out[k].median < 1000) && interactions.every((k) => out[k].median < 100);
  // The same with every sample (max) instead of the median.
  out.withinTargetsEveryRun = firstLoads.every((k) => out[k].max < 1000) && interactions.every((k) => out[k].max < 100);
  out.setup = { importMs: round(setup.importMs), agentSetupMs: round(setup.agentSetupMs), agentsCreated: setup.agentsCreated };
  out.bundle = { ...bundle };
  return out;
}

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

async function main() {
  const json = process.argv.includes('--json');
  const log = json ? () => {} : (m) => process.stderr.write(`ui-bench: ${m}\n`);
  let baseUrl = arg('base-url', null);
  let seed = arg('provider-seed', null);
  let stop = async () => {};
  if (!baseUrl) {
    const dist = fileURLToPath(new URL('../dist/index.html', import.meta.url));
    if (!existsSync(dist)) throw new Error('the dashboard is not built: run `npm run build` first');
    const { startServer } = await import('@dc/server/dist/src/server.js');
    const { loadConfig } = await import('@dc/server/dist/src/config.js');
    const dataDir = mkdtempSync(join(tmpdir(), 'dc-ui-bench-db-'));
    const config = loadConfig({
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      DC_DATA_DIR: dataDir,
      DC_SETUP_RATE_LIMIT_PER_MINUTE: '1000000',
      DC_PUBLIC_URL: '',
    });
    const server = await startServer(config, { listen: true, jobs: false, logger: false });
    baseUrl = `http://127.0.0.1:${server.app.server.address().port}`;
    stop = async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    };
    log(`started dc-api at ${baseUrl} (${config.databaseUrl ? 'DATABASE_URL' : 'embedded PGlite'})`);
  }
  seed ??= randomBytes(32).toString('hex');
  try {
    const figures = await runUiBench({
      baseUrl,
      providerSeedHex: seed,
      offerings: Number(arg('offerings', '5000')),
      agents: Number(arg('agents', '1000')),
      repeats: Number(arg('repeats', '5')),
      log,
    });
    process.stdout.write(JSON.stringify(figures, null, json ? 0 : 2) + '\n');
  } finally {
    await stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`ui-bench: ${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
