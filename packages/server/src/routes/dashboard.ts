// Serves the provider dashboard (packages/web/dist, built by `npm run build`) at /dashboard/:
// hashed assets with a long cache, index.html for every other path under /dashboard/ so deep
// links work on reload, and DESIGN.md's Content-Security-Policy on every dashboard response.
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { AppContext } from '../context.js';
import { COMPRESS_MIN_BYTES, compressBody, pickEncoding, type Encoding } from '../http/compress.js';

export const DASHBOARD_CSP = "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";
export const DASHBOARD_HOME = '/dashboard/provider/pools';

/** packages/web/dist, seen from packages/server/dist/src/routes/. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../../../web/dist/', import.meta.url));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};
/** Asset names carry a content hash, so they never change under the same URL: cache for a year. */
const ASSET_MAX_AGE_SECONDS = 31_536_000;
/** Top-level files (the favicon) keep their name across builds: an hour. */
const TOP_LEVEL_MAX_AGE_SECONDS = 3600;
/** Assets worth compressing (fonts and images are compressed already). */
const COMPRESSIBLE_ASSET = /\.(js|css|svg|json|txt|html)$/;
/** Top-level files of the build besides index.html (Vite copies public/ there). */
const TOP_LEVEL_FILES = new Set(['favicon.svg']);

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export function dashboardRoutes(_ctx: AppContext, distDir: string = DEFAULT_DASHBOARD_DIR): FastifyPluginAsync {
  const root = normalize(distDir.endsWith(sep) ? distDir : distDir + sep);
  // Hashed assets never change under their name: each is compressed once, at the best level, and kept.
  const compressed = new Map<string, Promise<{ bytes: Buffer; encoded: boolean }>>();
  function precompressed(file: string, encoding: Encoding): Promise<{ bytes: Buffer; encoded: boolean }> {
    const key = `${encoding}:${file}`;
    let entry = compressed.get(key);
    if (!entry) {
      entry = readFile(file).then(async (raw) =>
        COMPRESSIBLE_ASSET.test(file) && raw.length >= COMPRESS_MIN_BYTES ? { bytes: await compressBody(raw, encoding, true), encoded: true } : { bytes: raw, encoded: false });
      entry.catch(() => compressed.delete(key));
      compressed.set(key, entry);
    }
    return entry;
  }

  async function sendIndex(reply: FastifyReply) {
    let html: Buffer;
    try {
      html = await readFile(join(root, 'index.html'));
    } catch {
      return securityHeaders(reply)
        .code(503)
        .header('cache-control', 'no-store')
        .send({
          error: {
            code: 'dashboard_not_built',
            message: 'The dashboard has not been built: run `npm run build` at the repository root (it writes packages/web/dist), then reload.',
          },
        });
    }
    // index.html names the current hashed assets: never cache it.
    return securityHeaders(reply).type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html);
  }

  return async (app) => {
    app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect(DASHBOARD_HOME, 302));
    app.get('/dashboard', { schema: { hide: true } }, async (_req, reply) => securityHeaders(reply).redirect(DASHBOARD_HOME, 302));

    app.get<{ Params: { '*'?: string } }>('/dashboard/*', { schema: { hide: true } }, async (req, reply) => {
      const rest = req.params['*'] ?? '';
      let rel: string;
      try {
        rel = decodeURIComponent(rest);
      } catch {
        rel = rest;
      }
      const isAsset = rel.startsWith('assets/');
      if (isAsset || TOP_LEVEL_FILES.has(rel)) {
        const file = normalize(join(root, rel));
        // normalize() resolves "..": anything that lands outside dist is not ours to serve.
        if (!file.startsWith(root) || rel.includes('\0') || !(await isFile(file))) {
          return securityHeaders(reply).code(404).send({ error: { code: 'not_found', message: `No dashboard file ${rel}.` } });
        }
        const type = TYPES[extname(file)] ?? 'application/octet-stream';
        const encoding = isAsset ? pickEncoding(req.headers['accept-encoding']) : null;
        const body = encoding ? await precompressed(file, encoding) : { bytes: await readFile(file), encoded: false };
        if (body.encoded) reply.header('content-encoding', encoding!).header('vary', 'accept-encoding');
        return securityHeaders(reply)
          .type(type)
          .header('cache-control', isAsset ? `public, max-age=${ASSET_MAX_AGE_SECONDS}, immutable` : `public, max-age=${TOP_LEVEL_MAX_AGE_SECONDS}`)
          .send(body.bytes);
      }
      return sendIndex(reply);
    });
  };
}
