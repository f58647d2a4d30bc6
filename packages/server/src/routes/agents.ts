import { CAPABILITIES_MAX_BYTES, ENDPOINTS } from '@dc/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { DomainError, fail, invalidInput } from '../errors.js';
import { hitRateLimit } from '../store/rate-limit.js';
import { recordHeartbeat, recordInventory, resetAgentHealth, revokeAgent, setupAgent, updateAgent } from '../store/agents.js';
import { readAgent } from '../store/pools.js';
import { route } from './common.js';

/** Agents heartbeat three times per offline window, so one lost beat never flips them offline. */
const HEARTBEATS_PER_OFFLINE_WINDOW = 3;

export function nextHeartbeatSeconds(offlineAfterSeconds: number): number {
  return Math.max(1, Math.floor(offlineAfterSeconds / HEARTBEATS_PER_OFFLINE_WINDOW));
}

export function agentRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    route(app, ENDPOINTS.serverKey, async () => ({ public_key: ctx.serverKey.publicKey }));

    route(app, ENDPOINTS.setupAgent, async (req) => {
      const body = req.body;
      try {
        const result = await setupAgent(ctx.db, ctx.serverKey, { token: body.token, agentPubkey: body.agent_pubkey, label: body.label ?? null });
        ctx.metrics.agentSetups.inc({ outcome: 'ok' });
        req.log.info({ agent: body.agent_pubkey, pool_id: result.pool_id }, 'agent registered');
        return result;
      } catch (err) {
        if (err instanceof DomainError) ctx.metrics.agentSetups.inc({ outcome: err.code });
        throw err;
      }
    }, {
      // Every attempt counts, before the signature or the body is looked at.
      onRequest: async (req) => hitRateLimit(ctx.db, `setup:${req.ip}`, ctx.config.setupRateLimitPerMinute),
      // Runs after the signature check, before the schema: the signer must be the key it registers.
      preValidation: async (req) => {
        const body: unknown = req.body;
        const signer = req.signer;
        if (typeof body === 'object' && body !== null && 'agent_pubkey' in body && typeof body.agent_pubkey === 'string' && signer && signer.pubkey !== body.agent_pubkey) {
          throw fail('bad_signature', 'The request must be signed by agent_pubkey itself (proof that you hold its private key).');
        }
      },
    });

    /** An agent may read and drain only itself (the provider is checked by auth against the path). */
    const assertSelf = (req: { signer: { kind: string; pubkey: string } | null }, agentPubkey: string) => {
      if (req.signer?.kind === 'agent' && req.signer.pubkey !== agentPubkey) {
        throw fail('forbidden', 'An agent may read or change only itself; sign with the provider key to manage other agents.');
      }
    };

    route(app, ENDPOINTS.getAgent, async (req) => {
      assertSelf(req, req.params.agent_pubkey);
      return readAgent(ctx.db, req.params.pubkey, req.params.agent_pubkey, ctx.config.agentOfflineAfterSeconds);
    });

    route(app, ENDPOINTS.updateAgent, async (req) => {
      const { pubkey, agent_pubkey } = req.params;
      assertSelf(req, agent_pubkey);
      const asAgent = req.signer?.kind === 'agent';
      if (asAgent && req.body.label !== undefined) {
        throw fail('forbidden', "An agent may set only its own state and reason; its label is the provider's to change.");
      }
      const by = asAgent ? { kind: 'agent' as const, pubkey: agent_pubkey } : { kind: 'provider' as const, pubkey };
      return updateAgent(ctx.db, pubkey, agent_pubkey, by, req.body, ctx.config.agentOfflineAfterSeconds);
    });

    route(app, ENDPOINTS.resetAgentHealth, async (req) =>
      resetAgentHealth(ctx.db, req.params.pubkey, req.params.agent_pubkey, ctx.config.agentOfflineAfterSeconds));

    route(app, ENDPOINTS.revokeAgent, async (req) => {
      await revokeAgent(ctx.db, req.params.pubkey, req.params.agent_pubkey, ctx.config.agentOfflineAfterSeconds);
    });

    route(app, ENDPOINTS.heartbeat, async (req) => {
      const body = req.body;
      if (body.capabilities !== undefined && Buffer.byteLength(JSON.stringify(body.capabilities)) > CAPABILITIES_MAX_BYTES) {
        throw invalidInput(`body.capabilities must be at most ${CAPABILITIES_MAX_BYTES / 1024} KiB of JSON.`);
      }
      const { inventory, ...hb } = body;
      const state = await recordHeartbeat(ctx.db, req.signer!.pubkey, hb);
      if (inventory !== undefined) await recordInventory(ctx.db, req.signer!.pubkey, inventory);
      ctx.metrics.heartbeats.inc();
      return { acknowledged: true, ...state, next_heartbeat_seconds: nextHeartbeatSeconds(ctx.config.agentOfflineAfterSeconds) };
    });
  };
}
