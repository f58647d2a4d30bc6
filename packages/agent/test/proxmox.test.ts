// The proxmox provisioner against a fake PVE node that validates every request against the
// official API schema (fixtures/pve-api-subset.json) and simulates tasks.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProxmoxConfig } from '../src/provisioners/proxmox/index.js';
import { createLogger } from '../src/log.js';
import { ProxmoxProvisioner, contractTag, derivedVmid, diskSizeGb, encodeSshKeys } from '../src/provisioners/proxmox/provisioner.js';
import { ContractInputError, errorClassOf, type ProvisionJob, type ProvisionOutcome, type TeardownJob } from '../src/provisioners/types.js';
import { isAbortError } from '../src/util.js';
import { FakePve } from './fake-pve.js';
import { PveValidator, loadPveSchema } from './pve-schema.js';
import { cleanup, hasCommand, tempDir } from './helpers.js';

const quiet = createLogger({ write: () => undefined });
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl customer+laptop@example.org';

function cfgFor(pve: FakePve, over: Partial<ProxmoxConfig> = {}): ProxmoxConfig {
  return {
    apiUrl: pve.url,
    apiTokenId: pve.tokenId,
    apiTokenSecret: pve.tokenSecret,
    node: pve.node,
    templateVmid: 9000,
    storage: 'local-lvm',
    bridge: 'vmbr1',
    pool: null,
    fullClone: true,
    disk: 'scsi0',
    ciuser: 'debian',
    ipconfig: 'ip=dhcp',
    nameserver: '1.1.1.1',
    searchdomain: null,
    vmidStrategy: 'nextid',
    vmidMin: 10_000,
    vmidMax: 899_999,
    tlsFingerprint: null,
    caFile: null,
    taskTimeoutSeconds: 5,
    taskPollSeconds: 0.01,
    guestAgentTimeoutSeconds: 3,
    ...over,
  };
}

function job(id = 'a3f1c2d4-5b6e-4f70-8a9b-0c1d2e3f4a5b', over: Partial<ProvisionJob> = {}): ProvisionJob {
  return {
    contractId: id,
    offeringId: 'vps-m',
    providerPubkey: 'ab'.repeat(32),
    customerPubkey: 'cd'.repeat(32),
    poolId: 'pool-1',
    sshPubkey: SSH_KEY,
    instanceConfig: { hostname: 'web-1', cpu_cores: 8 },
    provisionerConfig: { cores: 2, memory_mb: 2048, disk_gb: 20 },
    ...over,
  };
}

const signal = () => AbortSignal.timeout(20_000);

/** The contract's teardown, with whatever details its provision recorded. */
function teardown(j: ProvisionJob, instanceDetails: Record<string, unknown> | null = null): TeardownJob {
  return { ...j, instanceDetails, why: 'teardown' };
}

function detailsOf(out: ProvisionOutcome): Record<string, unknown> {
  assert.equal(out.kind, 'provisioned');
  return (out as Extract<ProvisionOutcome, { kind: 'provisioned' }>).details;
}

describe('proxmox provisioner', () => {
  let pve: FakePve;
  before(async () => {
    pve = new FakePve();
    await pve.listen();
  });
  after(async () => {
    await pve.close();
  });

  test('full path: clone, cloud-init, CPU/memory from the offering, resize, start, guest agent addresses; every request valid', async () => {
    const p = new ProxmoxProvisioner(cfgFor(pve), quiet);
    const out = await p.provision(job(), signal());
    assert.equal(out.kind, 'provisioned');
    const vms = pve.guests();
    assert.equal(vms.length, 1);
    const vm = vms[0]!;
    const d = detailsOf(out);
    assert.equal(d.vmid, vm.vmid);
    assert.equal(d.node, 'pve1');
    assert.deepEqual(d.ipv4, [`10.0.0.${vm.vmid % 250}`]);
    assert.deepEqual(d.ipv6, [`2001:db8::${vm.vmid.toString(16)}`], 'link-local and loopback addresses are left out');
    assert.equal(d.ssh_user, 'debian');
    assert.equal(vm.status, 'running');
    assert.equal(vm.name, `dc-${job().contractId}-web-1`, "the name starts with the contract's tag, then the customer's hostname");
    assert.equal(d.name, vm.name);
    assert.equal(d.host_scope, `pve1@${new URL(pve.url).host}`, 'the node as reached through this API');
    // offering values win over the customer's instance_config (cpu_cores 8)
    assert.equal(vm.config.cores, '2');
    assert.equal(vm.config.memory, '2048');
    assert.match(String(vm.config.scsi0), /size=20G/);
    assert.equal(vm.config.ciuser, 'debian');
    assert.equal(vm.config.ipconfig0, 'ip=dhcp');
    assert.equal(vm.config.net0, 'virtio=BC:24:11:00:00:01,bridge=vmbr1', 'the NIC keeps its MAC and moves to the configured bridge');
    assert.match(String(vm.config.tags), new RegExp(contractTag(job().contractId)));
    assert.match(String(vm.config.description), /dc-contract: a3f1c2d4-5b6e-4f70-8a9b-0c1d2e3f4a5b/);
    // PVE wants sshkeys URL-encoded inside the form-encoded body: decoding once more gives the key.
    assert.match(String(vm.config.sshkeys), /^[-%a-zA-Z0-9_.!~*'()]*$/);
    assert.equal(decodeURIComponent(String(vm.config.sshkeys)), SSH_KEY + '\n');
    // every step waited for its task
    for (const t of pve.tasks.values()) assert.equal(t.applied, true, `task ${t.type} finished`);
    assert.ok(pve.count('GET', '/nodes/{node}/tasks/{upid}/status') >= 4);
    assert.equal(pve.count('POST', '/nodes/{node}/qemu/{vmid}/clone'), 1);
    assert.deepEqual(pve.violations, []);

    // terminate removes it (stop, then delete with purge)
    assert.deepEqual(await p.terminate(teardown(job(), d), signal()), { kind: 'terminated' });
    assert.equal(pve.guests().length, 0);
    const del = pve.requests.find((r) => r.method === 'DELETE');
    assert.equal(del?.params.purge, '1');
    assert.deepEqual(pve.violations, []);
  });

  test('a failed clone task fails the provision with the task log and leaves no VM behind', async () => {
    pve.failNextClone = "clone failed: storage 'local-lvm' is full";
    const p = new ProxmoxProvisioner(cfgFor(pve), quiet);
    const before = pve.requests.length;
    await assert.rejects(p.provision(job('b0000000-0000-4000-8000-000000000001'), signal()), (err: Error) => {
      assert.match(err.message, /clone of template 9000 to VM \d+ failed: clone failed: storage 'local-lvm' is full/);
      assert.match(err.message, /task log: .*TASK ERROR/);
      return true;
    });
    assert.equal(pve.guests().length, 0, 'the half-created VM was removed');
    const after = pve.requests.slice(before);
    assert.ok(after.some((r) => r.method === 'DELETE' && r.template === '/nodes/{node}/qemu/{vmid}'), 'cleanup deleted the VM');
    assert.ok(!after.some((r) => r.template === '/nodes/{node}/qemu/{vmid}/status/start'), 'never started');
    assert.deepEqual(pve.violations, []);
  });

  test("error_class: a template or os_image the contract asks for that does not exist is the contract's fault; the agent's own template is the agent's", async () => {
    const p = new ProxmoxProvisioner(cfgFor(pve), quiet);
    const id = 'b0000000-0000-4000-8000-0000000000e1';
    // The customer asks for an image the offering does not offer.
    await assert.rejects(p.provision(job(id, { instanceConfig: { os_image: 'arch' }, provisionerConfig: { templates: { 'debian-12': 9000 } } }), signal()), (err: Error) => {
      assert.ok(err instanceof ContractInputError, err.message);
      assert.equal(errorClassOf(err), 'contract');
      assert.match(err.message, /os_image "arch" is not offered \(known: debian-12\)/);
      return true;
    });
    // The offering maps the image (or names a template) that this node does not have.
    for (const provisionerConfig of [{ templates: { 'debian-12': 9100 } }, { template_vmid: 9100 }]) {
      await assert.rejects(p.provision(job(id, { instanceConfig: { os_image: 'debian-12' }, provisionerConfig }), signal()), (err: Error) => {
        assert.equal(errorClassOf(err), 'contract', err.message);
        assert.match(err.message, /template 9100, which the offering names for this contract, does not exist on node pve1/);
        return true;
      });
    }
    // The agent's own template_vmid missing is this host's problem: it counts against the agent.
    const own = new ProxmoxProvisioner(cfgFor(pve, { templateVmid: 9200 }), quiet);
    await assert.rejects(own.provision(job(id, { instanceConfig: {}, provisionerConfig: {} }), signal()), (err: Error) => {
      assert.equal(errorClassOf(err), 'agent', err.message);
      assert.match(err.message, /does not exist/);
      return true;
    });
    assert.equal(pve.guests().length, 0);
    assert.deepEqual(pve.violations, []);
  });

  test('a guest agent that answers late: polled until it reports an address', async () => {
    pve.guestAgentLateCalls = 4;
    try {
      const p = new ProxmoxProvisioner(cfgFor(pve), quiet);
      const before = pve.requests.length;
      const out = await p.provision(job('c0000000-0000-4000-8000-000000000002', { instanceConfig: null }), signal());
      assert.equal(out.kind, 'provisioned');
      const polls = pve.requests.slice(before).filter((r) => r.template === '/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces').length;
      assert.equal(polls, 5, 'four "not running" answers, then the addresses');
      assert.equal(detailsOf(out).name, 'dc-c0000000-0000-4000-8000-000000000002', 'without a hostname the name is the tag');
      await p.terminate(teardown(job('c0000000-0000-4000-8000-000000000002')), signal());
    } finally {
      pve.guestAgentLateCalls = 0;
    }
    assert.deepEqual(pve.violations, []);
  });

  test('a guest agent that never answers fails the provision and removes the VM', async () => {
    pve.guestAgentLateCalls = 1_000_000;
    try {
      const p = new ProxmoxProvisioner(cfgFor(pve, { guestAgentTimeoutSeconds: 0.3 }), quiet);
      await assert.rejects(p.provision(job('d0000000-0000-4000-8000-000000000003'), signal()), /guest agent gave no address within 0.3 s \(.*QEMU guest agent is not running\)/);
      assert.equal(pve.guests().length, 0, 'stopped and deleted');
    } finally {
      pve.guestAgentLateCalls = 0;
    }
    assert.deepEqual(pve.violations, []);
  });

  test('re-running after a crash mid-clone finds the VM by its contract tag and finishes it without a second clone', async () => {
    const id = 'e0000000-0000-4000-8000-000000000004';
    const crash = new AbortController();
    pve.onRequest = (r) => {
      // The agent dies while the clone task is still running.
      if (r.template === '/nodes/{node}/tasks/{upid}/status') crash.abort(new Error('agent crashed'));
    };
    const clonesBefore = pve.count('POST', '/nodes/{node}/qemu/{vmid}/clone');
    const first = new ProxmoxProvisioner(cfgFor(pve), quiet);
    await assert.rejects(first.provision(job(id), crash.signal), (err: unknown) => isAbortError(err));
    pve.onRequest = null;
    assert.equal(pve.guests().length, 1, 'the crashed run left a VM');

    const second = new ProxmoxProvisioner(cfgFor(pve), quiet);
    const out = await second.provision(job(id), signal());
    assert.equal(out.kind, 'provisioned');
    assert.equal(pve.count('POST', '/nodes/{node}/qemu/{vmid}/clone') - clonesBefore, 1, 'cloned once in all');
    assert.equal(pve.guests().length, 1);
    assert.equal(pve.guests()[0]!.status, 'running');

    // And once more (a third run after success) changes nothing and starts nothing twice.
    const starts = pve.count('POST', '/nodes/{node}/qemu/{vmid}/status/start');
    const again = await new ProxmoxProvisioner(cfgFor(pve), quiet).provision(job(id), signal());
    assert.deepEqual(again, out);
    assert.equal(pve.count('POST', '/nodes/{node}/qemu/{vmid}/status/start'), starts);
    assert.equal(pve.guests().length, 1);
    await second.terminate(teardown(job(id)), signal());
    assert.deepEqual(pve.violations, []);
  });

  test('derived VMIDs are stable per contract and probe past taken ones', async () => {
    const id = 'f0000000-0000-4000-8000-000000000005';
    const want = derivedVmid(id, 10_000, 10_009);
    pve.vms.set(want, { vmid: want, name: 'someone-else', status: 'stopped', template: false, config: { name: 'someone-else', scsi0: 'local-lvm:vm-x,size=1G' } });
    const p = new ProxmoxProvisioner(cfgFor(pve, { vmidStrategy: 'derived', vmidMin: 10_000, vmidMax: 10_009 }), quiet);
    const out = await p.provision(job(id), signal());
    const vmid = detailsOf(out).vmid;
    assert.equal(vmid, want === 10_009 ? 10_000 : want + 1);
    await p.terminate(teardown(job(id)), signal());
    pve.vms.delete(want);
    assert.deepEqual(pve.violations, []);
  });

  test('teardown goes by tag only: a recorded VMID that now belongs to another VM is never touched', async () => {
    const id = 'a1000000-0000-4000-8000-000000000006';
    const p = new ProxmoxProvisioner(cfgFor(pve), quiet);
    const d = detailsOf(await p.provision(job(id), signal()));
    const oldVmid = Number(d.vmid);
    // The VM went away by hand; Proxmox gave its VMID to a customer's VM of another contract.
    pve.vms.delete(oldVmid);
    const otherId = 'b1000000-0000-4000-8000-000000000007';
    pve.vms.set(oldVmid, {
      vmid: oldVmid, name: `dc-${otherId}`, status: 'running', template: false,
      config: { name: `dc-${otherId}`, tags: `dc-${otherId}`, scsi0: `local-lvm:vm-${oldVmid}-disk-0,size=8G` },
    });
    const before = pve.requests.length;
    assert.deepEqual(await p.terminate(teardown(job(id), d), signal()), { kind: 'terminated' }, 'nothing tagged for it: already gone');
    assert.equal(pve.vms.get(oldVmid)?.status, 'running', "the other contract's VM is untouched");
    const touched = pve.requests.slice(before).filter((r) => r.params.vmid === String(oldVmid));
    assert.deepEqual(touched, [], 'no request named that VMID');

    // A VM tagged for the contract (wherever it lives) is stopped and deleted; the other stays.
    const again = detailsOf(await p.provision(job(id), signal()));
    assert.notEqual(again.vmid, oldVmid);
    const mark = pve.requests.length;
    await p.terminate(teardown(job(id), d), signal());
    const calls = pve.requests.slice(mark).filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.template} ${r.params.vmid}`);
    assert.deepEqual(calls, [`POST /nodes/{node}/qemu/{vmid}/status/stop ${again.vmid}`, `DELETE /nodes/{node}/qemu/{vmid} ${again.vmid}`]);
    assert.equal(pve.vms.has(Number(again.vmid)), false);
    assert.equal(pve.vms.get(oldVmid)?.status, 'running');
    pve.vms.delete(oldVmid);
    assert.deepEqual(pve.violations, []);
  });

  test('a clone cut off before its tags were set is still found by its name, and torn down', async () => {
    const id = 'c1000000-0000-4000-8000-000000000008';
    const crash = new AbortController();
    pve.onRequest = (r) => {
      if (r.template === '/nodes/{node}/tasks/{upid}/status') crash.abort(new Error('agent crashed'));
    };
    await assert.rejects(new ProxmoxProvisioner(cfgFor(pve), quiet).provision(job(id, { instanceConfig: null }), crash.signal), (err: unknown) => isAbortError(err));
    pve.onRequest = null;
    const left = pve.guests().filter((v) => v.name === `dc-${id}`);
    assert.equal(left.length, 1);
    assert.equal(left[0]!.config.tags, undefined, 'not tagged yet');
    const p = new ProxmoxProvisioner(cfgFor(pve), quiet);
    assert.deepEqual(await p.inventory(signal()), [id]);
    await p.terminate(teardown(job(id)), signal());
    assert.equal(pve.guests().length, 0);
    assert.deepEqual(pve.violations, []);
  });

  test("inventory: the contracts of the node's VMs with a dc- contract tag, nothing else", async () => {
    const p = new ProxmoxProvisioner(cfgFor(pve, { hostScope: 'cluster-a' }), quiet);
    assert.equal(p.hostScope, 'cluster-a');
    const ids = ['d1000000-0000-4000-8000-000000000009', 'e1000000-0000-4000-8000-00000000000a'];
    for (const id of ids) await p.provision(job(id, { instanceConfig: null }), signal());
    pve.vms.set(777, { vmid: 777, name: 'provider-own', status: 'running', template: false, config: { name: 'provider-own', tags: 'dc-prod;web', scsi0: 'x,size=1G' } });
    assert.deepEqual(await p.inventory(signal()), ids, "the template and the provider's own dc-prod tag are not contracts");
    pve.vms.delete(777);
    for (const id of ids) await p.terminate(teardown(job(id)), signal());
    assert.deepEqual(await p.inventory(signal()), []);
    assert.deepEqual(pve.violations, []);
  });

  test('doctor check: version and template', async () => {
    const p = new ProxmoxProvisioner(cfgFor(pve), quiet);
    assert.match(await p.check(signal()), /Proxmox VE 8.2.4, node pve1, template 9000/);
    await assert.rejects(new ProxmoxProvisioner(cfgFor(pve, { templateVmid: 4242 }), quiet).check(signal()), /template 4242 on node pve1/);
  });
});

describe('proxmox API schema validator', () => {
  const v = new PveValidator(loadPveSchema());
  test('accepts what the provisioner sends and rejects what PVE would', () => {
    assert.deepEqual(v.validate('POST', '/nodes/pve1/qemu/9000/clone', { newid: '105', name: 'web-1', full: '1' }).problems, []);
    assert.deepEqual(v.validate('POST', '/nodes/pve1/qemu/105/config', { net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0', agent: 'enabled=1', memory: '2048', ipconfig0: 'ip=10.0.0.5/24,gw=10.0.0.1' }).problems, []);
    const bad = [
      v.validate('POST', '/nodes/pve1/qemu/9000/clone', { name: 'web-1' }).problems, // newid missing
      v.validate('POST', '/nodes/pve1/qemu/9000/clone', { newid: '99', full: '1' }).problems, // below 100
      v.validate('POST', '/nodes/pve1/qemu/9000/clone', { newid: '105', colour: 'red' }).problems, // unknown
      v.validate('POST', '/nodes/pve1/qemu/105/config', { sshkeys: SSH_KEY }).problems, // not urlencoded
      v.validate('POST', '/nodes/pve1/qemu/105/config', { net0: 'virtio,bridge=vmbr0,speed=fast' }).problems, // sub-key
      v.validate('PUT', '/nodes/pve1/qemu/105/resize', { disk: 'hda9', size: '20G' }).problems, // enum
      v.validate('PUT', '/nodes/pve1/qemu/105/resize', { disk: 'scsi0', size: 'twenty' }).problems, // pattern
      v.validate('POST', '/nodes/pve1/qemu/105/config', { ipconfig0: 'ip=10.0.0.5' }).problems, // no CIDR
      v.validate('GET', '/nodes/pve1/qemu/105/nothing', {}).problems,
      v.validate('PATCH', '/nodes/pve1/qemu/105/config', {}).problems,
    ];
    for (const [i, problems] of bad.entries()) assert.ok(problems.length > 0, `case ${i} is rejected`);
  });
});

test('helpers: sshkeys encoding, disk sizes', () => {
  assert.equal(encodeSshKeys("a b+c/d=e!'()*\n"), 'a%20b%2Bc%2Fd%3De%21%27%28%29%2A%0A');
  assert.equal(diskSizeGb('local-lvm:vm-1-disk-0,size=32G'), 32);
  assert.equal(diskSizeGb('local:vm-1-disk-0.qcow2,cache=none,size=2T'), 2048);
  assert.equal(diskSizeGb('local:x,size=512M'), 0.5);
  assert.equal(diskSizeGb('local:x'), null);
});

describe('proxmox over TLS', { skip: hasCommand('openssl') ? false : 'openssl (to make a test certificate) is not installed' }, () => {
  let dir: string;
  let tls: { key: string; cert: string };
  let fingerprint: string;
  before(() => {
    dir = tempDir();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=pve1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    fingerprint = new X509Certificate(tls.cert).fingerprint256;
  });
  after(() => cleanup(dir));

  test('a pinned fingerprint is trusted; another fingerprint is refused before any request is sent', async () => {
    const pve = new FakePve({ tls });
    await pve.listen();
    try {
      const ok = new ProxmoxProvisioner(cfgFor(pve, { tlsFingerprint: fingerprint }), quiet);
      assert.match(await ok.check(signal()), /Proxmox VE/);
      const n = pve.requests.length;
      const wrongFp = createHash('sha256').update('not the cert').digest('hex').toUpperCase().match(/.{2}/g)!.join(':');
      const bad = new ProxmoxProvisioner(cfgFor(pve, { tlsFingerprint: wrongFp }), quiet);
      await assert.rejects(bad.check(signal()), /fingerprint .* does not match the pinned/);
      assert.equal(pve.requests.length, n, 'the token never reached the impostor');
      // Without a pin or CA, the self-signed certificate is refused.
      await assert.rejects(new ProxmoxProvisioner(cfgFor(pve), quiet).check(signal()), /self.signed|certificate/i);
      // A CA file works too.
      const withCa = new ProxmoxProvisioner(cfgFor(pve, { caFile: join(dir, 'cert.pem') }), quiet);
      assert.match(await withCa.check(signal()), /Proxmox VE/);
      assert.deepEqual(pve.violations, []);
    } finally {
      await pve.close();
    }
  });
});
