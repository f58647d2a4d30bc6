import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AgentSetupInput, AgentSetupResult, HeartbeatInput, HeartbeatResult, Pubkey, ServerKey } from '@dc/core';
import type { AppContext } from '../context.js';
import { ApiError, unauthenticated } from '../http/errors.js';
import { hitRateLimit } from '../store/rate-limit.js';
import { recordHeartbeat, revokeAgent, setupAgent } from '../store/agents.js';
import { AGENT_ONLY, PROVIDER_ONLY, ProviderParams, errors } from './common.js';

/** Agents heartbeat three times per offline window, so one lost beat never flips them offline. */
export function nextHeartbeatSeconds(offlineAfterSeconds: number): number {
  return Math.max(1, Math.floor(offlineAfterSeconds / 3));
}

export function agentRoutes(ctx: AppContext): FastifyPluginAsync {
  return async (app) => {
    app.get('/server-key', {
      schema: { tags: ['agents'], summary: 'The server key that signs agent delegations', response: { 200: ServerKey } },
    }, async () => ({ public_key: ctx.serverKey.publicKey }));

    app.post('/agents/setup', {
      config: { auth: 'setup' },
      // Every attempt counts, before the signature or the body is looked at.
      onRequest: async (req) => hitRateLimit(ctx.db, `setup:${req.ip}`, ctx.config.setupRateLimitPerMinute),
      schema: {
        tags: ['agents'],
        summary: 'Register an agent with a one-time setup token (signed by the key being registered)',
        body: AgentSetupInput,
        response: { 201: AgentSetupResult, ...errors(400, 401, 409, 410, 429) },
      },
      preValidation: async (req) => {
        const body = req.body as { agent_pubkey?: unknown } | undefined;
        const signer = req.signer;
        if (body && typeof body === 'object' && typeof body.agent_pubkey === 'string' && signer && signer.pubkey !== body.agent_pubkey) {
          throw unauthenticated('The request must be signed by agent_pubkey itself (proof that you hold its private key).', 'bad_signature');
        }
      },
    }, async (req, reply) => {
      const body = req.body as AgentSetupInput;
      try {
        const result = await setupAgent(ctx.db, ctx.serverKey, { token: body.token, agentPubkey: body.agent_pubkey, label: body.label ?? null });
        ctx.metrics.agentSetups.inc({ outcome: 'ok' });
        req.log.info({ agent: body.agent_pubkey, pool_id: result.pool_id }, 'agent registered');
        return reply.code(201).send(result);
      } catch (err) {
        if (err instanceof ApiError) ctx.metrics.agentSetups.inc({ outcome: err.code });
        throw err;
      }
    });

    app.delete('/providers/:pubkey/agents/:agent_pubkey', {
      config: { auth: PROVIDER_ONLY },
      schema: { tags: ['agents'], summary: 'Revoke an agent (its leases are released)', params: Type.Object({ pubkey: Pubkey, agent_pubkey: Pubkey }), response: { 204: Type.Null(), ...errors(401, 403, 404) } },
    }, async (req, reply) => {
      const { pubkey, agent_pubkey } = req.params as { pubkey: string; agent_pubkey: string };
      await revokeAgent(ctx.db, pubkey, agent_pubkey);
      return reply.code(204).send();
    });

    app.post('/providers/:pubkey/heartbeat', {
      config: { auth: AGENT_ONLY },
      schema: { tags: ['agents'], summary: 'Agent heartbeat', params: ProviderParams, body: HeartbeatInput, response: { 200: HeartbeatResult, ...errors(400, 401, 403) } },
    }, async (req) => {
      const body = req.body as HeartbeatInput;
      if (body.capabilities !== undefined && Buffer.byteLength(JSON.stringify(body.capabilities)) > 8192) {
        throw new ApiError(400, 'invalid_input', 'body.capabilities must be at most 8 KiB of JSON.');
      }
      const pool = await recordHeartbeat(ctx.db, req.signer!.pubkey, body);
      ctx.metrics.heartbeats.inc();
      return { acknowledged: true, ...pool, next_heartbeat_seconds: nextHeartbeatSeconds(ctx.config.agentOfflineAfterSeconds) };
    });
  };
}
