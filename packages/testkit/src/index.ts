// The signed client of tests and benchmarks. One way to sign and send: `SignedClient` over a
// transport (real HTTP, or an in-process Fastify app), typed calls by endpoint name.
import http from 'node:http';
import {
  ENDPOINTS, authorityOf, pathOf, type BodyOf, type EndpointName, type KeyHeader, type ParamsOf, type QueryOf, type ResultOf,
} from '@dc/core';
import { signRequestHeaders, type Identity } from '@dc/core/node';

export interface RawRequest {
  method: string;
  /** The request target exactly as sent (path and query). */
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal?: AbortSignal;
  timeoutMs?: number;
}
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}
export type Transport = (req: RawRequest) => Promise<RawResponse>;

export interface Res<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

export const DEFAULT_TIMEOUT_MS = 15_000;

/** Real HTTP on node:http (fetch costs a client several times more CPU per request). */
export function httpTransport(baseUrl: string, agent: http.Agent = keepAliveAgent()): Transport {
  const u = new URL(baseUrl);
  const basePath = u.pathname.replace(/\/+$/, '');
  return (r) =>
    new Promise((resolve, reject) => {
      const headers = { ...r.headers };
      if (r.body !== undefined) headers['content-length'] = String(Buffer.byteLength(r.body));
      const timeoutMs = r.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const req = http.request(
        { hostname: u.hostname, port: Number(u.port || 80), method: r.method, path: basePath + r.path, headers, agent, signal: r.signal, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(r.body);
    });
}

export const keepAliveAgent = (maxSockets = Infinity) =>
  new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: Math.min(maxSockets, 1024), scheduling: 'lifo' });

/** What `injectTransport` needs of a Fastify app (kept structural: the testkit does not import Fastify). */
export interface Injectable {
  inject(opts: { method: string; url: string; headers: Record<string, string>; payload?: string }): PromiseLike<{
    statusCode: number;
    headers: Record<string, string | string[] | number | undefined>;
    body: string;
  }>;
}

/** In-process: the request goes through `app.inject` with `host` as the Host header. */
export function injectTransport(app: Injectable, host: string): Transport {
  return async (r) => {
    const res = await app.inject({ method: r.method, url: r.path, headers: { host, ...r.headers }, ...(r.body !== undefined ? { payload: r.body } : {}) });
    const headers: Record<string, string | string[] | undefined> = {};
    for (const [k, v] of Object.entries(res.headers)) headers[k] = typeof v === 'number' ? String(v) : v;
    return { status: res.statusCode, headers, text: res.body };
  };
}

export interface RequestOptions {
  keyHeader?: KeyHeader;
  contentType?: string;
  /** Extra headers, sent as given (after signing, so they may override it for auth edge cases). */
  headers?: Record<string, string>;
  timestamp?: number;
  nonce?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export type CallArgs<N extends EndpointName> = {
  params?: ParamsOf<(typeof ENDPOINTS)[N]>;
  query?: QueryOf<(typeof ENDPOINTS)[N]>;
  body?: BodyOf<(typeof ENDPOINTS)[N]> | string;
} & RequestOptions;

function parse(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class SignedClient {
  constructor(
    readonly transport: Transport,
    /** The authority signatures are made for (DC_PUBLIC_URL's, or the Host the server sees). */
    readonly signHost: string,
  ) {}

  static http(baseUrl: string, agent?: http.Agent): SignedClient {
    return new SignedClient(httpTransport(baseUrl, agent), authorityOf(baseUrl));
  }

  static inject(app: Injectable, host: string, signHost = host): SignedClient {
    return new SignedClient(injectTransport(app, host), signHost);
  }

  /** Sends `body` (JSON-encoded unless a string) signed by `who` (unsigned when null). */
  async request<T = any>(who: Identity | null, method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<Res<T>> {
    const raw = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string> = {};
    if (raw !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    if (who) {
      const signOpts = { ...(opts.keyHeader ? { keyHeader: opts.keyHeader } : {}), ...(opts.timestamp !== undefined ? { timestamp: opts.timestamp } : {}), ...(opts.nonce ? { nonce: opts.nonce } : {}) };
      Object.assign(headers, signRequestHeaders(who, { method, host: this.signHost, path, body: raw ?? '' }, signOpts));
    }
    Object.assign(headers, opts.headers ?? {});
    const res = await this.transport({ method, path, headers, body: raw, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
    return { status: res.status, body: parse(res.text) as T, text: res.text, headers: res.headers };
  }

  /** A typed call of a core endpoint by name. */
  call<N extends EndpointName>(who: Identity | null, name: N, args: CallArgs<N> = {}): Promise<Res<ResultOf<(typeof ENDPOINTS)[N]>>> {
    const e = ENDPOINTS[name];
    const { params, query, body, ...opts } = args;
    const keyHeader = opts.keyHeader ?? (e.auth === 'agent' || e.auth === 'setup' ? 'X-Agent-Pubkey' : undefined);
    const path = pathOf(e, (params ?? {}) as Record<string, string>, query as Record<string, unknown> | undefined);
    return this.request(who, e.method, path, body, { ...opts, ...(keyHeader ? { keyHeader } : {}) });
  }

  /** The same client bound to one signer. */
  as(who: Identity | null, keyHeader?: KeyHeader): BoundClient {
    return new BoundClient(this, who, keyHeader);
  }
}

export class BoundClient {
  constructor(
    readonly client: SignedClient,
    readonly who: Identity | null,
    readonly keyHeader?: KeyHeader,
  ) {}

  request<T = any>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<Res<T>> {
    return this.client.request<T>(this.who, method, path, body, { ...(this.keyHeader ? { keyHeader: this.keyHeader } : {}), ...opts });
  }

  call<N extends EndpointName>(name: N, args: CallArgs<N> = {}) {
    return this.client.call(this.who, name, { ...(this.keyHeader ? { keyHeader: this.keyHeader } : {}), ...args });
  }
}

/** Throws unless the answer is a success; returns it for chaining. */
export function mustOk<R extends Pick<Res, 'status' | 'text'>>(r: R, what = 'request'): R {
  if (r.status >= 300) throw new Error(`${what}: expected success, got ${r.status}: ${r.text}`);
  return r;
}

export { AGENT_WORKER_JS, envWithoutDc, freePort, sleep, waitReady } from './processes.js';
