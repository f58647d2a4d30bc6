import { ENDPOINTS, SETUP_TOKEN_DEFAULT_HOURS, setupOneLiner } from '@dc/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { createPool, deletePool, getPool, listPoolAgents, listPools, pagePoolAgents, poolMachines, requirePool, updatePool } from '../store/pools.js';
import { createSetupToken, listPendingTokens, revokeSetupToken } from '../store/tokens.js';
import { registerMachineGauges } from '../machine-gauges.js';
import { poolRoundTrip } from '../http/round-trip.js';
import { route } from './common.js';
import { publicBaseUrl } from './setup-command.js';

export function poolRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  const offlineAfter = ctx.config.agentOfflineAfterSeconds;
  registerMachineGauges(ctx);
  return async (app) => {
    route(app, ENDPOINTS.createPool, async (req) => {
      const { pubkey } = req.params;
      const poolId = await createPool(ctx.db, pubkey, req.body);
      return getPool(ctx.db, pubkey, poolId, offlineAfter);
    });

    route(app, ENDPOINTS.listPools, async (req) => ({ items: await listPools(ctx.db, req.params.pubkey, offlineAfter) }));

    route(app, ENDPOINTS.getPool, async (req) => {
      const { pubkey, pool_id } = req.params;
      const pool = await getPool(ctx.db, pubkey, pool_id, offlineAfter);
      const agents = await listPoolAgents(ctx.db, pool_id, offlineAfter, req.query.agents_limit);
      return { ...pool, agents, ...(await poolMachines(ctx.db, pool_id, ctx.config.stickyGraceSeconds)) };
    });

    route(app, ENDPOINTS.listPoolAgents, async (req) => {
      const { pubkey, pool_id } = req.params;
      await requirePool(ctx.db, pubkey, pool_id);
      return pagePoolAgents(ctx.db, pool_id, offlineAfter, req.query);
    });

    route(app, ENDPOINTS.updatePool, async (req) => {
      const { pubkey, pool_id } = req.params;
      await updatePool(ctx.db, pubkey, pool_id, req.body);
      return getPool(ctx.db, pubkey, pool_id, offlineAfter);
    }, { preValidation: poolRoundTrip(ctx.db) }); // a GET → PUT round trip: read-only fields taken out

    route(app, ENDPOINTS.deletePool, async (req) => {
      await deletePool(ctx.db, req.params.pubkey, req.params.pool_id);
    });

    route(app, ENDPOINTS.createSetupToken, async (req) => {
      const { pubkey, pool_id } = req.params;
      const api_url = publicBaseUrl(ctx.config, req); // validated before anything is written
      const server_key = ctx.serverKey.publicKey;
      const { location: _location, ...token } = await createSetupToken(ctx.db, pubkey, pool_id, {
        label: req.body.label ?? null,
        expiresInHours: req.body.expires_in_hours ?? SETUP_TOKEN_DEFAULT_HOURS,
      });
      return { ...token, api_url, server_key, setup_command: setupOneLiner({ api_url, token: token.token, server_key }) };
    });

    route(app, ENDPOINTS.listSetupTokens, async (req) => ({ items: await listPendingTokens(ctx.db, req.params.pubkey, req.params.pool_id) }));

    route(app, ENDPOINTS.revokeSetupToken, async (req) => {
      await revokeSetupToken(ctx.db, req.params.pubkey, req.params.token_id);
    });
  };
}
