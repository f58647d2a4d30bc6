// Reading the agent's TOML configuration: one Reader per table checks each key's type and range
// and names the dotted key at fault. config.ts reads [agent], [keys] and [delegation] with it; each
// provisioner module reads its own [provisioner.<type>] section.
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from './errors.js';

/** What setup writes where a person must put a real value; `run` refuses to start while one is left. */
export const PLACEHOLDER = 'CHANGE-ME';

/** A TOML basic string (JSON escapes are valid TOML escapes). */
export function tomlString(s: string): string {
  return JSON.stringify(s);
}

export type Table = Record<string, unknown>;

/** Reads one table's keys with their types and ranges; rejects keys it was never asked about. */
export class Reader {
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

  /** A reader for the sub-table `k` (`[prefix.k]`); an optional one that is absent reads as empty. */
  section(k: string, o: { optional?: boolean } = {}): Reader {
    return new Reader(this.table(k, !o.optional) ?? {}, this.field(k), this.baseDir);
  }

  /** Call after reading: any key not read is a typo or a key of a newer agent. */
  noOthers(ignore: string[] = []): void {
    for (const k of Object.keys(this.t)) {
      if (!this.seen.has(k) && !ignore.includes(k)) throw new ConfigError(`${this.field(k)} is not a known setting (misspelt?).`, this.field(k));
    }
  }
}

export function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `"${v}"`;
  if (isTable(v)) return 'a table';
  return String(v);
}
