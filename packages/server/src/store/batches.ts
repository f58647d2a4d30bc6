// Batch confirmations (DESIGN.md "v3, batches"): an agent confirms up to BATCH_MAX provisions,
// failures or teardowns in one call. Each item gets the status and error object its single call
// (leases.ts) would have answered, in request order, and is fenced on its own.
//
// One transaction: for `failed` the caller's agent row first (lockAgent, as the single `failed`:
// agent before contract, always; eligibility.ts), then the batch's contract rows in contract_id
// order (the order of the sweeper and of revocation, so batches never deadlock with them or with
// each other), then each item in request order runs the single call's own code (confirmProvisioned,
// confirmFailed, confirmTerminated) under a SAVEPOINT, so a refusal (DomainError) rolls back that
// item only. Anything else (the database going away) fails the whole batch: nothing commits, and a
// resend is safe because exact repeats answer 200 per item. After the commit, as the single calls
// do: one success reset of the agent's health when something was confirmed. The work notices of
// failures without back-off go out in one notice inside the transaction (delivered on commit):
// PostgreSQL would deliver identical per-item notices of one transaction only once.
import { BATCH_MAX, type BatchItemResult, type ErrorClass } from '@dc/core';
import type { Db, Queryable } from '../db/db.js';
import { DomainError, invalidInput } from '../errors.js';
import { DEFAULT_FLEET_POLICY, lockAgent, recordAgentSuccess } from './eligibility.js';
import { confirmFailed, confirmProvisioned, confirmProvisionedOpenLeases, confirmTerminated, type Caller, type LeasePolicy } from './leases.js';
import { notifyWork } from './work-notify.js';

export interface BatchItem {
  contract_id: string;
  lock_token: number;
}
export interface ProvisionedItem extends BatchItem {
  instance_details: Record<string, unknown>;
}
export interface FailedItem extends BatchItem {
  error_message: string;
  error_class?: ErrorClass;
}

const SAVEPOINT = 'dc_batch_item';

/** 400 for the whole request (before anything is read or written): 1–BATCH_MAX items, contract ids distinct. */
export function assertBatchShape(items: readonly BatchItem[]): void {
  if (items.length < 1 || items.length > BATCH_MAX) throw invalidInput(`body.items must hold 1 to ${BATCH_MAX} items.`);
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const first = seen.get(item.contract_id);
    if (first !== undefined) {
      throw invalidInput(`body.items[${i}].contract_id repeats body.items[${first}].contract_id (${JSON.stringify(item.contract_id)}); each contract may appear once.`);
    }
    seen.set(item.contract_id, i);
  });
}

/** What one item does inside the batch transaction: true when it confirmed now (false: an exact repeat, or nothing to reset). */
type ItemStep<I> = (tx: Queryable, item: I, notices: string[]) => Promise<boolean>;

async function runBatch<I extends BatchItem>(
  db: Db,
  caller: Caller,
  items: readonly I[],
  opts: { agentFirst: boolean; offlineAfterSeconds: number; fastPath?: (tx: Queryable) => Promise<Set<string>> },
  step: ItemStep<I>,
): Promise<{ results: BatchItemResult[]; confirmed: number }> {
  assertBatchShape(items);
  return db.transaction(async (tx) => {
    if (opts.agentFirst) await lockAgent(tx, caller.agent);
    // Only the caller's provider's rows: another provider's contract is the single call's 404 and stays unlocked.
    await tx.query(
      `SELECT 1 FROM contract_sign_requests WHERE contract_id = ANY($1::text[]) AND provider_pubkey = $2 ORDER BY contract_id FOR UPDATE`,
      [items.map((i) => i.contract_id), caller.provider],
    );
    // Items the common case confirmed in one statement answer 200 like the single call's fast path.
    const fast = opts.fastPath ? await opts.fastPath(tx) : new Set<string>();
    const results: BatchItemResult[] = [];
    const notices: string[] = [];
    let confirmed = fast.size;
    for (const item of items) {
      if (fast.has(item.contract_id)) {
        results.push({ contract_id: item.contract_id, status: 200 });
        continue;
      }
      const mine: string[] = [];
      await tx.query(`SAVEPOINT ${SAVEPOINT}`);
      try {
        if (await step(tx, item, mine)) confirmed++;
        await tx.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
      } catch (err) {
        // A refusal is this item's answer; a 5xx (database_unavailable included) is the batch's.
        if (!(err instanceof DomainError) || err.status >= 500) throw err;
        // Rolled back and released: the next item's savepoint is not nested in this one.
        await tx.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
        await tx.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
        results.push({ contract_id: item.contract_id, status: err.status, error: { code: err.code, message: err.message, ...err.details } });
        continue;
      }
      notices.push(...mine);
      results.push({ contract_id: item.contract_id, status: 200 });
    }
    await notifyWork(tx, notices, opts.offlineAfterSeconds);
    return { results, confirmed };
  });
}

const offlineOf = (policy: LeasePolicy) => (policy.fleet ?? DEFAULT_FLEET_POLICY).offlineAfterSeconds;

/** POST …/contracts/provisioned: each item as POST …/contracts/{id}/provisioned by this agent. */
export async function provisionedBatch(db: Db, caller: Caller, items: readonly ProvisionedItem[], policy: LeasePolicy): Promise<BatchItemResult[]> {
  const fastPath = (tx: Queryable) => confirmProvisionedOpenLeases(tx, caller, items);
  const { results, confirmed } = await runBatch(db, caller, items, { agentFirst: false, offlineAfterSeconds: offlineOf(policy), fastPath }, (tx, item) =>
    confirmProvisioned(tx, caller, item.contract_id, item.lock_token, item.instance_details));
  if (confirmed > 0) await recordAgentSuccess(db, caller.agent);
  return results;
}

/**
 * POST …/contracts/failed: each item as POST …/contracts/{id}/failed by this agent. `agent`-class
 * failures count against its health item by item, in request order, exactly as single calls would.
 */
export async function failedBatch(
  db: Db, caller: Caller, items: readonly FailedItem[], policy: LeasePolicy,
): Promise<{ items: BatchItemResult[]; provisionLeasesEnded: number }> {
  let provisionLeasesEnded = 0;
  const { results } = await runBatch(db, caller, items, { agentFirst: true, offlineAfterSeconds: offlineOf(policy) }, async (tx, item, notices) => {
    const ended = await confirmFailed(tx, caller, item.contract_id, item.lock_token, item.error_message, policy, item.error_class ?? 'agent', notices);
    if (ended === 'provision') provisionLeasesEnded++;
    return false;
  });
  return { items: results, provisionLeasesEnded };
}

/** POST …/contracts/terminated: each item as an agent's POST …/contracts/{id}/terminated. */
export async function terminatedBatch(db: Db, caller: Caller, items: readonly BatchItem[], policy: LeasePolicy): Promise<BatchItemResult[]> {
  const { results, confirmed } = await runBatch(db, caller, items, { agentFirst: false, offlineAfterSeconds: offlineOf(policy) }, (tx, item) =>
    confirmTerminated(tx, caller, item.contract_id, item.lock_token));
  if (confirmed > 0) await recordAgentSuccess(db, caller.agent);
  return results;
}
