import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ENDPOINTS, INSTANCE_DETAILS_MAX_BYTES, PENDING_LIMIT_DEFAULT, parseActions } from '@dc/core';
import type { AppContext } from '../context.js';
import { invalidInput } from '../errors.js';
import {
  claim, failed, handoff, lock, pendingProvision, provisioned, providerFailed, providerProvisioned, providerTerminated, release, terminated,
  type Caller, type LeasePolicy, type WaiterInfo,
} from '../store/leases.js';
import type { WaitScope } from '../dispatch.js';
import type { Signer } from '../http/auth.js';
import { fleetPolicyOf } from '../store/eligibility.js';
import { failedBatch, provisionedBatch, terminatedBatch } from '../store/batches.js';
import { route } from './common.js';

/** A poll without `wait` answers at once. */
const NO_WAIT_SECONDS = 0;
/** A claim without `max` leases one contract (an agent provisioning one machine at a time). */
const CLAIM_DEFAULT = 1;

export function provisioningRoutes(ctx: AppContext): FastifyPluginAsyncTypebox {
  const policy: LeasePolicy = {
    ttlSeconds: ctx.config.lockTtlSeconds,
    backoffSeconds: ctx.config.retryBackoffSeconds,
    maxAttempts: ctx.config.maxProvisionAttempts,
    stickyGraceSeconds: ctx.config.stickyGraceSeconds,
    fleet: fleetPolicyOf(ctx.config),
  };
  const caller = (req: FastifyRequest): Caller => {
    const s = req.signer;
    if (!s || s.kind !== 'agent') throw new Error('agent route without an agent signer');
    return { agent: s.pubkey, provider: s.providerPubkey, poolId: s.poolId };
  };
  const count = (event: string) => ctx.metrics.provisioning.inc({ event });
  /** Runs a work query and records on the scope what it read of the caller's free slots and last grant (dispatch.ts wakes by them). */
  const recording = async <T>(scope: WaitScope, query: (info: WaiterInfo) => Promise<T>): Promise<T> => {
    const info: WaiterInfo = {};
    const out = await query(info);
    if (info.free !== undefined) scope.freeSlots = info.free;
    if (info.lastGrantedAt !== undefined) scope.lastGrantedAt = info.lastGrantedAt;
    return out;
  };
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
    target: { pubkey: string; id: string },
    lockToken: number | undefined,
    asAgent: (c: Caller, id: string, token: number) => Promise<T>,
    asProvider: (provider: string, id: string) => Promise<T>,
  ): Promise<T> => {
    if (req.signer?.kind !== 'agent') return asProvider(target.pubkey, target.id);
    if (lockToken === undefined) throw invalidInput('body.lock_token is required: send the token of your lease.');
    return asAgent(caller(req), target.id, lockToken);
  };

  return async (app) => {
    route(app, ENDPOINTS.pendingProvision, async (req, reply) => {
      const c = caller(req);
      const limit = req.query.limit ?? PENDING_LIMIT_DEFAULT;
      const actions = parseActions(req.query.actions);
      // The query records the caller's free slots on the scope; a parked waiter carries them (dispatch.ts).
      const scope: WaitScope = { provider: c.provider, poolId: c.poolId, agent: c.agent, actions };
      const items = await ctx.dispatcher.poll(scope, req.query.wait ?? NO_WAIT_SECONDS,
        () => recording(scope, (info) => pendingProvision(ctx.db, c, limit, policy, actions, info)), clientGone(reply));
      return { items };
    });

    route(app, ENDPOINTS.claim, async (req, reply) => {
      const c = caller(req);
      const actions = req.body.actions ?? parseActions(undefined);
      const opts = { max: req.body.max ?? CLAIM_DEFAULT, exclude: req.body.exclude ?? [], actions };
      const scope: WaitScope = { provider: c.provider, poolId: c.poolId, agent: c.agent, actions };
      const items = await ctx.dispatcher.poll(scope, req.query.wait ?? NO_WAIT_SECONDS,
        () => recording(scope, (info) => claim(ctx.db, c, opts, policy, info)), clientGone(reply));
      ctx.metrics.provisioning.inc({ event: 'claimed' }, items.length);
      if (items.length > 0) ctx.dispatcher.leaseGranted(policy.ttlSeconds * 1000);
      return { items };
    });

    route(app, ENDPOINTS.lock, async (req) => {
      const r = await lock(ctx.db, caller(req), req.params.id, req.body.lock_token, policy);
      ctx.dispatcher.leaseGranted(policy.ttlSeconds * 1000);
      count('lock');
      return r;
    });

    route(app, ENDPOINTS.release, async (req) => {
      const r = await release(ctx.db, caller(req), req.params.id, req.body.lock_token, policy);
      count('released');
      return r;
    });

    route(app, ENDPOINTS.provisioned, async (req) => {
      const { lock_token, instance_details } = req.body;
      if (Buffer.byteLength(JSON.stringify(instance_details)) > INSTANCE_DETAILS_MAX_BYTES) {
        throw invalidInput(`body.instance_details must be at most ${INSTANCE_DETAILS_MAX_BYTES / 1024} KiB of JSON.`);
      }
      const r = await byAgentOrProvider(req, req.params, lock_token,
        (c, id, token) => provisioned(ctx.db, c, id, token, instance_details, policy),
        (provider, id) => providerProvisioned(ctx.db, provider, id, instance_details, policy));
      agentSlotsFreed(req, 1);
      count('provisioned');
      return r;
    });

    route(app, ENDPOINTS.failed, async (req) => {
      const { lock_token, error_message, error_class } = req.body;
      const r = await byAgentOrProvider(req, req.params, lock_token,
        (c, id, token) => failed(ctx.db, c, id, token, error_message, policy, error_class ?? 'agent'),
        (provider, id) => providerFailed(ctx.db, provider, id, error_message, policy));
      if (r.action === 'provision') agentSlotsFreed(req, 1);
      count('failed');
      return r;
    });

    route(app, ENDPOINTS.terminated, async (req) => {
      const { lock_token, note } = req.body;
      const r = await byAgentOrProvider(req, req.params, lock_token,
        (c, id, token) => terminated(ctx.db, c, id, token, policy),
        (provider, id) => providerTerminated(ctx.db, provider, id, note ?? null, policy));
      count('terminated');
      return r;
    });

    /** An agent's provision leases ended (teardown leases hold no provision slot): its long-polls parked here rank with the freed slots. */
    const agentSlotsFreed = (req: { signer: Signer | null }, n: number) => {
      if (req.signer?.kind === 'agent') ctx.dispatcher.slotsFreed(req.signer.providerPubkey, req.signer.pubkey, n);
    };

    // v3 batches (agents only): per-item statuses; the counters count the items answered 200, as the single routes count their 200s.
    const countOk = (event: string, items: readonly { status: number }[]) => {
      const ok = items.filter((i) => i.status === 200).length;
      if (ok > 0) ctx.metrics.provisioning.inc({ event }, ok);
    };

    route(app, ENDPOINTS.provisionedBatch, async (req) => {
      req.body.items.forEach((item, i) => {
        if (Buffer.byteLength(JSON.stringify(item.instance_details)) > INSTANCE_DETAILS_MAX_BYTES) {
          throw invalidInput(`body.items[${i}].instance_details must be at most ${INSTANCE_DETAILS_MAX_BYTES / 1024} KiB of JSON.`);
        }
      });
      const items = await provisionedBatch(ctx.db, caller(req), req.body.items, policy);
      agentSlotsFreed(req, items.filter((i) => i.status === 200).length);
      countOk('provisioned', items);
      return { items };
    });

    route(app, ENDPOINTS.failedBatch, async (req) => {
      const { items, provisionLeasesEnded } = await failedBatch(ctx.db, caller(req), req.body.items, policy);
      agentSlotsFreed(req, provisionLeasesEnded);
      countOk('failed', items);
      return { items };
    });

    route(app, ENDPOINTS.terminatedBatch, async (req) => {
      const items = await terminatedBatch(ctx.db, caller(req), req.body.items, policy);
      countOk('terminated', items);
      return { items };
    });

    route(app, ENDPOINTS.handoff, async (req) => {
      const r = await handoff(ctx.db, caller(req), req.params.id, req.body.lock_token, req.body.note ?? null, policy);
      count('handed_off');
      return r;
    });
  };
}
