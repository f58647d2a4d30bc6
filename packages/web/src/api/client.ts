// The one transport: `call(name, {params, query, body})` of a core endpoint (ENDPOINTS gives the
// method, path and types), signed over the exact target and bytes it sends (DESIGN.md "Request
// signing"); `{error:{code,message}}` answers become ApiError. GETs are conditional: the last
// answer's ETag goes out as If-None-Match, and a 304 hands back the value already held (the same
// object, so React Query sees no change and nothing re-renders).
import {
  ENDPOINTS,
  isErrorCode,
  pathOf,
  type BodyOf,
  type CsvImportErrorBody,
  type CsvRowError,
  type Endpoint,
  type EndpointName,
  type ErrorCode,
  type ParamsOf,
  type QueryOf,
  type ResultOf,
} from '@dc/core';
import { signedHeaders, utf8Bytes, type SigningKey } from './signing.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** The catalogue code, or `http_error` when the answer carried none we know. */
    readonly code: ErrorCode | 'http_error',
    message: string,
    /** Per-row problems of a refused CSV import (400 invalid_csv). */
    readonly rows: CsvRowError[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Ep<N extends EndpointName> = (typeof ENDPOINTS)[N];

/** What a call sends. `pubkey` is always the signed-in provider's, so the client fills it in. */
interface CallArgs<N extends EndpointName> {
  params?: Omit<ParamsOf<Ep<N>>, 'pubkey'>;
  query?: QueryOf<Ep<N>>;
  /** JSON, or the raw text of endpoints that consume another type (CSV import). */
  body?: Ep<N> extends { consumes: readonly string[] } ? string : BodyOf<Ep<N>>;
  signal?: AbortSignal;
}

/** Endpoints that produce something other than JSON (CSV export) answer with its text. */
type CallResult<N extends EndpointName> = Ep<N> extends { produces: readonly string[] } ? string : ResultOf<Ep<N>>;

/** Arguments are optional only where the endpoint needs none besides the provider's key. */
type ArgsOf = { [N in EndpointName]: object extends Omit<ParamsOf<Ep<N>>, 'pubkey'> ? [args?: CallArgs<N>] : [args: CallArgs<N>] };

export interface Client {
  readonly publicKey: string;
  // NoInfer: N comes from the name alone (inferring it from an expected result never ends).
  call<N extends EndpointName>(name: N, ...args: NoInfer<ArgsOf[N]>): Promise<NoInfer<CallResult<N>>>;
}

/**
 * The target as the browser puts it on the request line: fetch re-encodes what the URL parser
 * changes (a `'` in a query becomes %27), and the signature must cover the bytes sent.
 */
export function wireTarget(target: string): string {
  const u = new URL(target, 'http://x.invalid');
  return u.pathname + u.search;
}

/** GET answers kept for If-None-Match, most recently used last; enough for every polled query. */
const CONDITIONAL_ENTRIES = 200;

export function createClient(key: SigningKey): Client {
  const origin = location.origin;
  const host = location.host.toLowerCase();
  // Server clock minus ours, learnt from a stale_request answer; clocks of laptops drift.
  let clockOffsetMs = 0;
  const held = new Map<string, { etag: string; value: unknown }>();

  async function send(method: string, target: string, body: string | undefined, contentType: string, accept: string, signal?: AbortSignal): Promise<Response> {
    const bytes = body === undefined ? undefined : utf8Bytes(body);
    const headers: Record<string, string> = { Accept: accept };
    const etag = method === 'GET' ? held.get(target)?.etag : undefined;
    if (etag) headers['If-None-Match'] = etag;
    if (bytes) headers['Content-Type'] = contentType;
    Object.assign(headers, await signedHeaders(key, { method, host, path: target, ...(bytes ? { body: bytes } : {}), timestamp: Date.now() + clockOffsetMs }));
    return fetch(origin + target, { method, headers, ...(bytes ? { body: bytes } : {}), ...(signal ? { signal } : {}), credentials: 'omit', cache: 'no-store' });
  }

  /** Untyped inside; `Client['call']` types it for callers from ENDPOINTS. */
  async function call(name: EndpointName, args: { params?: object; query?: object; body?: unknown; signal?: AbortSignal } = {}): Promise<unknown> {
    const e: Endpoint = ENDPOINTS[name];
    const target = wireTarget(pathOf(e, { ...(args.params as Record<string, string> | undefined), pubkey: key.publicKey }, args.query as Record<string, unknown> | undefined));
    const raw = args.body === undefined ? undefined : typeof args.body === 'string' ? args.body : JSON.stringify(args.body);
    const contentType = e.consumes?.[0] ?? 'application/json';
    const accept = e.produces ? `${e.produces[0]}, application/json` : 'application/json';
    let res = await send(e.method, target, raw, contentType, accept, args.signal);
    if (res.status === 401) {
      const err = await decodeError(res.clone());
      const serverDate = Date.parse(res.headers.get('date') ?? '');
      if (err.code === 'stale_request' && Number.isFinite(serverDate)) {
        clockOffsetMs = serverDate - Date.now();
        res = await send(e.method, target, raw, contentType, accept, args.signal);
      }
    }
    if (res.status === 304) {
      const h = held.get(target);
      if (h) {
        held.delete(target);
        held.set(target, h);
        return h.value;
      }
    }
    if (!res.ok) throw await decodeError(res);
    if (res.status === 204) return undefined;
    const value: unknown = await (e.produces ? res.text() : res.json());
    const etag = e.method === 'GET' ? res.headers.get('etag') : null;
    if (etag) {
      held.delete(target);
      held.set(target, { etag, value });
      if (held.size > CONDITIONAL_ENTRIES) held.delete(held.keys().next().value as string);
    } else held.delete(target);
    return value;
  }

  return { publicKey: key.publicKey, call: call as Client['call'] };
}

async function decodeError(res: Response): Promise<ApiError> {
  let body: Partial<CsvImportErrorBody> | undefined;
  try {
    body = (await res.json()) as typeof body;
  } catch {
    body = undefined;
  }
  const e = body?.error;
  if (e && typeof e.message === 'string') return new ApiError(res.status, isErrorCode(e.code) ? e.code : 'http_error', e.message, Array.isArray(e.rows) ? e.rows : []);
  return new ApiError(res.status, 'http_error', `The server answered ${res.status} ${res.statusText || ''}`.trim() + '.');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
