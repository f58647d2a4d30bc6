// The agent's configuration file (spec "Config File Structure"): TOML, written by `setup`,
// completed by the provider, read by `run`, `doctor` and `status`. Every problem is a ConfigError
// whose message names the dotted key at fault.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { HEX_KEY_RE, HEX_SIG_RE, type ProvisionerType } from '@dc/core';
import { ConfigError } from './errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/dc-agent/config.toml';
/** What setup writes where a person must put a real value; `run` refuses to start while one is left. */
export const PLACEHOLDER = 'CHANGE-ME';

export interface AgentSection {
  apiUrl: string;
  providerPubkey: string;
  poolId: string;
  poolName: string | null;
  agentPubkey: string | null;
  label: string | null;
  /** The server key the delegation was verified against at setup. */
  serverKey: string | null;
  /** Sleep between polls when the API does not hold long-polls. */
  pollIntervalSeconds: number;
  /** Lease TTL assumed when the API does not say (lock_ttl_seconds in each item). */
  lockTimeoutSeconds: number;
  maxConcurrent: number;
  /** How long a claim long-poll may be held by the API. */
  claimWaitSeconds: number;
  /** After SIGTERM, how long running provisions may take to finish before they are released. */
  shutdownGraceSeconds: number;
  /** Cap of the back-off between retries when the API is unreachable. */
  maxBackoffSeconds: number;
  stateFile: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

export interface DelegationSection {
  issuedAt: string;
  permissions: string[];
  signature: string;
}

export interface ScriptConfig {
  command: string;
  /** The unprivileged user the script runs as when the agent runs as root. */
  user: string;
  timeoutSeconds: number;
  /** Extra, provider-chosen environment for the script (never customer data). */
  env: Record<string, string>;
}

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
}

export interface ManualConfig {
  webhookUrl: string | null;
  webhookTimeoutSeconds: number;
}

export type ProvisionerConfig =
  | { type: 'script'; script: ScriptConfig }
  | { type: 'proxmox'; proxmox: ProxmoxConfig }
  | { type: 'manual'; manual: ManualConfig };

export interface AgentConfig {
  path: string;
  agent: AgentSection;
  keys: { privateKeyPath: string };
  delegation: DelegationSection | null;
  /** Null when loaded with `{ provisioner: false }` (status only needs [agent]). */
  provisioner: ProvisionerConfig | null;
}

type Table = Record<string, unknown>;

/** Reads one table's keys with their types and ranges; rejects keys it was never asked about. */
class Reader {
  private readonly seen = new Set<string>();
  constructor(
    private readonly t: Table,
    private readonly prefix: string,
    private readonly baseDir: string,
  ) {}

  private field(k: string): string {
    return this.prefix ? `${this.prefix}.${k}` : k;
  }

  private raw(k: string): unknown {
    this.seen.add(k);
    return this.t[k];
  }

  str(k: string, o: { required?: boolean; pattern?: RegExp; hint?: string; dflt?: string | null; placeholderOk?: boolean } = {}): string | null {
    const v = this.raw(k);
    if (v === undefined || v === '') {
      if (o.required) throw new ConfigError(`${this.field(k)} is required${o.hint ? ` (${o.hint})` : ''}.`, this.field(k));
      return o.dflt ?? null;
    }
    if (typeof v !== 'string') throw new ConfigError(`${this.field(k)} must be a string, got ${describe(v)}.`, this.field(k));
    if (!o.placeholderOk && v.includes(PLACEHOLDER)) {
      throw new ConfigError(`${this.field(k)} is still the placeholder "${v}"; set it${o.hint ? ` to ${o.hint}` : ''}.`, this.field(k));
    }
    if (o.pattern && !o.pattern.test(v)) {
      throw new ConfigError(`${this.field(k)} is invalid: "${v}"${o.hint ? ` (expected ${o.hint})` : ''}.`, this.field(k));
    }
    return v;
  }

  reqStr(k: string, o: { pattern?: RegExp; hint?: string } = {}): string {
    return this.str(k, { ...o, required: true }) as string;
  }

  url(k: string, o: { required?: boolean; hint?: string } = {}): string | null {
    const v = this.str(k, { required: o.required, hint: o.hint });
    if (v === null) return null;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      throw new ConfigError(`${this.field(k)} must be an absolute http(s) URL, got "${v}".`, this.field(k));
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${this.field(k)} must use http or https, got "${v}".`, this.field(k));
    return v.replace(/\/+$/, '');
  }

  path(k: string, o: { required?: boolean; dflt?: string; hint?: string } = {}): string | null {
    const v = this.str(k, { required: o.required, hint: o.hint }) ?? o.dflt ?? null;
    if (v === null) return null;
    return isAbsolute(v) ? v : resolve(this.baseDir, v);
  }

  num(k: string, o: { dflt: number; min: number; max: number; integer?: boolean }): number {
    const v = this.raw(k);
    if (v === undefined) return o.dflt;
    const n = typeof v === 'bigint' ? Number(v) : v;
    const kind = o.integer === false ? 'a number' : 'an integer';
    if (typeof n !== 'number' || !Number.isFinite(n) || (o.integer !== false && !Number.isInteger(n)) || n < o.min || n > o.max) {
      throw new ConfigError(`${this.field(k)} must be ${kind} between ${o.min} and ${o.max}, got ${describe(v)}.`, this.field(k));
    }
    return n;
  }

  bool(k: string, dflt: boolean): boolean {
    const v = this.raw(k);
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') throw new ConfigError(`${this.field(k)} must be true or false, got ${describe(v)}.`, this.field(k));
    return v;
  }

  oneOf<T extends string>(k: string, values: readonly T[], dflt: T): T {
    const v = this.raw(k);
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      throw new ConfigError(`${this.field(k)} must be one of ${values.map((x) => `"${x}"`).join(', ')}, got ${describe(v)}.`, this.field(k));
    }
    return v as T;
  }

  strings(k: string): string[] | null {
    const v = this.raw(k);
    if (v === undefined) return null;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ConfigError(`${this.field(k)} must be an array of strings.`, this.field(k));
    return v as string[];
  }

  stringMap(k: string): Record<string, string> {
    const v = this.raw(k);
    if (v === undefined) return {};
    if (!isTable(v)) throw new ConfigError(`${this.field(k)} must be a table of strings, e.g. { NAME = "value" }.`, this.field(k));
    const out: Record<string, string> = {};
    for (const [name, val] of Object.entries(v)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ConfigError(`${this.field(k)}.${name} is not a valid environment variable name.`, `${this.field(k)}.${name}`);
      if (typeof val !== 'string') throw new ConfigError(`${this.field(k)}.${name} must be a string.`, `${this.field(k)}.${name}`);
      out[name] = val;
    }
    return out;
  }

  table(k: string, required: boolean): Table | null {
    const v = this.raw(k);
    if (v === undefined) {
      if (required) throw new ConfigError(`[${this.field(k)}] is missing.`, this.field(k));
      return null;
    }
    if (!isTable(v)) throw new ConfigError(`${this.field(k)} must be a table ([${this.field(k)}]).`, this.field(k));
    return v;
  }

  /** Call after reading: any key not read is a typo or a key of a newer agent. */
  noOthers(ignore: string[] = []): void {
    for (const k of Object.keys(this.t)) {
      if (!this.seen.has(k) && !ignore.includes(k)) throw new ConfigError(`${this.field(k)} is not a known setting (misspelt?).`, this.field(k));
    }
  }
}

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `"${v}"`;
  if (isTable(v)) return 'a table';
  return String(v);
}


export function parseConfig(text: string, path: string, opts: { provisioner?: boolean } = {}): AgentConfig {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) throw new ConfigError(`${path} is not valid TOML: ${err.message.split('\n')[0]} (line ${err.line}, column ${err.column}).`);
    throw new ConfigError(`${path} is not valid TOML: ${(err as Error).message}`);
  }
  const dir = dirname(resolve(path));
  const root = new Reader(doc, '', dir);
  const at = (what: () => AgentConfig): AgentConfig => {
    try {
      return what();
    } catch (err) {
      if (err instanceof ConfigError && err.field) throw new ConfigError(`${path}: ${err.message}`, err.field);
      throw err;
    }
  };
  return at(() => {
    const a = new Reader(root.table('agent', true)!, 'agent', dir);
    const agent: AgentSection = {
      apiUrl: a.url('api_url', { required: true, hint: 'the dc-api base URL' })!,
      providerPubkey: a.reqStr('provider_pubkey', { pattern: HEX_KEY_RE, hint: '64 lowercase hex characters' }),
      poolId: a.reqStr('pool_id'),
      poolName: a.str('pool_name'),
      agentPubkey: a.str('agent_pubkey', { pattern: HEX_KEY_RE, hint: '64 lowercase hex characters' }),
      label: a.str('label'),
      serverKey: a.str('server_key', { pattern: HEX_KEY_RE, hint: '64 lowercase hex characters' }),
      pollIntervalSeconds: a.num('poll_interval_seconds', { dflt: 30, min: 0.05, max: 3600, integer: false }),
      lockTimeoutSeconds: a.num('lock_timeout_seconds', { dflt: 300, min: 1, max: 86_400 }),
      maxConcurrent: a.num('max_concurrent', { dflt: 2, min: 1, max: 10 }),
      claimWaitSeconds: a.num('claim_wait_seconds', { dflt: 25, min: 0, max: 50 }),
      shutdownGraceSeconds: a.num('shutdown_grace_seconds', { dflt: 120, min: 0, max: 86_400, integer: false }),
      maxBackoffSeconds: a.num('max_backoff_seconds', { dflt: 60, min: 0.1, max: 3600, integer: false }),
      stateFile: a.path('state_file', { dflt: join(dir, 'state.json') })!,
      logLevel: a.oneOf('log_level', ['debug', 'info', 'warn', 'error'] as const, 'info'),
    };
    a.noOthers();
    const k = new Reader(root.table('keys', true)!, 'keys', dir);
    const keys = { privateKeyPath: k.path('private_key_path', { required: true, hint: 'the path of the agent key file' })! };
    k.noOthers();

    let delegation: DelegationSection | null = null;
    const dt = root.table('delegation', false);
    if (dt) {
      const d = new Reader(dt, 'delegation', dir);
      delegation = {
        issuedAt: d.reqStr('issued_at'),
        permissions: d.strings('permissions') ?? [],
        signature: d.reqStr('signature', { pattern: HEX_SIG_RE, hint: '128 lowercase hex characters' }),
      };
      d.noOthers();
    }

    let provisioner: ProvisionerConfig | null = null;
    const pt = root.table('provisioner', opts.provisioner !== false);
    if (pt && opts.provisioner !== false) provisioner = readProvisioner(new Reader(pt, 'provisioner', dir), dir);
    root.noOthers();
    return { path: resolve(path), agent, keys, delegation, provisioner };
  });
}

function readProvisioner(p: Reader, dir: string): ProvisionerConfig {
  const type = p.oneOf<ProvisionerType>('type', ['proxmox', 'script', 'manual'], 'proxmox');
  const others = ['proxmox', 'script', 'manual'].filter((t) => t !== type);
  // Sections of other provisioner types may stay in the file (switching back is an edit of `type`).
  switch (type) {
    case 'script': {
      const s = new Reader(p.table('script', true)!, 'provisioner.script', dir);
      const cfg: ScriptConfig = {
        command: s.path('command', { required: true, hint: 'the path of your provisioning executable' })!,
        user: s.str('user', { dflt: 'dc-agent', pattern: /^[a-z_][a-z0-9_-]*\$?$/, hint: 'a user name' })!,
        timeoutSeconds: s.num('timeout_seconds', { dflt: 900, min: 0.1, max: 86_400, integer: false }),
        env: s.stringMap('env'),
      };
      s.noOthers();
      p.noOthers(others);
      return { type, script: cfg };
    }
    case 'proxmox': {
      const x = new Reader(p.table('proxmox', true)!, 'provisioner.proxmox', dir);
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
      };
      if (cfg.templateVmid === 0) throw new ConfigError('provisioner.proxmox.template_vmid is required (the VMID of the cloud-init template to clone).', 'provisioner.proxmox.template_vmid');
      if (cfg.vmidMin > cfg.vmidMax) throw new ConfigError('provisioner.proxmox.vmid_min must not be greater than vmid_max.', 'provisioner.proxmox.vmid_min');
      if (new URL(cfg.apiUrl).protocol !== 'https:') throw new ConfigError('provisioner.proxmox.api_url must use https (the API token travels in every request).', 'provisioner.proxmox.api_url');
      x.noOthers();
      p.noOthers(others);
      return { type, proxmox: cfg };
    }
    case 'manual': {
      const t = p.table('manual', false) ?? {};
      const m = new Reader(t, 'provisioner.manual', dir);
      const cfg: ManualConfig = {
        webhookUrl: m.url('webhook_url'),
        webhookTimeoutSeconds: m.num('webhook_timeout_seconds', { dflt: 10, min: 0.1, max: 300, integer: false }),
      };
      m.noOthers();
      p.noOthers(others);
      return { type, manual: cfg };
    }
    default: {
      const never: never = type;
      return never;
    }
  }
}

export function loadConfig(path: string, opts: { provisioner?: boolean } = {}): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${path} does not exist; run "dc-agent setup" first (or pass --config).`);
    if (code === 'EACCES') throw new ConfigError(`${path} is not readable by this user (it is mode 0600; run as its owner).`);
    throw new ConfigError(`${path} cannot be read: ${(err as Error).message}`);
  }
  return parseConfig(text, path, opts);
}

// ---- rendering (setup) -----------------------------------------------------------------------

/** A TOML basic string (JSON escapes are valid TOML escapes). */
export function tomlString(s: string): string {
  return JSON.stringify(s);
}

export interface RenderInput {
  apiUrl: string;
  providerPubkey: string;
  poolId: string;
  poolName: string;
  poolLocation: string;
  agentPubkey: string;
  label: string | null;
  serverKey: string;
  privateKeyPath: string;
  provisionerType: string;
  delegation: { issuedAt: string; permissions: string[]; signature: string };
}

/** The config file setup writes: the spec's shape, the delegation, and placeholders to fill in. */
export function renderConfig(i: RenderInput): string {
  const s = tomlString;
  const lines = [
    `# dc-agent configuration, written by "dc-agent setup" on ${new Date().toISOString()}.`,
    `# Mode 0600: it holds provisioner secrets. Reference: dc-agent README ("Configuration").`,
    ``,
    `[agent]`,
    `api_url = ${s(i.apiUrl)}`,
    `provider_pubkey = ${s(i.providerPubkey)}`,
    `pool_id = ${s(i.poolId)}`,
    `pool_name = ${s(i.poolName)}  # region ${i.poolLocation}`,
    `agent_pubkey = ${s(i.agentPubkey)}`,
    ...(i.label ? [`label = ${s(i.label)}`] : []),
    `server_key = ${s(i.serverKey)}`,
    `poll_interval_seconds = 30`,
    `lock_timeout_seconds = 300`,
    `max_concurrent = 2`,
    ``,
    `[keys]`,
    `# The agent's Ed25519 private key. It never leaves this host.`,
    `private_key_path = ${s(i.privateKeyPath)}`,
    ``,
    `[delegation]`,
    `# The API's signed statement that this key may act for the provider in this pool.`,
    `issued_at = ${s(i.delegation.issuedAt)}`,
    `permissions = [${i.delegation.permissions.map(s).join(', ')}]`,
    `signature = ${s(i.delegation.signature)}`,
    ``,
    `[provisioner]`,
    `type = ${s(i.provisionerType)}`,
    ``,
    ...provisionerTemplate(i.provisionerType),
  ];
  return lines.join('\n') + '\n';
}

function provisionerTemplate(type: string): string[] {
  switch (type) {
    case 'script':
      return [
        `[provisioner.script]`,
        `# The executable that provisions one contract: the contract arrives as JSON on stdin,`,
        `# DC_ACTION=provision|terminate, DC_CONTRACT_ID and DC_OFFERING_ID in the environment;`,
        `# it prints the instance details as one JSON object on stdout and exits 0.`,
        `command = ${tomlString(PLACEHOLDER)}`,
        `# When dc-agent runs as root, the script runs as this unprivileged user.`,
        `user = "dc-agent"`,
        `timeout_seconds = 900`,
        `# env = { EXAMPLE = "value" }`,
      ];
    case 'proxmox':
      return [
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
      ];
    case 'manual':
      return [
        `[provisioner.manual]`,
        `# Optional: POSTed a JSON summary of every contract handed to a person.`,
        `# webhook_url = "https://hooks.example.net/dc"`,
      ];
    default:
      return [];
  }
}

/** What a person must fill in after setup, per provisioner type (printed by setup). */
export function nextSteps(type: string): string[] {
  switch (type) {
    case 'script':
      return [
        `command          the path of your provisioning executable (contract JSON on stdin, instance details JSON on stdout)`,
        `user             the unprivileged user it runs as when dc-agent runs as root (default dc-agent)`,
        `timeout_seconds  how long one run may take (default 900)`,
      ];
    case 'proxmox':
      return [
        `api_url           your node's API, e.g. https://pve1.example.net:8006`,
        `api_token_id      an API token, USER@REALM!TOKENID (Datacenter → Permissions → API Tokens)`,
        `api_token_secret  that token's secret`,
        `node              the node name, e.g. pve1`,
        `template_vmid     the VMID of the cloud-init template to clone`,
        `storage, bridge   where disks go and which bridge NICs join`,
        `tls_fingerprint   or ca_file, unless the node has a publicly trusted certificate`,
      ];
    case 'manual':
      return [`webhook_url       optional: a URL that is POSTed each contract handed to a person`];
    default:
      return [];
  }
}
