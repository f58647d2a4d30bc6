// The proxmox provisioner's module: its `[provisioner.proxmox]` settings, what setup writes and
// prints for them, and the factory (the work itself is in provisioner.ts, the PVE API in client.ts).
import { ConfigError } from '../../errors.js';
import { PLACEHOLDER, tomlString, type Reader } from '../../config-reader.js';
import { readHostScope } from '../identity.js';
import type { ProvisionerModule } from '../types.js';
import { ProxmoxProvisioner } from './provisioner.js';

export interface ProxmoxConfig {
  apiUrl: string;
  apiTokenId: string;
  apiTokenSecret: string;
  node: string;
  templateVmid: number;
  storage: string | null;
  bridge: string | null;
  pool: string | null;
  fullClone: boolean;
  disk: string;
  ciuser: string | null;
  ipconfig: string;
  nameserver: string | null;
  searchdomain: string | null;
  vmidStrategy: 'nextid' | 'derived';
  vmidMin: number;
  vmidMax: number;
  tlsFingerprint: string | null;
  caFile: string | null;
  taskTimeoutSeconds: number;
  taskPollSeconds: number;
  guestAgentTimeoutSeconds: number;
  /** Overrides the default host_scope (node@api-host), e.g. with the cluster's name. */
  hostScope?: string | null;
}

function readProxmoxConfig(p: Reader): ProxmoxConfig {
  const x = p.section('proxmox');
  const cfg: ProxmoxConfig = {
    apiUrl: x.url('api_url', { required: true, hint: 'e.g. https://pve1.example.net:8006' })!,
    apiTokenId: x.reqStr('api_token_id', { pattern: /^[^\s@!=]+@[^\s@!=]+![A-Za-z][A-Za-z0-9._-]*$/, hint: 'USER@REALM!TOKENID, e.g. dc-agent@pve!provisioning' }),
    apiTokenSecret: x.reqStr('api_token_secret', { pattern: /^[^\s=]+$/, hint: "the API token's secret" }),
    node: x.reqStr('node', { pattern: /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, hint: 'the Proxmox node name, e.g. pve1' }),
    templateVmid: x.num('template_vmid', { dflt: 0, min: 100, max: 999_999_999 }),
    storage: x.str('storage', { pattern: /^[a-z][a-z0-9._-]*$/i, hint: 'a storage id such as local-lvm' }),
    bridge: x.str('bridge', { pattern: /^[a-zA-Z][a-zA-Z0-9_.-]*$/, hint: 'a bridge such as vmbr0' }),
    pool: x.str('pool', { pattern: /^[A-Za-z0-9_.-]+$/, hint: 'a Proxmox pool id' }),
    fullClone: x.bool('full_clone', true),
    disk: x.str('disk', { dflt: 'scsi0', pattern: /^(scsi|virtio|sata|ide)\d+$/, hint: 'a disk such as scsi0' })!,
    ciuser: x.str('ciuser', { pattern: /^[a-z_][a-z0-9_-]*$/, hint: 'a user name' }),
    ipconfig: x.str('ipconfig', { dflt: 'ip=dhcp', pattern: /^[a-z0-9]+=[^,\s]+(,[a-z0-9]+=[^,\s]+)*$/, hint: 'e.g. ip=dhcp or ip=10.0.0.5/24,gw=10.0.0.1' })!,
    nameserver: x.str('nameserver'),
    searchdomain: x.str('searchdomain'),
    vmidStrategy: x.oneOf('vmid_strategy', ['nextid', 'derived'] as const, 'nextid'),
    vmidMin: x.num('vmid_min', { dflt: 10_000, min: 100, max: 999_999_999 }),
    vmidMax: x.num('vmid_max', { dflt: 899_999, min: 100, max: 999_999_999 }),
    tlsFingerprint: x.str('tls_fingerprint', { pattern: /^([0-9A-Fa-f]{2}:?){32}$/, hint: 'the SHA-256 fingerprint shown by Proxmox, AA:BB:…' }),
    caFile: x.path('ca_file'),
    taskTimeoutSeconds: x.num('task_timeout_seconds', { dflt: 600, min: 1, max: 86_400, integer: false }),
    taskPollSeconds: x.num('task_poll_seconds', { dflt: 1, min: 0.01, max: 60, integer: false }),
    guestAgentTimeoutSeconds: x.num('guest_agent_timeout_seconds', { dflt: 300, min: 0, max: 86_400, integer: false }),
    hostScope: readHostScope(x),
  };
  if (cfg.templateVmid === 0) throw new ConfigError('provisioner.proxmox.template_vmid is required (the VMID of the cloud-init template to clone).', 'provisioner.proxmox.template_vmid');
  if (cfg.vmidMin > cfg.vmidMax) throw new ConfigError('provisioner.proxmox.vmid_min must not be greater than vmid_max.', 'provisioner.proxmox.vmid_min');
  if (new URL(cfg.apiUrl).protocol !== 'https:') throw new ConfigError('provisioner.proxmox.api_url must use https (the API token travels in every request).', 'provisioner.proxmox.api_url');
  x.noOthers();
  return cfg;
}

export const proxmoxProvisioner: ProvisionerModule<'proxmox', ProxmoxConfig> = {
  type: 'proxmox',
  readConfig: readProxmoxConfig,
  configTemplate: [
    `[provisioner.proxmox]`,
    `api_url = "https://${PLACEHOLDER}:8006"`,
    `api_token_id = "dc-agent@pve!${PLACEHOLDER}"`,
    `api_token_secret = ${tomlString(PLACEHOLDER)}`,
    `node = ${tomlString(PLACEHOLDER)}`,
    `template_vmid = 0  # the VMID of the cloud-init template to clone`,
    `storage = "local-lvm"`,
    `bridge = "vmbr0"`,
    `# pool = "dc-vms"`,
    `# ciuser = "ubuntu"`,
    `ipconfig = "ip=dhcp"`,
    `# Trust the node's self-signed certificate by its SHA-256 fingerprint, or a CA file:`,
    `# tls_fingerprint = "AA:BB:…"`,
    `# ca_file = "/etc/pve/pve-root-ca.pem"`,
    `# Agents with the same host_scope may tear down each other's VMs (default: node@api host).`,
    `# host_scope = "cluster-a"`,
  ],
  nextSteps: [
    `api_url           your node's API, e.g. https://pve1.example.net:8006`,
    `api_token_id      an API token, USER@REALM!TOKENID (Datacenter → Permissions → API Tokens)`,
    `api_token_secret  that token's secret`,
    `node              the node name, e.g. pve1`,
    `template_vmid     the VMID of the cloud-init template to clone`,
    `storage, bridge   where disks go and which bridge NICs join`,
    `tls_fingerprint   or ca_file, unless the node has a publicly trusted certificate`,
  ],
  create: (cfg, log) => new ProxmoxProvisioner(cfg, log),
};
