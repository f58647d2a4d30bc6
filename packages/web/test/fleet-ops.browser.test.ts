// Fleet operations on the dashboard (issue 11), end to end: Debian's Chromium (playwright-core)
// against a real dc-api. The provider drains and resumes an agent, resets one that cooled down,
// pauses and resumes a pool and gives it a fallback pool; the contracts page shows the routed and
// the serving pool, "via fallback", and "waiting: no pool" for paid work that routes nowhere.
// Agents, the customer and the operator act from node with their own signed requests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import type { Contract, Pool, PoolAgent, WorkItem } from '@dc/core';
import { generateIdentity, identityFromSeed, type Identity } from '@dc/core/node';
import { mustOk } from '@dc/testkit';
import { operator } from '@dc/server/dist/test/helpers.js';
import { eventually, expectText, launchBrowser, screenshotPath, startLiveServer, text, type Browser, type LiveServer } from './support.js';

const XSS = '<img src=x onerror=alert(1)>';
const agentRow = (key: string) => `table[data-table=agents] tr[data-row="${key}"]`;
const poolRow = (id: string) => `table[data-table=pools] tr[data-row="${id}"]`;
const contractRow = (id: string) => `table[data-table=contracts] tr[data-row="${id}"]`;
const confirmDlg = '[data-dialog=confirm]';

describe('fleet operations in Chromium', { concurrency: false }, () => {
  let live: LiveServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  const seed = randomBytes(32).toString('hex');
  const provider = identityFromSeed(seed);
  const customer = generateIdentity();
  const pools: Record<'main' | 'spare' | 'na' | 'script', string> = { main: '', spare: '', na: '', script: '' };
  let pve1: Identity;
  let pve2: Identity;
  let spare1: Identity;
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  const alerts: string[] = [];

  // Typed calls are awaited apart from mustOk (TS2589 on contract-sized results otherwise).
  const client = () => live.client;
  const pk = provider.publicKey;
  const asAgent = { keyHeader: 'X-Agent-Pubkey' } as const;

  async function createPool(name: string, location: 'europe' | 'na', provisioner_type: 'proxmox' | 'script'): Promise<string> {
    const res = await client().call(provider, 'createPool', { params: { pubkey: pk }, body: { name, location, provisioner_type } });
    return mustOk(res).body.pool_id;
  }

  async function registerAgent(poolId: string, label: string, maxConcurrent?: number): Promise<Identity> {
    const t = await client().call(provider, 'createSetupToken', { params: { pubkey: pk, pool_id: poolId }, body: { label } });
    const agent = generateIdentity();
    const setup = await client().call(agent, 'setupAgent', { body: { token: mustOk(t).body.token, agent_pubkey: agent.publicKey } });
    mustOk(setup);
    await heartbeat(agent, maxConcurrent);
    return agent;
  }

  async function heartbeat(agent: Identity, maxConcurrent?: number): Promise<void> {
    const res = await client().call(agent, 'heartbeat', { params: { pubkey: pk }, body: { version: '2.0.0', ...(maxConcurrent ? { max_concurrent: maxConcurrent } : {}) } });
    mustOk(res, 'heartbeat');
  }

  async function getAgent(agent: Identity): Promise<PoolAgent> {
    const res = await client().call(provider, 'getAgent', { params: { pubkey: pk, agent_pubkey: agent.publicKey } });
    return mustOk(res).body;
  }

  async function getPool(poolId: string): Promise<Pool> {
    const res = await client().call(provider, 'getPool', { params: { pubkey: pk, pool_id: poolId }, query: { agents_limit: 0 } });
    return mustOk(res).body;
  }

  async function getContract(id: string): Promise<Contract> {
    const res = await client().call(provider, 'getContract', { params: { id } });
    return mustOk(res).body;
  }

  async function order(offeringId: string): Promise<string> {
    const res = await client().call(customer, 'createContract', { body: { provider_pubkey: pk, offering_id: offeringId } });
    return mustOk(res).body.contract_id;
  }

  async function pay(id: string): Promise<void> {
    const res = await client().call(operator, 'recordPayment', { params: { id }, body: { status: 'succeeded' } });
    mustOk(res, 'payment');
  }

  /** Ordered, accepted and paid through the API: ready for an agent of its pool. */
  async function paidContract(offeringId: string): Promise<string> {
    const id = await order(offeringId);
    const accepted = await client().call(provider, 'acceptContract', { params: { pubkey: pk, id } });
    mustOk(accepted, 'accept');
    await pay(id);
    return id;
  }

  /** The agent (online: it heartbeats first) asks for a lease on one contract: the answer, refusals included. */
  async function lock(agent: Identity, id: string) {
    await heartbeat(agent);
    return client().call(agent, 'lock', { ...asAgent, params: { pubkey: pk, id }, body: {} });
  }

  async function claim(agent: Identity, max = 1): Promise<WorkItem[]> {
    await heartbeat(agent);
    const res = await client().call(agent, 'claim', { params: { pubkey: pk }, body: { max } });
    return mustOk(res, 'claim').body.items;
  }

  async function provisioned(agent: Identity, id: string, lockToken: number): Promise<void> {
    const res = await client().call(agent, 'provisioned', { ...asAgent, params: { pubkey: pk, id }, body: { lock_token: lockToken, instance_details: { ip_address: '203.0.113.20' } } });
    mustOk(res, 'provisioned');
  }

  function errorCode(res: { text: string }): string {
    return (JSON.parse(res.text) as { error: { code: string } }).error.code;
  }

  async function openPool(poolId: string): Promise<void> {
    await page.goto(`${base}/dashboard/provider/pools/${poolId}`);
    await page.locator('[data-pool-facts]').waitFor();
  }

  before(async () => {
    // Failures do not back off, so an agent can fail contract after contract at once.
    live = await startLiveServer({ DC_RETRY_BACKOFF_SECONDS: '0', DC_MAX_PROVISION_ATTEMPTS: '10' });
    base = live.baseUrl;
    mustOk(await client().call(provider, 'putProvider', { params: { pubkey: pk }, body: { name: 'Fleet Hosting' } }));
    pools.main = await createPool('eu-main', 'europe', 'proxmox');
    pools.spare = await createPool('eu-spare', 'europe', 'proxmox');
    pools.na = await createPool('na-main', 'na', 'proxmox');
    pools.script = await createPool('eu-script', 'europe', 'script');
    pve1 = await registerAgent(pools.main, 'pve-1', 4);
    pve2 = await registerAgent(pools.main, 'pve-2');
    spare1 = await registerAgent(pools.spare, 'spare-1');
    const offerings = [
      // DE routes to eu-main (the oldest europe proxmox pool); ZA (ssa) has no pool at all.
      { offering_id: 'vps-de', name: 'VPS DE', product_type: 'compute', datacenter_country: 'DE', monthly_price: 5, currency: 'EUR', provisioner_type: 'proxmox' as const },
      { offering_id: 'vps-za', name: 'VPS ZA', product_type: 'compute', datacenter_country: 'ZA', monthly_price: 7, currency: 'EUR', provisioner_type: 'proxmox' as const },
    ];
    for (const body of offerings) mustOk(await client().call(provider, 'createOffering', { params: { pubkey: pk }, body }));

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
    await page.goto(`${base}/dashboard/provider/pools`);
    await page.fill('textarea[name=seed]', seed);
    await page.click('[data-action=import]');
    await expectText(page, '[data-provider-name]', 'Fleet Hosting');
    await page.locator(poolRow(pools.main)).waitFor();
  });

  after(async () => {
    await browser?.close();
    await live?.close();
  });

  test('the agents table shows state, health, live leases against capacity and the 24 h success rate', async () => {
    const [a, b] = [await paidContract('vps-de'), await paidContract('vps-de')];
    const items = await claim(pve1, 2);
    assert.deepEqual(items.map((i) => i.contract_id).sort(), [a, b].sort());
    await openPool(pools.main);
    const r1 = agentRow(pve1.publicKey);
    const r2 = agentRow(pve2.publicKey);
    await expectText(page, `${r1} td[data-col=leases]`, '2 / 4');
    await expectText(page, `${r2} td[data-col=leases]`, '0 / ∞');
    await expectText(page, `${r1} td[data-col=state]`, 'active');
    await expectText(page, `${r1} td[data-col=health]`, 'ok');
    await expectText(page, `${r1} td[data-col=success_rate_24h]`, '—');
    // One built, one failed by the contract's own input: neither counts against the agent.
    await provisioned(pve1, a, items.find((i) => i.contract_id === a)!.lock_token);
    const failed = await client().call(pve1, 'failed', {
      ...asAgent,
      params: { pubkey: pk, id: b },
      body: { lock_token: items.find((i) => i.contract_id === b)!.lock_token, error_message: 'bad os_image', error_class: 'contract' },
    });
    mustOk(failed, 'failed');
    await expectText(page, `${r1} td[data-col=leases]`, '0 / 4');
    await expectText(page, `${r1} td[data-col=success_rate_24h]`, '100 %');
    await expectText(page, `${r1} td[data-col=health]`, 'ok');
    assert.equal((await getAgent(pve1)).consecutive_failures, 0);
    await page.screenshot({ path: screenshotPath('fleet-01-agents-table'), fullPage: true });
  });

  test('Drain says what will happen, asks for a reason, and the agent takes no new work while it finishes what it holds; Resume undoes it', async () => {
    const held = await paidContract('vps-de');
    const grant = await lock(pve1, held);
    const lease = mustOk(grant, 'lock').body;
    const r1 = agentRow(pve1.publicKey);
    await expectText(page, `${r1} td[data-col=leases]`, '1 / 4');

    await page.click(`${r1} button[data-action=drain]`);
    await expectText(page, `${confirmDlg} h2`, 'Drain agent pve-1?');
    assert.match(await text(page, `${confirmDlg} [data-drain-effect]`), /takes no new work, finishes what it holds/);
    assert.match(await text(page, `${confirmDlg} [data-drain-holds]`), /holds 1 lease now; it reads drained when that ends/);
    await page.fill(`${confirmDlg} input[name=reason]`, 'kernel update');
    await page.screenshot({ path: screenshotPath('fleet-02-drain-confirm') });
    await page.getByRole('button', { name: 'Drain agent' }).click();
    await page.locator(confirmDlg).waitFor({ state: 'detached' });

    await expectText(page, `${r1} td[data-col=state]`, 'draining · by you · kernel update');
    const drained = await getAgent(pve1);
    assert.equal(drained.state, 'draining');
    assert.equal(drained.state_reason, 'kernel update');
    assert.equal(drained.state_set_by, 'provider');
    assert.equal(drained.drained, false);
    // No new grant; what it holds it still finishes.
    const next = await paidContract('vps-de');
    const refused = await lock(pve1, next);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(errorCode(refused), 'agent_draining');
    await provisioned(pve1, held, lease.lock_token);
    await expectText(page, `${r1} td[data-col=state]`, 'drained · by you · kernel update');
    await expectText(page, `${r1} td[data-col=leases]`, '0 / 4');
    const actions = await page.locator(`${r1} td[data-col=actions] button`).evaluateAll((els) => els.map((e) => e.getAttribute('data-action')));
    assert.deepEqual(actions, ['resume', 'revoke']);
    await page.screenshot({ path: screenshotPath('fleet-03-drained'), fullPage: true });

    await page.click(`${r1} button[data-action=resume]`);
    await expectText(page, `${confirmDlg} h2`, 'Resume agent pve-1?');
    assert.match(await text(page, `${confirmDlg} [data-drain-effect]`), /takes new work again/);
    await page.getByRole('button', { name: 'Resume agent' }).click();
    await page.locator(confirmDlg).waitFor({ state: 'detached' });
    await expectText(page, `${r1} td[data-col=state]`, 'active');
    assert.equal((await getAgent(pve1)).state, 'active');
    const again = await lock(pve1, next);
    const relet = mustOk(again, 'lock after resume').body;
    await provisioned(pve1, next, relet.lock_token);
  });

  test("an agent's own drain reason is shown as text, marked as set by the agent", async () => {
    const res = await client().call(pve2, 'updateAgent', { ...asAgent, params: { pubkey: pk, agent_pubkey: pve2.publicKey }, body: { state: 'draining', reason: XSS } });
    mustOk(res, 'self-drain');
    const r2 = agentRow(pve2.publicKey);
    await expectText(page, `${r2} td[data-col=state]`, `drained · by the agent · ${XSS}`);
    assert.equal(await page.locator('table[data-table=agents] img').count(), 0);
    await page.click(`${r2} button[data-action=resume]`);
    assert.match(await text(page, `${confirmDlg} [data-drain-effect]`), /drained itself \(dc-agent drain\); resuming here overrides that/);
    await page.getByRole('button', { name: 'Resume agent' }).click();
    await expectText(page, `${r2} td[data-col=state]`, 'active');
    assert.deepEqual(alerts, []);
  });

  test('an agent that keeps failing cools down; Reset (after confirming) ends the cool-down and it takes work again', async () => {
    const r2 = agentRow(pve2.publicKey);
    // Agent-class failures on distinct contracts until the cool-down starts (the threshold is 3).
    let failures = 0;
    for (;;) {
      const id = await paidContract('vps-de');
      const grant = await lock(pve2, id);
      if (grant.status === 409) {
        assert.equal(errorCode(grant), 'agent_cooling_down', grant.text);
        break;
      }
      const lease = mustOk(grant, 'lock').body;
      const res = await client().call(pve2, 'failed', { ...asAgent, params: { pubkey: pk, id }, body: { lock_token: lease.lock_token, error_message: 'qemu: storage offline' } });
      mustOk(res, 'failed');
      failures++;
      assert.ok(failures <= 3, 'cooled down at the threshold');
    }
    assert.equal(failures, 3);
    const cooling = await getAgent(pve2);
    assert.ok(cooling.cooldown_until && Date.parse(cooling.cooldown_until) > Date.now(), `cooldown_until ${cooling.cooldown_until}`);
    await expectText(page, `${r2} td[data-col=health]`, /^cooling down until \d\d:\d\d:\d\d UTC \((\d+m )?\d+s\) Reset$/);
    assert.equal(await page.locator(`${r2} td[data-col=health] [data-health=cooling]`).count(), 1);
    await expectText(page, `${r2} td[data-col=success_rate_24h]`, '0 %');
    await page.screenshot({ path: screenshotPath('fleet-04-cooling-down'), fullPage: true });

    await page.click(`${r2} button[data-action=reset-health]`);
    await expectText(page, `${confirmDlg} h2`, 'Reset the health of pve-2?');
    assert.match(await text(page, `${confirmDlg} [data-reset-effect]`), /^Ends its cool-down \(until \d\d:\d\d:\d\d UTC\) and clears its failures in a row: it can take new work at once\./);
    await page.screenshot({ path: screenshotPath('fleet-05-reset-health-confirm') });
    await page.getByRole('button', { name: 'Reset health' }).click();
    await page.locator(confirmDlg).waitFor({ state: 'detached' });
    await expectText(page, `${r2} td[data-col=health]`, 'ok');
    const healthy = await getAgent(pve2);
    assert.equal(healthy.cooldown_until, null);
    assert.equal(healthy.consecutive_failures, 0);
    const id = await paidContract('vps-de');
    const grant = await lock(pve2, id);
    const lease = mustOk(grant, 'lock after reset').body;
    await provisioned(pve2, id, lease.lock_token);
  });

  test('Pause pool says what stops and what continues; a paused pool grants nothing new until Resume', async () => {
    await page.click('[data-action=pause-pool]');
    await expectText(page, `${confirmDlg} h2`, 'Pause pool eu-main?');
    assert.match(await text(page, `${confirmDlg} [data-pause-effect]`), /No new provisioning starts in this pool.*teardowns continue/);
    assert.match(await text(page, `${confirmDlg} [data-pause-waiting]`), /wait until you resume it: the pool has no fallback/);
    await page.screenshot({ path: screenshotPath('fleet-06-pause-confirm') });
    await page.locator(confirmDlg).getByRole('button', { name: 'Pause pool' }).click();
    await page.locator(confirmDlg).waitFor({ state: 'detached' });
    await expectText(page, 'h1 ~ [data-paused]', 'paused');
    await expectText(page, '[data-action=resume-pool]', 'Resume pool');
    assert.equal((await getPool(pools.main)).paused, true);
    const waiting = await paidContract('vps-de');
    const refused = await lock(pve1, waiting);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(errorCode(refused), 'pool_paused');
    await page.screenshot({ path: screenshotPath('fleet-07-paused'), fullPage: true });

    await page.click('[data-action=resume-pool]');
    await expectText(page, `${confirmDlg} h2`, 'Resume pool eu-main?');
    await page.locator(confirmDlg).getByRole('button', { name: 'Resume pool' }).click();
    await page.locator(confirmDlg).waitFor({ state: 'detached' });
    await expectText(page, '[data-action=pause-pool]', 'Pause pool');
    assert.equal(await page.locator('h1 ~ [data-paused]').count(), 0);
    assert.equal((await getPool(pools.main)).paused, false);
    const grant = await lock(pve1, waiting);
    const lease = mustOk(grant, 'lock after resume').body;
    await provisioned(pve1, waiting, lease.lock_token);
  });

  test('the edit dialog offers fallbacks of the same type and region (any region when allowed); the choice is saved and shown in the pools list', async () => {
    await page.click('.page-head button:has-text("Edit")');
    const dlg = '[data-dialog=pool-form]';
    const options = async () =>
      page.locator(`${dlg} select[name=fallback_pool_id] option`).evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value));
    // Same type and region only: eu-spare; never itself, the script pool or the NA pool.
    assert.deepEqual(await options(), ['', pools.spare]);
    await page.check(`${dlg} input[name=fallback_cross_region]`);
    assert.deepEqual(await options(), ['', pools.spare, pools.na]);
    await page.uncheck(`${dlg} input[name=fallback_cross_region]`);
    assert.equal(await page.isDisabled(`${dlg} input[name=fallback_after_seconds]`), true, 'no timer without a fallback');
    await page.selectOption(`${dlg} select[name=fallback_pool_id]`, pools.spare);
    assert.equal(await page.inputValue(`${dlg} input[name=fallback_after_seconds]`), '300');
    await page.fill(`${dlg} input[name=fallback_after_seconds]`, '120');
    await expectText(page, `${dlg} [data-fallback-summary]`, /goes to eu-spare when no agent of this pool can take it, and otherwise after 2 min of waiting/);
    await page.screenshot({ path: screenshotPath('fleet-08-fallback-edit') });
    await page.locator(dlg).getByRole('button', { name: 'Save' }).click();
    await page.locator(dlg).waitFor({ state: 'detached' });
    let saved = await getPool(pools.main);
    assert.equal(saved.fallback_pool_id, pools.spare);
    assert.equal(saved.fallback_after_seconds, 120);
    assert.equal(saved.fallback_cross_region, false);
    await expectText(page, '[data-fallback]', 'Fallback: eu-spare after 2 min');

    // "Only when no agent can take work" is a null timer.
    await page.click('.page-head button:has-text("Edit")');
    await page.check(`${dlg} input[name=fallback_only_when_unavailable]`);
    assert.equal(await page.isDisabled(`${dlg} input[name=fallback_after_seconds]`), true);
    await page.locator(dlg).getByRole('button', { name: 'Save' }).click();
    await page.locator(dlg).waitFor({ state: 'detached' });
    saved = await getPool(pools.main);
    assert.equal(saved.fallback_after_seconds, null);
    await expectText(page, '[data-fallback]', 'Fallback: eu-spare only when no agent can take work');

    await page.click('nav >> text=Pools');
    await expectText(page, `${poolRow(pools.main)} td[data-col=fallback]`, '→ eu-spare when unavailable');
    await expectText(page, `${poolRow(pools.spare)} td[data-col=fallback]`, '—');
    assert.equal(await page.locator(`${poolRow(pools.main)} [data-paused]`).count(), 0);
    await page.screenshot({ path: screenshotPath('fleet-09-pools-fallback'), fullPage: true });
  });

  test('pools list: a paused pool carries a badge; pausing with a fallback says the work goes there', async () => {
    await openPool(pools.main);
    await page.click('[data-action=pause-pool]');
    assert.match(await text(page, `${confirmDlg} [data-pause-waiting]`), /goes to the fallback pool eu-spare at once/);
    await page.locator(confirmDlg).getByRole('button', { name: 'Pause pool' }).click();
    await page.locator(confirmDlg).waitFor({ state: 'detached' });
    await page.click('nav >> text=Pools');
    await expectText(page, `${poolRow(pools.main)} td[data-col=name] [data-paused]`, 'paused');
    assert.equal(await page.locator(`${poolRow(pools.spare)} [data-paused]`).count(), 0);
    await page.screenshot({ path: screenshotPath('fleet-10-pools-paused'), fullPage: true });
  });

  test('contracts: routed and serving pool, "via fallback", and "waiting: no pool" for paid work that routes nowhere', async () => {
    // eu-main is paused with eu-spare as its fallback: spare-1 takes the work.
    const viaFallback = await paidContract('vps-de');
    const taken = await lock(spare1, viaFallback);
    const lease = mustOk(taken, 'lock by the fallback').body;
    await provisioned(spare1, viaFallback, lease.lock_token);
    const served = await getContract(viaFallback);
    assert.equal(served.routed_pool_id, pools.main);
    assert.equal(served.lease_pool_id, pools.spare);

    // Accepting an order whose offering routes nowhere warns first.
    const nowhere = await order('vps-za');
    const routed = await order('vps-de');
    await page.click('nav >> text=Contracts');
    await expectText(page, `${contractRow(viaFallback)} td[data-col=resolved_pool_id]`, 'eu-main');
    await expectText(page, `${contractRow(viaFallback)} td[data-col=serving_pool]`, 'eu-spare via fallback');

    await page.click(`${contractRow(routed)} button[data-action=accept]`);
    const acceptDlg = '[data-dialog=accept]';
    await expectText(page, `${acceptDlg} [data-accept-effect]`, /Once the payment succeeds, an agent of pool eu-main builds it\./);
    assert.match(await text(page, `${acceptDlg} [data-accept-paused]`), /Pool eu-main is paused: the contract goes to its fallback pool eu-spare/);
    assert.equal(await page.locator(`${acceptDlg} [data-accept-no-pool]`).count(), 0);
    await page.click(`${acceptDlg} button:has-text("Cancel")`);
    await page.locator(acceptDlg).waitFor({ state: 'detached' });
    assert.equal((await getContract(routed)).status, 'requested', 'Cancel accepts nothing');

    await expectText(page, `${contractRow(nowhere)} td[data-col=resolved_pool_id]`, '⚠ none');
    await page.click(`${contractRow(nowhere)} button[data-action=accept]`);
    await expectText(page, `${acceptDlg} [data-accept-no-pool]`, /^Offering vps-za routes to no pool: it names none and you have no proxmox pool in region ssa\./);
    await page.screenshot({ path: screenshotPath('fleet-11-accept-no-pool') });
    await page.click(`${acceptDlg} [data-action=confirm-accept]`);
    await page.locator(acceptDlg).waitFor({ state: 'detached' });
    await expectText(page, `${contractRow(nowhere)} td[data-col=status]`, 'accepted');
    // Accepted but unpaid: nothing could start yet.
    await expectText(page, `${contractRow(nowhere)} td[data-col=resolved_pool_id]`, '⚠ none');
    await pay(nowhere);
    await expectText(page, `${contractRow(nowhere)} td[data-col=resolved_pool_id]`, '⚠ waiting: no pool');
    assert.equal(await page.locator(`${contractRow(nowhere)} [data-no-pool]`).count(), 1);
    await expectText(page, `${contractRow(nowhere)} td[data-col=serving_pool]`, '—');

    // The lock history marks the fallback grant.
    await page.click(`${contractRow(viaFallback)} button:has-text("History")`);
    await expectText(page, `[data-contract-detail="${viaFallback}"] [data-event=granted]`, /spare-1.*via fallback/);
    await page.screenshot({ path: screenshotPath('fleet-12-contracts-routing'), fullPage: true });
  });

  test('no page error, alert or CSP violation happened', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(alerts, []);
    assert.deepEqual(cspViolations, []);
  });
});
