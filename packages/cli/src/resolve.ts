// Pools and agents may be named the way people see them: a pool by id or name, an agent by key,
// key prefix (8+ hex characters) or label. Names are looked up in the provider's lists; a pool
// not found is passed to the API as an id, so "not found" is the API's own answer.
import { LIST_LIMIT_MAX, type PoolAgent } from '@dc/core';
import type { Ctx } from './context.js';
import { ApiError, UsageError } from './errors.js';

export async function poolIdOf(ctx: Ctx, ref: string): Promise<string> {
  const r = await ctx.api().call('listPools', { params: { pubkey: ctx.pubkey() } });
  const pools = r.items;
  if (pools.some((p) => p.pool_id === ref)) return ref;
  const byName = pools.find((p) => p.name === ref);
  return byName ? byName.pool_id : ref;
}

/** Every agent of a pool (all pages), ordered by label then key. */
export async function agentsOfPool(ctx: Ctx, poolId: string, status?: PoolAgent['status']): Promise<PoolAgent[]> {
  const out: PoolAgent[] = [];
  for (;;) {
    const r = await ctx.api().call('listPoolAgents', {
      params: { pubkey: ctx.pubkey(), pool_id: poolId },
      query: { limit: LIST_LIMIT_MAX, offset: out.length, ...(status ? { status } : {}) },
    });
    out.push(...r.items);
    if (r.items.length === 0 || out.length >= r.total) return out;
  }
}

/** Every agent of the provider, pool by pool (pools by name). */
export async function allAgents(ctx: Ctx, status?: PoolAgent['status']): Promise<PoolAgent[]> {
  const pools = (await ctx.api().call('listPools', { params: { pubkey: ctx.pubkey() } })).items;
  const out: PoolAgent[] = [];
  for (const p of pools) out.push(...(await agentsOfPool(ctx, p.pool_id, status)));
  return out;
}

export async function agentKeyOf(ctx: Ctx, ref: string, poolRef?: string): Promise<string> {
  if (/^[0-9a-f]{64}$/.test(ref)) return ref;
  const agents = poolRef ? await agentsOfPool(ctx, await poolIdOf(ctx, poolRef)) : await allAgents(ctx);
  const byPrefix = /^[0-9a-f]{8,63}$/.test(ref) ? agents.filter((a) => a.agent_pubkey.startsWith(ref)) : [];
  // A label may be reused after its agent was revoked: the live agent is the one meant.
  const labelled = agents.filter((a) => a.label === ref);
  const byLabel = labelled.length > 1 ? labelled.filter((a) => a.status !== 'revoked') : labelled;
  const found = byPrefix.length ? byPrefix : byLabel;
  if (found.length === 1) return found[0]!.agent_pubkey;
  if (found.length > 1) {
    throw new UsageError(`"${ref}" matches ${found.length} agents (${found.map((a) => a.agent_pubkey.slice(0, 12)).join(', ')}…); give the agent's key, or narrow with --pool`);
  }
  // The API would only say that a key is 64 hex characters; say what was looked for instead.
  throw new ApiError(404, 'not_found', `No agent of this provider has the key, key prefix or label "${ref}".`, { hint: '"dcctl agents ls" lists your agents with their keys and labels' });
}
