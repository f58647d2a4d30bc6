// The server's use of core's contract state table (TRANSITIONS). Every status change the store
// makes goes through `transition`, and the statements that change a status inside one SQL
// statement (claim, lease expiry, the one-statement `provisioned`, revocation) build their
// conditions and CASE expressions here from the same table, so SQL and table cannot drift.
import { CONTRACT_ACTIONS as ACTIONS, CONTRACT_STATUSES, TEARDOWN_STATUSES, nextStatus, workActionOf, type ContractAction, type ContractStatus, type WorkAction } from '@dc/core';
import { DomainError, fail } from '../errors.js';

/** The status `action` moves a `from` contract to, or null where the server refuses it. */
export function served(from: ContractStatus, action: ContractAction): ContractStatus | null {
  return nextStatus(from, action);
}

/**
 * The status `action` moves a `from` contract to; refused pairs throw 409 invalid_transition, or
 * `refuse()` where the API answers a more specific code (not_provisionable, not_paid, …).
 */
export function transition(from: ContractStatus, action: ContractAction, refuse?: () => DomainError): ContractStatus {
  const to = served(from, action);
  if (to === null) throw refuse?.() ?? fail('invalid_transition', `Cannot ${action} a contract that is ${from}.`);
  return to;
}

/** Statuses from which the server applies `action` (to leases of `work` only, when given). */
export function servedFrom(action: ContractAction, work?: WorkAction): ContractStatus[] {
  return CONTRACT_STATUSES.filter((s) => served(s, action) !== null && (work === undefined || workActionOf(s) === work));
}

const literal = (s: ContractStatus) => `'${s}'`;

/** SQL condition: `column` is a status from which the server applies `action` (to `work` leases only, when given). */
export function allowedFromSql(action: ContractAction, column = 'c.status', work?: WorkAction): string {
  const from = servedFrom(action, work);
  if (from.length === 0) return 'false';
  // One status as an equality, the form the partial indexes' predicates are written in.
  if (from.length === 1) return `${column} = ${literal(from[0]!)}`;
  return `${column} IN (${from.map(literal).join(', ')})`;
}

/** SQL expression: the status `action` moves `column` to. NULL where refused: use with allowedFromSql. */
export function statusAfterSql(action: ContractAction, column = 'c.status'): string {
  const from = servedFrom(action);
  if (from.length === 0) return 'NULL';
  return `CASE ${column} ${from.map((s) => `WHEN ${literal(s)} THEN ${literal(served(s, action)!)}`).join(' ')} END`;
}

/** A contract in `status` is work an agent may be granted (when paid): new work is announced for it. */
export function offersWork(status: ContractStatus): boolean {
  return served(status, 'grant') !== null;
}

/** SQL condition: contract `c` may be granted a provision lease (status allows it, paid). */
export function grantableSql(c = 'c'): string {
  return `${allowedFromSql('grant', `${c}.status`, 'provision')} AND ${c}.payment_status = 'succeeded'`;
}

/** SQL condition: contract `c` may be granted a teardown lease (whatever its payment: a refund ends it too), unless a person has it. */
export function teardownGrantableSql(c = 'c'): string {
  return `${allowedFromSql('grant', `${c}.status`, 'terminate')} AND NOT ${c}.teardown_handed_off`;
}

/** SQL expression: the work action of a contract whose status is `column` (core workActionOf). */
export function workActionSql(column = 'c.status'): string {
  return `CASE WHEN ${column} IN (${TEARDOWN_STATUSES.map(literal).join(', ')}) THEN 'terminate' ELSE 'provision' END`;
}

/**
 * Statuses from which a contract can still become provision work (a status granted from, or one
 * that leads to it): the contracts whose stored route (route_pool_id) is kept equal to the rule.
 * A contract past them never needs its route again; its answers show its offering's.
 */
export const ROUTED_STATUSES: readonly ContractStatus[] = (() => {
  const set = new Set(servedFrom('grant', 'provision'));
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of CONTRACT_STATUSES) {
      if (set.has(s) || workActionOf(s) !== 'provision') continue;
      if (ACTIONS.some((a) => { const to = served(s, a); return to !== null && set.has(to); })) {
        set.add(s);
        grew = true;
      }
    }
  }
  return CONTRACT_STATUSES.filter((s) => set.has(s));
})();

/** SQL condition: `column` is one of ROUTED_STATUSES. */
export function routedStatusSql(column = 'c.status'): string {
  return `${column} IN (${ROUTED_STATUSES.map(literal).join(', ')})`;
}
