// Contracts: creation by customers, reads, and the non-lease transitions (accept, reject,
// cancel, retry, payment). Each transition locks the row, checks ALLOWED_FROM, writes, and
// records its event in one transaction.
import { randomUUID } from 'node:crypto';
import { ALLOWED_FROM, PAYMENT_ALLOWED_FROM, type Contract, type ContractAction, type ContractCreate, type ContractStatus, type PaymentStatus } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { ApiError, conflict, notFound } from '../http/errors.js';
import { RESOLVED_POOL_ID, ROUTE_JOIN } from './routing.js';
import { notifyWork } from './work-notify.js';

export const CONTRACT_COLUMNS = `c.contract_id, c.provider_pubkey, c.offering_id, c.customer_pubkey, c.status, c.payment_status,
  c.created_at, c.updated_at, c.provisioning_lock_agent AS lock_agent, c.provisioning_lock_token AS lock_token,
  c.provisioning_lock_expires_at AS lock_expires_at, c.attempts,
  CASE WHEN c.next_attempt_at > now() THEN c.next_attempt_at END AS next_attempt_at,
  c.last_error, c.provisioned_by, c.provisioned_at, c.instance_details, c.ssh_pubkey, c.instance_config,
  o.name AS offering_name, o.datacenter_region, ${RESOLVED_POOL_ID} AS resolved_pool_id`;
/** FROM clause for CONTRACT_COLUMNS; `source` may be a CTE of updated rows (RETURNING *). */
export function contractFrom(source = 'contract_sign_requests'): string {
  return `${source} c
  LEFT JOIN provider_offerings o ON o.provider_pubkey = c.provider_pubkey AND o.offering_id = c.offering_id
  ${ROUTE_JOIN}`;
}
export const CONTRACT_FROM = contractFrom();

export async function readContract(db: Queryable, contractId: string): Promise<Contract | undefined> {
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
    throw new ApiError(404, 'offering_not_found', `Offering "${input.offering_id}" of this provider does not exist or is not active.`);
  }
  return (await readContract(db, id))!;
}

export type Viewer = { customer: string } | { provider: string } | { customerOrProvider: string };

function scopeSql(viewer: Viewer, param: string): string {
  if ('customer' in viewer) return `c.customer_pubkey = ${param}`;
  if ('provider' in viewer) return `c.provider_pubkey = ${param}`;
  return `(c.customer_pubkey = ${param} OR c.provider_pubkey = ${param})`;
}
function scopeKey(viewer: Viewer): string {
  return 'customer' in viewer ? viewer.customer : 'provider' in viewer ? viewer.provider : viewer.customerOrProvider;
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

interface Locked {
  contract_id: string;
  provider_pubkey: string;
  status: ContractStatus;
  payment_status: PaymentStatus;
  provisioning_lock_agent: string | null;
  provisioning_lock_token: number;
}

async function lockContract(tx: Queryable, contractId: string, viewer: Viewer): Promise<Locked> {
  const r = await tx.query<Locked>(
    `SELECT contract_id, provider_pubkey, status, payment_status, provisioning_lock_agent, provisioning_lock_token
     FROM contract_sign_requests c WHERE c.contract_id = $1 AND ${scopeSql(viewer, '$2')} FOR UPDATE`,
    [contractId, scopeKey(viewer)],
  );
  if (!r.rows[0]) throw notFound(`Contract ${contractId}`);
  return r.rows[0];
}

function refuse(action: ContractAction | string, status: string): ApiError {
  return conflict('invalid_transition', `Cannot ${action} a contract that is ${status}.`);
}

async function recordEvent(tx: Queryable, c: Locked, event: string, agent: string | null, detail: string | null): Promise<void> {
  await tx.query(
    `INSERT INTO contract_events (contract_id, event, agent_pubkey, lock_token, detail) VALUES ($1, $2, $3, $4, $5)`,
    [c.contract_id, event, agent, c.provisioning_lock_token, detail],
  );
}

/** Cancels (customer) or, for a refund, cancels on the operator's word; ends any lease. */
async function cancelLocked(tx: Queryable, c: Locked, detail: string): Promise<void> {
  await tx.query(
    `UPDATE contract_sign_requests SET status = 'cancelled', provisioning_lock_agent = NULL, provisioning_lock_at = NULL,
       provisioning_lock_expires_at = NULL, next_attempt_at = NULL, updated_at = now()
     WHERE contract_id = $1`,
    [c.contract_id],
  );
  await recordEvent(tx, c, 'cancelled', c.provisioning_lock_agent, detail);
}

export async function cancelContract(db: Db, contractId: string, customer: string): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { customer });
    if (!ALLOWED_FROM.cancel.includes(c.status)) throw refuse('cancel', c.status);
    await cancelLocked(tx, c, 'cancelled by customer');
  });
  return getContract(db, contractId, { customer });
}

export async function decideContract(db: Db, contractId: string, provider: string, action: 'accept' | 'reject'): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { provider });
    if (!ALLOWED_FROM[action].includes(c.status)) throw refuse(action, c.status);
    const status = action === 'accept' ? 'accepted' : 'rejected';
    await tx.query(`UPDATE contract_sign_requests SET status = $2, updated_at = now() WHERE contract_id = $1`, [contractId, status]);
    if (status === 'accepted' && c.payment_status === 'succeeded') await notifyWork(tx, [contractId]);
  });
  return getContract(db, contractId, { provider });
}

export async function retryContract(db: Db, contractId: string, provider: string): Promise<Contract> {
  await db.transaction(async (tx) => {
    const c = await lockContract(tx, contractId, { provider });
    if (!ALLOWED_FROM.retry.includes(c.status)) throw refuse('retry', c.status);
    await tx.query(
      `UPDATE contract_sign_requests SET status = 'accepted', attempts = 0, next_attempt_at = NULL, updated_at = now() WHERE contract_id = $1`,
      [contractId],
    );
    await recordEvent(tx, c, 'retried', null, 'retry requested by provider');
    if (c.payment_status === 'succeeded') await notifyWork(tx, [contractId]);
  });
  return getContract(db, contractId, { provider });
}

export async function setPayment(db: Db, contractId: string, status: Exclude<PaymentStatus, 'pending'>): Promise<Contract> {
  let provider = '';
  await db.transaction(async (tx) => {
    const r = await tx.query<Locked>(
      `SELECT contract_id, provider_pubkey, status, payment_status, provisioning_lock_agent, provisioning_lock_token
       FROM contract_sign_requests WHERE contract_id = $1 FOR UPDATE`,
      [contractId],
    );
    const c = r.rows[0];
    if (!c) throw notFound(`Contract ${contractId}`);
    provider = c.provider_pubkey;
    if (!PAYMENT_ALLOWED_FROM[status].includes(c.payment_status)) {
      throw conflict('invalid_transition', `Cannot mark payment ${status}: it is ${c.payment_status}.`);
    }
    await tx.query(`UPDATE contract_sign_requests SET payment_status = $2, updated_at = now() WHERE contract_id = $1`, [contractId, status]);
    if (status === 'refunded' && ALLOWED_FROM.refund.includes(c.status)) await cancelLocked(tx, c, 'payment refunded');
    if (status === 'succeeded' && c.status === 'accepted') await notifyWork(tx, [contractId]);
  });
  return getContract(db, contractId, { provider });
}

export async function listEvents(db: Queryable, contractId: string, provider: string) {
  const c = await db.query(`SELECT 1 FROM contract_sign_requests WHERE contract_id = $1 AND provider_pubkey = $2`, [contractId, provider]);
  if (c.rowCount === 0) throw notFound(`Contract ${contractId}`);
  return (
    await db.query<{ at: Date; event: string; agent_pubkey: string | null; lock_token: number; detail: string | null }>(
      `SELECT event_id, at, event, agent_pubkey, lock_token, detail FROM contract_events WHERE contract_id = $1 ORDER BY event_id`,
      [contractId],
    )
  ).rows;
}
