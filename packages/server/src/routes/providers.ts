import { ENDPOINTS } from '@dc/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { getProvider, putProvider } from '../store/providers.js';
import { route } from './common.js';

export function providerRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    route(app, ENDPOINTS.putProvider, async (req) => putProvider(ctx.db, req.params.pubkey, req.body.name));
    route(app, ENDPOINTS.getProvider, async (req) => getProvider(ctx.db, req.params.pubkey));
  };
}
