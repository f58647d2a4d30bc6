// The contract row: the one "contract with its route" read that every contract answer, work item
// and work notice is built from, and the one row lock every change to a contract takes first.
import type { ContractStatus, PaymentStatus } from '@dc/core';
import type { Queryable } from '../db/db.js';
import { notFound } from '../errors.js';
import { fallbackRoutesCte, routedTo, routedViaFallbackSql } from './routing.js';

/** Core's Contract, selected from contractFrom(). */
export const CONTRACT_COLUMNS = `c.contract_id, c.provider_pubkey, c.offering_id, c.customer_pubkey, c.status, c.payment_status,
  c.created_at, c.updated_at, c.provisioning_lock_agent AS lock_agent, lock_d.label AS lock_agent_label,
  c.provisioning_lock_token AS lock_token, c.provisioning_lock_expires_at AS lock_expires_at, c.attempts,
  CASE WHEN c.next_attempt_at > now() THEN c.next_attempt_at END AS next_attempt_at,
  c.last_error, c.provisioned_by, prov_d.label AS provisioned_by_label, c.provisioned_at, c.instance_details,
  c.provisioned_pool_id, c.teardown_owner, c.host_scope, c.teardown_handed_off, c.terminated_at, c.terminated_by,
  c.ssh_pubkey, c.instance_config, o.name AS offering_name, o.datacenter_region, o.route_pool_id AS resolved_pool_id,
  o.route_pool_id AS routed_pool_id, lease_pool_d.pool_id AS lease_pool_id`;

/**
 * FROM clause for CONTRACT_COLUMNS: contract `c`, its offering `o` (with the stored route) and the labels of
 * the lock holder and the provisioning agent. `source` may be a CTE of updated rows (RETURNING *).
 * The label joins are primary-key probes, and PostgreSQL drops them from queries that select no
 * label (a unique LEFT JOIN whose columns are unused), so work notices pay nothing for them.
 */
export function contractFrom(source = 'contract_sign_requests'): string {
  return `${source} c
  LEFT JOIN provider_offerings o ON o.provider_pubkey = c.provider_pubkey AND o.offering_id = c.offering_id
  LEFT JOIN provider_agent_delegations lock_d ON lock_d.agent_pubkey = c.provisioning_lock_agent
  LEFT JOIN provider_agent_delegations prov_d ON prov_d.agent_pubkey = c.provisioned_by
  LEFT JOIN provider_agent_delegations lease_pool_d ON lease_pool_d.agent_pubkey = c.lease_agent`;
}
export const CONTRACT_FROM = contractFrom();

/** Who may see a contract: anyone else gets 404 (no existence oracle). */
export type Viewer = { customer: string } | { provider: string } | { customerOrProvider: string };
/** Viewer, or the operator (payments), who may act on every contract. */
export type Scope = Viewer | { operator: true };

/** SQL condition scoping `c` to the viewer, whose key is the parameter `param`; null for the operator. */
export function scopeSql(scope: Scope, param: string): string | null {
  if ('operator' in scope) return null;
  if ('customer' in scope) return `c.customer_pubkey = ${param}`;
  if ('provider' in scope) return `c.provider_pubkey = ${param}`;
  return `(c.customer_pubkey = ${param} OR c.provider_pubkey = ${param})`;
}
export function scopeKey(viewer: Viewer): string {
  return 'customer' in viewer ? viewer.customer : 'provider' in viewer ? viewer.provider : viewer.customerOrProvider;
}

/** What a change needs to know about a contract, read under its row lock. */
export interface LockedContract {
  contract_id: string;
  provider_pubkey: string;
  status: ContractStatus;
  payment_status: PaymentStatus;
  /** Holder of the live or expired, unswept lease; null when none. */
  lock_agent: string | null;
  lock_live: boolean;
  /** The current fencing token. */
  token: number;
  /** Grantee of the current token (kept after the lease ends) and how it ended it (null: open). */
  lease_agent: string | null;
  lease_outcome: string | null;
  attempts: number;
  backing_off: boolean;
  provisioned_by: string | null;
  /** Teardown routing (DESIGN.md v3): the pool that built it, the sticky owner, its scope, a person's teardown. */
  provisioned_pool_id: string | null;
  teardown_owner: string | null;
  host_scope: string | null;
  teardown_handed_off: boolean;
  terminated_by: string | null;
  /**
   * Routing for the agent's pool asked about (lockContract's `route`; all true when none was asked
   * about): `routed` to it or to a pool falling back to it (the chain's shape: a holder renews),
   * `routed_now` so and reachable now (timers, availability: a new grant), `routed_own` to the
   * pool itself (false: a grant would be via a fallback).
   */
  routed: boolean;
  routed_now: boolean;
  routed_own: boolean;
}

/** The pool of the agent asking for a grant and the offline cutoff the fallback chain reads. */
export interface RouteQuestion {
  pool: string | null;
  offlineAfterSeconds: number;
}

/**
 * Locks contract `id` (FOR UPDATE) for the rest of the transaction and reads it; 404 when it does
 * not exist or `scope` may not see it. Every change to a contract outside a one-statement form
 * starts here, so concurrent changes of one contract run one after the other. `route`: also say
 * whether the contract is routed to this agent's pool, fallbacks included (an agent's grant).
 */
export async function lockContract(tx: Queryable, id: string, scope: Scope, route: RouteQuestion | null = null): Promise<LockedContract> {
  const params: unknown[] = [id];
  const where = ['c.contract_id = $1'];
  if (!('operator' in scope)) {
    params.push(scopeKey(scope));
    where.push(scopeSql(scope, `$${params.length}`)!);
  }
  const pooled = route?.pool != null;
  if (pooled) params.push(route!.pool, route!.offlineAfterSeconds);
  const [poolParam, offlineParam] = [`$${params.length - 1}`, `$${params.length}`];
  const own = `COALESCE(${routedTo(poolParam)}, false)`;
  const routing = pooled
    ? `${own} OR ${routedViaFallbackSql(false)} AS routed, ${own} OR ${routedViaFallbackSql(true)} AS routed_now, ${own} AS routed_own`
    : 'true AS routed, true AS routed_now, true AS routed_own';
  const r = await tx.query<LockedContract>(
    `${pooled ? `WITH ${fallbackRoutesCte(poolParam, offlineParam)}` : ''}
     SELECT c.contract_id, c.provider_pubkey, c.status, c.payment_status, c.provisioning_lock_agent AS lock_agent,
       (c.provisioning_lock_agent IS NOT NULL AND c.provisioning_lock_expires_at > now()) AS lock_live,
       c.provisioning_lock_token AS token, c.lease_agent, c.lease_outcome, c.attempts,
       COALESCE(c.next_attempt_at > now(), false) AS backing_off, c.provisioned_by,
       c.provisioned_pool_id, c.teardown_owner, c.host_scope, c.teardown_handed_off, c.terminated_by,
       ${routing}
     FROM contract_sign_requests c WHERE ${where.join(' AND ')}
     FOR UPDATE OF c`,
    params,
    { prepare: true },
  );
  if (!r.rows[0]) throw notFound(`Contract ${id}`);
  return r.rows[0];
}
