// dcctl's client of dc-api: every call names a core endpoint (ENDPOINTS), so paths, parameters,
// bodies and results are typed by the contract; requests are DC1-signed with the key file's key
// over the exact request target that goes on the wire.
import http from 'node:http';
import https from 'node:https';
import {
  ENDPOINTS, authorityOf, pathOf, type BodyOf, type Endpoint, type EndpointName, type ParamsOf, type QueryOf, type ResultOf,
} from '@dc/core';
import { signRequestHeaders, type Identity } from '@dc/core/node';
import { ApiError, NetworkError, codeForStatus, defaultMessage, type RowError } from './errors.js';

export const REQUEST_TIMEOUT_MS = 30_000;

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export type CallArgs<N extends EndpointName> = {
  params?: ParamsOf<(typeof ENDPOINTS)[N]>;
  query?: QueryOf<(typeof ENDPOINTS)[N]>;
  body?: BodyOf<(typeof ENDPOINTS)[N]>;
};

export type Result<N extends EndpointName> = ResultOf<(typeof ENDPOINTS)[N]>;

export class Api {
  private readonly base: URL;
  private readonly basePath: string;
  readonly signHost: string;

  constructor(
    readonly apiUrl: string,
    private readonly signer: Identity | null,
  ) {
    this.base = new URL(apiUrl);
    this.basePath = this.base.pathname.replace(/\/+$/, '');
    this.signHost = authorityOf(apiUrl);
  }

  /** Calls a core endpoint by name; a non-2xx answer throws ApiError. */
  call<N extends EndpointName>(name: N, args?: CallArgs<N>): Promise<Result<N>> {
    const e: Endpoint = ENDPOINTS[name];
    // Loosened once here: the typed shapes are checked at each call site.
    const loose = (args ?? {}) as { params?: Record<string, string>; query?: Record<string, unknown>; body?: unknown };
    const path = pathOf(e, loose.params ?? {}, loose.query);
    const body = loose.body === undefined ? undefined : JSON.stringify(loose.body);
    return this.json(e.method, path, body);
  }

  private async json<T = any>(method: string, path: string, body: string | undefined): Promise<T> {
    const a = await this.send(method, path, body, body === undefined ? undefined : 'application/json');
    return (a.text ? JSON.parse(a.text) : undefined) as T;
  }

  /** A signed request with a raw body (CSV import) or a raw answer (CSV export). */
  async send(method: string, path: string, body?: string, contentType?: string): Promise<RawAnswer> {
    const target = this.basePath + path;
    const headers: Record<string, string> = { accept: 'application/json, text/csv' };
    if (body !== undefined) headers['content-type'] = contentType ?? 'application/json';
    if (this.signer) Object.assign(headers, signRequestHeaders(this.signer, { method, host: this.signHost, path: target, body: body ?? '' }));
    const answer = await this.request(method, target, headers, body);
    if (answer.status >= 200 && answer.status < 300) return answer;
    throw apiErrorOf(answer);
  }

  private request(method: string, target: string, headers: Record<string, string>, body: string | undefined): Promise<RawAnswer> {
    const mod = this.base.protocol === 'https:' ? https : http;
    const where = `${this.base.origin}`;
    return new Promise((resolve, reject) => {
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const req = mod.request(
        {
          protocol: this.base.protocol,
          hostname: this.base.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: this.base.port || undefined,
          method,
          path: target,
          headers,
          // One request per run: no keep-alive socket holds the process open afterwards.
          agent: false,
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(networkError(where, err)));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => reject(networkError(where, err)));
      req.end(body);
    });
  }
}

function apiErrorOf(answer: RawAnswer): ApiError {
  let parsed: { error?: { code?: unknown; message?: unknown; rows?: unknown } } | undefined;
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    parsed = undefined;
  }
  const err = parsed?.error;
  const code = typeof err?.code === 'string' ? err.code : codeForStatus(answer.status);
  const message = typeof err?.message === 'string' ? err.message : defaultMessage(code, answer.status);
  const retryAfter = answer.headers['retry-after'];
  return new ApiError(answer.status, code, message, {
    ...(Array.isArray(err?.rows) ? { rows: err.rows as RowError[] } : {}),
    retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
  });
}

function networkError(where: string, err: Error & { code?: string }): NetworkError {
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ETIMEDOUT: err.message,
    EHOSTUNREACH: 'host unreachable',
  };
  const reason = (err.code && why[err.code]) ?? err.message;
  return new NetworkError(
    `cannot reach dc-api at ${where}: ${reason}`,
    'is dc-api running there? Set the address with --api-url or DC_API_URL (default http://127.0.0.1:8080), then run the command again',
  );
}
