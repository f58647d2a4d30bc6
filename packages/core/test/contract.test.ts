// Core as the contract: browser-safe entry, the error catalogue, the state table, the routing rule
// and the setup command, checked on their own (the server's use of them is tested there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import {
  CONTRACT_ACTIONS, CONTRACT_STATUSES, ENDPOINTS, ERROR_CATALOGUE, PAYMENT_STATUSES, PAYMENT_TRANSITIONS, TERMINAL_STATUSES, TRANSITIONS,
  agentSetupCommand, canApply, isErrorCode, nextStatus, pathOf, providerActionsFor, responsesOf, routeOffering, setupOneLiner, triggerTarget, workActionOf,
  type ContractStatus,
} from '../src/index.js';

const INDEX = fileURLToPath(new URL('../src/index.js', import.meta.url));

test('@dc/core bundles for a browser: no node built-in is reachable from its main entry', async () => {
  const r = await build({ entryPoints: [INDEX], bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
  const text = r.outputFiles[0]!.text;
  assert.doesNotMatch(text, /from ['"]node:/);
  assert.ok(text.includes('DC1-DELEGATION'), 'the bundle carries the signing formats');
});

test('the error catalogue: snake_case codes with a 4xx or 5xx status and a sentence each', () => {
  for (const [code, e] of Object.entries(ERROR_CATALOGUE)) {
    assert.match(code, /^[a-z][a-z0-9_]*$/);
    assert.ok(e.status >= 400 && e.status < 600, code);
    assert.match(e.message, /^[A-Z].*[.)]$/, `${code}: a sentence`);
    assert.ok(isErrorCode(code));
  }
  assert.equal(isErrorCode('no_such_code'), false);
  assert.equal(isErrorCode('toString'), false);
  // The codes DESIGN.md names with their statuses.
  const named: Record<string, number> = {
    invalid_token: 401, token_used: 409, token_expired: 410, agent_exists: 409, pool_not_empty: 409, pool_in_use: 409,
    pool_type_mismatch: 400, offering_in_use: 409, lock_held: 409, lease_lost: 409, contract_cancelled: 409, backing_off: 409,
    sticky_owner: 409, pool_paused: 409, agent_draining: 409, agent_cooling_down: 409, agent_at_capacity: 409,
    retry_elsewhere: 409, fallback_mismatch: 400, fallback_cycle: 400, rate_limited: 429, database_unavailable: 503,
  };
  for (const [code, status] of Object.entries(named)) assert.equal(ERROR_CATALOGUE[code as keyof typeof ERROR_CATALOGUE].status, status, code);
});

test('the state table: every target is a status, terminal statuses have no way out, every status is reachable', () => {
  for (const from of CONTRACT_STATUSES) {
    for (const [action, to] of Object.entries(TRANSITIONS[from])) {
      assert.ok((CONTRACT_ACTIONS as readonly string[]).includes(action), `${from}: unknown action ${action}`);
      assert.ok(CONTRACT_STATUSES.includes(to!), `${from} --${action}--> ${to}`);
    }
  }
  for (const s of TERMINAL_STATUSES) assert.deepEqual(TRANSITIONS[s], {}, s);
  const seen = new Set<ContractStatus>(['requested']);
  for (let grew = true; grew; ) {
    grew = false;
    for (const from of [...seen]) for (const to of Object.values(TRANSITIONS[from])) if (!seen.has(to!)) (seen.add(to!), (grew = true));
  }
  assert.deepEqual([...seen].sort(), [...CONTRACT_STATUSES].sort(), 'every status is reachable from requested');
  for (const action of CONTRACT_ACTIONS) assert.ok(CONTRACT_STATUSES.some((s) => canApply(s, action)), `${action} applies somewhere`);
});

test('the state table says what DESIGN.md says for the transitions people cause', () => {
  assert.equal(nextStatus('requested', 'accept'), 'accepted');
  assert.equal(nextStatus('requested', 'reject'), 'rejected');
  assert.equal(nextStatus('accepted', 'handoff'), 'provisioning');
  assert.equal(nextStatus('provisioning', 'fail'), 'accepted');
  assert.equal(nextStatus('provisioning_failed', 'retry'), 'accepted');
  assert.equal(nextStatus('provisioning_failed', 'provision'), 'provisioned', 'a late confirmation wins');
  assert.equal(nextStatus('provisioned', 'terminate'), 'terminating');
  assert.equal(nextStatus('terminating', 'exhaust'), 'termination_failed');
  assert.equal(nextStatus('termination_failed', 'retry'), 'terminating');
  assert.equal(nextStatus('termination_failed', 'terminated'), 'terminated');
  assert.equal(nextStatus('provisioned', 'cancel'), 'terminating', 'v3: a cancel after provisioning tears the machine down');
  assert.equal(nextStatus('accepted', 'refund'), 'terminating');
  assert.equal(triggerTarget('accepted', 'refund', false), 'cancelled', 'never granted: no machine can exist');
  assert.equal(triggerTarget('provisioned', 'cancel', true), 'terminating');
  assert.equal(triggerTarget('terminated', 'cancel', true), 'unchanged', 'a trigger on a contract already ending is a repeat');
  assert.equal(triggerTarget('requested', 'terminate', false), null, 'the provider rejects a requested contract');
  assert.equal(nextStatus('rejected', 'accept'), null);
  assert.deepEqual(providerActionsFor('requested'), ['accept', 'reject']);
  assert.deepEqual(providerActionsFor('provisioning_failed'), ['retry', 'terminate']);
  assert.deepEqual(providerActionsFor('provisioned'), ['terminate']);
  assert.deepEqual(providerActionsFor('terminating'), ['terminated']);
  assert.deepEqual(providerActionsFor('termination_failed'), ['retry', 'terminated']);
  assert.equal(workActionOf('terminating'), 'terminate');
  assert.equal(workActionOf('accepted'), 'provision');
  for (const p of PAYMENT_STATUSES) for (const to of PAYMENT_TRANSITIONS[p]) assert.ok(PAYMENT_STATUSES.includes(to));
});

test('routing rule: explicit pool wins, else the oldest pool of region and type (pool_id breaks ties), else none', () => {
  const pools = [
    { pool_id: 'b', location: 'europe', provisioner_type: 'proxmox', created_at: '2026-01-01T00:00:00Z' },
    { pool_id: 'a', location: 'europe', provisioner_type: 'proxmox', created_at: '2026-01-01T00:00:00Z' },
    { pool_id: 'old', location: 'europe', provisioner_type: 'script', created_at: '2025-01-01T00:00:00Z' },
    { pool_id: 'na', location: 'na', provisioner_type: 'proxmox', created_at: '2024-01-01T00:00:00Z' },
  ];
  assert.deepEqual(routeOffering({ datacenter_country: 'de', provisioner_type: 'proxmox' }, pools), { pool_id: 'a', pool_match: 'location', datacenter_region: 'europe' });
  assert.deepEqual(routeOffering({ datacenter_country: 'US', provisioner_type: 'proxmox', agent_pool_id: 'x' }, pools), { pool_id: 'x', pool_match: 'explicit', datacenter_region: 'na' });
  assert.deepEqual(routeOffering({ datacenter_country: 'JP', provisioner_type: 'proxmox' }, pools), { pool_id: null, pool_match: 'none', datacenter_region: 'apac' });
  assert.equal(routeOffering({ datacenter_country: 'FR', provisioner_type: 'script' }, pools).pool_id, 'old');
});

test('setup commands are built from fields: the one-liner and the direct dc-agent form', () => {
  const key = 'ab'.repeat(32);
  const token = 'apt_europe_' + 'x'.repeat(32);
  assert.equal(
    setupOneLiner({ api_url: 'http://127.0.0.1:8080/', token, server_key: key }),
    `curl -fsSL http://127.0.0.1:8080/setup | bash -s -- --token ${token} --api-url http://127.0.0.1:8080 --server-key ${key}`,
  );
  assert.equal(
    setupOneLiner({ api_url: 'https://api.example.net', token, server_key: key }),
    `curl --proto '=https' -fsSL https://api.example.net/setup | bash -s -- --token ${token} --api-url https://api.example.net --server-key ${key}`,
  );
  assert.equal(agentSetupCommand({ api_url: 'https://api.example.net', token, server_key: key }), `dc-agent setup --token ${token} --api-url https://api.example.net --server-key ${key}`);
});

test('every endpoint is one path with named parameters, unique by method and path', () => {
  const seen = new Set<string>();
  for (const [name, e] of Object.entries(ENDPOINTS)) {
    const key = `${e.method} ${e.path}`;
    assert.ok(!seen.has(key), `${name}: ${key} twice`);
    seen.add(key);
    assert.ok(e.path.startsWith('/api/v1/'), name);
    assert.ok(Object.keys(responsesOf(e)).length >= 1 || e.ok[1] === null, name);
  }
  assert.equal(
    pathOf(ENDPOINTS.listOfferings, { pubkey: 'ab' }, { q: 'a b', limit: 5, pool_id: undefined }),
    '/api/v1/providers/ab/offerings?q=a%20b&limit=5',
  );
  assert.throws(() => pathOf(ENDPOINTS.getPool, { pubkey: 'ab' }), /pool_id/);
});
