// The Proxmox provisioner: clone a cloud-init template, set user, SSH key, network, CPU and memory,
// grow the disk, start, wait for every task, and read the guest agent's addresses. Each VM carries
// its contract: the tag `dc-<contract_id>`, and a name that starts with it (set by the clone itself,
// before the tag can be). A re-run for the same contract (a restarted agent resuming its lease)
// finds and finishes that VM instead of cloning a second one; teardown and inventory find VMs the
// same way, never by a VMID (Proxmox reuses them).
import { createHash } from 'node:crypto';
import type { ProxmoxConfig } from './index.js';
import type { Logger } from '../../log.js';
import { isAbortError, sleep } from '../../util.js';
import { contractOfName, contractOfTag, contractTag, inventoryOf } from '../identity.js';
import { ContractInputError, ProvisionError, type ProvisionJob, type ProvisionOutcome, type Provisioner, type TeardownJob, type TeardownOutcome } from '../types.js';
import { PveClient, PveError } from './client.js';

/** Retries of a clone whose VMID another client took between nextid and clone. */
const CLONE_ATTEMPTS = 4;
/** Probes past a derived VMID that is taken by someone else's VM. */
const DERIVED_PROBES = 32;
/** A VM name is the guest's hostname (cloud-init): one DNS label. */
const NAME_MAX = 63;

export { contractTag };

export interface VmSpec {
  name: string;
  tag: string;
  marker: string;
  templateVmid: number;
  /**
   * Who chose the template: the agent's own template_vmid, or the contract (the offering's
   * template_vmid, or its `templates` entry for the requested os_image). A template the contract
   * chose that does not exist is the contract's fault (error_class `contract`), not this host's.
   */
  templateFrom: 'agent' | 'contract';
  cores: number | null;
  memoryMb: number | null;
  diskGb: number | null;
  sshKeys: string | null;
}

interface VmListItem {
  vmid: number | string;
  name?: string;
  tags?: string;
  status?: string;
  template?: number | boolean;
}

/** The VM's name: the contract's tag, then the customer's hostname when it asked for one. */
export function vmName(contractId: string, hostname: string | null): string {
  const tag = contractTag(contractId);
  const host = (hostname ?? '').toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return host ? `${tag}-${host}`.slice(0, NAME_MAX).replace(/-+$/, '') : tag;
}

function tagsOf(v: { tags?: unknown }): string[] {
  return String(v.tags ?? '')
    .split(/[;, ]/)
    .filter(Boolean);
}

/** Whether a listed VM is the contract's: its tag, or (a clone cut off before tagging) its name. */
function carries(v: VmListItem, tag: string): boolean {
  return !v.template && (tagsOf(v).includes(tag) || v.name === tag || (v.name ?? '').startsWith(`${tag}-`));
}

/** The contract a listed VM belongs to, by the same marks. */
function contractOfVm(v: VmListItem): string | null {
  if (v.template) return null;
  for (const t of tagsOf(v)) {
    const id = contractOfTag(t);
    if (id) return id;
  }
  return contractOfName(v.name ?? '');
}

/** A stable VMID in [min, max] for a contract (vmid_strategy = "derived"). */
export function derivedVmid(contractId: string, min: number, max: number): number {
  const h = createHash('sha256').update(contractId).digest();
  return min + (h.readUIntBE(0, 6) % (max - min + 1));
}

/** The value PVE's `urlencoded` format wants: RFC 3986 percent-encoding (it is form-encoded again on the wire). */
export function encodeSshKeys(keys: string): string {
  return encodeURIComponent(keys).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function positiveInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null;
}

/** Size of a disk entry such as "local-lvm:vm-105-disk-0,size=32G", in GiB. */
export function diskSizeGb(entry: string | undefined): number | null {
  const m = entry ? /(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)/.exec(entry) : null;
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? '';
  const factor = unit === 'T' ? 1024 : unit === 'G' ? 1 : unit === 'M' ? 1 / 1024 : unit === 'K' ? 1 / 1024 ** 2 : 1 / 1024 ** 3;
  return n * factor;
}

export class ProxmoxProvisioner implements Provisioner {
  readonly type = 'proxmox' as const;
  readonly hostScope: string;
  private readonly pve: PveClient;
  private readonly nodePath: string;

  constructor(
    private readonly cfg: ProxmoxConfig,
    private readonly log: Logger,
    pve?: PveClient,
  ) {
    this.pve =
      pve ??
      new PveClient({ apiUrl: cfg.apiUrl, tokenId: cfg.apiTokenId, tokenSecret: cfg.apiTokenSecret, tlsFingerprint: cfg.tlsFingerprint, caFile: cfg.caFile });
    this.nodePath = `/nodes/${encodeURIComponent(cfg.node)}`;
    // By default, the node as reached through this API: agents configured alike see the same VMs.
    this.hostScope = cfg.hostScope ?? `${cfg.node}@${new URL(cfg.apiUrl).host}`;
  }

  /** The VM a contract asks for: offering values (provisioner_config) first, then the customer's instance_config. */
  spec(job: ProvisionJob): VmSpec {
    const pc = job.provisionerConfig ?? {};
    const ic = job.instanceConfig ?? {};
    const osImage = typeof ic.os_image === 'string' ? ic.os_image : null;
    const templates = typeof pc.templates === 'object' && pc.templates !== null ? (pc.templates as Record<string, unknown>) : {};
    const offered = positiveInt(pc.template_vmid);
    let templateVmid = offered ?? this.cfg.templateVmid;
    let templateFrom: VmSpec['templateFrom'] = offered === null ? 'agent' : 'contract';
    if (osImage !== null) {
      const t = positiveInt(templates[osImage]);
      if (t === null && Object.keys(templates).length > 0) throw new ContractInputError(`os_image "${osImage}" is not offered (known: ${Object.keys(templates).join(', ')})`);
      if (t !== null) {
        templateVmid = t;
        templateFrom = 'contract';
      }
    }
    const hostname = typeof ic.hostname === 'string' ? ic.hostname : null;
    return {
      name: vmName(job.contractId, hostname),
      tag: contractTag(job.contractId),
      marker: `dc-contract: ${job.contractId}`,
      templateVmid,
      templateFrom,
      cores: positiveInt(pc.cores) ?? positiveInt(pc.cpu_cores) ?? positiveInt(ic.cpu_cores),
      memoryMb: positiveInt(pc.memory_mb) ?? positiveInt(ic.memory_mb),
      diskGb: positiveInt(pc.disk_gb) ?? positiveInt(ic.disk_gb),
      sshKeys: job.sshPubkey,
    };
  }

  async provision(job: ProvisionJob, signal: AbortSignal): Promise<ProvisionOutcome> {
    const spec = this.spec(job);
    const log = this.log.child({ contract_id: job.contractId });
    let vmid = (await this.findVms(spec.tag, signal))[0] ?? null;
    if (vmid !== null) log.info('proxmox.resume', `VM ${vmid} already exists for this contract; finishing it`, { vmid });
    try {
      if (vmid === null) {
        vmid = await this.cloneNew(job.contractId, spec, signal);
        log.info('proxmox.cloned', `cloned template ${spec.templateVmid} to VM ${vmid}`, { vmid });
      }
      const config = await this.waitUnlocked(vmid, signal);
      await this.configure(vmid, spec, config, signal);
      await this.resize(vmid, spec, config, signal);
      await this.start(vmid, signal);
      const addresses = await this.addresses(vmid, signal);
      log.info('proxmox.ready', `VM ${vmid} is running`, { vmid, ...addresses });
      return {
        kind: 'provisioned',
        details: {
          provisioner: 'proxmox',
          host_scope: this.hostScope,
          node: this.cfg.node,
          vmid,
          name: spec.name,
          hostname: spec.name,
          ipv4: addresses.ipv4,
          ipv6: addresses.ipv6,
          ...(this.cfg.ciuser ? { ssh_user: this.cfg.ciuser } : {}),
          ...(spec.cores ? { cpu_cores: spec.cores } : {}),
          ...(spec.memoryMb ? { memory_mb: spec.memoryMb } : {}),
          ...(spec.diskGb ? { disk_gb: spec.diskGb } : {}),
        },
      };
    } catch (err) {
      // An abort means the lease is gone or the agent stops: the daemon tears down (terminate).
      if (isAbortError(err) || vmid === null) throw wrap(err);
      log.warn('proxmox.cleanup', `provisioning VM ${vmid} failed; removing the half-created VM`, { vmid, error: (err as Error).message });
      await this.destroy(vmid, AbortSignal.timeout(this.cfg.taskTimeoutSeconds * 1000)).catch((e: Error) =>
        log.error('proxmox.cleanup_failed', `could not remove VM ${vmid}: ${e.message}; remove it by hand`, { vmid }),
      );
      throw wrap(err);
    }
  }

  /** Stops and deletes every VM carrying the contract's tag; instance_details' vmid is never used. */
  async terminate(job: TeardownJob, signal: AbortSignal): Promise<TeardownOutcome> {
    const tag = contractTag(job.contractId);
    for (const vmid of await this.findVms(tag, signal)) {
      this.log.info('proxmox.terminate', `removing VM ${vmid} (tagged ${tag})`, { contract_id: job.contractId, vmid });
      await this.waitUnlocked(vmid, signal);
      await this.destroy(vmid, signal, { onlyIfExists: true });
    }
    return { kind: 'terminated' };
  }

  /** The contracts of the VMs on this node that carry a contract tag. */
  async inventory(signal: AbortSignal): Promise<string[]> {
    const vms = await this.pve.get<VmListItem[]>(`${this.nodePath}/qemu`, {}, signal);
    return inventoryOf(vms.map(contractOfVm).filter((id): id is string => id !== null));
  }

  async check(signal: AbortSignal): Promise<string> {
    const v = await this.pve.get<{ version?: string; release?: string }>('/version', {}, signal);
    const cfg = await this.pve.get<Record<string, unknown>>(`${this.vmPath(this.cfg.templateVmid)}/config`, {}, signal).catch((err: Error) => {
      throw new ProvisionError(`template ${this.cfg.templateVmid} on node ${this.cfg.node}: ${err.message}`);
    });
    if (!cfg.template) throw new ProvisionError(`VM ${this.cfg.templateVmid} on node ${this.cfg.node} is not a template (provisioner.proxmox.template_vmid)`);
    return `Proxmox VE ${v.version ?? v.release ?? '?'}, node ${this.cfg.node}, template ${this.cfg.templateVmid}, host scope ${this.hostScope}`;
  }

  // ---- steps ----------------------------------------------------------------------------------

  private vmPath(vmid: number): string {
    return `${this.nodePath}/qemu/${vmid}`;
  }

  private taskOpts(what: string, signal: AbortSignal) {
    return { timeoutMs: this.cfg.taskTimeoutSeconds * 1000, pollMs: this.cfg.taskPollSeconds * 1000, signal, what };
  }

  /** The VMIDs of the VMs on this node that carry `tag` (lowest first). */
  async findVms(tag: string, signal: AbortSignal): Promise<number[]> {
    const vms = await this.pve.get<VmListItem[]>(`${this.nodePath}/qemu`, {}, signal);
    return vms
      .filter((v) => carries(v, tag))
      .map((v) => Number(v.vmid))
      .sort((a, b) => a - b);
  }

  private async cloneNew(contractId: string, spec: VmSpec, signal: AbortSignal): Promise<number> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < CLONE_ATTEMPTS; attempt++) {
      const newid = await this.pickVmid(contractId, signal);
      let upid: string;
      try {
        upid = await this.pve.post<string>(
          `${this.vmPath(spec.templateVmid)}/clone`,
          {
            newid,
            // The name marks the VM from the start: tags can only be set once the clone is done.
            name: spec.name,
            description: `${spec.marker}\nCreated by dc-agent; removing it by hand breaks the contract.`,
            full: this.cfg.fullClone,
            ...(this.cfg.fullClone && this.cfg.storage ? { storage: this.cfg.storage } : {}),
            ...(this.cfg.pool ? { pool: this.cfg.pool } : {}),
          },
          signal,
        );
      } catch (err) {
        // Someone took this VMID between nextid and clone: pick again.
        if (err instanceof PveError && /already exists/i.test(err.message)) {
          lastErr = err;
          continue;
        }
        if (spec.templateFrom === 'contract' && (await this.missing(spec.templateVmid, signal))) {
          throw new ContractInputError(`template ${spec.templateVmid}, which the offering names for this contract, does not exist on node ${this.cfg.node} (${(err as Error).message})`);
        }
        throw err;
      }
      try {
        await this.pve.waitTask(upid, this.taskOpts(`clone of template ${spec.templateVmid} to VM ${newid}`, signal));
      } catch (err) {
        if (!isAbortError(err)) {
          // A failed clone may leave a locked, empty VM behind.
          await this.destroy(newid, AbortSignal.timeout(this.cfg.taskTimeoutSeconds * 1000), { onlyIfExists: true }).catch(() => undefined);
        }
        throw err;
      }
      return newid;
    }
    throw lastErr;
  }

  private async pickVmid(contractId: string, signal: AbortSignal): Promise<number> {
    if (this.cfg.vmidStrategy === 'nextid') return Number(await this.pve.get<string | number>('/cluster/nextid', {}, signal));
    const start = derivedVmid(contractId, this.cfg.vmidMin, this.cfg.vmidMax);
    const span = this.cfg.vmidMax - this.cfg.vmidMin + 1;
    for (let i = 0; i < Math.min(DERIVED_PROBES, span); i++) {
      const candidate = this.cfg.vmidMin + ((start - this.cfg.vmidMin + i) % span);
      try {
        return Number(await this.pve.get<string | number>('/cluster/nextid', { vmid: candidate }, signal));
      } catch (err) {
        if (!(err instanceof PveError) || err.status !== 400) throw err; // 400: that VMID is taken
      }
    }
    throw new ProvisionError(`no free VMID near ${start} in [${this.cfg.vmidMin}, ${this.cfg.vmidMax}]`);
  }

  /** Whether PVE says there is no VM `vmid` on this node (any other answer, or none, is not proof). */
  private async missing(vmid: number, signal: AbortSignal): Promise<boolean> {
    try {
      await this.pve.get<Record<string, unknown>>(`${this.vmPath(vmid)}/config`, {}, signal);
      return false;
    } catch (err) {
      return err instanceof PveError && /does not exist/i.test(err.message);
    }
  }

  /** Reads the VM's config, waiting while a task (a clone from a crashed run) still holds its lock. */
  private async waitUnlocked(vmid: number, signal: AbortSignal): Promise<Record<string, unknown>> {
    const deadline = Date.now() + this.cfg.taskTimeoutSeconds * 1000;
    for (;;) {
      const cfg = await this.pve.get<Record<string, unknown>>(`${this.vmPath(vmid)}/config`, {}, signal);
      if (!cfg.lock) return cfg;
      if (Date.now() >= deadline) throw new ProvisionError(`VM ${vmid} is still locked (${String(cfg.lock)}) after ${this.cfg.taskTimeoutSeconds} s`);
      await sleep(this.cfg.taskPollSeconds * 1000, signal);
    }
  }

  private async configure(vmid: number, spec: VmSpec, current: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    const tags = new Set(String(current.tags ?? '').split(/[;, ]/).filter(Boolean));
    tags.add(spec.tag);
    const params: Record<string, string | number | boolean> = {
      tags: [...tags].join(';'),
      agent: 'enabled=1',
      ipconfig0: this.cfg.ipconfig,
    };
    if (spec.cores) params.cores = spec.cores;
    if (spec.memoryMb) params.memory = String(spec.memoryMb);
    if (this.cfg.ciuser) params.ciuser = this.cfg.ciuser;
    if (spec.sshKeys) params.sshkeys = encodeSshKeys(spec.sshKeys.trim() + '\n');
    if (this.cfg.nameserver) params.nameserver = this.cfg.nameserver;
    if (this.cfg.searchdomain) params.searchdomain = this.cfg.searchdomain;
    // Re-setting net0 would give the NIC a new MAC on every re-run: only when the bridge differs.
    const net0 = typeof current.net0 === 'string' ? current.net0 : '';
    if (this.cfg.bridge && !new RegExp(`(^|,)bridge=${this.cfg.bridge}(,|$)`).test(net0)) {
      const model = /^(virtio|e1000|rtl8139|vmxnet3)(=[0-9A-Fa-f:]+)?/.exec(net0)?.[0] ?? 'virtio';
      params.net0 = `${model},bridge=${this.cfg.bridge}`;
    }
    const r = await this.pve.post<unknown>(`${this.vmPath(vmid)}/config`, params, signal);
    await this.pve.maybeWait(r, this.taskOpts(`configuration of VM ${vmid}`, signal));
  }

  private async resize(vmid: number, spec: VmSpec, current: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    if (!spec.diskGb) return;
    const have = diskSizeGb(typeof current[this.cfg.disk] === 'string' ? (current[this.cfg.disk] as string) : undefined);
    if (have !== null && have >= spec.diskGb) return; // already grown (re-run), or the template is big enough
    const r = await this.pve.put<unknown>(`${this.vmPath(vmid)}/resize`, { disk: this.cfg.disk, size: `${spec.diskGb}G` }, signal);
    await this.pve.maybeWait(r, this.taskOpts(`resize of VM ${vmid} ${this.cfg.disk} to ${spec.diskGb}G`, signal));
  }

  private async start(vmid: number, signal: AbortSignal): Promise<void> {
    const st = await this.pve.get<{ status?: string }>(`${this.vmPath(vmid)}/status/current`, {}, signal);
    if (st.status === 'running') return;
    const upid = await this.pve.post<string>(`${this.vmPath(vmid)}/status/start`, {}, signal);
    await this.pve.maybeWait(upid, this.taskOpts(`start of VM ${vmid}`, signal));
  }

  /** Polls the guest agent until it reports a routable address (it answers 500 while booting). */
  private async addresses(vmid: number, signal: AbortSignal): Promise<{ ipv4: string[]; ipv6: string[] }> {
    if (this.cfg.guestAgentTimeoutSeconds === 0) return { ipv4: [], ipv6: [] };
    const deadline = Date.now() + this.cfg.guestAgentTimeoutSeconds * 1000;
    let last = 'no answer yet';
    for (;;) {
      try {
        const r = await this.pve.get<{ result?: GuestInterface[] }>(`${this.vmPath(vmid)}/agent/network-get-interfaces`, {}, signal);
        const a = routableAddresses(r.result ?? []);
        if (a.ipv4.length + a.ipv6.length > 0) return a;
        last = 'the guest agent reports no routable address yet';
      } catch (err) {
        if (!(err instanceof PveError) || err.status === 401 || err.status === 403) throw err;
        last = err.message;
      }
      if (Date.now() >= deadline) throw new ProvisionError(`VM ${vmid}: the guest agent gave no address within ${this.cfg.guestAgentTimeoutSeconds} s (${last})`);
      await sleep(Math.max(this.cfg.taskPollSeconds * 1000, 50), signal);
    }
  }

  /** Stops (if running) and deletes a VM with its disks. */
  async destroy(vmid: number, signal: AbortSignal, opts: { onlyIfExists?: boolean } = {}): Promise<void> {
    let st: { status?: string };
    try {
      st = await this.pve.get<{ status?: string }>(`${this.vmPath(vmid)}/status/current`, {}, signal);
    } catch (err) {
      if (opts.onlyIfExists && err instanceof PveError && err.status >= 400 && err.status < 600) return;
      throw err;
    }
    if (st.status === 'running') {
      const upid = await this.pve.post<string>(`${this.vmPath(vmid)}/status/stop`, {}, signal);
      await this.pve.maybeWait(upid, this.taskOpts(`stop of VM ${vmid}`, signal));
    }
    const upid = await this.pve.delete<string>(this.vmPath(vmid), { purge: true, 'destroy-unreferenced-disks': true }, signal);
    await this.pve.maybeWait(upid, this.taskOpts(`removal of VM ${vmid}`, signal));
  }
}

interface GuestInterface {
  name?: string;
  'ip-addresses'?: { 'ip-address'?: string; 'ip-address-type'?: string; prefix?: number }[];
}

export function routableAddresses(ifaces: GuestInterface[]): { ipv4: string[]; ipv6: string[] } {
  const ipv4: string[] = [];
  const ipv6: string[] = [];
  for (const i of ifaces) {
    if (i.name === 'lo') continue;
    for (const a of i['ip-addresses'] ?? []) {
      const ip = a['ip-address'];
      if (!ip) continue;
      if (a['ip-address-type'] === 'ipv4' && !ip.startsWith('127.') && !ip.startsWith('169.254.')) ipv4.push(ip);
      if (a['ip-address-type'] === 'ipv6' && ip !== '::1' && !/^fe80:/i.test(ip)) ipv6.push(ip);
    }
  }
  return { ipv4, ipv6 };
}

function wrap(err: unknown): unknown {
  return err instanceof PveError ? new ProvisionError(err.message) : err;
}
