// A Proxmox VE API client (https://pve.proxmox.com/pve-docs/api-viewer/): API-token auth, form
// encoded parameters, `{"data": …}` answers, errors in the status line and `errors` object, and
// the task model (most writes return a UPID to wait for).
import type https from 'node:https';
import { readFileSync } from 'node:fs';
import { httpRequest, tlsAgent } from '../../http.js';
import { NetworkError } from '../../errors.js';
import { sleep } from '../../util.js';

export type PveParams = Record<string, string | number | boolean | undefined | null>;

export class PveError extends Error {
  override name = 'PveError';
  constructor(
    readonly status: number,
    message: string,
    readonly errors: Record<string, string> | null = null,
  ) {
    super(message);
  }
}

export interface PveClientOptions {
  apiUrl: string;
  /** USER@REALM!TOKENID */
  tokenId: string;
  tokenSecret: string;
  tlsFingerprint?: string | null;
  caFile?: string | null;
  timeoutMs?: number;
}

export interface TaskStatus {
  status: 'running' | 'stopped';
  exitstatus?: string;
  upid?: string;
  node?: string;
  type?: string;
}

/** The node a UPID ran on: UPID:{node}:{pid}:{pstart}:{starttime}:{type}:{id}:{user}: */
export function nodeOfUpid(upid: string): string | null {
  const m = /^UPID:([^:]+):/.exec(upid);
  return m ? m[1]! : null;
}

export function isUpid(v: unknown): v is string {
  return typeof v === 'string' && v.startsWith('UPID:');
}

/** PVE encodes booleans as 1/0; everything else as text. */
export function encodeParams(params: PveParams): URLSearchParams {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    q.set(k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  return q;
}

export class PveClient {
  private readonly base: URL;
  private readonly prefix: string;
  private readonly agent: https.Agent | undefined;
  private readonly auth: string;
  private readonly timeoutMs: number;

  constructor(opts: PveClientOptions) {
    this.base = new URL(opts.apiUrl);
    this.prefix = `${this.base.pathname.replace(/\/+$/, '')}/api2/json`;
    this.agent = this.base.protocol === 'https:' ? tlsAgent({ fingerprint: opts.tlsFingerprint, ca: opts.caFile ? readFileSync(opts.caFile) : null }) : undefined;
    this.auth = `PVEAPIToken=${opts.tokenId}=${opts.tokenSecret}`;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  get<T>(path: string, params: PveParams = {}, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, params, signal);
  }
  post<T>(path: string, params: PveParams = {}, signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', path, params, signal);
  }
  put<T>(path: string, params: PveParams = {}, signal?: AbortSignal): Promise<T> {
    return this.request<T>('PUT', path, params, signal);
  }
  delete<T>(path: string, params: PveParams = {}, signal?: AbortSignal): Promise<T> {
    return this.request<T>('DELETE', path, params, signal);
  }

  async request<T>(method: string, path: string, params: PveParams, signal?: AbortSignal): Promise<T> {
    const form = encodeParams(params).toString();
    const inQuery = method === 'GET' || method === 'DELETE';
    const target = `${this.prefix}${path}${inQuery && form ? `?${form}` : ''}`;
    const headers: Record<string, string> = { authorization: this.auth, accept: 'application/json' };
    if (!inQuery) headers['content-type'] = 'application/x-www-form-urlencoded';
    let res;
    try {
      res = await httpRequest({ method, base: this.base, target, headers, body: inQuery ? undefined : form, signal, timeoutMs: this.timeoutMs, agent: this.agent });
    } catch (err) {
      if (err instanceof NetworkError) throw new PveError(0, `Proxmox API unreachable: ${err.message}`);
      throw err;
    }
    let body: { data?: unknown; errors?: Record<string, string>; message?: string } = {};
    try {
      body = JSON.parse(res.body.toString('utf8') || '{}');
    } catch {
      body = {};
    }
    if (res.status >= 400) {
      const detail = body.errors ? ` (${Object.entries(body.errors).map(([k, v]) => `${k}: ${String(v).trim()}`).join('; ')})` : '';
      const msg = (res.statusMessage || body.message || `HTTP ${res.status}`).trim();
      throw new PveError(res.status, `${method} ${path}: ${msg}${detail}`, body.errors ?? null);
    }
    return body.data as T;
  }

  /** Polls a task until it stops; throws PveError with the log's tail when it did not end OK. */
  async waitTask(upid: string, opts: { timeoutMs: number; pollMs: number; signal?: AbortSignal; what: string }): Promise<void> {
    const node = nodeOfUpid(upid);
    if (!node) throw new PveError(0, `${opts.what}: not a task id: ${upid}`);
    const path = `/nodes/${encodeURIComponent(node)}/tasks/${encodeURIComponent(upid)}`;
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const st = await this.get<TaskStatus>(`${path}/status`, {}, opts.signal);
      if (st.status === 'stopped') {
        const exit = st.exitstatus ?? '';
        if (exit === 'OK' || exit.startsWith('WARNINGS')) return;
        const tail = await this.taskLogTail(path, opts.signal).catch(() => '');
        throw new PveError(0, `${opts.what} failed: ${exit || 'unknown error'}${tail ? ` — task log: ${tail}` : ''}`);
      }
      if (Date.now() >= deadline) throw new PveError(0, `${opts.what} did not finish within ${Math.round(opts.timeoutMs / 1000)} s (task ${upid})`);
      await sleep(opts.pollMs, opts.signal);
    }
  }

  private async taskLogTail(path: string, signal?: AbortSignal): Promise<string> {
    const lines = await this.get<{ n: number; t: string }[]>(`${path}/log`, { start: 0, limit: 500 }, signal);
    return lines
      .slice(-5)
      .map((l) => l.t)
      .join(' | ');
  }

  /** Waits for a task when the call returned one (config POST and resize may answer null). */
  async maybeWait(result: unknown, opts: { timeoutMs: number; pollMs: number; signal?: AbortSignal; what: string }): Promise<void> {
    if (isUpid(result)) await this.waitTask(result, opts);
  }
}
