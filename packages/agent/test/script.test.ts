// The script provisioner on its own: what the script gets (stdin, environment, user) and how its
// failures read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ScriptConfig } from '../src/provisioners/script.js';
import { createLogger } from '../src/log.js';
import { ScriptProvisioner } from '../src/provisioners/script.js';
import type { ProvisionJob } from '../src/provisioners/types.js';
import { isAbortError } from '../src/util.js';
import { SCRIPT_USER, cleanup, scriptFixture, sharedDir, tempDir } from './helpers.js';

const quiet = createLogger({ write: () => undefined });
const isRoot = process.getuid?.() === 0;
let dir: string;
let records: string;
let command: string;
before(() => {
  dir = tempDir();
  records = sharedDir(dir, 'records');
  command = scriptFixture(dir);
});
after(() => cleanup(dir));

const job = (id: string): ProvisionJob => ({
  contractId: id,
  offeringId: 'vps-s',
  providerPubkey: 'ab'.repeat(32),
  customerPubkey: 'cd'.repeat(32),
  poolId: 'pool-1',
  sshPubkey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@x',
  instanceConfig: { hostname: 'bobs-box', os_image: 'debian-12' },
  provisionerConfig: { plan: 'small' },
});

function provisioner(over: Partial<ScriptConfig> & { env?: Record<string, string> } = {}): ScriptProvisioner {
  return new ScriptProvisioner({ command, user: SCRIPT_USER, timeoutSeconds: 10, ...over, env: { RECORD_DIR: records, ...(over.env ?? {}) } }, quiet);
}

test('the contract goes on stdin; only DC_* values and the configured env reach the environment; root drops to the configured user', async () => {
  process.env.DC_SETUP_TOKEN = 'apt_europe_must-not-leak-into-scripts';
  try {
    const out = await provisioner({ env: { PROVIDER_REGION: 'fra1' } }).provision(job('11111111-aaaa'), AbortSignal.timeout(10_000));
    assert.equal(out.kind, 'provisioned');
    const details = (out as { details: Record<string, unknown> }).details;
    assert.equal(details.uid, isRoot ? 65534 : process.getuid?.(), isRoot ? 'ran as nobody, not root' : 'ran as this user');
    assert.equal(details.host_scope, hostname(), "the agent's scope (this host by default) when the script names none");
    const stdin = JSON.parse(readFileSync(join(records, '11111111-aaaa.provision.stdin.json'), 'utf8'));
    assert.deepEqual(stdin, {
      action: 'provision',
      contract_id: '11111111-aaaa',
      contract_tag: 'dc-11111111-aaaa',
      host_scope: hostname(),
      offering_id: 'vps-s',
      provider_pubkey: 'ab'.repeat(32),
      customer_pubkey: 'cd'.repeat(32),
      pool_id: 'pool-1',
      ssh_pubkey: job('x').sshPubkey,
      instance_config: { hostname: 'bobs-box', os_image: 'debian-12' },
      provisioner_config: { plan: 'small' },
    });
    const env = Object.fromEntries(
      readFileSync(join(records, '11111111-aaaa.provision.env'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(env.DC_ACTION, 'provision');
    assert.equal(env.DC_CONTRACT_ID, '11111111-aaaa');
    assert.equal(env.DC_CONTRACT_TAG, 'dc-11111111-aaaa', 'the tag the script must put on what it creates');
    assert.equal(env.DC_OFFERING_ID, 'vps-s');
    assert.equal(env.PROVIDER_REGION, 'fra1');
    assert.equal(env.ARGV, '');
    assert.equal(env.DC_SETUP_TOKEN, undefined, "the agent's own environment is not passed on");
    const all = JSON.stringify(env);
    for (const customer of ['bobs-box', 'debian-12', 'AAAAC3NzaC1', 'bob@x']) assert.ok(!all.includes(customer), `${customer} is not in the environment`);
  } finally {
    delete process.env.DC_SETUP_TOKEN;
  }
});

test('terminate runs the same script with DC_ACTION=terminate, the contract tag, and the instance details on stdin', async () => {
  const out = await provisioner({ hostScope: 'rack-7' }).terminate({ ...job('22222222-bbbb'), instanceDetails: { ip: '192.0.2.1' }, why: 'teardown' }, AbortSignal.timeout(10_000));
  assert.deepEqual(out, { kind: 'terminated' });
  const stdin = JSON.parse(readFileSync(join(records, '22222222-bbbb.terminate.stdin.json'), 'utf8'));
  assert.equal(stdin.action, 'terminate');
  assert.equal(stdin.contract_tag, 'dc-22222222-bbbb');
  assert.equal(stdin.host_scope, 'rack-7');
  assert.deepEqual(stdin.instance_details, { ip: '192.0.2.1' });
  const env = readFileSync(join(records, '22222222-bbbb.terminate.env'), 'utf8');
  assert.match(env, /^DC_ACTION=terminate$/m);
  assert.match(env, /^DC_CONTRACT_TAG=dc-22222222-bbbb$/m);
  assert.match(env, /^DC_HOST_SCOPE=rack-7$/m);
});

test('terminate_command runs teardowns instead of command; inventory_command lists the tagged machines', async () => {
  const term = join(dir, 'terminate.sh');
  writeFileSync(term, '#!/bin/sh\ncat > "$RECORD_DIR/$DC_CONTRACT_ID.terminate-command.json"\n');
  chmodSync(term, 0o755);
  const inv = join(dir, 'inventory.sh');
  writeFileSync(inv, `#!/bin/sh\ncat > "$RECORD_DIR/inventory.stdin.json"\necho '["dc-aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002", "not-a-contract"]'\n`);
  chmodSync(inv, 0o755);
  const p = provisioner({ terminateCommand: term, inventoryCommand: inv, hostScope: 'rack-7' });
  await p.terminate({ ...job('33333333-tttt'), instanceDetails: null, why: 'teardown' }, AbortSignal.timeout(10_000));
  const stdin = JSON.parse(readFileSync(join(records, '33333333-tttt.terminate-command.json'), 'utf8'));
  assert.equal(stdin.action, 'terminate');
  assert.equal(stdin.instance_details, null);
  assert.deepEqual(await p.inventory(AbortSignal.timeout(10_000)), ['aaaaaaaa-0000-4000-8000-000000000001', 'bbbbbbbb-0000-4000-8000-000000000002'], 'tags or ids; anything else is not a contract');
  assert.deepEqual(JSON.parse(readFileSync(join(records, 'inventory.stdin.json'), 'utf8')), { action: 'inventory', host_scope: 'rack-7' });
  // Without inventory_command the script provisioner cannot tell (null: no inventory is sent).
  assert.equal(await provisioner().inventory(AbortSignal.timeout(10_000)), null);
  writeFileSync(inv, '#!/bin/sh\necho nope\n');
  await assert.rejects(p.inventory(AbortSignal.timeout(10_000)), /inventory_command must print a JSON array of contract ids/);
});

test('failures: non-zero exit, bad JSON and timeouts each say what happened and end with the stderr tail', async () => {
  await assert.rejects(provisioner({ env: { SCRIPT_MODE: 'fail' } }).provision(job('33333333-cccc'), AbortSignal.timeout(10_000)), {
    message: 'script exited with code 3; stderr: hypervisor is out of memory for 33333333-cccc',
  });
  await assert.rejects(provisioner({ env: { SCRIPT_MODE: 'badjson' } }).provision(job('44444444-dddd'), AbortSignal.timeout(10_000)), /script printed no valid JSON on stdout \(got "this is not json\\n"\)/);
  const t0 = Date.now();
  await assert.rejects(
    provisioner({ timeoutSeconds: 0.5, env: { SCRIPT_MODE: 'sleep', SCRIPT_SLEEP: '30' } }).provision(job('55555555-eeee'), AbortSignal.timeout(10_000)),
    { message: 'script timed out after 0.5 s (provisioner.script.timeout_seconds); stderr: sleeping 30s' },
  );
  assert.ok(Date.now() - t0 < 5000, 'the script and its `sleep` child were killed, not waited for');
});

test('an abort (lease lost, shutdown) stops the script at once', async () => {
  const ctrl = new AbortController();
  const p = provisioner({ env: { SCRIPT_MODE: 'sleep', SCRIPT_SLEEP: '30' } }).provision(job('66666666-ffff'), ctrl.signal);
  setTimeout(() => ctrl.abort(new Error('lease lost')), 300);
  const t0 = Date.now();
  await assert.rejects(p, (err: unknown) => isAbortError(err));
  assert.ok(Date.now() - t0 < 5000);
});

test('doctor check: a missing or non-executable command, an unknown user', async () => {
  assert.match(await provisioner().check(), new RegExp(isRoot ? `runs as ${SCRIPT_USER}` : 'runs as this user'));
  await assert.rejects(provisioner({ command: join(dir, 'missing.sh') }).check(), /missing\.sh does not exist/);
  const noexec = join(dir, 'noexec.sh');
  writeFileSync(noexec, '#!/bin/sh\n');
  chmodSync(noexec, 0o644);
  await assert.rejects(provisioner({ command: noexec }).check(), /is not executable/);
  if (isRoot) {
    await assert.rejects(provisioner({ user: 'no-such-user-dc' }).check(), /provisioner\.script\.user "no-such-user-dc" does not exist on this host/);
    await assert.rejects(provisioner({ user: 'no-such-user-dc' }).provision(job('77777777-0000'), AbortSignal.timeout(5000)), /does not exist on this host/);
  }
});
