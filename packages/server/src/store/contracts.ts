// Contracts: creation by customers, reads, and the transitions decided by people and payments
// (accept, reject, cancel, retry, refund). Each locks the row (lockContract), asks the state table
// for the next status (transition), writes, and records its event in one transaction.
import { randomUUID } from 'node:crypto';
import { canSetPayment, type Contract, type ContractCreate, type ContractEvent, type ContractStatus, type PaymentStatus } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { fail, notFound } from '../errors.js';
import { CONTRACT_COLUMNS, CONTRACT_FROM, lockContract, scopeKey, scopeSql, type LockedContract, type Viewer } from './contract-row.js';
import { offersWork, served, transition } from './contract-state.js';
import { recordEvent } from './events.js';
import { notifyWork } from './work-notify.js';

async function readContract(db: Queryable, contractId: string): Promise<Contract | undefined> {
  return (await db.query<Contract>(`SELECT ${CONTRACT_COLUMNS} FROM ${CONTRACT_FROM} WHERE c.contract_id = $1`, [contractId])).rows[0];
}

export async function createContract(db: Db, customer: string, input: ContractCreate): Promise<Contract> {
  const id = randomUUID();
  // FOR KEY SHARE on the offering: a concurrent delete (which takes FOR UPDATE) waits for us or
  // we find the offering gone; either way no contract points at a deleted offering.
  const r = await db.query(
    `INSERT INTO contract_sign_requests (contract_id, provider_pubkey, offering_id, customer_pubkey, ssh_pubkey, instance_config)
     SELECT $1, o.provider_pubkey, o.offering_id, $4, $5, $6::jsonb
     FROM provider_offerings o WHERE o.provider_pubkey = $2 AND o.offering_id = $3 AND o.status = 'active'
     FOR KEY SHARE OF o`,
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
  );
  if (!r.rows[0]) throw notFound(`Contract ${contractId}`);
  return r.rows[0];
}

export async function listProviderContracts(
  db: Queryable,
  provider: string,
  q: { status?: ContractStatus; limit?: number; offset?: number },
): Promise<{ items: Contract[]; total: number }> {
  const params: unknown[] = [provider, q.status ?? null];
  const where = `c.provider_pubkey = $1 AND ($2::text IS NULL OR c.status = $2)`;
  const total = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM contract_sign_requests c WHERE ${where}`, params)).rows[0]!.n;
  const items = (
    await db.query<Contract>(
      `SELECT ${CONTRACT_COLUMNS} FROM ${CONTRACT_FROM} WHERE ${where}
       ORDER BY c.created_at DESC, c.contract_id DESC LIMIT ${q.limit ?? 100} OFFSET ${q.offset ?? 0}`,
      params,
    )
  ).rows;
  return { items, total };
}

/** Cancel (customer) or refund (operator): moves to `status` and ends any lease. */
async function cancelLocked(tx: Queryable, c: LockedContract, status: ContractStatus, detail: string): Promise<void> {
  await tx.query(
    `UPDATE contract_sign_requests SET status = $2, provisioning_lock_agent = NULL, provisioning_lock_at = NULL,
       provisioning_lock_expires_at = NULL, next_attempt_at = NULL, updated_at = now()
     WHERE contract_id = $1`,
    [c.contract_id, status],
  );
  await recordEvent(tx, { contractId: c.contract_id, event: 'cancelled', actor: c.lock_agent, token: c.token, detail });
}

export async function cancelContract(db: Db, contractId: string, customer: string): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { customer });
    await cancelLocked(tx, c, transition(c.status, 'cancel'), 'cancelled by customer');
  });
  return getContract(db, contractId, { customer });
}

export async function decideContract(db: Db, contractId: string, provider: string, action: 'accept' | 'reject'): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { provider });
    const status = transition(c.status, action);
    await tx.query(`UPDATE contract_sign_requests SET status = $2, updated_at = now() WHERE contract_id = $1`, [contractId, status]);
    if (offersWork(status) && c.payment_status === 'succeeded') await notifyWork(tx, [contractId]);
  });
  return getContract(db, contractId, { provider });
}

export async function retryContract(db: Db, contractId: string, provider: string): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { provider });
    const status = transition(c.status, 'retry');
    await tx.query(
      `UPDATE contract_sign_requests SET status = $2, attempts = 0, next_attempt_at = NULL, updated_at = now() WHERE contract_id = $1`,
      [contractId, status],
    );
    await recordEvent(tx, { contractId, event: 'retried', actor: null, token: c.token, detail: 'retry requested by provider' });
    if (offersWork(status) && c.payment_status === 'succeeded') await notifyWork(tx, [contractId]);
  });
  return getContract(db, contractId, { provider });
}

/**
 * Records a payment outcome (operator). A refund also cancels the contract where the state table
 * has a refund transition; elsewhere (rejected, cancelled) only the payment status changes.
 */
export async function setPayment(db: Db, contractId: string, status: Exclude<PaymentStatus, 'pending'>): Promise<Contract> {
  const provider = await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { operator: true });
    if (!canSetPayment(c.payment_status, status)) {
      throw fail('invalid_transition', `Cannot mark payment ${status}: it is ${c.payment_status}.`);
    }
    await tx.query(`UPDATE contract_sign_requests SET payment_status = $2, updated_at = now() WHERE contract_id = $1`, [contractId, status]);
    const refunded = status === 'refunded' ? served(c.status, 'refund') : null;
    if (refunded) await cancelLocked(tx, c, refunded, 'payment refunded');
    if (status === 'succeeded' && offersWork(c.status)) await notifyWork(tx, [contractId]);
    return c.provider_pubkey;
  });
  return getContract(db, contractId, { provider });
}

export async function listEvents(db: Queryable, contractId: string, provider: string): Promise<ContractEvent[]> {
  const c = await db.query(`SELECT 1 FROM contract_sign_requests WHERE contract_id = $1 AND provider_pubkey = $2`, [contractId, provider]);
  if (c.rowCount === 0) throw notFound(`Contract ${contractId}`);
  return (
    await db.query<ContractEvent>(
      `SELECT event_id, at, event, agent_pubkey, lock_token, detail FROM contract_events WHERE contract_id = $1 ORDER BY event_id`,
      [contractId],
    )
  ).rows;
}
