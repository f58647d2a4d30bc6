// The one-liner's targets (DESIGN.md "dc-agent and the installer"): GET /setup serves the bash
// installer, GET /downloads/dc-agent.mjs the esbuild bundle of dc-agent and
// GET /downloads/dc-agent.mjs.sha256 its checksum, which the installer verifies. Both files live
// in packages/agent; they are read (and hashed) at start-up and served from memory, so the bytes
// and the checksum always belong together. A bundle that was not built yet is looked for again on
// the next request and answered 503 meanwhile.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { AppContext } from '../context.js';

/** packages/agent, seen from packages/server/dist/src/routes. */
const DEFAULT_AGENT_DIR = fileURLToPath(new URL('../../../../agent/', import.meta.url));
export const INSTALLER_PATH = 'installer/setup.sh';
export const BUNDLE_PATH = 'dist/dc-agent.mjs';

interface Loaded {
  bytes: Buffer;
  sha256: string;
}

function load(path: string): Loaded | null {
  try {
    const bytes = readFileSync(path);
    return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  } catch {
    return null;
  }
}

export function installerRoutes(_ctx: AppContext, opts: { agentDir?: string } = {}): FastifyPluginAsync {
  const dir = opts.agentDir ?? DEFAULT_AGENT_DIR;
  let script = load(join(dir, INSTALLER_PATH));
  let bundle = load(join(dir, BUNDLE_PATH));
  const bundleOr503 = (reply: FastifyReply): Loaded | null => {
    bundle ??= load(join(dir, BUNDLE_PATH));
    if (!bundle) {
      reply.code(503).send({
        error: { code: 'agent_bundle_missing', message: 'The dc-agent bundle is not built on this server; run "npm run build" (it creates packages/agent/dist/dc-agent.mjs).' },
      });
    }
    return bundle;
  };

  return async (app) => {
    app.get('/setup', { schema: { hide: true } }, async (_req, reply) => {
      script ??= load(join(dir, INSTALLER_PATH));
      if (!script) {
        return reply.code(503).send({ error: { code: 'installer_missing', message: `The installer script (packages/agent/${INSTALLER_PATH}) is missing on this server.` } });
      }
      return reply.type('text/x-shellscript; charset=utf-8').header('cache-control', 'no-store').send(script.bytes);
    });

    app.get('/downloads/dc-agent.mjs', { schema: { hide: true } }, async (_req, reply) => {
      const b = bundleOr503(reply);
      if (!b) return reply;
      return reply
        .type('text/javascript; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('x-checksum-sha256', b.sha256)
        .header('content-disposition', 'attachment; filename="dc-agent.mjs"')
        .send(b.bytes);
    });

    app.get('/downloads/dc-agent.mjs.sha256', { schema: { hide: true } }, async (_req, reply) => {
      const b = bundleOr503(reply);
      if (!b) return reply;
      // sha256sum's format, so `sha256sum -c` works on it too.
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(`${b.sha256}  dc-agent.mjs\n`);
    });
  };
}
