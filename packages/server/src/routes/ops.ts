import type { FastifyPluginAsync } from 'fastify';
import type { AppContext } from '../context.js';
import { appliedMigrations } from '../store/ops.js';

export function opsRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

    app.get('/readyz', { schema: { hide: true } }, async (req, reply) => {
      try {
        const applied = await appliedMigrations(ctx.db);
        // Without the LISTEN connection, wake-ups from other replicas do not arrive: not ready yet.
        if (!ctx.db.listening) return reply.code(503).send({ status: 'database_unavailable' });
        if (applied >= ctx.expectedMigrations) return { status: 'ready' };
        return reply.code(503).send({ status: 'migrating' });
      } catch (err) {
        req.log.warn({ err: (err as Error).message }, 'readiness check failed');
        return reply.code(503).send({ status: 'database_unavailable' });
      }
    });

    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      reply.type(ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    });

    app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  };
}
