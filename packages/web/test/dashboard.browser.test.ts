// The provider dashboard end to end: Debian's Chromium (playwright-core) against a real dc-api on
// a loopback port. Steps run in order on one signed-in page, as a provider would use it; agents,
// customers and the operator act from node with their own signed requests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Page, Request } from 'playwright-core';
import { COUNTRY, POOL_NAME } from '@dc/core';
import { generateIdentity, identityFromSeed, type Identity } from '@dc/core/node';
import { mustOk, type RequestOptions } from '@dc/testkit';
import { operator } from '@dc/server/dist/test/helpers.js';
import { bulkOfferingsCsv, eventually, expectText, launchBrowser, screenshotPath, startLiveServer, text, type Browser, type LiveServer } from './support.js';

const XSS = '<img src=x onerror=alert(1)>';

describe('provider dashboard in Chromium', { concurrency: false }, () => {
  let live: LiveServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  let provider: Identity;
  let backupPath: string;
  let poolId: string;
  let manualPoolId: string;
  let agent1: Identity;
  let agent2: Identity;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  const alerts: string[] = [];

  const api = <T = any>(who: Identity, method: string, path: string, body?: unknown, opts: RequestOptions = {}) => live.client.request<T>(who, method, path, body, opts);
  const agentApi = <T = any>(who: Identity, method: string, path: string, body?: unknown) => api<T>(who, method, path, body, { keyHeader: 'X-Agent-Pubkey' });
  const pp = (...s: string[]) => ['/api/v1/providers', provider.publicKey, ...s].join('/');

  async function registerAgent(pool: string, label?: string): Promise<Identity> {
    const t = await live.client.call(provider, 'createSetupToken', { params: { pubkey: provider.publicKey, pool_id: pool }, body: label ? { label } : {} });
    const agent = generateIdentity();
    const setup = await live.client.call(agent, 'setupAgent', { body: { token: mustOk(t).body.token, agent_pubkey: agent.publicKey } });
    mustOk(setup);
    return agent;
  }

  before(async () => {
    // One failed attempt ends provisioning (so Retry can be shown) and failures do not back off.
    live = await startLiveServer({ DC_MAX_PROVISION_ATTEMPTS: '1', DC_RETRY_BACKOFF_SECONDS: '0' });
    base = live.baseUrl;
    browser = await launchBrowser({ width: 1280, height: 900 });
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to (execute|load|apply)/i.test(m.text())) cspViolations.push(m.text());
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => {
      alerts.push(d.message());
      void d.dismiss();
    });
  });

  after(async () => {
    await browser?.close();
    await live?.close();
  });

  test('dashboard pages carry the CSP header', async () => {
    const r = await page.goto(`${base}/dashboard/provider/pools`);
    assert.equal(r?.status(), 200);
    assert.equal(r?.headers()['content-security-policy'], "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'");
    await page.getByRole('heading', { name: 'Sign in to the provider dashboard' }).waitFor();
    await page.screenshot({ path: screenshotPath('01-sign-in') });
  });

  test('sign in with a generated key: backup offered once, key kept non-extractable in IndexedDB, then register a name', async () => {
    await page.click('[data-action=generate]');
    const pubkey = await text(page, '[data-new-pubkey]');
    assert.match(pubkey, /^[0-9a-f]{64}$/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=download-backup]')]);
    backupPath = (await download.path())!;
    const backup = JSON.parse(readFileSync(backupPath, 'utf8')) as { public_key: string; seed_hex: string; kind: string };
    assert.equal(backup.kind, 'dc-api-provider-key');
    assert.equal(backup.public_key, pubkey);
    provider = identityFromSeed(backup.seed_hex);
    assert.equal(provider.publicKey, pubkey, 'the backup seed is the key shown');
    assert.equal(await page.isDisabled('[data-action=download-backup]'), true, 'the backup is offered once');

    await page.check('input[type=checkbox]');
    await page.click('[data-action=continue]');
    await page.getByRole('heading', { name: 'Register as a provider' }).waitFor();
    await page.fill('input[name=provider-name]', 'Acme Hosting');
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'Agent pools' }).waitFor();
    await expectText(page, 'table[data-table=pools] .dt-empty td', /No pools yet/);
    await expectText(page, '[data-provider-name]', 'Acme Hosting');

    const stored = await page.evaluate(
      () =>
        new Promise<{ extractable: boolean; algorithm: string; type: string; publicKey: string }>((resolve, reject) => {
          const req = indexedDB.open('dc-dashboard');
          req.onerror = () => reject(req.error);
          req.onsuccess = () => {
            const get = req.result.transaction('keys').objectStore('keys').get('provider');
            get.onsuccess = () => {
              const k = get.result.privateKey as CryptoKey;
              resolve({ extractable: k.extractable, algorithm: k.algorithm.name, type: k.type, publicKey: get.result.publicKey });
              req.result.close();
            };
          };
        }),
    );
    assert.deepEqual(stored, { extractable: false, algorithm: 'Ed25519', type: 'private', publicKey: pubkey });

    const reg = mustOk(await api(provider, 'GET', pp()));
    assert.equal(reg.body.name, 'Acme Hosting');
    await page.reload();
    await page.getByRole('heading', { name: 'Agent pools' }).waitFor();
  });

  test('create a pool; the table shows region, type, agents and online x/y', async () => {
    await page.getByRole('button', { name: '+ Create pool' }).click();
    const dlg = page.locator('[data-dialog=pool-form]');
    // Core's rule is the browser's check and the hint: a bad name never leaves the form.
    const name = dlg.locator('input[name=name]');
    await name.fill('-bad name');
    assert.equal(await name.evaluate((el) => (el as HTMLInputElement).validity.patternMismatch), true, 'the pattern is active in Chromium');
    assert.equal(await name.getAttribute('title'), POOL_NAME.rule);
    await expectText(page, '[data-dialog=pool-form] .hint', POOL_NAME.rule);
    await name.fill('europe-proxmox');
    assert.equal(await name.evaluate((el) => (el as HTMLInputElement).validity.valid), true);
    await dlg.locator('select[name=location]').selectOption('europe');
    await dlg.locator('select[name=provisioner_type]').selectOption('proxmox');
    await dlg.getByRole('button', { name: 'Create pool' }).click();
    const row = page.locator('table[data-table=pools] tbody tr[data-row]');
    await row.first().waitFor();
    poolId = (await row.first().getAttribute('data-row'))!;
    assert.match(poolId, /^europe-proxmox-/);
    const cell = (c: string) => `table[data-table=pools] tr[data-row="${poolId}"] td[data-col=${c}]`;
    assert.equal(await text(page, cell('name')), 'europe-proxmox');
    assert.equal(await text(page, cell('location')), 'europe');
    assert.equal(await text(page, cell('provisioner_type')), 'proxmox');
    assert.equal(await text(page, cell('agents_count')), '0');
    assert.equal(await text(page, cell('online')), '0/0');
    assert.equal(await text(page, cell('offerings_count')), '0');

    // A duplicate name is refused with the server's message, in the dialog.
    await page.getByRole('button', { name: '+ Create pool' }).click();
    await dlg.locator('input[name=name]').fill('europe-proxmox');
    await dlg.getByRole('button', { name: 'Create pool' }).click();
    await expectText(page, '[data-dialog=pool-form] .form-error', /already have a pool named "europe-proxmox"/);
    await dlg.getByRole('button', { name: 'Cancel' }).click();
  });

  test('add an agent: the one-liner and the dc-agent command are shown once, with copy buttons and the expiry', async () => {
    await page.click(`table[data-table=pools] tr[data-row="${poolId}"] td[data-col=location]`);
    await page.waitForURL(`**/dashboard/provider/pools/${poolId}`);
    await expectText(page, '[data-pool-facts]', /Region: europe.*Type: proxmox.*Offerings: 0 linked/);
    await expectText(page, 'table[data-table=agents] .dt-empty td', /No agents yet/);

    await page.getByRole('button', { name: '+ Add Agent' }).click();
    const dlg = page.locator('[data-dialog=add-agent]');
    await dlg.locator('input[name=label]').fill('node-1');
    await dlg.locator('select[name=expires]').selectOption('24');
    await dlg.getByRole('button', { name: 'Create token' }).click();
    const setupCmd = await eventually(async () => {
      const t = await text(page, '[data-cmd=setup]');
      assert.ok(t);
      return t;
    });
    const serverKey = (await (await fetch(`${base}/api/v1/server-key`)).json()).public_key as string;
    assert.match(setupCmd, new RegExp(`^curl .*${base}/setup \\| bash -s -- --token apt_europe_[A-Za-z0-9_-]{22,} --api-url ${base} --server-key ${serverKey}$`));
    const token = /--token (\S+)/.exec(setupCmd)![1]!;
    const direct = await text(page, '[data-cmd=dc-agent]');
    assert.equal(direct, `dc-agent setup --token ${token} --api-url ${base} --server-key ${serverKey}`);
    await expectText(page, '[data-once-notice]', /shown once/);
    await expectText(page, '[data-dialog=add-agent] .dlg-body', /expires in 23h 59m/);

    await page.click('[data-copy=setup]');
    await expectText(page, '[data-copy=setup]', 'Copied ✓');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), setupCmd);
    await page.click('[data-copy=dc-agent]');
    assert.equal(await eventually(async () => {
      const clip = await page.evaluate(() => navigator.clipboard.readText());
      assert.equal(clip, direct);
      return clip;
    }), direct);
    await page.screenshot({ path: screenshotPath('03-add-agent-dialog') });
    await dlg.getByRole('button', { name: 'Done' }).click();
    await expectText(page, 'table[data-table=tokens] tbody tr[data-row] td[data-col=label]', 'node-1');
    await expectText(page, 'table[data-table=tokens] tbody tr[data-row] td[data-col=expires_at]', /^23h 5\dm$/);

    // The agent, from its host: setup signed by its own new key.
    agent1 = generateIdentity();
    const setup = await agentApi(agent1, 'POST', '/api/v1/agents/setup', { token, agent_pubkey: agent1.publicKey });
    assert.equal(setup.status, 201, setup.text);
    assert.equal(setup.body.pool_id, poolId);
  });

  test('the agent appears after setup and turns online within seconds of its heartbeat; the used token disappears', async () => {
    const row = `table[data-table=agents] tr[data-row="${agent1.publicKey}"]`;
    await expectText(page, `${row} td[data-col=label]`, 'node-1');
    await expectText(page, `${row} td[data-col=status]`, 'Offline');
    await expectText(page, 'table[data-table=tokens] .dt-empty td', 'No pending tokens.');

    const hb = await agentApi(agent1, 'POST', pp('heartbeat'), { version: '0.5.2' });
    assert.equal(hb.status, 200, hb.text);
    const t0 = Date.now();
    await expectText(page, `${row} td[data-col=status]`, 'Online', 6000);
    const seenAfter = Date.now() - t0;
    assert.ok(seenAfter < 6000, `online shown after ${seenAfter} ms`);
    assert.equal(await page.locator(`${row} td[data-col=status] [data-status=online]`).count(), 1, 'status carries colour class and text');
    assert.equal(await text(page, `${row} td[data-col=version]`), '0.5.2');
    await expectText(page, `${row} td[data-col=last_seen]`, /^(just now|\d+s ago)$/);
    await expectText(page, '[data-pool-facts]', /Online: 1\/1/);
  });

  test('agent-supplied text renders as literal text, never as markup', async () => {
    agent2 = await registerAgent(poolId, 'node-2');
    // Labels are validated by the API; this stands for any text that reaches the table anyway
    // (an older row, another writer): the dashboard must still show it as text.
    await live.testDb.db.query('UPDATE provider_agent_delegations SET label = $1 WHERE agent_pubkey = $2', [XSS, agent2.publicKey]);
    mustOk(await agentApi(agent2, 'POST', pp('heartbeat'), { version: '0.5.1' }));
    const cell = `table[data-table=agents] tr[data-row="${agent2.publicKey}"] td[data-col=label]`;
    await expectText(page, cell, XSS);
    assert.equal(await page.locator('table[data-table=agents] img').count(), 0);
    assert.deepEqual(alerts, []);
  });

  test('revoke an agent after confirming: it shows revoked and its next call is refused', async () => {
    const row = `table[data-table=agents] tr[data-row="${agent1.publicKey}"]`;
    await page.click(`${row} button:has-text("Revoke")`);
    const dlg = page.locator('[data-dialog=confirm]');
    await expectText(page, '[data-dialog=confirm] h2', /Revoke agent node-1\?/);
    await dlg.getByRole('button', { name: 'Revoke agent' }).click();
    await expectText(page, `${row} td[data-col=status]`, 'Revoked');
    assert.equal(await page.locator(`${row}.row-revoked`).count(), 1);
    const hb = await agentApi(agent1, 'POST', pp('heartbeat'), { version: '0.5.2' });
    assert.equal(hb.status, 401);
    await expectText(page, '[data-pool-facts]', /Online: 1\/1/);

    // A token created elsewhere (another tab, the API) shows up as pending within a poll.
    mustOk(await api(provider, 'POST', pp('pools', poolId, 'setup-tokens'), { label: 'node-3', expires_in_hours: 2 }));
    await expectText(page, 'table[data-table=tokens] tbody tr[data-row] td[data-col=label]', 'node-3');
    await expectText(page, 'table[data-table=tokens] tbody tr[data-row] td[data-col=expires_at]', /^1h 5\dm$/);
    await page.screenshot({ path: screenshotPath('04-pool-detail') });
    await page.click('table[data-table=tokens] tbody tr[data-row] button:has-text("Revoke")');
    await page.locator('[data-dialog=confirm]').getByRole('button', { name: 'Revoke token' }).click();
    await expectText(page, 'table[data-table=tokens] .dt-empty td', 'No pending tokens.');
  });

  test('delete is refused with the server\'s message while an agent is active; edit renames; an empty pool deletes', async () => {
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.locator('[data-dialog=confirm]').getByRole('button', { name: 'Delete pool' }).click();
    await expectText(page, '[data-dialog=confirm] .form-error', 'The pool still has 1 agent(s); revoke them before deleting the pool.');
    await page.locator('[data-dialog=confirm]').getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.locator('[data-dialog=pool-form] input[name=name]').fill('europe-pve');
    await page.locator('[data-dialog=pool-form]').getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Pool: europe-pve' }).waitFor();

    await page.click('nav >> text=Pools');
    await page.getByRole('button', { name: '+ Create pool' }).click();
    const dlg = page.locator('[data-dialog=pool-form]');
    await dlg.locator('input[name=name]').fill('scratch');
    await dlg.locator('select[name=location]').selectOption('na');
    await dlg.locator('select[name=provisioner_type]').selectOption('script');
    await dlg.getByRole('button', { name: 'Create pool' }).click();
    const scratch = page.locator('table[data-table=pools] tr[data-row^="scratch-"]');
    await scratch.waitFor();
    await scratch.getByRole('button', { name: 'Delete' }).click();
    await page.locator('[data-dialog=confirm]').getByRole('button', { name: 'Delete pool' }).click();
    await scratch.waitFor({ state: 'detached' });
    await expectText(page, `table[data-table=pools] tr[data-row="${poolId}"] td[data-col=online]`, '1/1');
  });

  test('offerings show "(auto: europe)" for DE, the explicit pool for an override, and a warning when no pool matches', async () => {
    const manual = mustOk(await api(provider, 'POST', pp('pools'), { name: 'manual-eu', location: 'europe', provisioner_type: 'manual' }));
    manualPoolId = manual.body.pool_id;
    await page.click('nav >> text=Offerings');
    await expectText(page, 'table[data-table=offerings] .dt-empty td', /No offerings yet/);

    const create = async (f: { id: string; name: string; type: string; country: string; price: string; pool?: string }) => {
      await page.getByRole('button', { name: '+ New offering' }).click();
      const dlg = page.locator('[data-dialog=offering-form]');
      await dlg.locator('input[name=offering_id]').fill(f.id);
      await dlg.locator('input[name=name]').fill(f.name);
      await dlg.locator('input[name=product_type]').fill(f.type);
      await dlg.locator('input[name=datacenter_country]').fill(f.country);
      await dlg.locator('input[name=monthly_price]').fill(f.price);
      if (f.pool) await dlg.locator('select[name=agent_pool_id]').selectOption(f.pool);
      await dlg.getByRole('button', { name: 'Create offering' }).click();
      await dlg.waitFor({ state: 'detached' });
    };
    const poolCell = (id: string) => `table[data-table=offerings] tr[data-row="${id}"] td[data-col=pool]`;

    await create({ id: 'vps-de', name: 'VPS DE', type: 'compute', country: 'de', price: '5' });
    await expectText(page, poolCell('vps-de'), /^\(auto: europe\)/);
    await expectText(page, `table[data-table=offerings] tr[data-row="vps-de"] td[data-col=datacenter_country]`, 'DE europe');
    await create({ id: 'ded-manual', name: 'Dedicated (manual)', type: 'dedicated', country: 'DE', price: '99.5', pool: manualPoolId });
    await expectText(page, poolCell('ded-manual'), 'manual-eu');
    await expectText(page, `table[data-table=offerings] tr[data-row="ded-manual"] td[data-col=provisioner_type]`, 'manual');
    await expectText(page, `table[data-table=offerings] tr[data-row="ded-manual"] td[data-col=monthly_price]`, '99.50 EUR/mo');
    await create({ id: 'vps-us', name: 'VPS US', type: 'compute', country: 'US', price: '6' });
    await expectText(page, poolCell('vps-us'), /no pool \(na, proxmox\)/);
    assert.equal(await page.locator('table[data-table=offerings] tr[data-row="vps-us"].row-warn').count(), 1);

    // Edit: the explicit pool override.
    await page.click('table[data-table=offerings] tr[data-row="vps-us"] button:has-text("Edit")');
    await page.locator('[data-dialog=offering-form] select[name=agent_pool_id]').selectOption(poolId);
    await page.locator('[data-dialog=offering-form]').getByRole('button', { name: 'Save' }).click();
    await expectText(page, poolCell('vps-us'), 'europe-pve');

    // A type that contradicts the explicit pool is refused with the server's sentence.
    await page.click('table[data-table=offerings] tr[data-row="ded-manual"] button:has-text("Edit")');
    await page.locator('[data-dialog=offering-form] select[name=provisioner_type]').selectOption('proxmox');
    await page.locator('[data-dialog=offering-form]').getByRole('button', { name: 'Save' }).click();
    await expectText(page, '[data-dialog=offering-form] .form-error', /manual pool/);
    await page.locator('[data-dialog=offering-form]').getByRole('button', { name: 'Cancel' }).click();
    await page.screenshot({ path: screenshotPath('05-offerings-few') });
  });

  test('1,000 offerings: paginate 50 a page with the total, filter by type, status and pool, search', async () => {
    const r = mustOk(await api(provider, 'POST', pp('offerings', 'import'), bulkOfferingsCsv(1000), { contentType: 'text/csv' }));
    assert.equal(r.body.imported, 1000);
    await expectText(page, '[data-total]', 'Showing 1–50 of 1003');
    assert.equal(await page.locator('table[data-table=offerings] tbody tr[data-row]').count(), 50);
    const firstId = () => page.locator('table[data-table=offerings] tbody tr[data-row]').first().getAttribute('data-row');
    assert.equal(await firstId(), 'bulk-0000');

    await page.getByRole('button', { name: 'Next page' }).click();
    await expectText(page, '[data-total]', 'Showing 51–100 of 1003');
    assert.equal(await firstId(), 'bulk-0050');
    // The URL mirrors the filters once the page is idle, just after the rows.
    await page.waitForURL(/[?&]page=2/);
    await page.getByRole('button', { name: '21' }).click();
    await expectText(page, '[data-total]', 'Showing 1001–1003 of 1003');
    assert.deepEqual(await page.locator('table[data-table=offerings] tbody tr[data-row]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-row'))), ['ded-manual', 'vps-de', 'vps-us']);

    await page.selectOption('select[name=type]', 'dedicated');
    await expectText(page, '[data-total]', 'Showing 1–50 of 251', 5000);
    await page.selectOption('select[name=status]', 'inactive');
    await expectText(page, '[data-total]', 'Showing 1–50 of 50', 5000);
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expectText(page, '[data-total]', 'Showing 1–50 of 1003');

    await page.selectOption('select[name=pool]', poolId);
    // Even bulk rows are DE (auto → europe-pve), plus vps-de (auto) and vps-us (explicit).
    await expectText(page, '[data-total]', 'Showing 1–50 of 502', 5000);
    await page.selectOption('select[name=pool]', '');

    await page.fill('input[name=q]', 'BULK-099');
    await expectText(page, '[data-total]', 'Showing 1–10 of 10', 5000);
    assert.equal(await firstId(), 'bulk-0990');
    await page.fill('input[name=q]', 'no such offering');
    await expectText(page, 'table[data-table=offerings] .dt-empty td', 'No offering matches these filters.');
    await page.fill('input[name=q]', '');
    await expectText(page, '[data-total]', 'Showing 1–50 of 1003');
  });

  test('dense layout: at 1920×1080 at least 25 table rows are visible; at 1280 px nothing overflows sideways', async () => {
    await page.setViewportSize({ width: 1920, height: 1080 });
    const visible = await page.locator('table[data-table=offerings] tbody tr[data-row]').evaluateAll(
      (rows) => rows.filter((r) => r.getBoundingClientRect().bottom <= window.innerHeight).length,
    );
    const h = await page.locator('table[data-table=offerings] tbody tr[data-row]').first().evaluate((r) => r.getBoundingClientRect().height);
    assert.ok(visible >= 25, `only ${visible} rows visible at 1080p`);
    assert.ok(h <= 30, `row height ${h}px`);
    await page.screenshot({ path: screenshotPath('06-offerings-1080p') });
    await page.setViewportSize({ width: 1280, height: 900 });
    for (const path of ['/dashboard/provider/offerings', `/dashboard/provider/pools/${poolId}`, '/dashboard/provider/pools']) {
      await page.goto(base + path);
      await page.locator('table.dt tbody tr[data-row]').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} overflows by ${overflow}px at 1280 px`);
    }
  });

  test('CSV import with one bad row shows that row\'s error in the preview and imports nothing', async () => {
    await page.goto(`${base}/dashboard/provider/offerings`);
    await page.getByRole('button', { name: 'Import CSV' }).click();
    const dlg = page.locator('[data-dialog=csv-import]');
    const csv = [
      'offering_id,name,product_type,datacenter_country,monthly_price,currency',
      'new-a,New A,compute,DE,5,EUR',
      'new-b,New B,compute,XX,5,EUR',
      'new-c,New C,compute,FR,7.25,EUR',
    ].join('\n');
    await dlg.locator('textarea[name=csv-text]').fill(csv);
    assert.equal(await dlg.locator('table[data-table=csv-preview] tbody tr').count(), 3);
    await dlg.getByRole('button', { name: 'Import 3 row(s)' }).click();
    await expectText(page, '[data-import-error]', /Nothing was imported/);
    await expectText(page, '[data-table=csv-errors] tr[data-error-line="3"]', `3datacenter_country${COUNTRY.rule}; "XX" is not one`);
    assert.equal(await dlg.locator('[data-table=csv-errors] tbody tr').count(), 1, 'only the bad row is reported');
    assert.equal(await dlg.locator('table[data-table=csv-preview] tr[data-line="3"].row-error').count(), 1, 'the bad row is marked in the preview');
    assert.equal(await dlg.locator('table[data-table=csv-preview] tr.row-error').count(), 1);
    await page.screenshot({ path: screenshotPath('07-csv-import-error') });
    const after = mustOk(await api(provider, 'GET', `${pp('offerings')}?q=new-`));
    assert.equal(after.body.total, 0, 'nothing was imported');
    await dlg.getByRole('button', { name: 'Cancel' }).click();
  });

  test('export round-trips: the downloaded CSV re-imports as 1,003 updates and exports identically', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=export]')]);
    assert.equal(download.suggestedFilename(), 'offerings.csv');
    const file = (await download.path())!;
    const exported = readFileSync(file, 'utf8');
    const viaApi = mustOk(await api<string>(provider, 'GET', pp('offerings', 'export')));
    assert.equal(exported, viaApi.text);
    assert.equal(exported.trim().split('\n').length, 1004);

    await page.getByRole('button', { name: 'Import CSV' }).click();
    const dlg = page.locator('[data-dialog=csv-import]');
    await dlg.locator('input[name=csv-file]').setInputFiles(file);
    await dlg.getByRole('button', { name: 'Import 1003 row(s)' }).click();
    await expectText(page, '[data-import-result]', 'Imported 1003 offering(s): 0 created, 1003 updated.');
    await dlg.getByRole('button', { name: 'Close', exact: true }).click();
    const again = mustOk(await api<string>(provider, 'GET', pp('offerings', 'export')));
    assert.equal(again.text, exported);
  });

  test('contracts: accept, lock holder and expiry, agent errors as text, retry, complete a handed-off contract, lock history', async () => {
    const customer = generateIdentity();
    const order = async (offering: string) =>
      (mustOk(await api(customer, 'POST', '/api/v1/contracts', { provider_pubkey: provider.publicKey, offering_id: offering, instance_config: { hostname: 'web-1' } }))).body
        .contract_id as string;
    const c1 = await order('vps-de');
    // Lock holders and provisioned-by are labelled from the contracts themselves: no pool detail.
    const poolDetailRequests: string[] = [];
    const onRequest = (req: Request) => {
      if (/^\/api\/v1\/providers\/[0-9a-f]{64}\/pools\/[^/]+/.test(new URL(req.url()).pathname)) poolDetailRequests.push(req.url());
    };
    page.on('request', onRequest);
    await page.click('nav >> text=Contracts');
    const row = (id: string) => `table[data-table=contracts] tr[data-row="${id}"]`;
    await expectText(page, `${row(c1)} td[data-col=status]`, 'requested');
    await expectText(page, `${row(c1)} td[data-col=resolved_pool_id]`, 'europe-pve');
    await expectText(page, `${row(c1)} td[data-col=datacenter_region]`, 'europe');
    await page.click(`${row(c1)} button:has-text("Accept")`);
    await page.click('[data-dialog=accept] [data-action=confirm-accept]');
    await expectText(page, `${row(c1)} td[data-col=status]`, 'accepted');
    mustOk(await api(operator, 'POST', `/api/v1/contracts/${c1}/payment`, { status: 'succeeded' }));
    await expectText(page, `${row(c1)} td[data-col=payment_status]`, 'succeeded');

    // agent2 (label XSS) takes the lease: the table names the holder and counts the lease down.
    const claim = mustOk(await agentApi(agent2, 'POST', pp('contracts', 'claim'), { max: 1 }));
    assert.equal(claim.body.items[0].contract_id, c1);
    await expectText(page, `${row(c1)} td[data-col=lock_agent]`, new RegExp(`^${XSS.replace(/[()]/g, '\\$&')} ${agent2.publicKey.slice(0, 6)} · [45]m \\d+s #1$`));
    mustOk(await agentApi(agent2, 'POST', pp('contracts', c1, 'failed'), { lock_token: claim.body.items[0].lock_token, error_message: XSS }));
    await expectText(page, `${row(c1)} td[data-col=status]`, 'provisioning failed');
    await expectText(page, `${row(c1)} td[data-col=last_error]`, XSS);
    await expectText(page, `${row(c1)} td[data-col=attempts]`, '1');
    assert.equal(await page.locator('table[data-table=contracts] img').count(), 0);
    await page.click(`${row(c1)} button:has-text("Retry")`);
    await expectText(page, `${row(c1)} td[data-col=status]`, 'accepted');
    await expectText(page, `${row(c1)} td[data-col=attempts]`, '0');

    // A manual pool's agent hands its contract off; the provider completes it here.
    const manualAgent = await registerAgent(manualPoolId, 'manual-desk');
    const c2 = await order('ded-manual');
    mustOk(await api(provider, 'POST', pp('contracts', c2, 'accept')));
    mustOk(await api(operator, 'POST', `/api/v1/contracts/${c2}/payment`, { status: 'succeeded' }));
    const claim2 = mustOk(await agentApi(manualAgent, 'POST', pp('contracts', 'claim'), { max: 1 }));
    assert.equal(claim2.body.items[0].contract_id, c2);
    mustOk(await agentApi(manualAgent, 'POST', pp('contracts', c2, 'handoff'), { lock_token: claim2.body.items[0].lock_token, note: 'rack 4, needs a person' }));
    await expectText(page, `${row(c2)} td[data-col=status]`, 'provisioning');
    await page.click(`${row(c2)} button:has-text("Complete")`);
    const dlg = page.locator('[data-dialog=complete]');
    assert.equal(await dlg.locator('input[name=hostname]').inputValue(), 'web-1');
    await dlg.locator('input[name=ip_address]').fill('203.0.113.7');
    await dlg.getByRole('button', { name: 'Mark provisioned' }).click();
    await expectText(page, `${row(c2)} td[data-col=status]`, 'provisioned');
    await expectText(page, `${row(c2)} td[data-col=provisioned_by]`, 'you (provider)');
    const done = mustOk(await api(provider, 'GET', `/api/v1/contracts/${c2}`));
    assert.deepEqual(done.body.instance_details, { ip_address: '203.0.113.7', hostname: 'web-1', username: 'root' });

    await page.click(`${row(c2)} button:has-text("History")`);
    await eventually(async () => {
      const events = await page.locator(`[data-contract-detail="${c2}"] [data-event]`).evaluateAll((els) => els.map((e) => e.getAttribute('data-event')));
      assert.deepEqual(events, ['granted', 'handed_off', 'provisioned']);
    });
    await expectText(page, `[data-contract-detail="${c2}"] [data-event=handed_off]`, /rack 4, needs a person/);
    await page.click(`${row(c1)} button:has-text("History")`);
    await eventually(async () => {
      const events = await page.locator(`[data-contract-detail="${c1}"] [data-event]`).evaluateAll((els) => els.map((e) => e.getAttribute('data-event')));
      assert.deepEqual(events, ['granted', 'failed', 'retried']);
    });
    await page.screenshot({ path: screenshotPath('08-contracts'), fullPage: true });
    assert.equal(await page.locator('[data-contract-detail] img').count(), 0);
    page.off('request', onRequest);
    assert.deepEqual(poolDetailRequests, [], 'the contracts page fetched pool details');
  });

  test('loading and error states are explicit; Retry recovers; an unknown pool says so', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // The page may render its loading row before its signed request is out: release only a held one.
    let arrived!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    let failing = false;
    await page.route('**/api/v1/providers/*/pools', async (route) => {
      if (failing) return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'The database is not reachable.' } }) });
      arrived();
      await held;
      return route.continue();
    });
    await page.goto(`${base}/dashboard/provider/pools`);
    await expectText(page, 'table[data-table=pools] .dt-loading td', 'Loading…');
    await reached;
    failing = true;
    release();
    // The held request goes through; the next ones (a reload) fail.
    await page.locator('table[data-table=pools] tbody tr[data-row]').first().waitFor();
    await page.reload();
    await expectText(page, 'table[data-table=pools] .dt-error td', /Could not load: The database is not reachable\./, 15_000);
    failing = false;
    await page.unroute('**/api/v1/providers/*/pools');
    await page.click('table[data-table=pools] .dt-error button:has-text("Retry")');
    await page.locator('table[data-table=pools] tbody tr[data-row]').first().waitFor();

    await page.goto(`${base}/dashboard/provider/pools/no-such-pool`);
    await expectText(page, '.page-status', /Pool no-such-pool does not exist/);
  });

  test('sign out forgets the key; the backup file and the hex seed both sign back in', async () => {
    await page.click('nav >> text=Pools');
    // The manual pool's agent never sent a heartbeat: registered, not online.
    await expectText(page, `table[data-table=pools] tr[data-row="${manualPoolId}"] td[data-col=online]`, '0/1');
    await expectText(page, `table[data-table=pools] tr[data-row="${manualPoolId}"] td[data-col=active_contracts]`, '1');
    await page.screenshot({ path: screenshotPath('02-pools') });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('[data-dialog=confirm]').getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the provider dashboard' }).waitFor();
    const left = await page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const req = indexedDB.open('dc-dashboard');
          req.onsuccess = () => {
            const c = req.result.transaction('keys').objectStore('keys').count();
            c.onsuccess = () => resolve(c.result);
          };
        }),
    );
    assert.equal(left, 0);
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in to the provider dashboard' }).waitFor();

    await page.locator('input[name=backup]').setInputFiles(backupPath);
    await expectText(page, '[data-provider-name]', 'Acme Hosting');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('[data-dialog=confirm]').getByRole('button', { name: 'Sign out' }).click();

    const seed = (JSON.parse(readFileSync(backupPath, 'utf8')) as { seed_hex: string }).seed_hex;
    await page.fill('textarea[name=seed]', 'not a key');
    await page.click('[data-action=import]');
    await expectText(page, '.signin .form-error', /hex seed/);
    await page.fill('textarea[name=seed]', seed);
    await page.click('[data-action=import]');
    await expectText(page, '[data-provider-name]', 'Acme Hosting');
  });

  test('no CSP violation, page error or script dialog happened during the run', () => {
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(alerts, []);
  });
});
