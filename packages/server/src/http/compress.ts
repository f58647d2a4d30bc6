// Response compression (brotli, else gzip) when the client accepts it: JSON answers, CSV, metrics,
// the installer and the dashboard's HTML. Small answers go as they are (headers would outweigh the
// saving). The dashboard's hashed assets arrive here already compressed (routes/dashboard.ts keeps a
// best-quality copy of each), so their encoding is left alone.
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';

const brotli = promisify(brotliCompress);
const gz = promisify(gzip);

/** Below this a body is sent as is. */
export const COMPRESS_MIN_BYTES = 1024;
/** Brotli quality for answers made per request: close to gzip -6 in time, smaller than it. */
const DYNAMIC_BROTLI_QUALITY = 4;

export type Encoding = 'br' | 'gzip';

/** The encoding to use for an Accept-Encoding header: br, else gzip, honouring q=0; null for none. */
export function pickEncoding(header: string | string[] | undefined): Encoding | null {
  if (!header) return null;
  const accepted = new Map<string, number>();
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [name, ...opts] = part.trim().toLowerCase().split(';');
    const q = opts.map((o) => o.trim()).find((o) => o.startsWith('q='));
    accepted.set(name!, q ? Number(q.slice(2)) || 0 : 1);
  }
  const ok = (e: string) => (accepted.get(e) ?? accepted.get('*') ?? 0) > 0;
  if (ok('br')) return 'br';
  if (ok('gzip')) return 'gzip';
  return null;
}

const COMPRESSIBLE = /^(application\/(json|javascript)|text\/|image\/svg\+xml)/;

export async function compressBody(body: string | Buffer, encoding: Encoding, best = false): Promise<Buffer> {
  if (encoding === 'gzip') return gz(body, { level: best ? 9 : 6 });
  return brotli(body, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: best ? constants.BROTLI_MAX_QUALITY : DYNAMIC_BROTLI_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: Buffer.byteLength(body),
    },
  });
}

export function registerCompression(app: FastifyInstance): void {
  app.addHook('onSend', (req, reply, payload, done) => {
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return done(null, payload);
    // Whether or not this answer is compressed, another client's may be: caches must key on it.
    const type = String(reply.getHeader('content-type') ?? '');
    if (!COMPRESSIBLE.test(type) || reply.hasHeader('content-encoding')) return done(null, payload);
    reply.header('vary', 'accept-encoding');
    if (req.method === 'HEAD' || Buffer.byteLength(payload) < COMPRESS_MIN_BYTES) return done(null, payload);
    const encoding = pickEncoding(req.headers['accept-encoding']);
    if (!encoding) return done(null, payload);
    reply.header('content-encoding', encoding).removeHeader('content-length');
    compressBody(payload, encoding).then((body) => done(null, body), done);
  });
}
