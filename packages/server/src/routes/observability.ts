// Pool statistics and the audit log (DESIGN.md "Observability and audit (v3)").
import { ENDPOINTS } from '@dc/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { invalidInput } from '../errors.js';
import { registerPoolGauges } from '../pool-gauges.js';
import { listAudit } from '../store/audit.js';
import { poolStats } from '../store/stats.js';
import { route } from './common.js';

export function observabilityRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  registerPoolGauges(ctx);
  return async (app) => {
    route(app, ENDPOINTS.poolStats, async (req) =>
      poolStats(ctx.db, req.params.pubkey, req.params.pool_id, req.query.window ?? '24h'),
    );

    route(app, ENDPOINTS.listAudit, async (req) => {
      if (req.query.before !== undefined && req.query.after !== undefined) {
        throw invalidInput('Send either before or after, not both: before pages back, after tails newer rows.');
      }
      return listAudit(ctx.db, req.params.pubkey, req.query);
    });
  };
}
