// The dashboard at fleet scale (issue 16), in Chromium against a real dc-api: pool agents paged by
// the server, background refreshes that cost a 304 and never take the rows off the screen, search
// that asks once per pause in typing, and the account check running alongside the page's query.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page, Request } from 'playwright-core';
import { generateIdentity, seedHex, type Identity } from '@dc/core/node';
import { mustOk } from '@dc/testkit';
import { bulkOfferingsCsv, eventually, launchBrowser, startLiveServer, type Browser, type LiveServer } from './support.js';

/** Agents in the pool: one more page than the table's 100. */
const AGENTS = 105;

const agentRows = 'table[data-table=agents] tbody tr[data-row]';

describe('dashboard at fleet scale', { concurrency: false }, () => {
  let live: LiveServer;
  let browser: Browser;
  let page: Page;
  let provider: Identity;
  let poolId: string;
  const agents: Identity[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    live = await startLiveServer({ DC_SETUP_RATE_LIMIT_PER_MINUTE: '100000' });
    provider = generateIdentity();
    const pubkey = provider.publicKey;
    mustOk(await live.client.call(provider, 'putProvider', { params: { pubkey }, body: { name: 'Fleet provider' } }));
    const pool = mustOk(await live.client.call(provider, 'createPool', { params: { pubkey }, body: { name: 'fleet-eu', location: 'europe', provisioner_type: 'proxmox' } })).body;
    poolId = pool.pool_id;
    for (let i = 0; i < AGENTS; i++) {
      const t = mustOk(await live.client.call(provider, 'createSetupToken', { params: { pubkey, pool_id: poolId }, body: { label: `t-${String(i).padStart(3, '0')}` } })).body;
      const agent = generateIdentity();
      mustOk(await live.client.call(agent, 'setupAgent', { body: { token: t.token, agent_pubkey: agent.publicKey } }));
      agents.push(agent);
    }
    mustOk(await live.client.call(provider, 'importOfferings', { params: { pubkey }, body: bulkOfferingsCsv(120, 'fleet'), contentType: 'text/csv' }));

    browser = await launchBrowser({ width: 1280, height: 900 });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${live.baseUrl}/dashboard/provider/pools`);
    await page.fill('textarea[name=seed]', seedHex(provider.privateKey));
    await page.click('[data-action=import]');
    await page.waitForSelector('table[data-table=pools] tbody tr[data-row]');
  });

  after(async () => {
    await browser?.close();
    await live?.close();
  });

  test('pool detail asks the server for one page of agents; paging and the filter ask again', async () => {
    const asked: URL[] = [];
    const onRequest = (r: Request) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/api/v1/') && u.pathname.includes(`/pools/${poolId}`)) asked.push(u);
    };
    page.on('request', onRequest);
    try {
      await page.goto(`${live.baseUrl}/dashboard/provider/pools/${poolId}`);
      await eventually(async () => assert.equal(await page.locator(agentRows).count(), 100), 10_000, '100 agent rows');
      assert.equal(await page.locator('table[data-table=agents] ~ .dt-foot [data-page-info]').textContent(), 'Showing 1–100 of 105');
      // Pool detail itself carries no agents; they come a page at a time.
      const detail = asked.find((u) => u.pathname.endsWith(`/pools/${poolId}`));
      assert.equal(detail?.searchParams.get('agents_limit'), '0');
      assert.ok(asked.some((u) => u.pathname.endsWith('/agents') && u.searchParams.get('limit') === '100'));

      await page.click('table[data-table=agents] ~ .dt-foot button[aria-label="Next page"]');
      await eventually(async () => assert.equal(await page.locator(agentRows).count(), 5), 10_000, 'the second page');
      assert.equal(await page.locator(`${agentRows} td[data-col=label]`).first().textContent(), 't-100');

      await page.fill('input[name=agent-filter]', 't-01');
      // t-010 … t-019, back on the first page.
      await eventually(async () => assert.equal(await page.locator(agentRows).count(), 10), 10_000, 'the filtered rows');
      assert.equal(await page.locator(`${agentRows} td[data-col=label]`).first().textContent(), 't-010');
      assert.ok(asked.some((u) => u.pathname.endsWith('/agents') && u.searchParams.get('q') === 't-01' && u.searchParams.get('offset') === '0'));
      await page.fill('input[name=agent-filter]', '');
      await eventually(async () => assert.equal(await page.locator(agentRows).count(), 100), 10_000, 'all rows again');
    } finally {
      page.off('request', onRequest);
    }
  });

  test('background refreshes of an unchanged pool answer 304 and keep the same rows on screen; a change updates its row in place', async () => {
    await page.goto(`${live.baseUrl}/dashboard/provider/pools/${poolId}`);
    await eventually(async () => assert.equal(await page.locator(agentRows).count(), 100), 10_000, '100 agent rows');
    const first = agents[0]!.publicKey;
    // Watch the table: rows taken away, a loading row, and whether t-000's row stays the same element.
    await page.evaluate((key) => {
      const w = window as unknown as { __removed: number; __loading: number; __row: Element | null };
      w.__removed = 0;
      w.__loading = 0;
      w.__row = document.querySelector(`table[data-table=agents] tr[data-row="${key}"]`);
      new MutationObserver((records) => {
        for (const r of records) {
          for (const n of r.removedNodes) if (n instanceof Element && n.matches('tr[data-row]')) w.__removed++;
          for (const n of r.addedNodes) if (n instanceof Element && (n.matches('.dt-loading') || n.textContent?.includes('Loading'))) w.__loading++;
        }
      }).observe(document.querySelector('table[data-table=agents] tbody')!, { childList: true, subtree: true });
    }, first);

    const statuses: { path: string; status: number }[] = [];
    const onResponse = (r: { url(): string; status(): number }) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/api/v1/') && u.pathname.includes(`/pools/${poolId}`)) statuses.push({ path: u.pathname, status: r.status() });
    };
    page.on('response', onResponse);
    try {
      // Two poll periods (2.5 s) with nothing changing.
      await eventually(
        async () => {
          assert.ok(statuses.some((s) => s.path.endsWith(`/pools/${poolId}`) && s.status === 304), 'pool detail answered 304');
          assert.ok(statuses.some((s) => s.path.endsWith('/agents') && s.status === 304), 'the agents page answered 304');
        },
        15_000,
        'conditional refreshes',
      );
      assert.ok(!statuses.some((s) => s.path.endsWith('/agents') && s.status === 200), `no full answer while nothing changed: ${JSON.stringify(statuses)}`);

      // t-000 heartbeats: the next refresh is a full answer and updates that row, not the table.
      const cell = `${agentRows}[data-row="${first}"] td[data-col=status] [data-status]`;
      assert.equal(await page.locator(cell).getAttribute('data-status'), 'offline');
      mustOk(await live.client.call(agents[0]!, 'heartbeat', { params: { pubkey: provider.publicKey }, body: { version: '1.2.3' } }));
      await eventually(async () => assert.equal(await page.locator(cell).getAttribute('data-status'), 'online'), 10_000, 't-000 online');
      assert.ok(statuses.some((s) => s.path.endsWith('/agents') && s.status === 200), 'a change is a full answer');
      const seen = await page.evaluate((key) => {
        const w = window as unknown as { __removed: number; __loading: number; __row: Element | null };
        return { removed: w.__removed, loading: w.__loading, same: w.__row === document.querySelector(`table[data-table=agents] tr[data-row="${key}"]`) && !!w.__row?.isConnected };
      }, first);
      assert.deepEqual(seen, { removed: 0, loading: 0, same: true });
    } finally {
      page.off('response', onResponse);
    }
  });

  test('search asks the server once per pause in typing, never for the half-typed terms', async () => {
    await page.goto(`${live.baseUrl}/dashboard/provider/offerings`);
    await page.waitForSelector('table[data-table=offerings] tbody tr[data-row]');
    const asked: URL[] = [];
    const onRequest = (r: Request) => {
      const u = new URL(r.url());
      if (u.pathname.endsWith('/offerings')) asked.push(u);
    };
    page.on('request', onRequest);
    try {
      const term = 'fleet-00';
      // Typed inside the page a key every 30 ms; the gaps that really happened are measured, since
      // a loaded machine can stall a timer past the pause and that pause rightly sends a search.
      const longGaps = await page.evaluate(async (t) => {
        const el = document.querySelector<HTMLInputElement>('input[name=q]')!;
        const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
        let last = performance.now();
        let gaps = 0;
        for (let i = 1; i <= t.length; i++) {
          set.call(el, t.slice(0, i));
          el.dispatchEvent(new Event('input', { bubbles: true }));
          const now = performance.now();
          if (now - last >= 150) gaps++;
          last = now;
          await new Promise((r) => setTimeout(r, 30));
        }
        return gaps;
      }, term);
      await eventually(async () => assert.equal(await page.locator('[data-total]').getAttribute('data-total'), '100'), 10_000, 'the search result');
      await page.waitForTimeout(400);
      const searches = asked.filter((u) => u.searchParams.has('q'));
      const final = searches.filter((u) => u.searchParams.get('q') === term && (u.searchParams.get('offset') ?? '0') === '0');
      const partial = searches.filter((u) => u.searchParams.get('q') !== term);
      assert.equal(final.length, 1, `one search for the whole term: ${searches.map(String).join(' ')}`);
      assert.ok(partial.length <= longGaps, `half-typed terms asked only after a real pause (${longGaps}): ${partial.map(String).join(' ')}`);
      assert.ok(searches.length < term.length, 'fewer requests than keys');
    } finally {
      page.off('request', onRequest);
    }
  });

  test('the page starts its first query while the account check is still in flight', async () => {
    // Hold the provider check back 700 ms: the offerings request must go out before it returns.
    let providerAnswered = Infinity;
    let offeringsAsked = Infinity;
    await page.route(`${live.baseUrl}/api/v1/providers/${provider.publicKey}`, async (route) => {
      await new Promise((r) => setTimeout(r, 700));
      await route.continue();
    });
    const onRequest = (r: Request) => {
      if (new URL(r.url()).pathname.endsWith('/offerings')) offeringsAsked = Math.min(offeringsAsked, Date.now());
    };
    const onResponse = (r: { url(): string }) => {
      if (new URL(r.url()).pathname === `/api/v1/providers/${provider.publicKey}`) providerAnswered = Math.min(providerAnswered, Date.now());
    };
    page.on('request', onRequest);
    page.on('response', onResponse);
    try {
      await page.goto(`${live.baseUrl}/dashboard/provider/offerings`);
      await page.waitForSelector('table[data-table=offerings] tbody tr[data-row]');
      assert.ok(offeringsAsked < providerAnswered, `offerings asked ${offeringsAsked - providerAnswered} ms after the account check answered`);
    } finally {
      page.off('request', onRequest);
      page.off('response', onResponse);
      await page.unroute(`${live.baseUrl}/api/v1/providers/${provider.publicKey}`);
    }
  });

  test('no page error happened', () => {
    assert.deepEqual(pageErrors, []);
  });
});
