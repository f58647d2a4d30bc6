// The options every command takes (`--api-url`, `--key-file`, `--output`, `--quiet`) and what
// commands get from them: the signer, the API client, the printer.
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Identity } from '@dc/core/node';
import { Api } from './api.js';
import { UsageError } from './errors.js';
import { readKeyFile } from './keyfile.js';
import { OUTPUT_FORMATS, render, type OutputFormat, type Printer, type Rendering } from './output.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

export interface GlobalOptions {
  apiUrl: string;
  keyFile?: string;
  output: OutputFormat;
  quiet?: boolean;
}

export function globalOptions(): Option[] {
  return [
    new Option('--api-url <url>', 'the dc-api base URL').env('DC_API_URL').default(DEFAULT_API_URL).argParser(parseApiUrl),
    new Option('--key-file <path>', 'the key that signs requests (dcctl key generate, or the dashboard\'s key backup)').env('DC_KEY_FILE'),
    new Option('-o, --output <format>', 'table or json').env('DC_OUTPUT').choices(OUTPUT_FORMATS).default('table'),
    new Option('-q, --quiet', 'print only ids (one a line), for scripts'),
  ];
}

function parseApiUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError('give a URL such as https://api.example.net or http://127.0.0.1:8080');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('the URL must start with http:// or https://');
  if (u.search || u.hash) throw new InvalidArgumentError('the URL must not have a query or fragment');
  return value.replace(/\/+$/, '');
}

export class Ctx implements Printer {
  private signer: Identity | null = null;
  private client: Api | null = null;

  constructor(readonly opts: GlobalOptions) {}

  get format(): OutputFormat {
    return this.opts.output;
  }

  get quiet(): boolean {
    return !!this.opts.quiet;
  }

  out(s: string): void {
    process.stdout.write(s);
  }

  err(s: string): void {
    process.stderr.write(s);
  }

  render(r: Rendering): void {
    render(this, r);
  }

  /** The key file's identity (read once). */
  identity(): Identity {
    if (this.signer) return this.signer;
    const file = this.opts.keyFile;
    if (!file) {
      throw new UsageError('this command signs its requests: pass --key-file FILE or set DC_KEY_FILE (create a key with "dcctl key generate FILE", or use the dashboard\'s key backup)');
    }
    this.signer = readKeyFile(file);
    return this.signer;
  }

  /** The signing key's public half: the provider in provider commands. */
  pubkey(): string {
    return this.identity().publicKey;
  }

  api(): Api {
    this.client ??= new Api(this.opts.apiUrl, this.identity());
    return this.client;
  }
}

/** Wraps a command's action: the context from the global options, then the command's own options and operands. */
export function action<O = Record<string, unknown>>(fn: (ctx: Ctx, opts: O, args: string[]) => Promise<void> | void) {
  return async function (this: Command): Promise<void> {
    const all = this.optsWithGlobals() as GlobalOptions & O;
    await fn(new Ctx(all), all, this.processedArgs as string[]);
  };
}

/** Help text block: examples. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
}

/** A number option's parser: finite, within bounds, whole when asked. */
export function numberArg(what: string, opts: { min?: number; max?: number; integer?: boolean } = {}) {
  return (value: string): number => {
    const n = Number(value);
    const okRange = (opts.min === undefined || n >= opts.min) && (opts.max === undefined || n <= opts.max);
    if (value.trim() === '' || !Number.isFinite(n) || (opts.integer && !Number.isInteger(n)) || !okRange) {
      const range = opts.min !== undefined && opts.max !== undefined ? ` from ${opts.min} to ${opts.max}` : opts.min !== undefined ? ` of at least ${opts.min}` : '';
      throw new InvalidArgumentError(`${what} must be ${opts.integer ? 'a whole number' : 'a number'}${range}.`);
    }
    return n;
  };
}
