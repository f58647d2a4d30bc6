// The dashboard's first hour (issue 13), in Chromium against a real dc-api: a new key goes to the
// registration form without a 404, the new-offering dialog fits the common laptop windows and
// shows where the offering will route (its defaults route to the region's oldest pool), prices
// keep two decimals, rules are shown in words, the danger button stays readable on hover, an
// offering is deleted from the table (and a blocked delete is explained), pools are counted in
// words, the Add Agent dialog speaks the pool's provisioner type, sign-out asks first, and the
// CSV preview shows every error of every row without clipping a column.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Page, Request } from 'playwright-core';
import { COUNTRY, OFFERING_ID } from '@dc/core';
import { generateIdentity, identityFromSeed, type Identity } from '@dc/core/node';
import { mustOk } from '@dc/testkit';
import { PRICE, ruleMessage } from '../src/lib/forms.js';
import { eventually, expectText, launchBrowser, screenshotPath, startLiveServer, text, type Browser, type LiveServer } from './support.js';

/** The two laptop windows the new-offering dialog must fit. */
const VIEWPORTS = [
  { width: 1280, height: 800 },
  { width: 1440, height: 900 },
] as const;

const offeringDialog = '[data-dialog=offering-form]';

describe('the first hour of a new provider in the dashboard', { concurrency: false }, () => {
  let live: LiveServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  let provider: Identity;
  let pubkey: string;
  let scriptPool: string;
  let pvePool: string;
  const pageErrors: string[] = [];
  /** GETs of the provider's own record (the registration check). */
  const providerReads: string[] = [];

  const row = (id: string) => `table[data-table=offerings] tr[data-row="${id}"]`;

  before(async () => {
    live = await startLiveServer();
    base = live.baseUrl;
    browser = await launchBrowser(VIEWPORTS[0]);
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('request', (r: Request) => {
      if (r.method() === 'GET' && /^\/api\/v1\/providers\/[0-9a-f]{64}$/.test(new URL(r.url()).pathname)) providerReads.push(r.url());
    });
  });

  after(async () => {
    await browser?.close();
    await live?.close();
  });

  /** The problems that would make a dialog's content unusable: outside the window, cut off, covered. */
  async function dialogProblems(selector: string): Promise<string[]> {
    return page.evaluate((sel) => {
      const out: string[] = [];
      const dlg = document.querySelector(sel) as HTMLDialogElement | null;
      if (!dlg) return [`${sel} is not open`];
      const d = dlg.getBoundingClientRect();
      if (d.left < 0 || d.top < 0 || d.right > innerWidth || d.bottom > innerHeight) out.push(`dialog ${JSON.stringify(d)} leaves the ${innerWidth}×${innerHeight} window`);
      const body = dlg.querySelector('.dlg-body') as HTMLElement;
      if (body.scrollWidth > body.clientWidth) out.push(`the dialog body scrolls sideways by ${body.scrollWidth - body.clientWidth}px`);
      for (const el of dlg.querySelectorAll<HTMLElement>('input, select, textarea, button')) {
        // Scrolling inside the dialog is allowed; after it, the control must be whole and on top.
        el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
        const r = el.getBoundingClientRect();
        const clip = (el.closest('.dlg-body') ?? dlg).getBoundingClientRect();
        const name = el.getAttribute('name') ?? el.textContent?.trim() ?? el.tagName;
        if (r.left < clip.left - 0.5 || r.right > clip.right + 0.5 || r.top < clip.top - 0.5 || r.bottom > clip.bottom + 0.5) {
          out.push(`${name} is cut off: ${JSON.stringify(r)} outside ${JSON.stringify(clip)}`);
          continue;
        }
        for (const [x, y] of [
          [r.left + 2, r.top + 2],
          [r.right - 2, r.bottom - 2],
          [r.left + r.width / 2, r.top + r.height / 2],
        ] as const) {
          const hit = document.elementFromPoint(x, y);
          if (!hit || !(hit === el || el.contains(hit))) out.push(`${name} is covered at (${x}, ${y}) by ${hit?.outerHTML.slice(0, 80)}`);
        }
      }
      return out;
    }, selector);
  }

  /** WCAG contrast ratio of an element's text against its background, as painted now. */
  async function contrast(selector: string): Promise<{ ratio: number; color: string; background: string }> {
    return page.locator(selector).first().evaluate((el) => {
      const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
      const lum = (c: string) => {
        const [r, g, b] = rgb(c).map((v) => {
          const s = v / 255;
          return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
        }) as [number, number, number];
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      // The painted background: the first ancestor (or self) with an opaque one.
      let bgEl: Element | null = el;
      let background = 'rgb(255, 255, 255)';
      while (bgEl) {
        const bg = getComputedStyle(bgEl).backgroundColor;
        if (bg && !/rgba\(.*, 0\)$/.test(bg) && bg !== 'transparent') {
          background = bg;
          break;
        }
        bgEl = bgEl.parentElement;
      }
      const color = getComputedStyle(el).color;
      const [a, b] = [lum(color), lum(background)];
      return { ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), color, background };
    });
  }

  test('a key made here goes to the registration form without asking the server (no 404), also after a reload', async () => {
    const notFound: string[] = [];
    page.on('response', (r) => {
      if (r.status() === 404) notFound.push(r.url());
    });
    await page.goto(`${base}/dashboard/provider/pools`);
    await page.click('[data-action=generate]');
    pubkey = await text(page, '[data-new-pubkey]');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=download-backup]')]);
    provider = identityFromSeed((JSON.parse(readFileSync((await download.path())!, 'utf8')) as { seed_hex: string }).seed_hex);
    assert.equal(provider.publicKey, pubkey);
    await page.check('input[type=checkbox]');
    await page.click('[data-action=continue]');
    await page.getByRole('heading', { name: 'Register as a provider' }).waitFor();
    await page.screenshot({ path: screenshotPath('first-hour-01-register') });
    await page.reload();
    await page.getByRole('heading', { name: 'Register as a provider' }).waitFor();
    assert.deepEqual(providerReads, [], 'the registration was not asked for');
    await page.fill('input[name=provider-name]', 'First Hour Hosting');
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'Agent pools' }).waitFor();
    assert.deepEqual(notFound, []);
    assert.equal(mustOk(await live.client.call(provider, 'getProvider', { params: { pubkey } })).body.name, 'First Hour Hosting');

    // Registered now: the next visit reads the account from the server again.
    await page.reload();
    await expectText(page, '[data-provider-name]', 'First Hour Hosting');
    assert.equal(providerReads.length, 1, 'after registration the account is read from the server');
  });

  test('pools are counted in words ("1 pool", "2 pools") and the agents column is not the contracts column', async () => {
    await page.getByRole('button', { name: '+ Create pool' }).click();
    const dlg = page.locator('[data-dialog=pool-form]');
    await dlg.locator('input[name=name]').fill('eu-script');
    await dlg.locator('select[name=location]').selectOption('europe');
    await dlg.locator('select[name=provisioner_type]').selectOption('script');
    await dlg.getByRole('button', { name: 'Create pool' }).click();
    await page.locator('table[data-table=pools] tbody tr[data-row]').first().waitFor();
    await expectText(page, '.page-head .muted', /^1 pool · 0\/0 agents online/);
    // Made second, so eu-script stays the oldest pool in europe.
    pvePool = mustOk(await live.client.call(provider, 'createPool', { params: { pubkey }, body: { name: 'eu-pve', location: 'europe', provisioner_type: 'proxmox' } })).body.pool_id;
    await expectText(page, '.page-head .muted', /^2 pools · 0\/0 agents online/);
    scriptPool = (await page.locator('table[data-table=pools] tr[data-row^="eu-script-"]').getAttribute('data-row'))!;
    const headers = await page.locator('table[data-table=pools] thead th').allTextContents();
    assert.ok(headers.includes('Agents'), headers.join('|'));
    assert.ok(headers.some((h) => /^Active contracts/.test(h)), `a contracts count is labelled as such: ${headers.join('|')}`);
    assert.match((await page.locator(`table[data-table=pools] tr[data-row="${scriptPool}"] td[data-col=agents_count] span`).getAttribute('title'))!, /registered agents/);
    await page.screenshot({ path: screenshotPath('first-hour-02-pools') });
  });

  test('Add Agent speaks the pool type: script wording for a script pool, Proxmox wording for a proxmox pool', async () => {
    const open = async (poolId: string) => {
      await page.locator(`table[data-table=pools] tr[data-row="${poolId}"]`).getByRole('button', { name: '+ Agent' }).click();
      const dlg = page.locator('[data-dialog=add-agent]');
      await dlg.getByRole('button', { name: 'Create token' }).click();
      await dlg.locator('[data-cmd=setup]').waitFor();
      return dlg;
    };
    let dlg = await open(scriptPool);
    const where = await text(page, '[data-dialog=add-agent] [data-setup-where]');
    assert.match(where, /host that runs your provisioning script/);
    const after = await text(page, '[data-dialog=add-agent] [data-after-setup]');
    assert.match(after, /\[provisioner\.script\]/);
    assert.doesNotMatch(`${where} ${after}`, /proxmox|hypervisor/i);
    await page.screenshot({ path: screenshotPath('first-hour-03-add-agent-script') });
    await dlg.getByRole('button', { name: 'Done' }).click();

    dlg = await open(pvePool);
    assert.match(await text(page, '[data-dialog=add-agent] [data-setup-where]'), /Proxmox VE node/);
    assert.match(await text(page, '[data-dialog=add-agent] [data-after-setup=proxmox]'), /\[provisioner\.proxmox\].*API token/);
    await page.screenshot({ path: screenshotPath('first-hour-04-add-agent-proxmox') });
    await dlg.getByRole('button', { name: 'Done' }).click();
  });

  for (const vp of VIEWPORTS) {
    test(`the new-offering dialog fits ${vp.width}×${vp.height}: every field and button whole and reachable`, async () => {
      await page.setViewportSize(vp);
      await page.goto(`${base}/dashboard/provider/offerings`);
      await page.getByRole('button', { name: '+ New offering' }).click();
      const dlg = page.locator(offeringDialog);
      // The longest state: a warning that routes nowhere, naming the region's pools.
      await dlg.locator('input[name=datacenter_country]').fill('DE');
      await dlg.locator('select[name=provisioner_type]').selectOption('manual');
      await dlg.locator('[data-route-preview=none]').waitFor();
      assert.deepEqual(await dialogProblems(offeringDialog), []);
      await page.screenshot({ path: screenshotPath(`first-hour-05-new-offering-${vp.width}x${vp.height}`) });
      // The edit dialog (an offering exists from here on in the next test) has the same layout.
      await dlg.getByRole('button', { name: 'Cancel' }).click();
      await dlg.waitFor({ state: 'detached' });
    });
  }

  test("the dialog shows where the offering routes before saving; with its defaults it routes to the region's oldest pool", async () => {
    await page.setViewportSize(VIEWPORTS[0]);
    await page.getByRole('button', { name: '+ New offering' }).click();
    const dlg = page.locator(offeringDialog);
    const preview = `${offeringDialog} [data-route-preview]`;
    await expectText(page, preview, /Enter the country/);
    await dlg.locator('input[name=offering_id]').fill('vps-de');
    await dlg.locator('input[name=name]').fill('VPS DE');
    await dlg.locator('input[name=datacenter_country]').fill('de');
    await dlg.locator('input[name=monthly_price]').fill('5');
    // Defaults: auto pool, default type = the type of europe's oldest pool (script).
    await expectText(page, preview, 'Routes to pool eu-script: the oldest script pool in europe (auto by location).');
    assert.equal(await dlg.locator(`[data-route-pool="${scriptPool}"]`).count(), 1);
    assert.equal(await dlg.locator('select[name=provisioner_type] option[value=""]').textContent(), 'Default: script (type of eu-script, the oldest pool in europe)');
    await page.screenshot({ path: screenshotPath('first-hour-06-route-preview-auto') });
    await dlg.getByRole('button', { name: 'Create offering' }).click();
    await dlg.waitFor({ state: 'detached' });
    const saved = mustOk(await live.client.call(provider, 'getOffering', { params: { pubkey, offering_id: 'vps-de' } })).body;
    assert.equal(saved.provisioner_type, 'script');
    assert.equal(saved.pool_match, 'location');
    assert.equal(saved.resolved_pool_id, scriptPool, 'saved with the defaults, it routes where the dialog said');
    await expectText(page, `${row('vps-de')} td[data-col=pool]`, '(auto: europe) → eu-script');

    // Nowhere: no pool in na. The warning says why and what to do.
    await page.getByRole('button', { name: '+ New offering' }).click();
    await dlg.locator('input[name=datacenter_country]').fill('US');
    await expectText(page, preview, /^⚠ Routes to no pool: there is no proxmox pool in na\. Contracts for this offering would wait \("waiting: no pool"\)/);
    assert.equal(await dlg.locator('select[name=provisioner_type] option[value=""]').textContent(), 'Default: proxmox (no pool in na yet)');
    await page.screenshot({ path: screenshotPath('first-hour-07-route-preview-none') });
    // A type with no pool in a region that has others: the warning names them.
    await dlg.locator('input[name=datacenter_country]').fill('FR');
    await dlg.locator('select[name=provisioner_type]').selectOption('manual');
    await expectText(page, preview, /no manual pool in europe \(it has eu-script \(europe, script\), eu-pve \(europe, proxmox\)\)/);
    await dlg.locator('select[name=provisioner_type]').selectOption('proxmox');
    await expectText(page, preview, 'Routes to pool eu-pve: the oldest proxmox pool in europe (auto by location).');
    // An explicit pool wins; one of another type is refused by the API, and the dialog says so first.
    await dlg.locator('select[name=agent_pool_id]').selectOption(scriptPool);
    await expectText(page, preview, /^⚠ Pool eu-script is a script pool: a proxmox offering cannot use it\./);
    await dlg.locator('select[name=provisioner_type]').selectOption('');
    await expectText(page, preview, 'Routes to pool eu-script (chosen explicitly).');
    await dlg.locator('input[name=datacenter_country]').fill('JP');
    await expectText(page, preview, /^Routes to pool eu-script \(chosen explicitly\)\. Note: that pool serves europe, the offering is in apac\./);
    await dlg.getByRole('button', { name: 'Cancel' }).click();
  });

  test('prices always show two decimals; a third decimal is refused in words, never as a regular expression', async () => {
    await expectText(page, `${row('vps-de')} td[data-col=monthly_price]`, '5.00 EUR/mo');
    await page.click(`${row('vps-de')} button:has-text("Edit")`);
    const dlg = page.locator(offeringDialog);
    const price = dlg.locator('input[name=monthly_price]');
    assert.equal(await price.inputValue(), '5.00');
    await price.fill('5.555');
    // What the browser says when the form is sent: the rule in words.
    const validate = (el: Element) => {
      const input = el as HTMLInputElement;
      const mismatch = input.validity.patternMismatch;
      input.checkValidity();
      return { mismatch, message: input.validationMessage, title: input.title };
    };
    const v = await price.evaluate(validate);
    assert.equal(v.mismatch, true, 'the pattern is active in Chromium');
    assert.equal(v.title, PRICE.rule);
    assert.equal(v.message, ruleMessage(PRICE, 'Monthly price'));
    // Every rule an input of the dialog carries is shown in words.
    const titles = await dlg.locator('input[pattern]').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).title));
    for (const t of titles) assert.doesNotMatch(t, /[\^$\\[\]{}]/, `a rule in words, not a pattern: ${t}`);
    assert.ok(titles.includes(COUNTRY.rule) && titles.includes(PRICE.rule), titles.join(' | '));
    await price.fill('12.5');
    await dlg.getByRole('button', { name: 'Save' }).click();
    await dlg.waitFor({ state: 'detached' });
    await expectText(page, `${row('vps-de')} td[data-col=monthly_price]`, '12.50 EUR/mo');

    // The new-offering form: the id's rule in words as hint and title.
    await page.getByRole('button', { name: '+ New offering' }).click();
    const id = dlg.locator('input[name=offering_id]');
    await id.fill('Bad Id');
    const idCheck = await id.evaluate(validate);
    assert.equal(idCheck.mismatch, true);
    assert.equal(idCheck.message, `Offering ID: ${OFFERING_ID.rule}.`);
    // Fixing the value clears the message: the field is valid again.
    await id.fill('good-id');
    assert.equal(await id.evaluate((el) => (el as HTMLInputElement).validity.valid), true);
    await dlg.getByRole('button', { name: 'Cancel' }).click();
  });

  test('an offering is deleted from the table after confirming; the danger button stays readable on hover', async () => {
    mustOk(await live.client.call(provider, 'createOffering', { params: { pubkey }, body: { offering_id: 'old-offer', name: 'Old offer', product_type: 'compute', datacenter_country: 'DE', monthly_price: 3, currency: 'EUR' } }));
    await page.locator(row('old-offer')).waitFor();
    await page.click(`${row('old-offer')} button[data-action=delete]`);
    const dlg = page.locator('[data-dialog=delete-offering]');
    await expectText(page, '[data-dialog=delete-offering] h2', 'Delete offering old-offer?');
    const del = dlg.locator('button[data-action=delete]');
    await eventually(async () => assert.equal(await del.textContent(), 'Delete offering'));
    const still = await contrast('[data-dialog=delete-offering] button[data-action=delete]');
    await del.hover();
    const hovered = await contrast('[data-dialog=delete-offering] button[data-action=delete]');
    assert.ok(still.ratio >= 4.5, `danger button ${JSON.stringify(still)}`);
    assert.ok(hovered.ratio >= 4.5, `danger button on hover ${JSON.stringify(hovered)}`);
    await page.screenshot({ path: screenshotPath('first-hour-08-delete-offering-hover') });
    await del.click();
    await page.locator(row('old-offer')).waitFor({ state: 'detached' });
    const gone = await live.client.call(provider, 'getOffering', { params: { pubkey, offering_id: 'old-offer' } });
    assert.equal(gone.status, 404);

    // The row's Delete (text-only danger) is readable on hover too.
    await page.locator(`${row('vps-de')} button[data-action=delete]`).hover();
    // Measured once the table has settled after the deletion (a re-render may be under way).
    await eventually(async () => {
      const c = await contrast(`${row('vps-de')} button[data-action=delete]`);
      assert.ok(c.ratio >= 4.5, `row Delete on hover ${JSON.stringify(c)}`);
    }, 5000, 'the row Delete to be readable on hover');
  });

  test('an offering with an open contract: the dialog names the contract, says how to finish it, and offers inactive instead', async () => {
    const customer = generateIdentity();
    const contract = mustOk(await live.client.call(customer, 'createContract', { body: { provider_pubkey: pubkey, offering_id: 'vps-de' } })).body;
    await page.click(`${row('vps-de')} button[data-action=delete]`);
    const dlg = page.locator('[data-dialog=delete-offering]');
    await dlg.locator('[data-in-use]').waitFor();
    assert.equal(await dlg.locator('button[data-action=delete]').count(), 0, 'nothing is sent while it is known to be blocked');
    const line = `[data-dialog=delete-offering] tr[data-row="${contract.contract_id}"]`;
    await page.locator(line).waitFor();
    assert.deepEqual(
      (await page.locator(`${line} td`).allTextContents()).map((t) => t.trim()),
      [`${contract.contract_id.slice(0, 8)}…`, 'requested', 'Reject it (or wait for the customer to cancel).'],
    );
    await page.screenshot({ path: screenshotPath('first-hour-09-delete-offering-in-use') });
    await dlg.getByRole('button', { name: 'Cancel' }).click();

    // A contract the dialog did not see (made after it looked): the server's 409 is explained the same way.
    let hidden = true;
    await page.route('**/api/v1/providers/*/contracts?*', async (route) => {
      if (!hidden) return route.continue();
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ items: [], total: 0 }) });
    });
    await page.click(`${row('vps-de')} button[data-action=delete]`);
    const del = dlg.locator('button[data-action=delete]');
    await eventually(async () => assert.equal(await del.textContent(), 'Delete offering'));
    hidden = false;
    await del.click();
    await expectText(page, '[data-dialog=delete-offering] [data-in-use]', /cannot be deleted yet\. 1 contract\(s\) for this offering are not finished/);
    await expectText(page, line, /requested\s*Reject it/);
    await page.unroute('**/api/v1/providers/*/contracts?*');
    await dlg.locator('button[data-action=deactivate]').click();
    await dlg.waitFor({ state: 'detached' });
    await expectText(page, `${row('vps-de')} td[data-col=status]`, 'inactive');
    assert.equal(mustOk(await live.client.call(provider, 'getOffering', { params: { pubkey, offering_id: 'vps-de' } })).body.status, 'inactive');
  });

  test('CSV import lists every error of every row, marks the bad cells, and clips no column', async () => {
    await page.setViewportSize(VIEWPORTS[0]);
    const csv = [
      'offering_id,name,product_type,datacenter_country,monthly_price,currency,provisioner_type,agent_pool_id,status,provisioner_config',
      `good-one,A good offering with a rather long descriptive name,compute,DE,5.00,EUR,script,,active,"{""template"":""ubuntu-24.04"",""disk"":""local-lvm""}"`,
      'bad-many,Several problems,compute,XX,5.555,EUR,proxmox,,active,',
      'bad-two,Two problems,compute,ZZ,1.234,EUR,,,active,',
    ].join('\n');
    const viaApi = await live.client.call(provider, 'importOfferings', { params: { pubkey }, body: csv, contentType: 'text/csv' });
    assert.equal(viaApi.status, 400);
    const apiRows = (viaApi.body as unknown as { error: { rows: { line: number; field: string | null; message: string }[] } }).error.rows;
    assert.ok(apiRows.filter((r) => r.line === 3).length >= 2, `the server reports every error of a row: ${JSON.stringify(apiRows)}`);

    await page.getByRole('button', { name: 'Import CSV' }).click();
    const dlg = page.locator('[data-dialog=csv-import]');
    await dlg.locator('textarea[name=csv-text]').fill(csv);
    await dlg.getByRole('button', { name: 'Import 3 row(s)' }).click();
    await expectText(page, '[data-import-error]', /Nothing was imported/);
    // Every error the server gave, in the list and on its row of the preview.
    assert.equal(await dlg.locator('[data-table=csv-errors] tbody tr').count(), apiRows.length);
    for (const e of apiRows) {
      assert.equal(await dlg.locator(`[data-table=csv-errors] tr[data-error-line="${e.line}"][data-error-field="${e.field ?? ''}"]`).count() >= 1, true, JSON.stringify(e));
    }
    for (const line of [3, 4]) {
      const n = apiRows.filter((r) => r.line === line).length;
      assert.equal(await dlg.locator(`table[data-table=csv-preview] tr[data-line="${line}"] .cell-errors li`).count(), n, `line ${line}`);
    }
    assert.equal(await dlg.locator('table[data-table=csv-preview] tr[data-line="3"] td.cell-bad').count(), new Set(apiRows.filter((r) => r.line === 3).map((r) => r.field)).size);
    await expectText(page, '[data-error-summary]', `${apiRows.length} error(s) in 2 row(s)`);
    await page.screenshot({ path: screenshotPath('first-hour-10-csv-errors') });
    // No column is cut: every cell shows all of its text and the table fits its box.
    const clipped = await dlg.locator('table[data-table=csv-preview]').evaluate((table) => {
      const out: string[] = [];
      for (const cell of table.querySelectorAll<HTMLElement>('th, td')) if (cell.scrollWidth > cell.clientWidth + 1) out.push(`${cell.textContent} (${cell.scrollWidth} > ${cell.clientWidth})`);
      const wrap = table.parentElement!;
      if (wrap.scrollWidth > wrap.clientWidth) out.push(`table ${wrap.scrollWidth}px in a ${wrap.clientWidth}px box`);
      return out;
    });
    assert.deepEqual(clipped, []);
    assert.deepEqual(await dialogProblems('[data-dialog=csv-import]'), []);
    await dlg.getByRole('button', { name: 'Cancel' }).click();
  });

  test('sign-out asks first and says that only the backup file brings the key back', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    const dlg = page.locator('[data-dialog=confirm]');
    await expectText(page, '[data-dialog=confirm] [data-sign-out-notice]', new RegExp(`Only the backup file .*dc-provider-key-${pubkey.slice(0, 8)}\\.json`));
    await page.screenshot({ path: screenshotPath('first-hour-11-sign-out') });
    await dlg.getByRole('button', { name: 'Cancel' }).click();
    await expectText(page, '[data-provider-name]', 'First Hour Hosting');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await dlg.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the provider dashboard' }).waitFor();
  });

  test('no page error happened', () => {
    assert.deepEqual(pageErrors, []);
  });
});
