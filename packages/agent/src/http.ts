// One small HTTP(S) client on node:http, used by the dc-api transport, the Proxmox client and the
// manual provisioner's webhook. node:http rather than fetch: the request target must be exactly
// the signed path, TLS may be pinned to a certificate fingerprint, and Node 18 (the bundle's
// floor) still flags fetch as experimental.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { NetworkError } from './errors.js';
import { abortErrorOf } from './util.js';

export interface HttpRequest {
  method: string;
  /** Scheme, host and port come from here. */
  base: URL;
  /** The request target exactly as it goes on the request line (path and query). */
  target: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  signal?: AbortSignal;
  timeoutMs?: number;
  agent?: http.Agent;
  /** Larger answers are an error (a misbehaving server must not exhaust memory). */
  maxBytes?: number;
}

export interface HttpResponse {
  status: number;
  /** The reason phrase (Proxmox puts its error message there). */
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

export function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const isHttps = req.base.protocol === 'https:';
  const mod = isHttps ? https : http;
  const maxBytes = req.maxBytes ?? DEFAULT_MAX_BYTES;
  const where = `${req.method} ${req.base.origin}${req.target.split('?')[0]}`;
  return new Promise<HttpResponse>((resolve, reject) => {
    if (req.signal?.aborted) return reject(abortErrorOf(req.signal));
    let settled = false;
    const done = (err: Error | null, res?: HttpResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(res!);
    };
    const headers: Record<string, string> = { ...(req.headers ?? {}) };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    const r = mod.request({
      protocol: req.base.protocol,
      hostname: req.base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: req.base.port || (isHttps ? 443 : 80),
      method: req.method,
      path: req.target,
      headers,
      agent: req.agent,
    });
    const onAbort = () => {
      r.destroy();
      done(abortErrorOf(req.signal!));
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      r.destroy();
      done(new NetworkError(`${where}: no answer within ${req.timeoutMs} ms`));
    }, req.timeoutMs ?? 30_000);
    r.on('error', (err) => done(new NetworkError(`${where}: ${describeNetError(err)}`, err)));
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          r.destroy();
          done(new NetworkError(`${where}: answer larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', (err) => done(new NetworkError(`${where}: ${describeNetError(err)}`, err)));
      res.on('end', () => done(null, { status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.end(req.body);
  });
}

function describeNetError(err: Error & { code?: string }): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the server running and the URL right?)';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
      return 'host not found';
    case 'ETIMEDOUT':
      return 'connection timed out';
    default:
      return err.code ? `${err.code}: ${err.message}` : err.message;
  }
}

/** SHA-256 fingerprint in the colon-separated upper-case form Proxmox shows; accepts any form. */
export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
  return hex.match(/.{2}/g)?.join(':') ?? '';
}

/**
 * An HTTPS agent that trusts exactly one certificate, by its SHA-256 fingerprint (what a
 * self-signed Proxmox node presents). The check runs before the socket is handed to the request,
 * so no byte of the request (and no API token) reaches a server that does not match.
 */
export class PinnedAgent extends https.Agent {
  private readonly expected: string;
  constructor(fingerprint: string, opts: https.AgentOptions = {}) {
    super({ ...opts, rejectUnauthorized: false });
    this.expected = normalizeFingerprint(fingerprint);
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const sock = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false });
    const onError = (err: Error) => callback?.(err, sock);
    sock.once('error', onError);
    sock.once('secureConnect', () => {
      sock.removeListener('error', onError);
      const got = normalizeFingerprint(sock.getPeerCertificate().fingerprint256 ?? '');
      if (got !== this.expected) {
        sock.destroy();
        callback?.(new Error(`TLS certificate fingerprint ${got} does not match the pinned ${this.expected}`), sock);
        return;
      }
      callback?.(null, sock);
    });
    return undefined;
  }
}

/** The agent for a TLS policy: pinned fingerprint, a CA file's certificates, or the system's. */
export function tlsAgent(opts: { fingerprint?: string | null; ca?: Buffer | null }): https.Agent {
  if (opts.fingerprint) return new PinnedAgent(opts.fingerprint);
  if (opts.ca) return new https.Agent({ ca: opts.ca });
  return new https.Agent();
}
