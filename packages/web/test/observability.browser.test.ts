// Pool statistics, charts and the audit log in Debian's Chromium against a real dc-api. A day of
// activity is made through the API (contracts accepted, paid, claimed, provisioned or failed) and
// then moved into the past with direct SQL on the test database, as only time could otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { AuditPage, PoolStats } from '@dc/core';
import { generateIdentity, seedHex, type Identity } from '@dc/core/node';
import { mustOk } from '@dc/testkit';
import { operator } from '@dc/server/dist/test/helpers.js';
import { eventually, expectText, launchBrowser, screenshotPath, startLiveServer, text, type Browser, type LiveServer } from './support.js';

/** Pixels of a chart's canvas in one colour family: bars drawn, or not. */
async function colouredPixels(page: Page, chart: string, colour: 'green' | 'red' | 'blue'): Promise<number> {
  return page.locator(`[data-chart=${chart}] canvas`).evaluate((el, colour) => {
    const c = el as HTMLCanvasElement;
    const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) {
      const [r, g, b, a] = [px[i]!, px[i + 1]!, px[i + 2]!, px[i + 3]!];
      // Bars are filled at 70–75 % opacity; anti-aliased edges of text are nearly transparent.
      if (a > 128 && (colour === 'green' ? g > r + 50 && g > b + 25 : colour === 'red' ? r > g + 70 && r > b + 70 : b > r + 80 && b > g + 50)) n++;
    }
    return n;
  }, colour);
}

/** Seconds in the past of each seeded outcome, and (provisioned) its time to provision. */
const PROVISIONED = [
  { hoursAgo: 23, ttpSeconds: 30 },
  { hoursAgo: 20, ttpSeconds: 40 },
  { hoursAgo: 17, ttpSeconds: 50 },
  { hoursAgo: 14, ttpSeconds: 60 },
  { hoursAgo: 11, ttpSeconds: 70 },
  { hoursAgo: 8, ttpSeconds: 80 },
  { hoursAgo: 5, ttpSeconds: 90 },
  { hoursAgo: 2, ttpSeconds: 600 },
];
const FAILED = [{ hoursAgo: 22 }, { hoursAgo: 3 }];
const EXTRA_OFFERINGS = 55;

describe('pool statistics, charts and the audit log in Chromium', { concurrency: false }, () => {
  let live: LiveServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  const provider = generateIdentity();
  const customer = generateIdentity();
  let agent: Identity;
  let busyPool: string;
  let idlePool: string;
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  const pk = provider.publicKey;

  const sql = (q: string, params: unknown[] = []) => live.testDb.db.query(q, params);

  /** Moves a contract's lock history so its `event` lies `secondsAgo` in the past, and its provisionable_at `ttp` before that. */
  async function backdate(contractId: string, event: 'provisioned' | 'failed', secondsAgo: number, ttpSeconds: number): Promise<void> {
    await sql(
      `UPDATE contract_events SET at = at + ((now() - make_interval(secs => $2::float8)) -
         (SELECT at FROM contract_events WHERE contract_id = $1 AND event = $3 ORDER BY event_id DESC LIMIT 1))
       WHERE contract_id = $1`,
      [contractId, secondsAgo, event],
    );
    await sql(
      `UPDATE contract_sign_requests c SET
         provisionable_at = e.at - make_interval(secs => $2::float8),
         created_at = e.at - make_interval(secs => $2::float8 + 60),
         provisioned_at = CASE WHEN c.provisioned_at IS NULL THEN NULL ELSE e.at END
       FROM (SELECT at FROM contract_events WHERE contract_id = $1 AND event = $3 ORDER BY event_id DESC LIMIT 1) e
       WHERE c.contract_id = $1`,
      [contractId, ttpSeconds, event],
    );
    // The server records time to provision on the event when it is written (migration 004's
    // trigger); moving history by hand moves that figure too.
    await sql(`UPDATE contract_events SET provision_ms = ($2::float8 * 1000)::bigint WHERE contract_id = $1 AND event = 'provisioned'`, [contractId, ttpSeconds]);
  }

  async function paidContract(offeringId: string): Promise<string> {
    // Untyped requests: the Contract type is too deep for the typed call's inference (TS2589).
    const c = mustOk(await live.client.request<{ contract_id: string }>(customer, 'POST', '/api/v1/contracts', { provider_pubkey: pk, offering_id: offeringId, instance_config: { hostname: 'web' } }));
    const id = c.body.contract_id;
    mustOk(await live.client.request(provider, 'POST', `/api/v1/providers/${pk}/contracts/${id}/accept`));
    mustOk(await live.client.request(operator, 'POST', `/api/v1/contracts/${id}/payment`, { status: 'succeeded' }));
    return id;
  }

  before(async () => {
    // A failed attempt ends provisioning, so failed contracts do not come back as waiting work.
    live = await startLiveServer({ DC_MAX_PROVISION_ATTEMPTS: '1', DC_RETRY_BACKOFF_SECONDS: '0' });
    base = live.baseUrl;
    browser = await launchBrowser({ width: 1440, height: 1000 });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy|Refused to (execute|load|apply)/i.test(m.text())) consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));

    const reg = await live.client.call(provider, 'putProvider', { params: { pubkey: pk }, body: { name: 'Stats Hosting' } });
    mustOk(reg);
    // (A typed call's result goes to a variable first: inferred inside mustOk() it is too deep, TS2589.)
    const busy = await live.client.call(provider, 'createPool', { params: { pubkey: pk }, body: { name: 'eu-busy', location: 'europe', provisioner_type: 'proxmox' } });
    busyPool = mustOk(busy).body.pool_id;
    const idle = await live.client.call(provider, 'createPool', { params: { pubkey: pk }, body: { name: 'na-idle', location: 'na', provisioner_type: 'proxmox' } });
    idlePool = mustOk(idle).body.pool_id;
    const token = await live.client.call(provider, 'createSetupToken', { params: { pubkey: pk, pool_id: busyPool }, body: { label: 'hv-1' } });
    agent = generateIdentity();
    const setup = await live.client.call(agent, 'setupAgent', { body: { token: mustOk(token).body.token, agent_pubkey: agent.publicKey } });
    mustOk(setup);
  });

  after(async () => {
    await browser?.close();
    await live?.close();
  });

  test('sign in by importing the provider key', async () => {
    await page.goto(`${base}/dashboard/provider/pools`);
    await page.fill('textarea[name=seed]', seedHex(provider.privateKey));
    await page.click('[data-action=import]');
    await expectText(page, '[data-provider-name]', 'Stats Hosting');
    await expectText(page, 'nav', /Pools.*Offerings.*Contracts.*Audit/);
  });

  test('a pool without activity: figures read none and both charts show their empty state, with axes and a legend', async () => {
    await page.goto(`${base}/dashboard/provider/pools/${idlePool}`);
    await page.locator('[data-pool-stats] [data-chart=series] canvas').first().waitFor();
    await expectText(page, '[data-stat=provisioned] dd', '0');
    await expectText(page, '[data-stat=success-rate] dd', '—');
    await expectText(page, '[data-stat=time-to-provision] dd', '— / — / —');
    await expectText(page, '[data-stat=waiting] dd', '0');
    await expectText(page, '[data-chart-empty=series]', /No provisioning attempts in the last 24 h/);
    await expectText(page, '[data-chart-empty=time-to-provision]', /No contract of this pool was provisioned in the last 24 h/);
    // The legend names each series; the canvas holds the axes but no bars.
    assert.deepEqual(
      await page.locator('[data-chart=series] .u-legend .u-series .u-label').allTextContents(),
      ['bucket (UTC)', 'provisioned', 'failed or expired'],
    );
    assert.equal(await colouredPixels(page, 'series', 'green'), 0);
    assert.equal(await colouredPixels(page, 'series', 'red'), 0);
    assert.equal(await colouredPixels(page, 'time-to-provision', 'blue'), 0);
    await page.screenshot({ path: screenshotPath('obs-01-pool-stats-empty'), fullPage: true });
  });

  test('a seeded day of activity: exact figures, a bar per outcome in its bucket, time to provision in minutes', async () => {
    const offering = await live.client.call(provider, 'createOffering', {
      params: { pubkey: pk },
      body: { offering_id: 'vps-eu', name: 'VPS EU', product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR', agent_pool_id: busyPool },
    });
    mustOk(offering);
    const outcomes = [...PROVISIONED.map((p) => ({ ...p, ok: true })), ...FAILED.map((f) => ({ ...f, ttpSeconds: 20, ok: false }))];
    const ids: string[] = [];
    for (let i = 0; i < outcomes.length; i++) ids.push(await paidContract('vps-eu'));
    const asAgent = { keyHeader: 'X-Agent-Pubkey' } as const;
    const claim = mustOk(
      await live.client.request<{ items: { contract_id: string; lock_token: number }[] }>(agent, 'POST', `/api/v1/providers/${pk}/contracts/claim`, { max: outcomes.length }, asAgent),
    );
    assert.equal(claim.body.items.length, outcomes.length);
    for (const item of claim.body.items) {
      const o = outcomes[ids.indexOf(item.contract_id)]!;
      if (o.ok) {
        const body = { lock_token: item.lock_token, instance_details: { ip_address: '203.0.113.9' } };
        mustOk(await live.client.request(agent, 'POST', `/api/v1/providers/${pk}/contracts/${item.contract_id}/provisioned`, body, asAgent));
      } else {
        const body = { lock_token: item.lock_token, error_message: 'no capacity on hv-1' };
        mustOk(await live.client.request(agent, 'POST', `/api/v1/providers/${pk}/contracts/${item.contract_id}/failed`, body, asAgent));
      }
      await backdate(item.contract_id, o.ok ? 'provisioned' : 'failed', o.hoursAgo * 3600, o.ttpSeconds);
    }
    // One contract waits: accepted and paid five minutes ago, claimed by no one.
    const waiting = await paidContract('vps-eu');
    await sql(`UPDATE contract_sign_requests SET provisionable_at = now() - interval '300 seconds' WHERE contract_id = $1`, [waiting]);
    const hb = await live.client.call(agent, 'heartbeat', { params: { pubkey: pk }, body: { version: '1.4.0', active_contracts: 2, max_concurrent: 4 } });
    mustOk(hb);

    const stats = mustOk(await live.client.request<PoolStats>(provider, 'GET', `/api/v1/providers/${pk}/pools/${busyPool}/stats?window=24h`)).body;
    assert.equal(stats.provisioned, 8);
    assert.equal(stats.failed_attempts, 2);
    assert.deepEqual(stats.time_to_provision_ms, { p50: 60_000, p95: 600_000, max: 600_000 });

    await page.goto(`${base}/dashboard/provider/pools/${busyPool}`);
    await expectText(page, '[data-stat=provisioned] dd', '8');
    await expectText(page, '[data-stat=failed] dd', '2 / 0');
    await expectText(page, '[data-stat=success-rate] dd', '80 %');
    await expectText(page, '[data-stat=time-to-provision] dd', '60 s / 10 min / 10 min');
    await expectText(page, '[data-stat=waiting] dd', /^1 oldest 5\.\d min$/);
    assert.equal(await page.locator('[data-chart-empty]').count(), 0, 'no empty state with data');
    await expectText(page, '[data-pool-stats] .section-head', /buckets of 24 min, times in UTC/);
    await expectText(page, '[data-pool-stats] figcaption >> nth=1', 'Time to provision, last 24 h');

    // Bars are drawn in each colour, and hovering the bucket of the newest confirmation reads it back.
    assert.ok((await colouredPixels(page, 'series', 'green')) > 50, 'provisioned bars drawn');
    assert.ok((await colouredPixels(page, 'series', 'red')) > 50, 'failed bars drawn');
    assert.ok((await colouredPixels(page, 'time-to-provision', 'blue')) > 200, 'time-to-provision bars drawn');
    const legend = (chart: string, n: number) => text(page, `[data-chart=${chart}] .u-legend .u-series:nth-child(${n}) .u-value`);
    const over = (await page.locator('[data-chart=series] .u-over').boundingBox())!;
    // Buckets move on as time passes: each try reads the series afresh.
    await eventually(async () => {
      const now = mustOk(await live.client.request<PoolStats>(provider, 'GET', `/api/v1/providers/${pk}/pools/${busyPool}/stats?window=24h`)).body;
      const newest = now.series.findLastIndex((b) => b.provisioned > 0);
      await page.mouse.move(over.x + (over.width * (newest + 0.3)) / 60, over.y + over.height - 5);
      assert.equal(await legend('series', 1), now.series[newest]!.t.slice(0, 16).replace('T', ' '));
      assert.equal(await legend('series', 2), '1 contract');
      assert.equal(await legend('series', 3), '0 attempts');
    });
    // The p95 bar of the time chart reads "10 min".
    const tOver = (await page.locator('[data-chart=time-to-provision] .u-over').boundingBox())!;
    await page.mouse.move(tOver.x + (tOver.width * 1.5) / 3, tOver.y + tOver.height - 5);
    await eventually(async () => assert.equal(await legend('time-to-provision', 2), '10 min'));
    assert.equal(await legend('time-to-provision', 1), 'p95');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: screenshotPath('obs-02-pool-stats-day'), fullPage: true });

    // The last hour held none of it: the window switch re-reads and shows the empty state.
    await page.locator('select[name=stats-window]').selectOption('1h');
    await expectText(page, '[data-pool-stats] .section-head', /buckets of 1 min/);
    await expectText(page, '[data-stat=provisioned] dd', '0');
    await expectText(page, '[data-chart-empty=series]', /No provisioning attempts in the last hour/);
    await expectText(page, '[data-stat=waiting] dd', /^1 oldest 5\.\d min$/);
    await page.locator('select[name=stats-window]').selectOption('7d');
    await expectText(page, '[data-stat=provisioned] dd', '8');
    await expectText(page, '[data-pool-stats] .section-head', /buckets of 2\.8 h/);
  });

  test("the agents table shows the heartbeat's own active count against its limit", async () => {
    const row = `table[data-table=agents] tr[data-row="${agent.publicKey}"]`;
    await expectText(page, `${row} td[data-col=reported]`, '2 / 4');
    await expectText(page, `${row} td[data-col=active_contracts]`, '8');
  });

  test('the pools list shows the 24 h success rate and the waiting contracts', async () => {
    await page.click('nav >> text=Pools');
    const cell = (pool: string, c: string) => `table[data-table=pools] tr[data-row="${pool}"] td[data-col=${c}]`;
    await expectText(page, cell(busyPool, 'success_rate_24h'), '80 %');
    await expectText(page, cell(busyPool, 'waiting'), '1');
    assert.equal(await page.locator(`${cell(busyPool, 'success_rate_24h')} .warn`).count(), 1, '80 % reads as a warning');
    await expectText(page, cell(idlePool, 'success_rate_24h'), '—');
    await expectText(page, cell(idlePool, 'waiting'), '0');
    await page.screenshot({ path: screenshotPath('obs-03-pools-list') });
  });

  test('the audit page: every change once, actor, subject links, kind filter, paging back and forth', async () => {
    for (let i = 0; i < EXTRA_OFFERINGS; i++) {
      const o = await live.client.call(provider, 'createOffering', {
        params: { pubkey: pk },
        body: { offering_id: `extra-${String(i).padStart(2, '0')}`, name: `Extra ${i}`, product_type: 'compute', datacenter_country: 'DE', monthly_price: 7, currency: 'EUR' },
      });
      mustOk(o);
    }
    // The log as the API has it, all of it, to compare the pages with.
    const all = mustOk(await live.client.request<AuditPage>(provider, 'GET', `/api/v1/providers/${pk}/audit?limit=500`)).body.items;
    const kinds = (k: string) => all.filter((e) => e.kind === k).length;
    assert.equal(kinds('pool_created'), 2);
    assert.equal(kinds('offering_created'), 1 + EXTRA_OFFERINGS);
    assert.equal(kinds('payment_recorded'), 11);
    assert.ok(all.length > 50, `${all.length} rows: more than one page`);

    await page.click('nav >> text=Audit');
    await page.waitForURL('**/dashboard/provider/audit');
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const rows = 'table[data-table=audit] tbody tr[data-row]';
    const rowIds = () => page.locator(rows).evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-row'))));
    await eventually(async () => assert.equal((await rowIds()).length, 50));
    const first = await rowIds();
    assert.deepEqual(first, all.slice(0, 50).map((e) => e.id), 'newest first, 50 a page');
    assert.equal(await page.isDisabled('[data-page=newer]'), true);
    await expectText(page, `${rows} >> nth=0 >> td[data-col=actor]`, 'provider (you)');
    await page.screenshot({ path: screenshotPath('obs-04-audit') });

    await page.click('[data-page=older]');
    await page.waitForURL(/before=\d+/);
    await eventually(async () => assert.deepEqual(await rowIds(), all.slice(50).map((e) => e.id)));
    assert.equal(await page.isDisabled('[data-page=older]'), true, 'no rows older than the last page');
    await page.click('[data-page=newer]');
    await page.waitForURL(/after=\d+/);
    await eventually(async () => assert.deepEqual(await rowIds(), first));
    await page.click('[data-page=newest]');
    await page.waitForURL((u) => u.search === '');

    await page.locator('select[name=kind]').selectOption('payment_recorded');
    await page.waitForURL(/kind=payment_recorded/);
    await eventually(async () => assert.equal((await rowIds()).length, 11));
    await expectText(page, `${rows} >> nth=0 >> td[data-col=kind]`, 'payment recorded');
    await expectText(page, `${rows} >> nth=0 >> td[data-col=actor]`, `operator ${operator.publicKey.slice(0, 12)}…`);
    await expectText(page, `${rows} >> nth=0 >> td[data-col=detail]`, /succeeded/);
    assert.equal(await page.locator(`${rows} [data-subject-link=contract]`).count(), 11);

    await page.locator('select[name=kind]').selectOption('agent_setup');
    await eventually(async () => assert.equal((await rowIds()).length, 1));
    await expectText(page, `${rows} td[data-col=actor]`, /^agent /);
    await page.locator(`${rows} [data-subject-link=agent]`).click();
    await page.waitForURL(`**/dashboard/provider/pools/${busyPool}`);

    await page.goto(`${base}/dashboard/provider/audit?kind=pool_created`);
    await eventually(async () => assert.equal((await rowIds()).length, 2));
    await expectText(page, `${rows} >> nth=0 >> td[data-col=subject]`, `pool ${idlePool}`);
    await expectText(page, `${rows} >> nth=0 >> td[data-col=detail]`, /na-idle/);
    await page.screenshot({ path: screenshotPath('obs-05-audit-filtered') });
    await page.locator(`${rows} >> nth=0 >> [data-subject-link=pool]`).click();
    await page.waitForURL(`**/dashboard/provider/pools/${idlePool}`);
    await page.getByRole('heading', { name: 'Pool: na-idle' }).waitFor();

    await page.goto(`${base}/dashboard/provider/audit?kind=pool_deleted`);
    await expectText(page, 'table[data-table=audit] .dt-empty td', 'No "pool deleted" events.');
  });

  test('no console error, CSP violation or page error happened during the run', () => {
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(pageErrors, []);
  });
});
