// The one transport every resource module uses: builds the request target, signs the exact bytes
// it sends (DESIGN.md "Request signing"), decodes `{error:{code,message}}` into ApiError.
import type { CsvRowError, ErrorBody } from '@dc/core';
import { signedHeaders, utf8Bytes, type SigningKey } from './signing.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Per-row problems of a refused CSV import (400 invalid_csv). */
    readonly rows: CsvRowError[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type Query = Record<string, string | number | undefined | null>;

export interface RequestOptions {
  query?: Query;
  json?: unknown;
  csv?: string;
  /** Read the answer as text (CSV export) instead of JSON. */
  text?: boolean;
  signal?: AbortSignal;
}

export interface Client {
  readonly publicKey: string;
  request<T>(method: string, path: string, opts?: RequestOptions): Promise<T>;
}

/** `/api/v1/providers/{pk}` with path segments percent-encoded. */
export function providerPath(publicKey: string, ...segments: string[]): string {
  return ['/api/v1/providers', publicKey, ...segments].map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join('/');
}

/** path + `?query` in the exact form the browser puts on the request line. */
export function requestTarget(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  // Let the URL parser normalise it, and sign what it produced: that is what goes on the wire.
  const u = new URL(path + (qs ? `?${qs}` : ''), 'http://x.invalid');
  return u.pathname + u.search;
}

export interface ClientOptions {
  /** Base URL of dc-api; the dashboard uses its own origin. */
  origin?: string;
  fetchImpl?: typeof fetch;
}

export function createClient(key: SigningKey, opts: ClientOptions = {}): Client {
  const origin = opts.origin ?? location.origin;
  const host = new URL(origin).host.toLowerCase();
  const doFetch = opts.fetchImpl ?? fetch.bind(globalThis);
  // Server clock minus ours, learnt from a stale_request answer; clocks of laptops drift.
  let clockOffsetMs = 0;

  async function send(method: string, target: string, o: RequestOptions): Promise<Response> {
    let body: Uint8Array<ArrayBuffer> | undefined;
    const headers: Record<string, string> = { Accept: o.text ? 'text/csv, application/json' : 'application/json' };
    if (o.csv !== undefined) {
      body = utf8Bytes(o.csv);
      headers['Content-Type'] = 'text/csv';
    } else if (o.json !== undefined) {
      body = utf8Bytes(JSON.stringify(o.json));
      headers['Content-Type'] = 'application/json';
    }
    Object.assign(headers, await signedHeaders(key, { method, host, path: target, ...(body ? { body } : {}), timestamp: Date.now() + clockOffsetMs }));
    return doFetch(origin + target, { method, headers, ...(body ? { body } : {}), ...(o.signal ? { signal: o.signal } : {}), credentials: 'omit', cache: 'no-store' });
  }

  return {
    publicKey: key.publicKey,
    async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
      const target = requestTarget(path, o.query);
      let res = await send(method, target, o);
      if (res.status === 401) {
        const err = await decodeError(res.clone());
        const serverDate = Date.parse(res.headers.get('date') ?? '');
        if (err.code === 'stale_request' && Number.isFinite(serverDate)) {
          clockOffsetMs = serverDate - Date.now();
          res = await send(method, target, o);
        }
      }
      if (!res.ok) throw await decodeError(res);
      if (res.status === 204) return undefined as T;
      if (o.text) return (await res.text()) as T;
      return (await res.json()) as T;
    },
  };
}

async function decodeError(res: Response): Promise<ApiError> {
  let body: (ErrorBody & { error: { rows?: CsvRowError[] } }) | undefined;
  try {
    body = (await res.json()) as typeof body;
  } catch {
    body = undefined;
  }
  const e = body?.error;
  if (e && typeof e.code === 'string') return new ApiError(res.status, e.code, e.message, Array.isArray(e.rows) ? e.rows : []);
  return new ApiError(res.status, 'http_error', `The server answered ${res.status} ${res.statusText || ''}`.trim() + '.');
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
