// Teardown end to end (DESIGN.md "Teardown after provisioning (v3)"), with the real dc-agent
// bundle against a real dc-api: the agent that built a machine is the one that destroys it, by the
// contract's tag, and confirms `…/terminated` with its lease's token; inventory shows orphans.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProvisionerType } from '@dc/core';
import { generateIdentity } from '@dc/core/node';
import {
  agentCli, cleanup, contractOf, createOffering, createPool, createProvider, eventsOf, hasCommand, paidContract, setupScriptAgent, sharedDir,
  startAgent, startApi, tempDir, waitFor, type TestApi,
} from './helpers.js';
import { FakePve } from './fake-pve.js';

let api: TestApi;
let dir: string;
before(async () => {
  api = await startApi({ DC_LOCK_TTL_SECONDS: '2', DC_AGENT_OFFLINE_AFTER_SECONDS: '6' });
  dir = tempDir();
});
after(async () => {
  await api.close();
  cleanup(dir);
});

let n = 0;
async function scenario(type: ProvisionerType) {
  const provider = await createProvider(api);
  const poolId = await createPool(api, provider, { name: `teardown-${++n}`, location: 'europe', provisioner_type: type });
  await createOffering(api, provider, { offering_id: 'vps', datacenter_country: 'FR', provisioner_type: type });
  return { provider, poolId };
}

/** The script fixture's call log: "<action> <contract> <agent name> <uid>" per run. */
function calls(records: string, id: string): string[] {
  const log = join(records, 'calls.log');
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1] === id)
    .map((l) => l.split(' ').slice(0, 3).join(' '));
}

test('script: provision, cancel; the agent that built it gets action terminate with the recorded instance_details, confirms, and status shows the teardown meanwhile', async () => {
  const { provider, poolId } = await scenario('script');
  const records = sharedDir(dir, `records-${n}`);
  const builder = await setupScriptAgent(api, provider, poolId, dir, {
    name: 'builder',
    records,
    script: { env: { RECORD_DIR: records, AGENT_NAME: 'builder', TERMINATE_MODE: 'wait' } },
  });
  const a = startAgent(builder);
  let b: ReturnType<typeof startAgent> | null = null;
  try {
    const customer = generateIdentity();
    const { id } = await paidContract(api, provider, 'vps', { instance_config: { hostname: 'shop-1' } }, customer);
    const provisioned = await waitFor('provisioned', async () => {
      const c = await contractOf(api, provider, id);
      return c.status === 'provisioned' ? c : null;
    }, 20_000);
    assert.equal(provisioned.provisioned_by, builder.pubkey);
    assert.ok((provisioned.instance_details as Record<string, unknown> | null)?.host_scope, 'the script provisioner reports host_scope');

    // Another agent of the pool, on the same host scope, is idle: the builder still gets the teardown.
    const other = await setupScriptAgent(api, provider, poolId, dir, { name: 'other', records, script: { env: { RECORD_DIR: records, AGENT_NAME: 'other' } } });
    b = startAgent(other);
    await b.waitForLog((l) => l.event === 'heartbeat.ok', 15_000, "the other agent's first heartbeat");

    const cancelled = await api.ok(customer, 'POST', `/api/v1/contracts/${id}/cancel`);
    assert.equal(cancelled.status, 'terminating');
    await waitFor("the builder's script to get the teardown", () => existsSync(join(records, `${id}.terminate.stdin.json`)), 20_000);

    // While the script runs, status shows the teardown (the state file is written every 200 ms).
    const st = await waitFor('status to show the teardown', async () => {
      const r = await agentCli(['status', '--config', builder.config, '--json']);
      const j = JSON.parse(r.stdout);
      return j.state.in_flight.some((f: { contract_id: string; action: string }) => f.contract_id === id && f.action === 'terminate') ? j : null;
    }, 5000);
    assert.equal(st.state.in_flight.find((f: { contract_id: string }) => f.contract_id === id).phase, 'tearing_down');
    const text = (await agentCli(['status', '--config', builder.config])).stdout;
    assert.match(text, new RegExp(`teardowns: +\\n {2}${id} +tearing_down`));
    assert.match(text, /host scope: +\S+/);

    writeFileSync(join(records, 'go-terminate'), '');
    const done = await waitFor('terminated', async () => {
      const c = await contractOf(api, provider, id);
      return c.status === 'terminated' ? c : null;
    }, 20_000);
    assert.equal(done.terminated_by, builder.pubkey, 'confirmed by the agent that built it');

    assert.deepEqual(calls(records, id), [`provision ${id} builder`, `terminate ${id} builder`], 'built and destroyed once, by the same agent');
    const stdin = JSON.parse(readFileSync(join(records, `${id}.terminate.stdin.json`), 'utf8'));
    assert.equal(stdin.action, 'terminate');
    assert.equal(stdin.contract_id, id);
    assert.equal(stdin.contract_tag, `dc-${id}`);
    assert.deepEqual(stdin.instance_details, provisioned.instance_details, 'the instance details recorded at provisioning');
    assert.match(readFileSync(join(records, `${id}.terminate.env`), 'utf8'), /^DC_ACTION=terminate$/m);

    const events = await eventsOf(api, provider, id);
    const last = events.at(-1)!;
    assert.equal(last.event, 'terminated');
    assert.equal(last.action, 'terminate');
    assert.equal(last.agent_pubkey, builder.pubkey);
    const line = await a.waitForLog((l) => l.event === 'contract.terminated' && l.contract_id === id);
    assert.equal(line.lock_token, last.lock_token, 'confirmed with the teardown lease token');
    assert.ok(!b.logs.some((l) => l.contract_id === id), 'the other agent never touched it');
    // The state file is written every 200 ms, so the count may land just after the log line.
    await waitFor('status to count the teardown', async () => {
      const after = JSON.parse((await agentCli(['status', '--config', builder.config, '--json'])).stdout);
      return after.state.counts.terminated === 1;
    }, 5000);
  } finally {
    assert.equal(await a.stop(), 0, a.stderr());
    if (b) assert.equal(await b.stop(), 0, b.stderr());
  }
});

test(
  'proxmox: teardown stops and deletes the VM tagged for the contract only, also when its recorded VMID now belongs to another VM; inventory reports an orphan',
  { skip: hasCommand('openssl') ? false : 'openssl is not installed' },
  async () => {
    const certDir = join(dir, 'pve-tls');
    mkdirSync(certDir, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'), '-days', '2', '-subj', '/CN=pve1'], {
      stdio: 'ignore',
    });
    const tls = { key: readFileSync(join(certDir, 'key.pem'), 'utf8'), cert: readFileSync(join(certDir, 'cert.pem'), 'utf8') };
    const pve = new FakePve({ tls });
    await pve.listen();
    try {
      const { provider, poolId } = await scenario('proxmox');
      // A VM tagged for a contract dc-api does not know: an orphan, left on the node before the agent starts.
      const orphanId = randomUUID();
      pve.vms.set(4242, { vmid: 4242, name: `dc-${orphanId}`, status: 'running', template: false, config: { name: `dc-${orphanId}`, tags: `dc-${orphanId}`, scsi0: 'local-lvm:vm-4242-disk-0,size=8G' } });
      const pveAgent = await setupScriptAgent(api, provider, poolId, dir, {
        name: 'pve-teardown',
        provisioner: {
          'provisioner.proxmox': {
            api_url: pve.url, api_token_id: pve.tokenId, api_token_secret: pve.tokenSecret, node: pve.node, template_vmid: 9000,
            tls_fingerprint: new X509Certificate(tls.cert).fingerprint256, task_poll_seconds: 0.02, guest_agent_timeout_seconds: 5,
          },
        },
      });
      const agent = startAgent(pveAgent);
      try {
        const pool = await waitFor('pool detail to list the orphan', async () => {
          const p = await api.ok(provider, 'GET', `/api/v1/providers/${provider.publicKey}/pools/${poolId}`);
          return p.orphans.length > 0 ? p : null;
        }, 20_000);
        assert.deepEqual(pool.orphans, [{ agent_pubkey: pveAgent.pubkey, contract_id: orphanId, reason: 'unknown' }]);
        const sent = await agent.waitForLog((l) => l.event === 'inventory.sent');
        assert.equal(sent.machines, 1);

        const one = await paidContract(api, provider, 'vps');
        const two = await paidContract(api, provider, 'vps');
        const provisioned = async (id: string) =>
          waitFor(`contract ${id} provisioned`, async () => {
            const c = await contractOf(api, provider, id);
            return c.status === 'provisioned' ? c : null;
          }, 20_000);
        const c1 = await provisioned(one.id);
        const c2 = await provisioned(two.id);
        assert.equal((c1.instance_details as Record<string, unknown>).host_scope, `${pve.node}@${new URL(pve.url).host}`);
        const recorded = Number((c1.instance_details as Record<string, unknown>).vmid);
        const vm2 = Number((c2.instance_details as Record<string, unknown>).vmid);

        // Contract 1's VM was restored under another VMID, and Proxmox gave its old VMID to a VM
        // of some other customer: the recorded number now names the wrong machine.
        const vm1 = pve.vms.get(recorded)!;
        pve.vms.delete(recorded);
        const moved = 7777;
        pve.vms.set(moved, { ...vm1, vmid: moved });
        const stranger = randomUUID();
        pve.vms.set(recorded, { vmid: recorded, name: `dc-${stranger}`, status: 'running', template: false, config: { name: `dc-${stranger}`, tags: `dc-${stranger}`, scsi0: `local-lvm:vm-${recorded}-disk-0,size=8G` } });

        const mark = pve.requests.length;
        const ended = await api.ok(provider, 'POST', `/api/v1/providers/${provider.publicKey}/contracts/${one.id}/terminate`, { reason: 'customer moved out' });
        assert.equal(ended.status, 'terminating');
        const done = await waitFor('terminated', async () => {
          const c = await contractOf(api, provider, one.id);
          return c.status === 'terminated' ? c : null;
        }, 20_000);
        assert.equal(done.terminated_by, pveAgent.pubkey);

        const writes = pve.requests.slice(mark).filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.template} ${r.params.vmid}`);
        assert.deepEqual(writes, [`POST /nodes/{node}/qemu/{vmid}/status/stop ${moved}`, `DELETE /nodes/{node}/qemu/{vmid} ${moved}`], 'stop and delete of the tagged VM, nothing else');
        assert.equal(pve.vms.has(moved), false, "contract 1's VM is gone");
        assert.equal(pve.vms.get(recorded)?.status, 'running', 'the VM that now has the recorded VMID is untouched');
        assert.equal(pve.vms.get(vm2)?.status, 'running', "contract 2's VM is untouched");
        assert.equal((await contractOf(api, provider, two.id)).status, 'provisioned');
        assert.ok(pve.vms.has(4242), 'an orphan is reported, never destroyed on a guess');
        assert.deepEqual(pve.violations, [], 'every request valid against the Proxmox API schema');
      } finally {
        assert.equal(await agent.stop(), 0, agent.stderr());
      }
    } finally {
      await pve.close();
    }
  },
);
