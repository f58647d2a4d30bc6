// The one transport every dc-api resource goes through: builds the exact request target, signs it
// (DESIGN.md "Request signing", X-Agent-Pubkey), sends it, and decodes errors into ApiError /
// NetworkError. It never retries by itself: call sites say how (see retry.ts).
import http from 'node:http';
import https from 'node:https';
import { authorityOf, pathOf, type BodyOf, type Endpoint, type ParamsOf, type QueryOf, type ResultOf } from '@dc/core';
import { signRequestHeaders, type Identity } from '@dc/core/node';
import { ApiError, NetworkError } from '../errors.js';
import { httpRequest } from '../http.js';
import { AGENT_VERSION } from '../version.js';

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** One call of a core endpoint: its typed path parameters, query and body. */
export interface CallArgs<E extends Endpoint> extends CallOptions {
  params?: ParamsOf<E>;
  query?: QueryOf<E>;
  body?: BodyOf<E>;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

export class Transport {
  readonly base: URL;
  /** The authority signed into every request: the API base URL's host[:port]. */
  readonly host: string;
  private readonly basePath: string;
  private readonly agent: http.Agent;

  constructor(
    apiUrl: string,
    readonly identity: Identity | null,
  ) {
    this.base = new URL(apiUrl);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`API URL must be http(s): ${apiUrl}`);
    this.host = authorityOf(apiUrl);
    this.basePath = this.base.pathname.replace(/\/+$/, '');
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  /** Calls a core endpoint (method, path and auth from ENDPOINTS); signed unless it is public. */
  async call<E extends Endpoint>(e: E, args: CallArgs<E> = {}): Promise<ResultOf<E>> {
    // The base URL's path prefix (an API behind a reverse-proxy path), then the endpoint's path and query.
    const target = this.basePath + pathOf(e, (args.params ?? {}) as Record<string, string>, args.query as Record<string, unknown> | undefined);
    const raw = args.body === undefined ? undefined : JSON.stringify(args.body);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `dc-agent/${AGENT_VERSION}` };
    if (raw !== undefined) headers['content-type'] = 'application/json';
    if (e.auth !== 'public') {
      if (!this.identity) throw new Error('a signed request needs the agent key');
      Object.assign(headers, signRequestHeaders(this.identity, { method: e.method, host: this.host, path: target, body: raw ?? '' }, { keyHeader: 'X-Agent-Pubkey' }));
    }
    const res = await httpRequest({
      method: e.method,
      base: this.base,
      target,
      headers,
      body: raw,
      signal: args.signal,
      timeoutMs: args.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      agent: this.agent,
    });
    const text = res.body.toString('utf8');
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (res.status >= 200 && res.status < 300) {
      if (parsed === undefined && text.length > 0) throw new NetworkError(`${e.method} ${target}: the answer is not JSON (is agent.api_url the dc-api base URL?)`);
      return parsed as ResultOf<E>;
    }
    const err = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof err?.code === 'string' ? err.code : `http_${res.status}`;
    const message = typeof err?.message === 'string' ? err.message : `HTTP ${res.status} from ${e.method} ${target}${text ? `: ${text.slice(0, 200)}` : ''}`;
    throw new ApiError(res.status, code, message, retryAfterMs(res.headers['retry-after']));
  }

  close(): void {
    this.agent.destroy();
  }
}

function retryAfterMs(h: string | string[] | undefined): number | null {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return null;
  const s = Number(v);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : null;
}
