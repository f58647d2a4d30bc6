import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { Contract, listOf } from '@dc/core';
import type { AppContext } from '../context.js';
import { badRequest } from '../http/errors.js';
import {
  claim, failed, handoff, lock, pendingProvision, provisioned, providerFailed, providerProvisioned, release,
  type Caller, type LeasePolicy,
} from '../store/leases.js';
import { AGENT_ONLY, PROVIDER_OR_AGENT, ProviderContractParams, ProviderParams, errors } from './common.js';

const Item = Type.Composite([
  Contract,
  Type.Object({
    provisioner_type: Type.Unsafe<string | null>({ type: ['string', 'null'] }),
    provisioner_config: Type.Unsafe<Record<string, unknown> | null>({ type: ['object', 'null'], additionalProperties: true }),
    lock_ttl_seconds: Type.Integer(),
  }),
]);
const Wait = Type.Optional(Type.Integer({ minimum: 0, maximum: 50, description: 'seconds to hold an empty answer' }));
const LockToken = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Details = Type.Object({}, { additionalProperties: true, description: 'instance details shown to the customer' });
const MAX_DETAILS_BYTES = 65_536;

export function provisioningRoutes(ctx: AppContext): FastifyPluginAsync {
  const policy: LeasePolicy = {
    ttlSeconds: ctx.config.lockTtlSeconds,
    backoffSeconds: ctx.config.retryBackoffSeconds,
    maxAttempts: ctx.config.maxProvisionAttempts,
  };
  const caller = (req: FastifyRequest): Caller => {
    const s = req.signer;
    if (!s || s.kind !== 'agent') throw new Error('agent route without an agent signer');
    return { agent: s.pubkey, provider: s.providerPubkey, poolId: s.poolId };
  };
  const count = (event: string) => ctx.metrics.provisioning.inc({ event });
  /** Aborts when the client closes the connection before we answer (a dropped long-poll). */
  const clientGone = (reply: FastifyReply): AbortSignal => {
    const ac = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) ac.abort();
    });
    return ac.signal;
  };

  /**
   * `provisioned` and `failed` serve two callers: an agent confirms its own lease (fenced by
   * lock_token), a provider completes a handed-off contract (no lease, no token).
   */
  const byAgentOrProvider = <T>(
    req: FastifyRequest,
    lockToken: number | undefined,
    asAgent: (c: Caller, id: string, token: number) => Promise<T>,
    asProvider: (provider: string, id: string) => Promise<T>,
  ): Promise<T> => {
    const { pubkey, id } = req.params as { pubkey: string; id: string };
    if (req.signer?.kind !== 'agent') return asProvider(pubkey, id);
    if (lockToken === undefined) throw badRequest('body.lock_token is required: send the token of your lease.');
    return asAgent(caller(req), id, lockToken);
  };

  return async (app) => {
    app.get('/providers/:pubkey/contracts/pending-provision', {
      config: { auth: AGENT_ONLY },
      schema: {
        tags: ['provisioning'], summary: 'Contracts this agent may provision now, oldest first', params: ProviderParams,
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })), wait: Wait }),
        response: { 200: listOf(Item), ...errors(400, 401, 403) },
      },
    }, async (req, reply) => {
      const q = req.query as { limit?: number; wait?: number };
      const c = caller(req);
      const items = await ctx.dispatcher.poll({ provider: c.provider, poolId: c.poolId }, q.wait ?? 0, () => pendingProvision(ctx.db, c, q.limit ?? 50, policy), clientGone(reply));
      return { items };
    });

    app.post('/providers/:pubkey/contracts/claim', {
      config: { auth: AGENT_ONLY },
      schema: {
        tags: ['provisioning'], summary: 'Atomically lease up to max contracts (own leases first, renewed)', params: ProviderParams,
        querystring: Type.Object({ wait: Wait }),
        body: Type.Object({
          max: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
          exclude: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 })),
        }, { additionalProperties: false }),
        response: { 200: listOf(Item), ...errors(400, 401, 403) },
      },
    }, async (req, reply) => {
      const body = (req.body ?? {}) as { max?: number; exclude?: string[] };
      const c = caller(req);
      const gone = clientGone(reply);
      const items = await ctx.dispatcher.poll({ provider: c.provider, poolId: c.poolId }, (req.query as { wait?: number }).wait ?? 0, () =>
        claim(ctx.db, c, { max: body.max ?? 1, exclude: body.exclude ?? [] }, policy),
        gone,
      );
      ctx.metrics.provisioning.inc({ event: 'claimed' }, items.length);
      if (items.length > 0) ctx.dispatcher.leaseGranted(policy.ttlSeconds * 1000);
      return { items };
    });

    app.post('/providers/:pubkey/contracts/:id/lock', {
      config: { auth: AGENT_ONLY },
      schema: {
        tags: ['provisioning'], summary: 'Grant or renew a lease', params: ProviderContractParams,
        body: Type.Object({ lock_token: Type.Optional(LockToken) }, { additionalProperties: false }),
        response: { 200: Item, ...errors(400, 401, 403, 404, 409) },
      },
    }, async (req) => {
      const body = (req.body ?? {}) as { lock_token?: number };
      const r = await lock(ctx.db, caller(req), (req.params as { id: string }).id, body.lock_token, policy);
      ctx.dispatcher.leaseGranted(policy.ttlSeconds * 1000);
      count('lock');
      return r;
    });

    app.delete('/providers/:pubkey/contracts/:id/lock', {
      config: { auth: AGENT_ONLY },
      schema: {
        tags: ['provisioning'], summary: 'Give up a lease (idempotent)', params: ProviderContractParams,
        body: Type.Object({ lock_token: LockToken }, { additionalProperties: false }),
        response: { 200: Item, ...errors(400, 401, 403, 404, 409) },
      },
    }, async (req) => {
      const r = await release(ctx.db, caller(req), (req.params as { id: string }).id, (req.body as { lock_token: number }).lock_token, policy);
      count('released');
      return r;
    });

    app.post('/providers/:pubkey/contracts/:id/provisioned', {
      config: { auth: PROVIDER_OR_AGENT },
      schema: {
        tags: ['provisioning'], summary: 'Confirm provisioning (agent with lock_token; provider for handed-off contracts)', params: ProviderContractParams,
        body: Type.Object({ lock_token: Type.Optional(LockToken), instance_details: Details }, { additionalProperties: false }),
        response: { 200: Item, ...errors(400, 401, 403, 404, 409) },
      },
    }, async (req) => {
      const body = req.body as { lock_token?: number; instance_details: Record<string, unknown> };
      if (Buffer.byteLength(JSON.stringify(body.instance_details)) > MAX_DETAILS_BYTES) throw badRequest('body.instance_details must be at most 64 KiB of JSON.');
      const r = await byAgentOrProvider(req, body.lock_token,
        (c, id, token) => provisioned(ctx.db, c, id, token, body.instance_details, policy),
        (provider, id) => providerProvisioned(ctx.db, provider, id, body.instance_details, policy));
      count('provisioned');
      return r;
    });

    app.post('/providers/:pubkey/contracts/:id/failed', {
      config: { auth: PROVIDER_OR_AGENT },
      schema: {
        tags: ['provisioning'], summary: 'Report a failed attempt (agent with lock_token; provider for handed-off contracts)', params: ProviderContractParams,
        body: Type.Object({ lock_token: Type.Optional(LockToken), error_message: Type.String({ minLength: 1, maxLength: 100_000 }) }, { additionalProperties: false }),
        response: { 200: Item, ...errors(400, 401, 403, 404, 409) },
      },
    }, async (req) => {
      const body = req.body as { lock_token?: number; error_message: string };
      const r = await byAgentOrProvider(req, body.lock_token,
        (c, id, token) => failed(ctx.db, c, id, token, body.error_message, policy),
        (provider, id) => providerFailed(ctx.db, provider, id, body.error_message, policy));
      count('failed');
      return r;
    });

    app.post('/providers/:pubkey/contracts/:id/handoff', {
      config: { auth: AGENT_ONLY },
      schema: {
        tags: ['provisioning'], summary: 'Hand a contract off to a person (manual provisioning)', params: ProviderContractParams,
        body: Type.Object({ lock_token: LockToken, note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false }),
        response: { 200: Item, ...errors(400, 401, 403, 404, 409) },
      },
    }, async (req) => {
      const body = req.body as { lock_token: number; note?: string };
      const r = await handoff(ctx.db, caller(req), (req.params as { id: string }).id, body.lock_token, body.note ?? null, policy);
      count('handed_off');
      return r;
    });
  };
}
