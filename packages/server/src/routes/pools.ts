import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Pool, PoolCreate, PoolDetail, PoolUpdate, SetupTokenCreate, SetupTokenCreated, SetupTokenInfo, listOf } from '@dc/core';
import type { AppContext } from '../context.js';
import { createPool, deletePool, getPool, listPoolAgents, listPools, updatePool } from '../store/pools.js';
import { DEFAULT_SETUP_TOKEN_HOURS, createSetupToken, listPendingTokens, revokeSetupToken } from '../store/tokens.js';
import { PROVIDER_ONLY, PoolParams, ProviderParams, errors } from './common.js';
import { publicBaseUrl, setupCommand } from './setup-command.js';

type PoolP = { pubkey: string; pool_id: string };

export function poolRoutes(ctx: AppContext): FastifyPluginAsync {
  const offlineAfter = ctx.config.agentOfflineAfterSeconds;
  return async (app) => {
    app.post('/providers/:pubkey/pools', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['pools'], summary: 'Create a pool', params: ProviderParams, body: PoolCreate, response: { 201: Pool, ...errors(400, 401, 403, 404, 409) } },
    }, async (req, reply) => {
      const { pubkey } = req.params as { pubkey: string };
      const poolId = await createPool(ctx.db, pubkey, req.body as PoolCreate);
      return reply.code(201).send(await getPool(ctx.db, pubkey, poolId, offlineAfter));
    });

    app.get('/providers/:pubkey/pools', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['pools'], summary: 'List pools with agent, online, contract and offering counts', params: ProviderParams, response: { 200: listOf(Pool), ...errors(401, 403) } },
    }, async (req) => ({ items: await listPools(ctx.db, (req.params as { pubkey: string }).pubkey, offlineAfter) }));

    app.get('/providers/:pubkey/pools/:pool_id', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['pools'], summary: 'Pool detail with its agents (revoked ones included)', params: PoolParams, response: { 200: PoolDetail, ...errors(401, 403, 404) } },
    }, async (req) => {
      const { pubkey, pool_id } = req.params as PoolP;
      const pool = await getPool(ctx.db, pubkey, pool_id, offlineAfter);
      return { ...pool, agents: await listPoolAgents(ctx.db, pool_id, offlineAfter) };
    });

    app.put('/providers/:pubkey/pools/:pool_id', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['pools'], summary: 'Update a pool (partial)', params: PoolParams, body: PoolUpdate, response: { 200: Pool, ...errors(400, 401, 403, 404, 409) } },
    }, async (req) => {
      const { pubkey, pool_id } = req.params as PoolP;
      await updatePool(ctx.db, pubkey, pool_id, req.body as PoolUpdate);
      return getPool(ctx.db, pubkey, pool_id, offlineAfter);
    });

    app.delete('/providers/:pubkey/pools/:pool_id', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['pools'], summary: 'Delete a pool (409 while agents or offerings use it)', params: PoolParams, response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } },
    }, async (req, reply) => {
      const { pubkey, pool_id } = req.params as PoolP;
      await deletePool(ctx.db, pubkey, pool_id);
      return reply.code(204).send();
    });

    app.post('/providers/:pubkey/pools/:pool_id/setup-tokens', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['setup tokens'], summary: 'Create a one-time setup token (shown once)', params: PoolParams, body: SetupTokenCreate, response: { 201: SetupTokenCreated, ...errors(400, 401, 403, 404) } },
    }, async (req: FastifyRequest, reply) => {
      const { pubkey, pool_id } = req.params as PoolP;
      const body = (req.body ?? {}) as { label?: string; expires_in_hours?: number };
      const base = publicBaseUrl(ctx.config, req); // validated before anything is written
      const t = await createSetupToken(ctx.db, pubkey, pool_id, {
        label: body.label ?? null,
        expiresInHours: body.expires_in_hours ?? DEFAULT_SETUP_TOKEN_HOURS,
      });
      const { location: _location, ...rest } = t;
      return reply.code(201).send({ ...rest, setup_command: setupCommand(base, t.token, ctx.serverKey.publicKey) });
    });

    app.get('/providers/:pubkey/pools/:pool_id/setup-tokens', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['setup tokens'], summary: 'List pending (unused, unexpired) tokens', params: PoolParams, response: { 200: listOf(SetupTokenInfo), ...errors(401, 403, 404) } },
    }, async (req) => {
      const { pubkey, pool_id } = req.params as PoolP;
      return { items: await listPendingTokens(ctx.db, pubkey, pool_id) };
    });

    app.delete('/providers/:pubkey/setup-tokens/:token_id', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['setup tokens'], summary: 'Revoke an unused setup token', params: Type.Object({ pubkey: Type.String(), token_id: Type.String({ maxLength: 64 }) }), response: { 204: Type.Null(), ...errors(401, 403, 404, 409) } },
    }, async (req, reply) => {
      const { pubkey, token_id } = req.params as { pubkey: string; token_id: string };
      await revokeSetupToken(ctx.db, pubkey, token_id);
      return reply.code(204).send();
    });
  };
}
