// The agent's configuration file (spec "Config File Structure"): TOML, written by `setup`,
// completed by the provider, read by `run`, `doctor` and `status`. Every problem is a ConfigError
// whose message names the dotted key at fault.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { HEX_KEY_RE, HEX_SIG_RE } from '@dc/core';
import { Reader, tomlString, type Table } from './config-reader.js';
import { ConfigError } from './errors.js';
import { configTemplate, readProvisionerConfig, type ProvisionerConfig } from './provisioners/index.js';

export const DEFAULT_CONFIG_PATH = '/etc/dc-agent/config.toml';

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

export interface AgentConfig {
  path: string;
  agent: AgentSection;
  keys: { privateKeyPath: string };
  delegation: DelegationSection | null;
  /** Null when loaded with `{ provisioner: false }` (status only needs [agent]). */
  provisioner: ProvisionerConfig | null;
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
    const a = root.section('agent');
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
    const k = root.section('keys');
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
    if (pt && opts.provisioner !== false) provisioner = readProvisionerConfig(new Reader(pt, 'provisioner', dir));
    root.noOthers();
    return { path: resolve(path), agent, keys, delegation, provisioner };
  });
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
  /** setup --force: what the provider set in the previous config (previous-config.ts). */
  kept?: { agent: Record<string, unknown>; provisionerTypes: string[]; provisionerText: string } | null;
}

/** What setup writes into [agent] besides the identity, unless the previous config said otherwise. */
export const AGENT_DEFAULTS: Record<string, unknown> = { poll_interval_seconds: 30, lock_timeout_seconds: 300, max_concurrent: 2 };

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
    ...Object.entries({ ...AGENT_DEFAULTS, ...(i.kept?.agent ?? {}) }).map(([k, v]) => `${k} = ${tomlValue(v)}`),
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
    // A kept section of this type replaces the template; kept sections of other types stay too.
    ...(i.kept?.provisionerTypes.includes(i.provisionerType) ? [] : [...configTemplate(i.provisionerType), ``]),
    ...(i.kept?.provisionerText ? [`# Kept from the previous configuration by "dc-agent setup --force".`, i.kept.provisionerText] : []),
  ];
  return lines.join('\n').trimEnd() + '\n';
}

/** A TOML value as parsed back into text (the [agent] tunables: numbers and strings). */
function tomlValue(v: unknown): string {
  return typeof v === 'string' ? tomlString(v) : typeof v === 'bigint' ? v.toString() : String(v);
}
