import type { FastifyPluginAsync } from 'fastify';
import { Provider, ProviderInput } from '@dc/core';
import type { AppContext } from '../context.js';
import { notFound } from '../http/errors.js';
import { PROVIDER_ONLY, ProviderParams, errors } from './common.js';

export function providerRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.put('/providers/:pubkey', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['providers'], summary: 'Register or rename the provider', params: ProviderParams, body: ProviderInput, response: { 200: Provider, ...errors(400, 401, 403) } },
    }, async (req) => {
      const { pubkey } = req.params as { pubkey: string };
      const { name } = req.body as { name: string };
      const r = await ctx.db.query<Provider>(
        `INSERT INTO provider_registrations (pubkey, name) VALUES ($1, $2)
         ON CONFLICT (pubkey) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
         RETURNING pubkey, name, created_at, updated_at`,
        [pubkey, name],
      );
      return r.rows[0];
    });

    app.get('/providers/:pubkey', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['providers'], summary: 'The provider\'s registration', params: ProviderParams, response: { 200: Provider, ...errors(401, 403, 404) } },
    }, async (req) => {
      const { pubkey } = req.params as { pubkey: string };
      const r = await ctx.db.query<Provider>(`SELECT pubkey, name, created_at, updated_at FROM provider_registrations WHERE pubkey = $1`, [pubkey]);
      if (!r.rows[0]) throw notFound('Provider registration');
      return r.rows[0];
    });
  };
}
