// Contracts: creation by customers, reads, and the transitions decided by people and payments
// (accept, reject, cancel, retry, refund). Each locks the row (lockContract), asks the state table
// for the next status (transition), writes, and records its event in one transaction.
import { randomUUID } from 'node:crypto';
import { CONTRACT_COUNT_EXACT_MAX, canSetPayment, triggerTarget, type ContractPage, type Trigger, type Contract, type ContractCreate, type ContractEvent, type ContractStatus, type PaymentStatus } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { fail, notFound } from '../errors.js';
import { CONTRACT_COLUMNS, CONTRACT_FROM, lockContract, scopeKey, scopeSql, type LockedContract, type Viewer } from './contract-row.js';
import { offersWork, transition } from './contract-state.js';
import { recordEvent } from './events.js';
import { providerActor, recordAudit } from './audit.js';
import { notifyWork, type WorkNoticePolicy } from './work-notify.js';

async function readContract(db: Queryable, contractId: string): Promise<Contract | undefined> {
  return (await db.query<Contract>(`SELECT ${CONTRACT_COLUMNS} FROM ${CONTRACT_FROM} WHERE c.contract_id = $1`, [contractId], { prepare: true })).rows[0];
}

export async function createContract(db: Db, customer: string, input: ContractCreate): Promise<Contract> {
  const id = randomUUID();
  // FOR SHARE on the offering: a concurrent delete or route refresh (routing.ts) waits for us, or we
  // wait for it and read the offering as it left it; no contract points at a deleted offering or
  // keeps a stale route (a trigger copies the offering's route: migration 007).
  const r = await db.query(
    `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, ssh_pubkey, instance_config)
     SELECT $1, o.provider_pubkey, o.offering_id, $4, $5, $6::jsonb
     FROM provider_offerings o WHERE o.provider_pubkey = $2 AND o.offering_id = $3 AND o.status = 'active'
     FOR SHARE OF o`,
    [id, input.provider_pubkey, input.offering_id, customer, input.ssh_pubkey ?? null, input.instance_config ? JSON.stringify(input.instance_config) : null],
  );
  if (r.rowCount === 0) {
    throw fail('offering_not_found', `Offering "${input.offering_id}" of this provider does not exist or is not active.`);
  }
  return (await readContract(db, id))!;
}

/** A contract as seen by its customer or provider; anyone else gets 404 (no existence oracle). */
export async function getContract(db: Queryable, contractId: string, viewer: Viewer): Promise<Contract> {
  const r = await db.query<Contract>(
    `SELECT ${CONTRACT_COLUMNS} FROM ${CONTRACT_FROM} WHERE c.contract_id = $1 AND ${scopeSql(viewer, '$2')}`,
    [contractId, scopeKey(viewer)],
    { prepare: true },
  );
  if (!r.rows[0]) throw notFound(`Contract ${contractId}`);
  return r.rows[0];
}

/**
 * One page of the provider's contracts, newest first (index contract_sign_requests_provider_idx, or
 * _provider_status_idx when filtered); the page is keys only, its rows are read whole after. The
 * total is exact up to CONTRACT_COUNT_EXACT_MAX matches (a count that stops there, on the same
 * index); beyond, the planner's row estimate, flagged total_estimated: counting 100k rows exactly
 * on every refresh of the contracts page would cost more than the page itself.
 */
export async function listProviderContracts(
  db: Queryable,
  provider: string,
  q: { status?: ContractStatus; limit?: number; offset?: number },
): Promise<ContractPage> {
  const params: unknown[] = [provider];
  if (q.status !== undefined) params.push(q.status);
  const matching = `FROM contract_sign_requests c WHERE c.provider_pubkey = $1${q.status !== undefined ? ' AND c.status = $2' : ''}`;
  const [items, counted] = await Promise.all([
    db.query<Contract>(
      `WITH page AS MATERIALIZED (
         SELECT c.contract_id, c.created_at ${matching}
         ORDER BY c.created_at DESC, c.contract_id DESC LIMIT ${q.limit ?? 100} OFFSET ${q.offset ?? 0})
       SELECT ${CONTRACT_COLUMNS} FROM ${CONTRACT_FROM} JOIN page ON page.contract_id = c.contract_id
       ORDER BY page.created_at DESC, page.contract_id DESC`,
      params,
    ),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 ${matching} LIMIT ${CONTRACT_COUNT_EXACT_MAX + 1}) m`, params),
  ]);
  const exact = counted.rows[0]!.n;
  if (exact <= CONTRACT_COUNT_EXACT_MAX) return { items: items.rows, total: exact };
  const plan = await db.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(`EXPLAIN (FORMAT JSON) SELECT 1 ${matching}`, params);
  const estimate = Math.round(plan.rows[0]!['QUERY PLAN'][0].Plan['Plan Rows']);
  return { items: items.rows, total: Math.max(estimate, exact), total_estimated: true };
}

/**
 * A trigger (customer cancel, operator refund, provider terminate; DESIGN.md "What starts it"):
 * a contract never granted a lease ends `cancelled` (v2); one whose machine exists or may exist
 * becomes `terminating`, owned by the agent that built it or last held its lease, whose open
 * lease (if any) goes on as the teardown lease; one already ending is left as it is. Throws 409
 * where the table refuses the trigger, unless `refuse` is false (a refund records the payment anyway).
 */
async function endContract(
  tx: Queryable, c: LockedContract, trigger: Trigger, actor: string | null, detail: string, notice: WorkNoticePolicy, refuse = true,
): Promise<void> {
  const to = triggerTarget(c.status, trigger, c.token > 0);
  if (to === 'unchanged') return;
  if (to === null) {
    if (!refuse) return;
    const hint = c.status === 'requested' ? ' Reject it instead.' : '';
    throw fail('invalid_transition', `Cannot ${trigger} a contract that is ${c.status}.${hint}`);
  }
  if (to === 'cancelled') {
    await tx.query(
      `UPDATE contract_sign_requests SET status = $2, provisioning_lock_agent = NULL, provisioning_lock_at = NULL,
         provisioning_lock_expires_at = NULL, next_attempt_at = NULL, updated_at = now()
       WHERE contract_id = $1`,
      [c.contract_id, to],
    );
    await recordEvent(tx, { contractId: c.contract_id, event: 'cancelled', actor: c.lock_agent, token: c.token, detail });
    return;
  }
  // Mid-provision (not yet provisioned): the last grantee owns the teardown in its pool, with the
  // offering's type and its own host_scope. Built by a person (provisioning, or provisioned by the
  // provider), the teardown starts handed off.
  await tx.query(
    `UPDATE contract_sign_requests c SET status = $2, attempts = 0, next_attempt_at = NULL, updated_at = now(),
       teardown_owner = CASE WHEN c.status = 'provisioned' THEN c.teardown_owner ELSE c.lease_agent END,
       provisioned_pool_id = COALESCE(c.provisioned_pool_id, (SELECT d.pool_id FROM provider_agent_delegations d WHERE d.agent_pubkey = c.lease_agent)),
       provisioned_type = COALESCE(c.provisioned_type,
         (SELECT o.provisioner_type FROM provider_offerings o WHERE o.provider_pubkey = c.provider_pubkey AND o.offering_id = c.offering_id)),
       host_scope = COALESCE(c.host_scope, (SELECT s.capabilities ->> 'host_scope' FROM agent_status s WHERE s.agent_pubkey = c.lease_agent)),
       teardown_handed_off = (c.status = 'provisioning' OR (c.status = 'provisioned' AND c.teardown_owner IS NULL))
     WHERE c.contract_id = $1`,
    [c.contract_id, to],
  );
  await recordEvent(tx, { contractId: c.contract_id, event: 'terminate_requested', actor, token: c.token, detail });
  await notifyWork(tx, [c.contract_id], notice.offlineAfterSeconds);
}

export async function cancelContract(db: Db, contractId: string, customer: string, notice: WorkNoticePolicy): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { customer });
    await endContract(tx, c, 'cancel', null, 'cancelled by customer', notice);
    await recordAudit(tx, { provider: c.provider_pubkey, kind: 'contract_cancelled', actor: { kind: 'customer', pubkey: customer }, subject: { type: 'contract', id: contractId } });
  });
  return getContract(db, contractId, { customer });
}

export async function decideContract(db: Db, contractId: string, provider: string, action: 'accept' | 'reject', notice: WorkNoticePolicy): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { provider });
    const status = transition(c.status, action);
    await tx.query(`UPDATE contract_sign_requests SET status = $2, updated_at = now() WHERE contract_id = $1`, [contractId, status]);
    await recordAudit(tx, { provider, kind: action === 'accept' ? 'contract_accepted' : 'contract_rejected', actor: providerActor(provider), subject: { type: 'contract', id: contractId } });
    if (offersWork(status) && c.payment_status === 'succeeded') await notifyWork(tx, [contractId], notice.offlineAfterSeconds);
  });
  return getContract(db, contractId, { provider });
}

export async function retryContract(db: Db, contractId: string, provider: string, notice: WorkNoticePolicy): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { provider });
    const status = transition(c.status, 'retry');
    await tx.query(
      `UPDATE contract_sign_requests SET status = $2, attempts = 0, next_attempt_at = NULL, updated_at = now() WHERE contract_id = $1`,
      [contractId, status],
    );
    await recordEvent(tx, { contractId, event: 'retried', actor: null, token: c.token, detail: 'retry requested by provider' });
    await recordAudit(tx, { provider, kind: 'contract_retried', actor: providerActor(provider), subject: { type: 'contract', id: contractId } });
    if (offersWork(status) && c.payment_status === 'succeeded') await notifyWork(tx, [contractId], notice.offlineAfterSeconds);
  });
  return getContract(db, contractId, { provider });
}

/**
 * Records a payment outcome (operator). A refund also cancels the contract where the state table
 * has a refund transition; elsewhere (rejected, cancelled) only the payment status changes.
 */
export async function setPayment(
  db: Db, contractId: string, status: Exclude<PaymentStatus, 'pending'>, operator: string, notice: WorkNoticePolicy,
): Promise<Contract> {
  const provider = await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { operator: true });
    if (!canSetPayment(c.payment_status, status)) {
      throw fail('invalid_transition', `Cannot mark payment ${status}: it is ${c.payment_status}.`);
    }
    await tx.query(`UPDATE contract_sign_requests SET payment_status = $2, updated_at = now() WHERE contract_id = $1`, [contractId, status], { prepare: true });
    await recordAudit(tx, { provider: c.provider_pubkey, kind: 'payment_recorded', actor: { kind: 'operator', pubkey: operator }, subject: { type: 'contract', id: contractId }, detail: { payment_status: status, previous: c.payment_status } });
    if (status === 'refunded') await endContract(tx, c, 'refund', null, 'payment refunded', notice, false);
    if (status === 'succeeded' && offersWork(c.status)) await notifyWork(tx, [contractId], notice.offlineAfterSeconds);
    return c.provider_pubkey;
  });
  return getContract(db, contractId, { provider });
}

/** The provider ends a contract (DESIGN.md v3 `…/terminate`): as a cancel, with its reason recorded. */
export async function terminateContract(db: Db, contractId: string, provider: string, reason: string | null, notice: WorkNoticePolicy): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { provider });
    await endContract(tx, c, 'terminate', provider, reason === null ? 'terminate requested by provider' : `terminate requested by provider: ${reason}`, notice);
    await recordAudit(tx, { provider, kind: 'terminate_requested', actor: providerActor(provider), subject: { type: 'contract', id: contractId }, ...(reason !== null && { detail: { reason } }) });
  });
  return getContract(db, contractId, { provider });
}

export async function listEvents(db: Queryable, contractId: string, provider: string): Promise<ContractEvent[]> {
  const c = await db.query(`SELECT 1 FROM contract_sign_requests WHERE contract_id = $1 AND provider_pubkey = $2`, [contractId, provider]);
  if (c.rowCount === 0) throw notFound(`Contract ${contractId}`);
  const rows = (
    await db.query<ContractEvent & { via_fallback: boolean | null }>(
      `SELECT event_id, at, event, action, agent_pubkey, lock_token, detail, via_fallback FROM contract_events WHERE contract_id = $1 ORDER BY event_id`,
      [contractId],
    )
  ).rows;
  // via_fallback only where it applies (grants): absent, not null, elsewhere.
  return rows.map(({ via_fallback, ...e }) => (via_fallback === null ? e : { ...e, via_fallback }));
}
