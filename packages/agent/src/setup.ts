// `dc-agent setup`: registers this host as an agent of a pool with a one-time token.
// The key pair is generated here and the private key never leaves the host; the API's answer
// (the delegation) is verified against the pinned server key before anything is written.
import { chownSync, existsSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { HEX_KEY_RE, looksLikeSetupToken, type AgentSetupResult } from '@dc/core';
import { generateIdentity } from '@dc/core/node';
import { AgentsApi } from './api/agents.js';
import { Transport } from './api/transport.js';
import { AGENT_DEFAULTS, parseConfig, renderConfig } from './config.js';
import { checkSetupAnswer } from './delegation.js';
import { ApiError, CliError, ConfigError, EXIT_ALREADY_CONFIGURED, EXIT_USAGE, NetworkError } from './errors.js';
import { removeQuietly, writeKeyFile, writePrivateFile } from './keys.js';
import { SERVICE_USER, findUser, isRoot, type Owner } from './ownership.js';
import { backupPath, readPreviousConfig, type PreviousConfig } from './previous-config.js';
import { nextSteps } from './provisioners/index.js';

export interface SetupInput {
  token?: string;
  tokenFile?: string;
  apiUrl?: string;
  serverKey?: string;
  config: string;
  keyFile?: string;
  label?: string;
  force?: boolean;
  nonInteractive?: boolean;
  /** As root, the key and config go to this user (the installer's service user). */
  serviceUser?: string;
}

export interface SetupOutcome {
  agentPubkey: string;
  result: AgentSetupResult;
  configPath: string;
  keyPath: string;
  serverKey: string;
  serverKeyPinned: boolean;
  /** Who owns the key and config now (null: left to whoever ran setup). */
  owner: Owner | null;
  /** Why they were not given to the service user, when setup ran as root. */
  ownerNote: string | null;
  /** --force: the provisioner sections kept from the previous config, or where it was backed up. */
  previous: { keptTypes: string[]; keptAgent: string[] } | { backup: string; why: string } | null;
  /** Why the config is not ready to run yet (placeholders left), or null. */
  incomplete: string | null;
}

export function isLoopbackUrl(u: URL): boolean {
  const h = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

function checkApiUrl(raw: string | undefined): string {
  if (!raw) throw new CliError('--api-url is required (the dc-api base URL from the setup command, e.g. https://api.example.net).', EXIT_USAGE);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`--api-url must be an absolute URL such as https://api.example.net, got "${raw}".`, EXIT_USAGE);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopbackUrl(u))) {
    throw new CliError(`--api-url must use https (plain http only for loopback addresses), got "${raw}".`, EXIT_USAGE);
  }
  return raw.replace(/\/+$/, '');
}

async function resolveToken(input: SetupInput): Promise<string> {
  if (input.token && input.tokenFile) throw new CliError('give the token either with --token (or DC_SETUP_TOKEN) or with --token-file, not both.', EXIT_USAGE);
  let token = input.token;
  if (input.tokenFile) {
    try {
      token = readFileSync(input.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new CliError(`--token-file ${input.tokenFile} cannot be read: ${(err as Error).message}`, EXIT_USAGE);
    }
  }
  if (!token && !input.nonInteractive && process.stdin.isTTY) {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    token = (await rl.question('Setup token (from the dashboard, "Add agent"): ')).trim();
    rl.close();
  }
  if (!token) throw new CliError('a setup token is required: --token, --token-file or DC_SETUP_TOKEN (create one in the dashboard: pool → Add agent).', EXIT_USAGE);
  if (!looksLikeSetupToken(token)) throw new CliError('that does not look like a setup token (apt_<region>_<secret>); copy it again from the dashboard.', EXIT_USAGE);
  return token;
}

/**
 * As root: the service user the key and config are handed to, with a note when there is none (then
 * the agent is meant to run as root). Not root: nobody else may own them; null.
 */
export function serviceOwner(name = SERVICE_USER, root = isRoot()): { owner: Owner | null; note: string | null } {
  // Not root: the files stay the caller's. An empty name: the installer's --skip-user.
  if (!root || name === '') return { owner: null, note: null };
  const owner = findUser(name);
  return owner ? { owner, note: null } : { owner: null, note: `there is no user ${name} on this host (the installer creates it), so root keeps them` };
}

export async function runSetup(input: SetupInput): Promise<SetupOutcome> {
  const configPath = resolve(input.config);
  // --force keeps what the provider filled in (or backs up a file it cannot read).
  const previous: PreviousConfig | null = input.force && existsSync(configPath) ? readPreviousConfig(configPath) : null;
  const kept = previous?.kind === 'kept' ? previous.kept : null;
  const keyPath = resolve(input.keyFile ?? kept?.keyPath ?? join(dirname(configPath), 'agent.key'));
  const dirExisted = existsSync(dirname(configPath));
  const { owner, note: ownerNote } = serviceOwner(input.serviceUser);
  if (existsSync(configPath) && !input.force) {
    throw new CliError(`${configPath} already exists: this host is set up. Re-run with --force to register it again with a new key (then revoke the old agent in the dashboard).`, EXIT_ALREADY_CONFIGURED);
  }
  if (existsSync(keyPath) && !input.force) {
    throw new CliError(`${keyPath} already exists. Re-run with --force to replace it.`, EXIT_ALREADY_CONFIGURED);
  }
  const apiUrl = checkApiUrl(input.apiUrl);
  const pinned = input.serverKey?.trim().toLowerCase() || null;
  if (pinned !== null && !HEX_KEY_RE.test(pinned)) throw new CliError('--server-key must be 64 hex characters.', EXIT_USAGE);
  const token = await resolveToken(input);

  const identity = generateIdentity();
  const transport = new Transport(apiUrl, identity);
  const api = new AgentsApi(transport);
  try {
    // Compare keys before the token is spent: a mismatch means this is not the server the
    // dashboard's command came from.
    const published = await api.serverKey();
    if (pinned !== null && published !== pinned) {
      throw new CliError(`the API at ${apiUrl} publishes server key ${published}, not the pinned --server-key ${pinned}; refusing to register with it (the token is not used).`);
    }
    const serverKey = pinned ?? published;

    // The key is on disk before the API learns its public half, so a crash cannot leave a
    // registered agent whose key is lost. It moves into place only after a verified answer.
    const pendingKey = `${keyPath}.new`;
    removeQuietly(pendingKey);
    writeKeyFile(pendingKey, identity, { owner });
    let result: AgentSetupResult;
    try {
      result = await api.setup({ token, agent_pubkey: identity.publicKey, ...(input.label ? { label: input.label } : {}) });
      checkSetupAnswer(result, identity.publicKey, serverKey);
    } catch (err) {
      removeQuietly(pendingKey);
      throw err;
    }
    renameSync(pendingKey, keyPath);
    const text = renderConfig({
      apiUrl,
      providerPubkey: result.provider_pubkey,
      poolId: result.pool_id,
      poolName: result.pool_name,
      poolLocation: result.pool_location,
      agentPubkey: identity.publicKey,
      label: input.label ?? null,
      serverKey,
      privateKeyPath: keyPath,
      provisionerType: result.provisioner_type,
      delegation: { issuedAt: result.delegation.issued_at, permissions: result.delegation.permissions, signature: result.delegation_signature },
      kept,
    });
    let backedUp: { backup: string; why: string } | null = null;
    if (previous?.kind === 'unreadable') {
      backedUp = { backup: backupPath(configPath), why: previous.why };
      writePrivateFile(backedUp.backup, previous.text, { owner });
    }
    writePrivateFile(configPath, text, { replace: true, owner });
    // A directory setup made (0700, root's) must let the service user in, to read and keep state.json.
    if (owner && !dirExisted) chownSync(dirname(configPath), owner.uid, owner.gid);
    return {
      agentPubkey: identity.publicKey,
      result,
      configPath,
      keyPath,
      serverKey,
      serverKeyPinned: pinned !== null,
      owner,
      ownerNote,
      // Tunables still at setup's defaults are kept too, but not worth a mention.
      previous: backedUp ?? (kept ? { keptTypes: kept.provisionerTypes, keptAgent: Object.keys(kept.agent).filter((k) => kept.agent[k] !== AGENT_DEFAULTS[k]) } : null),
      incomplete: incompleteReason(text, configPath),
    };
  } catch (err) {
    throw explainSetupError(err, apiUrl);
  } finally {
    transport.close();
  }
}

/** Why the written config cannot run yet (a placeholder left, say), or null when it can. */
function incompleteReason(text: string, path: string): string | null {
  try {
    parseConfig(text, path);
    return null;
  } catch (err) {
    return err instanceof ConfigError ? err.message : (err as Error).message;
  }
}

function explainSetupError(err: unknown, apiUrl: string): unknown {
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'invalid_token':
        return new CliError(`the API does not know this setup token (401): copy it again, or create a new one in the dashboard.`);
      case 'token_used':
        return new CliError(`this setup token was already used (409); create a new one in the dashboard.`);
      case 'token_expired':
        return new CliError(`this setup token has expired (410); create a new one in the dashboard.`);
      case 'rate_limited':
        return new CliError(`too many setup attempts from this address (429); ${err.message}`);
      default:
        return new CliError(`the API refused the setup: ${err.status} ${err.code}: ${err.message}`);
    }
  }
  if (err instanceof NetworkError) return new CliError(`cannot reach the API at ${apiUrl}: ${err.message}`);
  return err;
}

/** The text setup prints: what happened, what to fill in, how to start. */
export function setupReport(o: SetupOutcome): string {
  const r = o.result;
  const lines = [
    `Registered agent ${o.agentPubkey}`,
    `  pool:        ${r.pool_name} (${r.pool_id}), region ${r.pool_location}, provisioner ${r.provisioner_type}`,
    `  provider:    ${r.provider_pubkey}`,
    `  delegation:  verified against server key ${o.serverKey} (${o.serverKeyPinned ? 'pinned by --server-key' : 'as published by the API'})`,
    `  private key: ${o.keyPath} (mode 0600; it never leaves this host)`,
    `  config:      ${o.configPath} (mode 0600)`,
    ...(o.owner ? [`  owner:       ${o.owner.user} (key and config; the service runs as this user)`] : o.ownerNote ? [`  owner:       root: ${o.ownerNote}`] : []),
    ...previousLines(o),
    ``,
    ...nextLines(o),
    ``,
    `Then check everything and start the agent:`,
    `  dc-agent doctor --config ${o.configPath}`,
    `  systemctl enable --now dc-agent      (or run it yourself: dc-agent run --config ${o.configPath})`,
  ];
  return lines.join('\n') + '\n';
}

function nextLines(o: SetupOutcome): string[] {
  const type = o.result.provisioner_type;
  const keptOwn = o.previous !== null && 'keptTypes' in o.previous && o.previous.keptTypes.includes(type);
  const steps = nextSteps(type).map((l) => `  ${l}`);
  if (o.incomplete === null) return keptOwn ? [`The configuration is complete.`] : [`The configuration is complete. Optional, in [provisioner.${type}]:`, ...steps];
  return [`Next: fill in the [provisioner.${type}] section of ${o.configPath}:`, ...steps, ...(keptOwn ? [`  (now: ${o.incomplete})`] : [])];
}

function previousLines(o: SetupOutcome): string[] {
  const p = o.previous;
  if (!p) return [];
  if ('backup' in p) return [`  previous:    ${o.configPath} could not be read (${p.why}); saved as ${p.backup}`];
  const kept = [...p.keptTypes.map((t) => `[provisioner.${t}]`), ...(p.keptAgent.length > 0 ? [`[agent] ${p.keptAgent.join(', ')}`] : [])];
  return kept.length > 0 ? [`  kept:        ${kept.join('; ')} from the previous configuration`] : [];
}
