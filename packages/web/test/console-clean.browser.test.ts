// Every dashboard page in Chromium with nothing in the console: no error, no warning, no failed
// request (Chromium logs a 4xx/5xx answer as "Failed to load resource"), no page error. A pattern
// attribute Chromium cannot compile (v flag) is a console error too, so every dialog with a form
// is opened on the way. The provider comes the first-hour way: a new key, the backup, registration.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ConsoleMessage, Page } from 'playwright-core';
import { generateIdentity, identityFromSeed, type Identity } from '@dc/core/node';
import { mustOk } from '@dc/testkit';
import { operator } from '@dc/server/dist/test/helpers.js';
import { expectText, launchBrowser, screenshotPath, startLiveServer, text, type Browser, type LiveServer } from './support.js';

/** A little longer than the dashboard's poll interval (queries.ts POLL_MS). */
const POLL_WAIT_MS = 2700;

describe('no console error or warning on any dashboard page', { concurrency: false }, () => {
  let live: LiveServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  let pubkey: string;
  let poolId: string;
  let provider: Identity;
  /** Everything the console and the network said that a person would see as a problem. */
  const problems: string[] = [];
  const at = { page: 'start' };

  const record = (what: string) => problems.push(`[${at.page}] ${what}`);

  before(async () => {
    live = await startLiveServer();
    base = live.baseUrl;
    browser = await launchBrowser({ width: 1280, height: 800 });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error' || m.type() === 'warning') record(`console ${m.type()}: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => record(`page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      // A poll the page itself cancels when it navigates or unmounts is not a failure.
      if (r.failure()?.errorText !== 'net::ERR_ABORTED') record(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) record(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await live?.close();
  });

  /** Inputs whose pattern Chromium would not compile (it then ignores the pattern and logs). */
  const badPatterns = () =>
    page.evaluate(() =>
      [...document.querySelectorAll<HTMLInputElement>('input[pattern]')].flatMap((el) => {
        try {
          new RegExp(`^(?:${el.pattern})$`, 'v');
          return [];
        } catch (e) {
          return [`${el.name}: ${(e as Error).message}`];
        }
      }),
    );

  const settle = async (name: string) => {
    // Past one poll round (2.5 s), so a failing background request would have shown.
    await page.waitForTimeout(POLL_WAIT_MS);
    assert.deepEqual(await badPatterns(), [], `${name}: patterns`);
    await page.screenshot({ path: screenshotPath(`console-clean-${name}`) });
  };

  test('sign-in page and the new-key step', async () => {
    at.page = 'sign-in';
    await page.goto(`${base}/dashboard/provider/pools`);
    await page.getByRole('heading', { name: 'Sign in to the provider dashboard' }).waitFor();
    await settle('sign-in');
    at.page = 'new-key';
    await page.click('[data-action=generate]');
    pubkey = await text(page, '[data-new-pubkey]');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=download-backup]')]);
    provider = identityFromSeed((JSON.parse(readFileSync((await download.path())!, 'utf8')) as { seed_hex: string }).seed_hex);
    await page.check('input[type=checkbox]');
    await settle('new-key');
  });

  test('registration page', async () => {
    at.page = 'registration';
    await page.click('[data-action=continue]');
    await page.getByRole('heading', { name: 'Register as a provider' }).waitFor();
    await settle('registration');
    await page.reload();
    await page.getByRole('heading', { name: 'Register as a provider' }).waitFor();
    await settle('registration-reloaded');
    await page.fill('input[name=provider-name]', 'Clean Hosting');
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'Agent pools' }).waitFor();
  });

  test('pools page, with its create-pool and Add Agent dialogs', async () => {
    at.page = 'pools';
    // Content on every page: pools of two types, an agent online, offerings (one routed nowhere), contracts.
    poolId = mustOk(await live.client.call(provider, 'createPool', { params: { pubkey }, body: { name: 'eu-pve', location: 'europe', provisioner_type: 'proxmox' } })).body.pool_id;
    mustOk(await live.client.call(provider, 'createPool', { params: { pubkey }, body: { name: 'na-script', location: 'na', provisioner_type: 'script' } }));
    const token = mustOk(await live.client.call(provider, 'createSetupToken', { params: { pubkey, pool_id: poolId }, body: { label: 'node-1' } })).body;
    const agent = generateIdentity();
    mustOk(await live.client.call(agent, 'setupAgent', { body: { token: token.token, agent_pubkey: agent.publicKey } }));
    mustOk(await live.client.request(agent, 'POST', `/api/v1/providers/${pubkey}/heartbeat`, { version: '1.0.0' }, { keyHeader: 'X-Agent-Pubkey' }));
    mustOk(await live.client.call(provider, 'createSetupToken', { params: { pubkey, pool_id: poolId }, body: { label: 'node-2' } }));
    for (const [id, country] of [['vps-de', 'DE'], ['vps-br', 'BR']] as const) {
      mustOk(await live.client.call(provider, 'createOffering', { params: { pubkey }, body: { offering_id: id, name: `VPS ${country}`, product_type: 'compute', datacenter_country: country, monthly_price: 5, currency: 'EUR' } }));
    }
    const customer = generateIdentity();
    for (const offering of ['vps-de', 'vps-br']) {
      const k = mustOk(await live.client.call(customer, 'createContract', { body: { provider_pubkey: pubkey, offering_id: offering } })).body;
      mustOk(await live.client.call(provider, 'acceptContract', { params: { pubkey, id: k.contract_id } }));
      mustOk(await live.client.call(operator, 'recordPayment', { params: { id: k.contract_id }, body: { status: 'succeeded' } }));
    }

    await page.reload();
    await page.locator(`table[data-table=pools] tr[data-row="${poolId}"]`).waitFor();
    await settle('pools');
    await page.getByRole('button', { name: '+ Create pool' }).click();
    await page.locator('[data-dialog=pool-form]').waitFor();
    await settle('pools-create-dialog');
    await page.locator('[data-dialog=pool-form]').getByRole('button', { name: 'Cancel' }).click();
    await page.locator(`table[data-table=pools] tr[data-row="${poolId}"]`).getByRole('button', { name: '+ Agent' }).click();
    await page.locator('[data-dialog=add-agent] input[name=label]').waitFor();
    await settle('pools-add-agent-dialog');
    await page.locator('[data-dialog=add-agent]').getByRole('button', { name: 'Cancel' }).click();
  });

  test('pool detail page', async () => {
    at.page = 'pool-detail';
    await page.goto(`${base}/dashboard/provider/pools/${poolId}`);
    await expectText(page, `table[data-table=agents] tbody tr[data-row] td[data-col=label]`, 'node-1');
    await page.locator('table[data-table=tokens] tbody tr[data-row]').first().waitFor();
    await settle('pool-detail');
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.locator('[data-dialog=pool-form]').waitFor();
    await settle('pool-detail-edit-dialog');
    await page.locator('[data-dialog=pool-form]').getByRole('button', { name: 'Cancel' }).click();
  });

  test('offerings page, with the new, edit, CSV import and delete dialogs', async () => {
    at.page = 'offerings';
    await page.goto(`${base}/dashboard/provider/offerings`);
    await page.locator('table[data-table=offerings] tr[data-row="vps-br"]').waitFor();
    await settle('offerings');
    await page.getByRole('button', { name: '+ New offering' }).click();
    await page.locator('[data-dialog=offering-form] input[name=datacenter_country]').fill('BR');
    await page.locator('[data-dialog=offering-form] [data-route-preview=none]').waitFor();
    await settle('offerings-new-dialog');
    await page.locator('[data-dialog=offering-form]').getByRole('button', { name: 'Cancel' }).click();
    await page.click('table[data-table=offerings] tr[data-row="vps-de"] button:has-text("Edit")');
    await page.locator('[data-dialog=offering-form] [data-route-preview=location]').waitFor();
    await settle('offerings-edit-dialog');
    await page.locator('[data-dialog=offering-form]').getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Import CSV' }).click();
    await page.locator('[data-dialog=csv-import] textarea[name=csv-text]').fill('offering_id,name,product_type,datacenter_country,monthly_price,currency\nnew-a,New A,compute,DE,5,EUR\n');
    await page.locator('[data-dialog=csv-import] table[data-table=csv-preview]').waitFor();
    await settle('offerings-csv-dialog');
    await page.locator('[data-dialog=csv-import]').getByRole('button', { name: 'Cancel' }).click();
    // Its contract blocks it: the dialog says so from its own look-up, without a 409.
    await page.click('table[data-table=offerings] tr[data-row="vps-de"] button[data-action=delete]');
    await page.locator('[data-dialog=delete-offering] [data-in-use]').waitFor();
    await settle('offerings-delete-dialog');
    await page.locator('[data-dialog=delete-offering]').getByRole('button', { name: 'Cancel' }).click();
  });

  test('contracts page, with a contract expanded', async () => {
    at.page = 'contracts';
    await page.goto(`${base}/dashboard/provider/contracts`);
    await page.locator('table[data-table=contracts] tbody tr[data-row]').first().waitFor();
    await page.locator('table[data-table=contracts] tbody tr[data-row]').first().getByRole('button', { name: 'History' }).click();
    await settle('contracts');
  });

  test('audit page', async () => {
    at.page = 'audit';
    await page.goto(`${base}/dashboard/provider/audit`);
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.locator('table[data-table=audit] tbody tr[data-row]').first().waitFor();
    await settle('audit');
  });

  test('sign-out confirmation, then the sign-in page again', async () => {
    at.page = 'sign-out';
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('[data-dialog=confirm] [data-sign-out-notice]').waitFor();
    await settle('sign-out-dialog');
    await page.locator('[data-dialog=confirm]').getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the provider dashboard' }).waitFor();
    await settle('signed-out');
  });

  test('nothing was logged: no console error or warning, no failed request, no page error', () => {
    assert.deepEqual(problems, []);
  });
});
