// Every dcctl command over real HTTP against a running dc-api, in the order a provider meets them:
// keys, registration, pools, tokens, agents, offerings, a customer's contract, the operator's
// payment, the provider's contract actions, the audit log. Each command is checked in table and
// JSON output (and --quiet where scripts use it), with its exit code and what the API now holds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateIdentity, identityFromSeed, type Identity } from '@dc/core/node';
import { mustOk } from '@dc/testkit';
import { operator } from '@dc/server/dist/test/helpers.js';
import { cleanup, dcctl, fieldsOf, json, rows, startLiveApi, tempDir, writeKeyFileOf, type LiveApi, type Run } from './helpers.js';

describe('dcctl commands against a running dc-api', { concurrency: false }, () => {
  let api: LiveApi;
  let dir: string;
  let providerKey: string;
  let customerKey: string;
  let operatorKey: string;
  let provider: Identity;
  let poolId: string;
  let spareId: string;
  let agent: Identity;
  let contractId: string;

  /** Runs dcctl as the provider unless the args name another key. */
  const run = (args: string[], env: Record<string, string> = {}) => dcctl(args, { DC_API_URL: api.url, DC_KEY_FILE: providerKey, ...env });
  const ok = async (args: string[], env: Record<string, string> = {}): Promise<Run> => {
    const r = await run(args, env);
    assert.equal(r.code, 0, `dcctl ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const refused = async (args: string[], status: number, code: string, env: Record<string, string> = {}): Promise<Run> => {
    const r = await run(args, env);
    assert.equal(r.code, 1, `dcctl ${args.join(' ')}: expected exit 1, got ${r.code}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^dcctl: ${code} \\(HTTP ${status}\\): \\S`, 'm'), r.stderr);
    assert.match(r.stderr, /^hint: \S/m, 'a hint follows the error');
    assert.equal(r.stdout, '', 'nothing on stdout when refused');
    return r;
  };
  const pp = () => `/api/v1/providers/${provider.publicKey}`;
  const asAgent = (method: string, path: string, body?: unknown) => api.client.request(agent, method, path, body, { keyHeader: 'X-Agent-Pubkey' });

  before(async () => {
    // One failed attempt ends provisioning (so retry has something to do); no back-off in between.
    api = await startLiveApi({ DC_MAX_PROVISION_ATTEMPTS: '1', DC_RETRY_BACKOFF_SECONDS: '0' });
    dir = tempDir();
    providerKey = join(dir, 'keys', 'provider.json');
    customerKey = join(dir, 'keys', 'customer.json');
    operatorKey = writeKeyFileOf(join(dir, 'operator.json'), operator);
  });
  after(async () => {
    await api?.close();
    cleanup(dir);
  });

  test('key generate writes a 0600 key file in the dashboard backup format and prints its public key; key show reads it', async () => {
    const r = await ok(['key', 'generate', providerKey]);
    const pub = r.stdout.trim();
    assert.match(pub, /^[0-9a-f]{64}$/);
    assert.match(r.stderr, /wrote .*provider\.json \(mode 0600\)/);
    assert.equal(statSync(providerKey).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'keys')).mode & 0o777, 0o700, 'the directory it created is private too');
    const file = JSON.parse(readFileSync(providerKey, 'utf8'));
    assert.deepEqual(Object.keys(file), ['kind', 'version', 'public_key', 'seed_hex', 'created_at', 'note']);
    assert.equal(file.kind, 'dc-api-provider-key');
    assert.equal(file.public_key, pub);
    provider = identityFromSeed(file.seed_hex);
    assert.equal(provider.publicKey, pub, 'the seed is the key printed');

    assert.equal((await ok(['key', 'show'])).stdout, `${pub}\n`);
    assert.deepEqual(json(await ok(['key', 'show', '--output', 'json'])), { public_key: pub, key_file: providerKey });

    // A key is never replaced by accident.
    const again = await run(['key', 'generate', providerKey]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists; dcctl does not replace a key \(pass --force/);
    assert.equal(JSON.parse(readFileSync(providerKey, 'utf8')).seed_hex, file.seed_hex);

    const c = json(await ok(['key', 'generate', customerKey, '-o', 'json']));
    assert.equal(c.key_file, customerKey);
    assert.match(c.public_key, /^[0-9a-f]{64}$/);
    // --force replaces, and still leaves mode 0600.
    const scratch = join(dir, 'scratch.json');
    writeFileSync(scratch, 'old', { mode: 0o600 });
    const forced = await ok(['key', 'generate', scratch, '--force']);
    assert.equal(JSON.parse(readFileSync(scratch, 'utf8')).public_key, forced.stdout.trim());
  });

  test('provider register and show', async () => {
    const r = await ok(['provider', 'register', '--name', 'Acme Hosting']);
    const f = fieldsOf(r.stdout);
    assert.equal(f.pubkey, provider.publicKey);
    assert.equal(f.name, 'Acme Hosting');
    const j = json(await ok(['provider', 'show', '-o', 'json']));
    assert.equal(j.name, 'Acme Hosting');
    assert.equal(j.pubkey, provider.publicKey);
  });

  test('pools create, ls, show, update and the refusals of each', async () => {
    const created = json(await ok(['pools', 'create', '--name', 'eu-script', '--location', 'europe', '--type', 'script', '-o', 'json']));
    poolId = created.pool_id;
    assert.match(poolId, /^eu-script-/);
    assert.equal(created.provisioner_type, 'script');
    assert.equal(created.paused, false);
    const spare = await ok(['pools', 'create', '--name', 'eu-spare', '--location', 'europe', '--type', 'script']);
    spareId = fieldsOf(spare.stdout).pool_id!;
    assert.match(spareId, /^eu-spare-/);

    const dup = await refused(['pools', 'create', '--name', 'eu-script', '--location', 'europe', '--type', 'script'], 409, 'pool_name_taken');
    assert.match(dup.stderr, /hint: choose another --name/);

    const table = rows((await ok(['pools', 'ls'])).stdout);
    assert.deepEqual(table[0], ['POOL_ID', 'NAME', 'LOCATION', 'TYPE', 'AGENTS', 'ONLINE', 'ACTIVE CONTRACTS', 'OFFERINGS', 'WAITING', 'SUCCESS 24H', 'PAUSED']);
    assert.deepEqual(table.slice(1).map((r) => r.slice(0, 6)), [
      [poolId, 'eu-script', 'europe', 'script', '0', '0/0'],
      [spareId, 'eu-spare', 'europe', 'script', '0', '0/0'],
    ]);
    const listed = json(await ok(['pools', 'ls', '--output', 'json']));
    assert.deepEqual(listed.items.map((p: { pool_id: string }) => p.pool_id), [poolId, spareId]);
    assert.equal((await ok(['pools', 'ls', '-q'])).stdout, `${poolId}\n${spareId}\n`);

    // A pool by name or id.
    const shown = fieldsOf((await ok(['pools', 'show', 'eu-script'])).stdout);
    assert.equal(shown.pool_id, poolId);
    assert.equal(shown.location, 'europe');
    assert.equal(json(await ok(['pools', 'show', poolId, '-o', 'json'])).agents.length, 0);

    const paused = json(await ok(['pools', 'update', 'eu-script', '--paused', '--fallback', 'eu-spare', '--fallback-after', '60', '-o', 'json']));
    assert.equal(paused.paused, true);
    assert.equal(paused.fallback_pool_id, spareId);
    assert.equal(paused.fallback_after_seconds, 60);
    const resumed = fieldsOf((await ok(['pools', 'update', poolId, '--no-paused', '--fallback', 'none', '--fallback-after', 'none'])).stdout);
    assert.equal(resumed.paused, 'false');
    assert.equal(resumed.fallback_pool_id, '-');
    assert.equal(resumed.fallback_after_seconds, '-');

    const nothing = await run(['pools', 'update', 'eu-script']);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /nothing to change: pass at least one of --name/);
    // A cycle is the API's refusal.
    await ok(['pools', 'update', 'eu-spare', '--fallback', 'eu-script']);
    await refused(['pools', 'update', 'eu-script', '--fallback', 'eu-spare'], 400, 'fallback_cycle');
    await ok(['pools', 'update', 'eu-spare', '--fallback', 'none']);
    await refused(['pools', 'show', 'no-such-pool'], 404, 'not_found');
    await refused(['pools', 'create', '--name', 'bad name!', '--location', 'europe', '--type', 'script'], 400, 'invalid_input');
  });

  test('tokens create (the one-liner, shown once), ls, revoke', async () => {
    const t = await ok(['tokens', 'create', '--pool', 'eu-script', '--label', 'node-0', '--expires-in-hours', '2']);
    const f = fieldsOf(t.stdout);
    assert.match(f.token!, /^apt_europe_[A-Za-z0-9_-]{22,}$/);
    assert.equal(f.pool_id, poolId);
    assert.equal(f.label, 'node-0');
    const key = mustOk(await api.client.call(null, 'serverKey')).body.public_key;
    assert.equal(f['one-liner'], `curl -fsSL ${api.url}/setup | bash -s -- --token ${f.token} --api-url ${api.url} --server-key ${key}`);
    assert.equal(f['dc-agent'], `dc-agent setup --token ${f.token} --api-url ${api.url} --server-key ${key}`);
    assert.match(t.stderr, /The token is shown once/);

    const listed = json(await ok(['tokens', 'ls', '--pool', poolId, '-o', 'json']));
    assert.deepEqual(listed.items.map((x: { token_id: string }) => x.token_id), [f.token_id]);
    const table = rows((await ok(['tokens', 'ls', '--pool', 'eu-script'])).stdout);
    assert.deepEqual(table[0], ['TOKEN_ID', 'LABEL', 'CREATED_AT', 'EXPIRES_AT']);
    assert.deepEqual(table[1]!.slice(0, 2), [f.token_id, 'node-0']);
    assert.equal((await ok(['tokens', 'revoke', f.token_id!])).stdout, `revoked token ${f.token_id}\n`);
    assert.deepEqual(json(await ok(['tokens', 'ls', '--pool', 'eu-script', '-o', 'json'])).items, []);
    await refused(['tokens', 'revoke', f.token_id!], 404, 'not_found');
    await refused(['tokens', 'create', '--pool', 'eu-script', '--label', ''], 400, 'invalid_input');

    // -q prints just the token; an agent registers with it.
    const token = (await ok(['tokens', 'create', '--pool', 'eu-script', '--label', 'node-1', '-q'])).stdout.trim();
    assert.match(token, /^apt_europe_/);
    agent = generateIdentity();
    const setup = await api.client.call(agent, 'setupAgent', { body: { token, agent_pubkey: agent.publicKey } });
    mustOk(setup);
    mustOk(await asAgent('POST', `${pp()}/heartbeat`, { version: '1.2.3' }));
  });

  test('agents ls (by pool and across pools), show by label or key prefix', async () => {
    const table = rows((await ok(['agents', 'ls', '--pool', 'eu-script'])).stdout);
    assert.deepEqual(table[0], ['AGENT_PUBKEY', 'LABEL', 'POOL', 'STATUS', 'STATE', 'VERSION', 'LEASES', 'CAPACITY', 'CONTRACTS', 'FAILURES', 'LAST_SEEN']);
    assert.deepEqual(table[1]!.slice(0, 7), [agent.publicKey, 'node-1', poolId, 'online', 'active', '1.2.3', '0']);
    const all = json(await ok(['agents', 'ls', '-o', 'json']));
    assert.deepEqual(all.items.map((a: { agent_pubkey: string }) => a.agent_pubkey), [agent.publicKey]);
    assert.equal((await ok(['agents', 'ls', '--status', 'offline', '-q'])).stdout, '');
    assert.equal((await ok(['agents', 'ls', '--pool', spareId, '-q'])).stdout, '');

    const byLabel = fieldsOf((await ok(['agents', 'show', 'node-1'])).stdout);
    assert.equal(byLabel.agent_pubkey, agent.publicKey);
    assert.equal(byLabel.status, 'online');
    const byPrefix = json(await ok(['agents', 'show', agent.publicKey.slice(0, 10), '-o', 'json']));
    assert.equal(byPrefix.label, 'node-1');
    const unknown = await refused(['agents', 'show', 'node-9'], 404, 'not_found');
    assert.match(unknown.stderr, /No agent of this provider has the key, key prefix or label "node-9"/);
  });

  test('agents drain and resume (the provider sets the state; the agent is told in its heartbeat)', async () => {
    const drained = json(await ok(['agents', 'drain', 'node-1', '--reason', 'kernel upgrade', '--wait', '--timeout', '30', '-o', 'json']));
    assert.equal(drained.state, 'draining');
    assert.equal(drained.state_reason, 'kernel upgrade');
    assert.equal(drained.state_set_by, 'provider');
    assert.equal(drained.drained, true, '--wait returns once it holds no lease');
    const hb = mustOk(await asAgent('POST', `${pp()}/heartbeat`, { version: '1.2.3' }));
    assert.equal(hb.body.state, 'draining');
    assert.equal(rows((await ok(['agents', 'ls', '--pool', 'eu-script'])).stdout)[1]![4], 'drained');

    const resumed = fieldsOf((await ok(['agents', 'resume', agent.publicKey])).stdout);
    assert.equal(resumed.state, 'active');
    assert.equal(mustOk(await asAgent('POST', `${pp()}/heartbeat`, { version: '1.2.3' })).body.state, 'active');
  });

  test('offerings create (routing shown), ls, show, export, import (with every row error), rm', async () => {
    const auto = fieldsOf((await ok(['offerings', 'create', '--id', 'vps-s', '--name', 'VPS small', '--country', 'DE', '--price', '4.5', '--currency', 'EUR', '--provisioner', 'script'])).stdout);
    assert.equal(auto.offering_id, 'vps-s');
    assert.equal(auto.monthly_price, '4.50 EUR');
    assert.equal(auto['routes to'], `${poolId} (auto: europe)`, 'the oldest script pool in europe');
    const pinned = json(await ok(['offerings', 'create', '--id', 'vps-m', '--country', 'AT', '--price', '9', '--currency', 'EUR', '--pool', 'eu-spare', '--config', '{"template":9001}', '--inactive', '-o', 'json']));
    assert.equal(pinned.agent_pool_id, spareId);
    assert.equal(pinned.pool_match, 'explicit');
    assert.equal(pinned.name, 'vps-m', 'the name defaults to the id');
    assert.deepEqual(pinned.provisioner_config, { template: 9001 });
    assert.equal(pinned.status, 'inactive');
    const nowhere = await ok(['offerings', 'create', '--id', 'us-1', '--country', 'US', '--price', '5', '--currency', 'USD', '--provisioner', 'manual']);
    assert.match(nowhere.stderr, /warning: no pool takes this offering yet; create a manual pool in na/);
    await refused(['offerings', 'create', '--id', 'vps-s', '--country', 'DE', '--price', '1', '--currency', 'EUR'], 409, 'offering_exists');
    const badPrice = await refused(['offerings', 'create', '--id', 'p', '--country', 'DE', '--price', '1.234', '--currency', 'EUR'], 400, 'invalid_input');
    assert.match(badPrice.stderr, /monthly_price/);

    const table = rows((await ok(['offerings', 'ls'])).stdout);
    assert.deepEqual(table[0], ['OFFERING_ID', 'NAME', 'PRODUCT_TYPE', 'COUNTRY', 'PRICE', 'PROVISIONER', 'ROUTES TO', 'STATUS']);
    assert.deepEqual(table.slice(1).map((r) => [r[0], r[4], r[6], r[7]]), [
      ['us-1', '5.00 USD', 'none (no manual pool in na)', 'active'],
      ['vps-m', '9.00 EUR', spareId, 'inactive'],
      ['vps-s', '4.50 EUR', `${poolId} (auto: europe)`, 'active'],
    ]);
    assert.equal((await ok(['offerings', 'ls', '--status', 'active', '--search', 'VPS', '-q'])).stdout, 'vps-s\n');
    assert.deepEqual(json(await ok(['offerings', 'ls', '--pool', 'eu-spare', '-o', 'json'])).items.map((o: { offering_id: string }) => o.offering_id), ['vps-m']);
    assert.equal(json(await ok(['offerings', 'show', 'vps-s', '-o', 'json'])).resolved_pool_id, poolId);

    const csvFile = join(dir, 'offerings.csv');
    const exported = await ok(['offerings', 'export', '--out', csvFile]);
    assert.match(exported.stderr, /wrote .*offerings\.csv/);
    const csv = readFileSync(csvFile, 'utf8');
    assert.match(csv.split('\n')[0]!, /^offering_id,/);
    assert.equal((await ok(['offerings', 'export'])).stdout, csv, 'stdout or a file, the same CSV');

    // Round trip: change a price in the export and import it back.
    const edited = csv.replace(/^(vps-s,VPS small,compute,DE,)[^,]+,/m, (_, head: string) => `${head}5.25,`);
    assert.notEqual(edited, csv, csv);
    writeFileSync(csvFile, edited);
    const imported = fieldsOf((await ok(['offerings', 'import', csvFile])).stdout);
    assert.deepEqual(imported, { imported: '3', created: '0', updated: '3' });
    assert.equal(json(await ok(['offerings', 'show', 'vps-s', '-o', 'json'])).monthly_price, 5.25);
    const fromStdin = await dcctl(['offerings', 'import', '-', '-o', 'json'], { DC_API_URL: api.url, DC_KEY_FILE: providerKey }, 'offering_id,name,product_type,datacenter_country,monthly_price,currency\nvps-l,VPS large,compute,DE,19,EUR\n');
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.deepEqual(json(fromStdin), { imported: 1, created: 1, updated: 0 });

    // All or nothing: every bad row is listed, nothing is imported.
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'offering_id,name,product_type,datacenter_country,monthly_price,currency\nok-1,OK,compute,DE,5,EUR\nBad Id,x,compute,DE,5,EUR\nbad-2,x,compute,XX,1.234,EUR\n');
    const refusedCsv = await refused(['offerings', 'import', bad], 400, 'invalid_csv');
    assert.match(refusedCsv.stderr, /^ {2}line 3, offering_id: /m);
    assert.match(refusedCsv.stderr, /^ {2}line 4, datacenter_country: /m);
    assert.match(refusedCsv.stderr, /hint: fix the rows listed above and import the whole file again/);
    const refusedJson = await run(['offerings', 'import', bad, '-o', 'json']);
    assert.equal(refusedJson.code, 1);
    const body = JSON.parse(refusedJson.stderr);
    assert.equal(body.error.code, 'invalid_csv');
    assert.ok(body.error.rows.length >= 2, refusedJson.stderr);
    await refused(['offerings', 'show', 'ok-1'], 404, 'not_found');

    assert.equal((await ok(['offerings', 'rm', 'vps-l'])).stdout, 'deleted offering vps-l\n');
    assert.deepEqual(json(await ok(['offerings', 'rm', 'us-1', '-o', 'json'])), { deleted: 'us-1' });
    await refused(['offerings', 'rm', 'us-1'], 404, 'not_found');
  });

  test('a customer creates a contract, the provider accepts, the operator records the payment, the contract is provisioned', async () => {
    const created = await dcctl(['contract', 'create', '--provider', provider.publicKey, '--offering', 'vps-s', '--hostname', 'alice-web', '--memory-mb', '2048', '--ssh-key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop', '-q'], { DC_API_URL: api.url, DC_KEY_FILE: customerKey });
    assert.equal(created.code, 0, created.stderr);
    contractId = created.stdout.trim();
    assert.match(contractId, /^\S+$/);

    const listed = rows((await ok(['contracts', 'ls'])).stdout);
    assert.deepEqual(listed[0], ['CONTRACT_ID', 'OFFERING', 'STATUS', 'PAYMENT', 'ATTEMPTS', 'AGENT', 'CREATED_AT']);
    assert.deepEqual(listed[1]!.slice(0, 5), [contractId, 'vps-s', 'requested', 'pending', '0']);
    assert.equal(fieldsOf((await ok(['contracts', 'accept', contractId])).stdout).status, 'accepted');
    await refused(['contracts', 'accept', contractId], 409, 'invalid_transition');

    // Only an operator key records payments; the hint says where operator keys come from.
    const notOperator = await refused(['payment', contractId, 'succeeded'], 403, 'forbidden');
    assert.match(notOperator.stderr, /DC_OPERATOR_PUBKEYS/);
    const paid = json(await ok(['payment', contractId, 'succeeded', '-o', 'json'], { DC_KEY_FILE: operatorKey }));
    assert.equal(paid.payment_status, 'succeeded');

    // The agent takes it and confirms; `contracts wait` returns once it is provisioned.
    const waiting = run(['contracts', 'wait', contractId, '--for', 'provisioned', '--timeout', '60'], { DC_KEY_FILE: customerKey });
    const claim = mustOk(await asAgent('POST', `${pp()}/contracts/claim`, { max: 1 }));
    assert.equal(claim.body.items[0].contract_id, contractId);
    mustOk(await asAgent('POST', `${pp()}/contracts/${contractId}/provisioned`, { lock_token: claim.body.items[0].lock_token, instance_details: { ipv4: ['192.0.2.10'], hostname: 'alice-web' } }));
    const waited = await waiting;
    assert.equal(waited.code, 0, waited.stderr);
    const shown = fieldsOf(waited.stdout);
    assert.equal(shown.status, 'provisioned');
    assert.equal(shown.instance_details, '{"ipv4":["192.0.2.10"],"hostname":"alice-web"}');
    assert.equal(shown.provisioned_by, `node-1 (${agent.publicKey})`);

    const asProvider = json(await ok(['contracts', 'show', contractId, '-o', 'json']));
    assert.equal(asProvider.status, 'provisioned');
    assert.deepEqual(asProvider.instance_config, { hostname: 'alice-web', memory_mb: 2048 });
    const events = rows((await ok(['contracts', 'events', contractId])).stdout);
    assert.deepEqual(events[0], ['AT', 'EVENT', 'ACTION', 'LOCK_TOKEN', 'AGENT', 'DETAIL']);
    assert.deepEqual(events.slice(1).map((e) => [e[1], e[2], e[3], e[4]]), [
      ['granted', 'provision', '1', agent.publicKey],
      ['provisioned', 'provision', '1', agent.publicKey],
    ]);
    assert.deepEqual(json(await ok(['contracts', 'events', contractId, '-o', 'json'])).items.map((e: { event: string }) => e.event), ['granted', 'provisioned']);
    // A stranger's key sees nothing.
    const stranger = join(dir, 'stranger.json');
    await ok(['key', 'generate', stranger]);
    await refused(['contracts', 'show', contractId], 404, 'not_found', { DC_KEY_FILE: stranger });
  });

  test('contracts terminate, reject, retry; contract cancel; ls by status; wait stops on a status it cannot leave', async () => {
    const terminated = json(await ok(['contracts', 'terminate', contractId, '--reason', 'abuse report', '-o', 'json']));
    assert.equal(terminated.status, 'terminating');
    const tEvents = json(await ok(['contracts', 'events', contractId, '-o', 'json'])).items;
    assert.equal(tEvents.at(-1).event, 'terminate_requested');

    const newContract = async () => {
      const c = await dcctl(['contract', 'create', '--provider', provider.publicKey, '--offering', 'vps-s', '-q'], { DC_API_URL: api.url, DC_KEY_FILE: customerKey });
      assert.equal(c.code, 0, c.stderr);
      return c.stdout.trim();
    };
    const rejected = await newContract();
    assert.equal(fieldsOf((await ok(['contracts', 'reject', rejected])).stdout).status, 'rejected');
    const stuck = await run(['contracts', 'wait', rejected, '--timeout', '5']);
    assert.equal(stuck.code, 1);
    assert.match(stuck.stderr, /The contract is rejected; it will not become provisioned by itself/);

    const cancelled = await newContract();
    const c = await dcctl(['contract', 'cancel', cancelled, '-o', 'json'], { DC_API_URL: api.url, DC_KEY_FILE: customerKey });
    assert.equal(c.code, 0, c.stderr);
    assert.equal(json(c).status, 'cancelled');

    // A failed attempt (the limit is 1) makes it provisioning_failed; retry sends it back.
    const failing = await newContract();
    await ok(['contracts', 'accept', failing]);
    await ok(['payment', failing, 'succeeded'], { DC_KEY_FILE: operatorKey });
    const claim = mustOk(await asAgent('POST', `${pp()}/contracts/claim`, { max: 1 }));
    assert.equal(claim.body.items[0].contract_id, failing);
    mustOk(await asAgent('POST', `${pp()}/contracts/${failing}/failed`, { lock_token: claim.body.items[0].lock_token, error_message: 'template 9001 missing', error_class: 'contract' }));
    assert.equal((await ok(['contracts', 'ls', '--status', 'provisioning_failed', '-q'])).stdout, `${failing}\n`);
    const retried = fieldsOf((await ok(['contracts', 'retry', failing])).stdout);
    assert.equal(retried.status, 'accepted');
    assert.equal(retried.attempts, '0');

    // Paging: the note says where the next page starts.
    const page = await ok(['contracts', 'ls', '--limit', '2']);
    assert.equal(rows(page.stdout).length, 3);
    assert.match(page.stderr, /1–2 of 4; the next page: --offset 2/);
    const j = json(await ok(['contracts', 'ls', '-o', 'json']));
    assert.equal(j.total, 4);

    // Timing out is retryable (exit 3): the contract may still get there.
    const timeout = await run(['contracts', 'wait', failing, '--timeout', '1']);
    assert.equal(timeout.code, 3);
    assert.match(timeout.stderr, /is still accepted \(payment succeeded\) after 1 s/);
  });

  test('audit lists what happened, newest first, with kind filter and paging', async () => {
    const table = rows((await ok(['audit', '--limit', '500'])).stdout);
    assert.deepEqual(table[0], ['ID', 'AT', 'KIND', 'ACTOR', 'SUBJECT', 'DETAIL']);
    const kinds = table.slice(1).map((r) => r[2]);
    for (const k of ['pool_created', 'pool_updated', 'token_created', 'token_revoked', 'agent_setup', 'offering_created', 'offerings_imported', 'offering_deleted', 'contract_accepted', 'payment_recorded', 'terminate_requested', 'contract_rejected', 'contract_retried']) {
      assert.ok(kinds.includes(k), `${k} in the audit log: ${kinds.join(', ')}`);
    }
    const ids = table.slice(1).map((r) => Number(r[0]));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    const created = json(await ok(['audit', '--kind', 'pool_created', '-o', 'json']));
    assert.deepEqual(created.items.map((e: { subject: { id: string } }) => e.subject.id).sort(), [poolId, spareId].sort());
    const first = await ok(['audit', '--limit', '2']);
    assert.match(first.stderr, /older: dcctl audit --before \d+/);
    const before = Number(/--before (\d+)/.exec(first.stderr)![1]);
    const older = json(await ok(['audit', '--before', String(before), '--limit', '1', '-o', 'json']));
    assert.ok(older.items[0].id < before);
    assert.equal((await ok(['audit', '--after', String(ids[0]), '-q'])).stdout, '', 'nothing newer than the newest');
  });

  test('agents revoke; pools rm is refused while an agent or an offering uses the pool, then deletes', async () => {
    const notEmpty = await refused(['pools', 'rm', 'eu-spare'], 409, 'pool_in_use');
    assert.match(notEmpty.stderr, /hint: /);
    assert.equal((await ok(['agents', 'revoke', 'node-1'])).stdout, `revoked agent ${agent.publicKey}\n`);
    const hb = await asAgent('POST', `${pp()}/heartbeat`, { version: '1.2.3' });
    assert.equal(hb.status, 401, 'the revoked agent is refused');
    assert.equal(rows((await ok(['agents', 'ls', '--pool', 'eu-script'])).stdout)[1]![3], 'revoked');
    await ok(['offerings', 'rm', 'vps-m']);
    assert.deepEqual(json(await ok(['pools', 'rm', 'eu-spare', '-o', 'json'])), { deleted: spareId });
    assert.equal((await ok(['pools', 'ls', '-q'])).stdout, `${poolId}\n`);
  });
});
