// Teardown on the dashboard, end to end: Debian's Chromium (playwright-core) against a real dc-api.
// The provider terminates a machine on the contracts page; the agent side (claim with actions,
// `…/terminated`) is driven from node with the signed test client, as a dc-agent would send it.
// Also: retry and mark terminated on a failed teardown, a never-granted contract ending
// cancelled, and the pool's machine counts, orphans, ghosts and waiting teardowns.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import type { Contract, WorkItem } from '@dc/core';
import { generateIdentity, identityFromSeed, type Identity } from '@dc/core/node';
import { mustOk } from '@dc/testkit';
import { operator } from '@dc/server/dist/test/helpers.js';
import { eventually, expectText, launchBrowser, screenshotPath, startLiveServer, text, type Browser, type LiveServer } from './support.js';

const row = (id: string) => `table[data-table=contracts] tr[data-row="${id}"]`;

/** The provider actions a contract's row offers, in order (data-action of its buttons). */
async function offered(page: Page, id: string): Promise<string[]> {
  return page.locator(`${row(id)} td[data-col=actions] button[data-action]`).evaluateAll((els) => els.map((e) => e.getAttribute('data-action') ?? ''));
}

async function expectOffered(page: Page, id: string, expected: string[]): Promise<void> {
  await eventually(async () => assert.deepEqual(await offered(page, id), expected), 10_000, `${id} to offer ${expected.join(', ')}`);
}

describe('contracts page: teardown in Chromium', { concurrency: false }, () => {
  let live: LiveServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  let provider: Identity;
  let seed: string;
  let poolId: string;
  let agent: Identity;
  const customer = generateIdentity();
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  const alerts: string[] = [];
  const ids: Record<string, string> = {};

  // Typed calls are awaited apart from mustOk: inferring through mustOk's Res<T> in one expression
  // is too deep for tsc on contract-sized results (TS2589).
  const client = () => live.client;
  const pk = () => provider.publicKey;
  const asAgent = { keyHeader: 'X-Agent-Pubkey' } as const;
  const BOTH = ['provision', 'terminate'] as ('provision' | 'terminate')[];

  async function getContract(id: string): Promise<Contract> {
    const res = await client().call(provider, 'getContract', { params: { id } });
    return mustOk(res).body;
  }

  async function heartbeat(actions: ('provision' | 'terminate')[], inventory?: string[]): Promise<void> {
    const res = await client().call(agent, 'heartbeat', {
      params: { pubkey: pk() },
      body: { version: '1.4.0', capabilities: { actions, host_scope: 'cluster-a' }, ...(inventory ? { inventory } : {}) },
    });
    mustOk(res, 'heartbeat');
  }

  /** The agent's claim asking for both kinds of work; exactly one item expected. */
  async function claimOne(): Promise<WorkItem> {
    const res = await client().call(agent, 'claim', { params: { pubkey: pk() }, body: { max: 1, actions: BOTH } });
    const r = mustOk(res, 'claim');
    assert.equal(r.body.items.length, 1, `claim returned ${r.text}`);
    return r.body.items[0]!;
  }

  /** The customer orders a vps-de with this hostname. */
  async function order(hostname: string): Promise<string> {
    const res = await client().call(customer, 'createContract', { body: { provider_pubkey: pk(), offering_id: 'vps-de', instance_config: { hostname } } });
    return mustOk(res).body.contract_id;
  }

  /** Orders, accepts, pays; then the agent claims and provisions it with proxmox-like details. */
  async function provisioned(hostname: string, ip: string, vmid: number): Promise<string> {
    const id = await order(hostname);
    const accepted = await client().call(provider, 'acceptContract', { params: { pubkey: pk(), id } });
    mustOk(accepted);
    const paid = await client().call(operator, 'recordPayment', { params: { id }, body: { status: 'succeeded' } });
    mustOk(paid);
    const item = await claimOne();
    assert.equal(item.contract_id, id);
    assert.equal(item.action, 'provision');
    const done = await client().call(agent, 'provisioned', {
      ...asAgent,
      params: { pubkey: pk(), id },
      body: {
        lock_token: item.lock_token,
        instance_details: { provisioner: 'proxmox', host_scope: 'cluster-a', node: 'pve1', vmid, name: `dc-${id}-${hostname}`, hostname, ipv4: ip },
      },
    });
    mustOk(done, 'provisioned');
    return id;
  }

  before(async () => {
    // One failed teardown attempt ends it (termination_failed, so Retry shows) without a back-off.
    live = await startLiveServer({ DC_MAX_PROVISION_ATTEMPTS: '1', DC_RETRY_BACKOFF_SECONDS: '0' });
    base = live.baseUrl;
    seed = randomBytes(32).toString('hex');
    provider = identityFromSeed(seed);
    const registered = await client().call(provider, 'putProvider', { params: { pubkey: pk() }, body: { name: 'Teardown Hosting' } });
    mustOk(registered);
    const pool = await client().call(provider, 'createPool', { params: { pubkey: pk() }, body: { name: 'eu-pve', location: 'europe', provisioner_type: 'proxmox' } });
    poolId = mustOk(pool).body.pool_id;
    const token = await client().call(provider, 'createSetupToken', { params: { pubkey: pk(), pool_id: poolId }, body: { label: 'pve-node-1' } });
    agent = generateIdentity();
    const setup = await client().call(agent, 'setupAgent', { body: { token: mustOk(token).body.token, agent_pubkey: agent.publicKey } });
    mustOk(setup);
    await heartbeat(BOTH);
    const offering = await client().call(provider, 'createOffering', {
      params: { pubkey: pk() },
      body: { offering_id: 'vps-de', name: 'VPS DE', product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR' },
    });
    mustOk(offering);

    browser = await launchBrowser({ width: 1600, height: 1000 });
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

  test('sign in with the provider key; the status filter lists the teardown statuses', async () => {
    await page.goto(`${base}/dashboard/provider/contracts`);
    await page.fill('textarea[name=seed]', seed);
    await page.click('[data-action=import]');
    await expectText(page, '[data-provider-name]', 'Teardown Hosting');
    await page.getByRole('heading', { name: 'Contracts' }).waitFor();
    const options = await page.locator('select[name=status] option').evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value));
    for (const s of ['terminating', 'terminated', 'termination_failed']) assert.ok(options.includes(s), `filter offers ${s}: ${options.join(', ')}`);
  });

  test('Terminate names the machine; the contract reads terminating, then terminated when its agent confirms', async () => {
    const id = (ids.c1 = await provisioned('web-1', '203.0.113.10', 101));
    await expectText(page, `${row(id)} td[data-col=status]`, 'provisioned');
    await expectOffered(page, id, ['terminate']);

    await page.click(`${row(id)} button[data-action=terminate]`);
    const dlg = '[data-dialog=terminate]';
    await expectText(page, `${dlg} h2`, `Terminate VPS DE (${id.slice(0, 8)})?`);
    assert.equal(await text(page, `${dlg} [data-machine-offering]`), 'VPS DE vps-de');
    assert.equal(await text(page, `${dlg} [data-machine-contract]`), id);
    assert.equal(await text(page, `${dlg} [data-machine-fact=Hostname]`), 'web-1');
    assert.equal(await text(page, `${dlg} [data-machine-fact="IP address"]`), '203.0.113.10');
    assert.equal(await text(page, `${dlg} [data-machine-fact="Host scope"]`), 'cluster-a');
    assert.equal(await text(page, `${dlg} [data-machine-fact="VM id"]`), '101');
    assert.match(await text(page, `${dlg} [data-machine-builder]`), new RegExp(`^pve-node-1 ${agent.publicKey.slice(0, 6)}$`));
    assert.match(await text(page, `${dlg} [data-terminate-outcome]`), new RegExp(`tag dc-${id} and confirms`));
    await page.fill(`${dlg} input[name=reason]`, 'customer moved out');
    await page.screenshot({ path: screenshotPath('10-terminate-confirm') });
    await page.click(`${dlg} [data-action=confirm-terminate]`);
    await page.locator(dlg).waitFor({ state: 'detached' });

    await expectText(page, `${row(id)} td[data-col=status]`, 'terminating');
    await expectOffered(page, id, ['terminated']);
    const ending = await getContract(id);
    assert.equal(ending.status, 'terminating');
    assert.equal(ending.teardown_owner, agent.publicKey);

    // The agent that built it takes the teardown: the same lease sequence, a new grant.
    const item = await claimOne();
    assert.equal(item.contract_id, id);
    assert.equal(item.action, 'terminate');
    assert.equal(item.lock_token, 2);
    assert.equal((item.instance_details as { vmid?: number } | null)?.vmid, 101);
    await expectText(page, `${row(id)} td[data-col=lock_agent]`, new RegExp(`^pve-node-1 ${agent.publicKey.slice(0, 6)} · [45]m \\d+s #2$`));
    await page.click(`${row(id)} button:has-text("History")`);
    await expectText(page, `[data-contract-detail="${id}"] [data-teardown-owner]`, new RegExp(`^pve-node-1 ${agent.publicKey.slice(0, 6)}$`));
    await page.screenshot({ path: screenshotPath('11-terminating'), fullPage: true });

    const confirmed = await client().call(agent, 'terminated', { ...asAgent, params: { pubkey: pk(), id }, body: { lock_token: item.lock_token } });
    mustOk(confirmed, 'terminated');
    await expectText(page, `${row(id)} td[data-col=status]`, 'terminated');
    await expectOffered(page, id, []);
    await expectText(page, `${row(id)} td[data-col=lock_agent]`, 'free');
    const detail = `[data-contract-detail="${id}"]`;
    await eventually(async () => {
      const events = await page.locator(`${detail} [data-event]`).evaluateAll((els) => els.map((e) => `${e.getAttribute('data-action')}:${e.getAttribute('data-event')}`));
      assert.deepEqual(events, ['provision:granted', 'provision:provisioned', 'terminate:terminate_requested', 'terminate:granted', 'terminate:terminated']);
    });
    // The teardown is marked as its own phase of the history, starting at the request.
    assert.equal(await page.locator(`${detail} [data-phase=terminate]`).count(), 1);
    assert.equal(await page.locator(`${detail} [data-phase=terminate] + [data-event=terminate_requested]`).count(), 1);
    await expectText(page, `${detail} [data-event=terminate_requested]`, /customer moved out/);
    await expectText(page, `${detail} [data-terminated]`, new RegExp(`by pve-node-1 ${agent.publicKey.slice(0, 6)}$`));
    await page.screenshot({ path: screenshotPath('12-terminated'), fullPage: true });
    const done = await getContract(id);
    assert.equal(done.status, 'terminated');
    assert.equal(done.terminated_by, agent.publicKey);
    await page.click(`${row(id)} button:has-text("History")`);
  });

  test('a failed teardown: Retry sends it back to its agent; Mark terminated ends it by hand and fences the agent off', async () => {
    const id = (ids.c2 = await provisioned('web-2', '203.0.113.11', 102));
    const terminate = await client().call(provider, 'terminateContract', { params: { pubkey: pk(), id }, body: {} });
    mustOk(terminate);
    const first = await claimOne();
    assert.equal(first.action, 'terminate');
    const failed = await client().call(agent, 'failed', {
      ...asAgent,
      params: { pubkey: pk(), id },
      body: { lock_token: first.lock_token, error_message: 'VM 102 is locked (backup)' },
    });
    mustOk(failed);
    await expectText(page, `${row(id)} td[data-col=status]`, 'termination failed');
    await expectText(page, `${row(id)} td[data-col=last_error]`, 'VM 102 is locked (backup)');
    await expectOffered(page, id, ['retry', 'terminated']);
    assert.equal(await page.getAttribute(`${row(id)} button[data-action=retry]`, 'title'), 'Moves it to terminating');

    await page.click(`${row(id)} button[data-action=retry]`);
    await expectText(page, `${row(id)} td[data-col=status]`, 'terminating');
    await expectText(page, `${row(id)} td[data-col=attempts]`, '0');
    const second = await claimOne();
    assert.equal(second.contract_id, id);
    assert.equal(second.lock_token, first.lock_token + 1);
    await expectText(page, `${row(id)} td[data-col=lock_agent]`, new RegExp(`#${second.lock_token}$`));

    // The provider destroyed it by hand meanwhile: mark it terminated; the agent's lease ends.
    await page.click(`${row(id)} button[data-action=terminated]`);
    const dlg = '[data-dialog=mark-terminated]';
    assert.equal(await text(page, `${dlg} [data-machine-contract]`), id);
    assert.equal(await text(page, `${dlg} [data-machine-fact=Hostname]`), 'web-2');
    assert.equal(await text(page, `${dlg} [data-machine-fact="IP address"]`), '203.0.113.11');
    assert.match(await text(page, `${dlg} [data-fenced]`), new RegExp(`pve-node-1 .*#${second.lock_token}`));
    await page.fill(`${dlg} input[name=note]`, 'destroyed in the PVE web UI');
    await page.screenshot({ path: screenshotPath('14-mark-terminated') });
    await page.click(`${dlg} [data-action=confirm-terminated]`);
    await page.locator(dlg).waitFor({ state: 'detached' });
    await expectText(page, `${row(id)} td[data-col=status]`, 'terminated');
    await expectOffered(page, id, []);

    const late = await client().call(agent, 'terminated', { ...asAgent, params: { pubkey: pk(), id }, body: { lock_token: second.lock_token } });
    assert.equal(late.status, 409, late.text);
    assert.equal((JSON.parse(late.text) as { error: { code: string } }).error.code, 'lease_lost');
    const done = await getContract(id);
    assert.equal(done.terminated_by, pk());

    await page.click(`${row(id)} button:has-text("History")`);
    const detail = `[data-contract-detail="${id}"]`;
    await expectText(page, `${detail} [data-event=terminated]`, /you \(provider\).*destroyed in the PVE web UI/);
    await expectText(page, `${detail} [data-terminated]`, /by you \(provider\)$/);
    await page.click(`${row(id)} button:has-text("History")`);

    // The filter shows the new statuses' rows only.
    await page.selectOption('select[name=status]', 'terminated');
    await eventually(async () => {
      const rows = await page.locator('table[data-table=contracts] tbody tr[data-row]').evaluateAll((els) => els.map((e) => e.getAttribute('data-row')));
      assert.deepEqual([...rows].sort(), [ids.c1, ids.c2].sort());
    });
    assert.match(page.url(), /[?&]status=terminated/);
    await page.selectOption('select[name=status]', '');
  });

  test('no machine yet: Terminate on a never-granted contract says it ends cancelled; a requested one offers no Terminate', async () => {
    const requested = await order('web-3');
    await expectOffered(page, requested, ['accept', 'reject']);
    const id = (ids.c3 = await order('web-3'));
    const accepted = await client().call(provider, 'acceptContract', { params: { pubkey: pk(), id } });
    mustOk(accepted);
    await expectOffered(page, id, ['terminate']);
    await page.click(`${row(id)} button[data-action=terminate]`);
    const dlg = '[data-dialog=terminate]';
    assert.equal(await text(page, `${dlg} [data-machine-fact=Hostname]`), 'web-3 (requested)');
    assert.equal(await text(page, `${dlg} [data-machine-builder]`), 'nobody yet');
    assert.match(await text(page, `${dlg} [data-terminate-outcome]`), /so no machine exists: it ends as cancelled at once/);
    await page.getByRole('button', { name: 'Cancel contract' }).click();
    await page.locator(dlg).waitFor({ state: 'detached' });
    await expectText(page, `${row(id)} td[data-col=status]`, 'cancelled');
    await expectOffered(page, id, []);
    assert.equal((await getContract(id)).status, 'cancelled');
  });

  test('pool detail: machines that exist per agent, teardowns waiting, orphans and ghosts from the inventory', async () => {
    const kept = await provisioned('web-5', '203.0.113.15', 105);
    const ending = await provisioned('web-6', '203.0.113.16', 106);
    const terminate = await client().call(provider, 'terminateContract', { params: { pubkey: pk(), id: ending }, body: { reason: 'unpaid' } });
    mustOk(terminate);
    const stranger = randomUUID();
    // The agent stops taking teardowns (so `ending` waits: no other agent shares its host scope) and
    // reports what it sees: a terminated and a cancelled contract's machines, one it does not know,
    // and `ending`; `kept` is missing.
    await heartbeat(['provision'], [ids.c1!, ids.c3!, stranger, ending]);
    const pool = await client().call(provider, 'getPool', { params: { pubkey: pk(), pool_id: poolId } });
    const detail = mustOk(pool).body;
    assert.equal(detail.teardowns_waiting, 1);

    await page.goto(`${base}/dashboard/provider/pools/${poolId}`);
    await expectText(page, '[data-pool-facts]', /Active contracts: 2(?!\d).*Teardowns waiting: 1(?!\d).*Orphans: 3(?!\d).*Ghosts: 1(?!\d)/);
    await expectText(page, `table[data-table=agents] tr[data-row="${agent.publicKey}"] td[data-col=active_contracts]`, '2');
    const orphanRow = (c: string) => `table[data-table=orphans] tr[data-row="${agent.publicKey}:${c}"]`;
    await expectText(page, `${orphanRow(ids.c1!)} td[data-col=reason]`, 'contract terminated: the machine should be gone');
    await expectText(page, `${orphanRow(ids.c3!)} td[data-col=reason]`, 'contract cancelled: no machine should exist');
    await expectText(page, `${orphanRow(stranger)} td[data-col=reason]`, 'no such contract');
    await expectText(page, `${orphanRow(stranger)} td[data-col=agent_pubkey]`, new RegExp(`^pve-node-1 ${agent.publicKey.slice(0, 6)}$`));
    assert.equal(await page.locator('table[data-table=orphans] tbody tr[data-row]').count(), 3);
    await expectText(page, `table[data-table=ghosts] tr[data-row="${agent.publicKey}:${kept}"] td[data-col=contract_id]`, kept);
    assert.equal(await page.locator('table[data-table=ghosts] tbody tr[data-row]').count(), 1);
    await page.screenshot({ path: screenshotPath('13-pool-inventory'), fullPage: true });

    // Advertising teardowns again: the owner is sticky, nothing waits; its report with `kept` clears the ghost.
    await heartbeat(BOTH, [ids.c1!, ids.c3!, stranger, ending, kept]);
    await expectText(page, '[data-pool-facts]', /Teardowns waiting: 0(?!\d).*Orphans: 3(?!\d).*Ghosts: 0(?!\d)/);
    await expectText(page, 'table[data-table=ghosts] .dt-empty td', /No ghosts/);
  });

  test('a teardown handed off to a person reads "by hand" and offers Mark terminated', async () => {
    // The waiting teardown from the pool test: its owner takes teardowns again and hands it off.
    const list = await client().call(provider, 'listContracts', { params: { pubkey: pk() }, query: { status: 'terminating' } });
    const waiting = mustOk(list).body.items.map((c) => c.contract_id);
    assert.equal(waiting.length, 1);
    const item = await claimOne();
    assert.equal(item.contract_id, waiting[0]);
    assert.equal(item.action, 'terminate');
    const handoff = await client().call(agent, 'handoff', { params: { pubkey: pk(), id: item.contract_id }, body: { lock_token: item.lock_token, note: 'disk array needs a person' } });
    mustOk(handoff, 'handoff');
    await page.goto(`${base}/dashboard/provider/contracts`);
    const id = item.contract_id;
    await expectText(page, `${row(id)} td[data-col=status]`, 'terminating · by hand');
    await expectOffered(page, id, ['terminated']);
    await page.click(`${row(id)} button:has-text("History")`);
    await expectText(page, `[data-contract-detail="${id}"] [data-teardown-owner]`, 'a person (handed off)');
    await expectText(page, `[data-contract-detail="${id}"] [data-event=handed_off]`, /teardown.*disk array needs a person/);
  });

  test('at 1280 px the contracts page (teardown actions included) and the pool detail do not overflow sideways', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    for (const path of ['/dashboard/provider/contracts', `/dashboard/provider/pools/${poolId}`]) {
      await page.goto(base + path);
      await page.locator('table.dt tbody tr[data-row]').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} overflows by ${overflow}px at 1280 px`);
    }
    await page.setViewportSize({ width: 1600, height: 1000 });
  });

  test('no CSP violation, page error or script dialog happened during the run', () => {
    assert.deepEqual(cspViolations, []);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(alerts, []);
  });
});
