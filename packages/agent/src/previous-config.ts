// `dc-agent setup --force` on a host that is already set up: the new registration replaces the
// identity (key, provider, pool, delegation), but what the provider filled in stays. The
// `[provisioner.*]` sections are kept as they were written, comments included (checked by parsing
// them back; a file the text split cannot reproduce is re-serialised instead), and so are the
// `[agent]` tunables. A previous file that is not valid TOML is saved to a dated backup instead.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { isTable, type Table } from './config-reader.js';

/** [agent] keys a provider tunes; everything else in [agent] comes from the new registration. */
export const AGENT_TUNABLES = [
  'poll_interval_seconds',
  'lock_timeout_seconds',
  'max_concurrent',
  'claim_wait_seconds',
  'shutdown_grace_seconds',
  'max_backoff_seconds',
  'state_file',
  'log_level',
] as const;

export interface KeptSettings {
  /** [agent] tunables, TOML values as parsed. */
  agent: Record<string, unknown>;
  /** The `[provisioner.<type>]` section names kept (e.g. "script"). */
  provisionerTypes: string[];
  /** Their TOML text, ready to append after `[provisioner]`. */
  provisionerText: string;
  /** The previous key file path (resolved), when the config named one. */
  keyPath: string | null;
}

export type PreviousConfig = { kind: 'kept'; kept: KeptSettings } | { kind: 'unreadable'; text: string; why: string };

export function readPreviousConfig(path: string): PreviousConfig | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    return { kind: 'unreadable', text, why: (err as Error).message.split('\n')[0]! };
  }
  const agent: Record<string, unknown> = {};
  const prevAgent = isTable(doc.agent) ? doc.agent : {};
  for (const k of AGENT_TUNABLES) if (prevAgent[k] !== undefined) agent[k] = prevAgent[k];
  const provisioner: Table = isTable(doc.provisioner) ? { ...doc.provisioner } : {};
  delete provisioner.type;
  const sections = Object.fromEntries(Object.entries(provisioner).filter(([, v]) => isTable(v)));
  const keys = isTable(doc.keys) ? doc.keys : {};
  const keyPath = typeof keys.private_key_path === 'string' && keys.private_key_path ? keys.private_key_path : null;
  return {
    kind: 'kept',
    kept: {
      agent,
      provisionerTypes: Object.keys(sections),
      provisionerText: provisionerSectionsText(text, sections),
      keyPath: keyPath === null ? null : isAbsolute(keyPath) ? keyPath : resolve(dirname(path), keyPath),
    },
  };
}

const HEADER = /^\s*\[\s*([^[\]#]+?)\s*\]\s*(?:#.*)?$/;

/** The `[provisioner.…]` blocks of `text` as written; re-serialised when the text split does not give back `sections`. */
export function provisionerSectionsText(text: string, sections: Table): string {
  if (Object.keys(sections).length === 0) return '';
  const blocks: string[][] = [];
  let current: string[] | null = null;
  for (const line of text.split(/\r?\n/)) {
    const m = HEADER.exec(line);
    if (m) {
      const name = m[1]!.replace(/["'\s]/g, '');
      current = name.startsWith('provisioner.') ? [line] : null;
      if (current) blocks.push(current);
    } else if (current) current.push(line);
  }
  const kept = blocks.map((b) => trimEnd(b).join('\n')).join('\n\n');
  try {
    const back = parseToml(`[provisioner]\n${kept}\n`) as { provisioner?: Table };
    if (JSON.stringify(back.provisioner ?? {}) === JSON.stringify(sections)) return kept;
  } catch {
    /* fall through */
  }
  return stringifyToml({ provisioner: sections }).trim();
}

function trimEnd(lines: string[]): string[] {
  const out = [...lines];
  while (out.length > 1 && out[out.length - 1]!.trim() === '') out.pop();
  return out;
}

/** A backup name that sorts by time: `config.toml.bak-20250102T030405Z`. */
export function backupPath(path: string, now = new Date()): string {
  return `${path}.bak-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}
