// A validator for Proxmox VE API requests, driven by the official API schema (apidata.js, the
// subset in fixtures/pve-api-subset.json): path templates ({node}, {vmid}, {upid}), methods, and
// each parameter's name, type, enum, pattern, range, length, required-ness and format, including
// property strings ("virtio,bridge=vmbr0") and indexed names (ipconfig0 for ipconfig[n]).
// Formats not listed in NAMED_FORMATS are accepted as strings.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './helpers.js';

export interface ParamSpec {
  type?: string;
  optional?: number;
  enum?: string[];
  pattern?: string;
  format?: string | Record<string, ParamSpec & { default_key?: number; alias?: string; keyAlias?: string }>;
  minimum?: number | string;
  maximum?: number | string;
  maxLength?: number;
  default_key?: number;
  default?: unknown;
  alias?: string;
  keyAlias?: string;
}

interface MethodSpec {
  parameters?: { additionalProperties?: number; properties?: Record<string, ParamSpec> };
}

export interface PveSchema {
  paths: Record<string, Record<string, MethodSpec>>;
}

export function loadPveSchema(): PveSchema {
  return JSON.parse(readFileSync(join(FIXTURES, 'pve-api-subset.json'), 'utf8')) as PveSchema;
}

const LABEL = '[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?';
const IPV4 = '(25[0-5]|2[0-4]\\d|1?\\d?\\d)(\\.(25[0-5]|2[0-4]\\d|1?\\d?\\d)){3}';
const IPV6 = '[0-9a-fA-F:]*:[0-9a-fA-F:.]*';
const re = (s: string) => new RegExp(`^(?:${s})$`);

/** The named formats this validator knows (from PVE::JSONSchema and qemu-server). */
const NAMED_FORMATS: Record<string, (v: string) => boolean> = {
  'pve-node': (v) => re(LABEL).test(v) && v.length <= 63,
  'pve-vmid': (v) => /^\d+$/.test(v),
  'dns-name': (v) => re(`(${LABEL}\\.)*${LABEL}`).test(v),
  urlencoded: (v) => /^[-%a-zA-Z0-9_.!~*'()]*$/.test(v),
  'pve-storage-id': (v) => /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i.test(v),
  'pve-poolid': (v) => /^[A-Za-z0-9_\-.]+$/.test(v),
  'pve-configid': (v) => /^[a-z][a-z0-9_]+$/i.test(v),
  'pve-configid-list': (v) => v.split(/[,;\s]+/).every((x) => /^[a-z][a-z0-9_]+$/i.test(x)),
  'pve-tag-list': (v) => v.split(/[;, ]+/).every((t) => /^[a-z0-9_][a-z0-9_\-+.]*$/i.test(t)),
  'pve-bridge-id': (v) => /^[-_.\w\d]+$/.test(v),
  'mac-addr': (v) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(v),
  'address-list': (v) => v.split(/[,;\s]+/).every((x) => re(IPV4).test(x) || re(IPV6).test(x)),
  'pve-qm-ipconfig': (v) =>
    v.split(',').every((kv) => {
      const [k, val = ''] = kv.split('=');
      switch (k) {
        case 'ip':
          return val === 'dhcp' || re(`${IPV4}/\\d{1,2}`).test(val);
        case 'gw':
          return re(IPV4).test(val);
        case 'ip6':
          return val === 'dhcp' || val === 'auto' || re(`${IPV6}/\\d{1,3}`).test(val);
        case 'gw6':
          return re(IPV6).test(val);
        default:
          return false;
      }
    }),
  'disk-size': (v) => /^\d+(\.\d+)?[KMGT]?$/.test(v),
};

export interface Match {
  template: string;
  pathParams: Record<string, string>;
}

export class PveValidator {
  private readonly routes: { template: string; regex: RegExp; names: string[] }[];

  constructor(readonly schema: PveSchema) {
    this.routes = Object.keys(schema.paths).map((template) => {
      const names: string[] = [];
      const regex = new RegExp(
        '^' +
          template.replace(/\{(\w+)\}/g, (_m, n: string) => {
            names.push(n);
            return '([^/]+)';
          }) +
          '$',
      );
      return { template, regex, names };
    });
  }

  /** `path` is below /api2/json, still percent-encoded. */
  match(path: string): Match | null {
    for (const r of this.routes) {
      const m = r.regex.exec(path);
      if (!m) continue;
      const pathParams: Record<string, string> = {};
      r.names.forEach((n, i) => (pathParams[n] = decodeURIComponent(m[i + 1]!)));
      return { template: r.template, pathParams };
    }
    return null;
  }

  /** Every problem with this request (empty: valid). */
  validate(method: string, path: string, params: Record<string, string>): { match: Match | null; problems: string[] } {
    const match = this.match(path);
    if (!match) return { match, problems: [`${method} ${path}: no such path in the PVE API`] };
    const spec = this.schema.paths[match.template]![method];
    if (!spec) return { match, problems: [`${method} ${match.template}: method not in the PVE API`] };
    const props = spec.parameters?.properties ?? {};
    const all: Record<string, string> = { ...params, ...match.pathParams };
    const problems: string[] = [];
    const where = `${method} ${match.template}`;
    for (const [k, v] of Object.entries(all)) {
      const p = props[k] ?? indexed(props, k);
      if (!p) {
        if (!spec.parameters?.additionalProperties) problems.push(`${where}: unknown parameter "${k}"`);
        continue;
      }
      const why = checkValue(p, v);
      if (why) problems.push(`${where}: parameter "${k}"=${JSON.stringify(v)} ${why}`);
    }
    for (const [k, p] of Object.entries(props)) {
      if (!p.optional && !k.endsWith('[n]') && !(k in all)) problems.push(`${where}: required parameter "${k}" is missing`);
    }
    return { match, problems };
  }
}

function indexed(props: Record<string, ParamSpec>, key: string): ParamSpec | undefined {
  const m = /^([a-z_-]+?)(\d+)$/i.exec(key);
  return m ? props[`${m[1]}[n]`] : undefined;
}

function checkValue(p: ParamSpec, v: string): string | null {
  switch (p.type) {
    case 'integer': {
      if (!/^-?\d+$/.test(v)) return 'is not an integer';
      return range(p, Number(v));
    }
    case 'number': {
      if (!Number.isFinite(Number(v)) || v.trim() === '') return 'is not a number';
      return range(p, Number(v));
    }
    case 'boolean':
      return /^(0|1|true|false|yes|no|on|off)$/i.test(v) ? null : 'is not a boolean (0 or 1)';
    case 'string':
    case undefined: {
      if (p.maxLength !== undefined && v.length > p.maxLength) return `is longer than ${p.maxLength}`;
      if (p.enum && !p.enum.includes(v)) return `is not one of ${p.enum.join(', ')}`;
      if (p.pattern && !new RegExp(`^(?:${p.pattern})$`).test(v)) return `does not match /${p.pattern}/`;
      if (typeof p.format === 'string') {
        const f = NAMED_FORMATS[p.format];
        if (f && !f(v)) return `is not a valid ${p.format}`;
      } else if (p.format && typeof p.format === 'object') {
        return checkPropertyString(p.format, v);
      }
      return null;
    }
    default:
      return null;
  }
}

function range(p: ParamSpec, n: number): string | null {
  if (p.minimum !== undefined && n < Number(p.minimum)) return `is below the minimum ${p.minimum}`;
  if (p.maximum !== undefined && n > Number(p.maximum)) return `is above the maximum ${p.maximum}`;
  return null;
}

/** "k=v,k=v" with an optional leading default-key value, keys and aliases from the format. */
function checkPropertyString(fmt: Record<string, ParamSpec>, v: string): string | null {
  const defaultKey = Object.entries(fmt).find(([, s]) => s.default_key)?.[0];
  const seen = new Set<string>();
  const parts = v.split(',');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    let key: string;
    let value: string;
    if (eq < 0) {
      if (i !== 0 || !defaultKey) return `has "${part}" without a key`;
      key = defaultKey;
      value = part;
    } else {
      key = part.slice(0, eq);
      value = part.slice(eq + 1);
    }
    let spec = fmt[key];
    if (spec?.keyAlias) {
      // e.g. net0 "virtio=AA:BB:…": model=virtio, macaddr=AA:BB:…
      const modelErr = checkValue(fmt[spec.keyAlias]!, key);
      if (modelErr) return `sub-key ${spec.keyAlias} ${modelErr}`;
      seen.add(spec.keyAlias);
      spec = fmt[spec.alias!];
      key = spec ? (Object.entries(fmt).find(([, s]) => s === spec)?.[0] ?? key) : key;
    } else if (spec?.alias) {
      key = spec.alias;
      spec = fmt[spec.alias];
    }
    if (!spec) return `has unknown sub-key "${key}"`;
    if (seen.has(key)) return `repeats sub-key "${key}"`;
    seen.add(key);
    const err = checkValue(spec, value);
    if (err) return `sub-key ${key}=${JSON.stringify(value)} ${err}`;
  }
  for (const [k, s] of Object.entries(fmt)) {
    if (!s.optional && !s.alias && !s.keyAlias && s.default === undefined && !seen.has(k) && !s.default_key) return `lacks sub-key "${k}"`;
  }
  return null;
}
