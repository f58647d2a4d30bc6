import { CAPABILITIES_MAX_BYTES, ENDPOINTS, type HeartbeatInput } from '@dc/core';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../context.js';
import { DomainError, fail, invalidInput } from '../errors.js';
import type { HeartbeatReport } from '../store/agents.js';
import { inputProblem } from '../input-problem.js';
import { hitRateLimit } from '../store/rate-limit.js';
import { recordInventory, resetAgentHealth, revokeAgent, setupAgent, updateAgent } from '../store/agents.js';
import { readAgent } from '../store/pools.js';
import { route } from './common.js';

/** Agents heartbeat three times per offline window, so one lost beat never flips them offline. */
const HEARTBEATS_PER_OFFLINE_WINDOW = 3;

export function nextHeartbeatSeconds(offlineAfterSeconds: number): number {
  return Math.max(1, Math.floor(offlineAfterSeconds / HEARTBEATS_PER_OFFLINE_WINDOW));
}

/**
 * A heartbeat whose report equals the stored one is not written again while `last_seen_at` is
 * younger than this (it still spends its nonce, so it is verified and cannot be replayed). Safe
 * because every rule that reads last_seen_at (the offline cutoff, the sticky-teardown grace, the
 * dashboard's "seen … ago") counts whole seconds, and this bound is one second (a tenth of the
 * cutoff if that is shorter): the stored time lags the last beat by less than that, and an agent
 * on the cadence the answer asks for (nextHeartbeatSeconds, at least a second) has every beat
 * written. What is skipped are beats closer together than a second: a retrying or misbehaving
 * agent, or a benchmark.
 */
export function heartbeatRewriteAfterSeconds(offlineAfterSeconds: number): number {
  return Math.min(HEARTBEAT_REWRITE_MAX_SECONDS, offlineAfterSeconds / 10);
}
const HEARTBEAT_REWRITE_MAX_SECONDS = 1;

/** What the schema cannot say about a heartbeat body (null: nothing). */
function heartbeatProblem(body: { capabilities?: unknown }): string | null {
  if (body.capabilities !== undefined && Buffer.byteLength(JSON.stringify(body.capabilities)) > CAPABILITIES_MAX_BYTES) {
    return `body.capabilities must be at most ${CAPABILITIES_MAX_BYTES / 1024} KiB of JSON.`;
  }
  return null;
}

/**
 * The heartbeat auth records with the nonce: the body if it passes, now, every check the request
 * would meet before the handler (the route's schema, the size rule, safe input); otherwise null,
 * and auth spends the nonce alone so the pipeline refuses the input after the signature checks.
 */
function heartbeatReport(req: FastifyRequest): HeartbeatReport | null {
  if (req.bodyError) return null;
  const validate = req.getValidationFunction('body');
  if (!validate || !validate(req.body)) return null;
  const body = req.body as HeartbeatInput;
  if (heartbeatProblem(body) || inputProblem('path', req.params) || inputProblem('query', req.query) || inputProblem('body', body)) return null;
  const { inventory: _inventory, ...report } = body;
  return report;
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
      const problem = heartbeatProblem(req.body);
      if (problem) throw invalidInput(problem);
      // Auth recorded every heartbeat that passed the checks above (heartbeatReport runs the same ones).
      const state = req.heartbeat;
      if (!state) throw new Error('a valid heartbeat reached its handler unrecorded');
      if (req.body.inventory !== undefined) await recordInventory(ctx.db, req.signer!.pubkey, req.body.inventory);
      ctx.metrics.heartbeats.inc();
      return { acknowledged: true, ...state, next_heartbeat_seconds: nextHeartbeatSeconds(ctx.config.agentOfflineAfterSeconds) };
    }, { config: { heartbeat: { report: heartbeatReport } } });
  };
}
