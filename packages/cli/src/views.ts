// Table rows of objects more than one command prints (agents, contracts).
import type { Contract, PoolAgent } from '@dc/core';
import { fields, compactJson } from './output.js';

export const AGENT_HEADERS = ['agent_pubkey', 'label', 'pool', 'status', 'state', 'version', 'leases', 'capacity', 'contracts', 'failures', 'last_seen'];

/** State as a person reads it: drained once draining with no lease left; cooling down after failures. */
export function agentState(a: PoolAgent): string {
  if (a.state === 'draining') return a.drained ? 'drained' : 'draining';
  if (a.cooldown_until && Date.parse(a.cooldown_until) > Date.now()) return 'cooling down';
  return a.state;
}

export function agentRow(a: PoolAgent) {
  return [a.agent_pubkey, a.label, a.pool_id, a.status, agentState(a), a.version, a.live_leases, a.max_concurrent ?? 'unlimited', a.active_contracts, a.consecutive_failures, a.last_seen_at];
}

export function agentFields(a: PoolAgent): string {
  return fields([
    ['agent_pubkey', a.agent_pubkey],
    ['label', a.label],
    ['pool_id', a.pool_id],
    ['status', a.status],
    ['state', agentState(a)],
    ['state_reason', a.state_reason],
    ['state_set_by', a.state_set_by],
    ['version', a.version],
    ['live_leases', a.live_leases],
    ['max_concurrent', a.max_concurrent ?? 'unlimited'],
    ['active_contracts', a.active_contracts],
    ['consecutive_failures', a.consecutive_failures],
    ['cooldown_until', a.cooldown_until],
    ['success_rate_24h', a.success_rate_24h === null ? null : `${Math.round(a.success_rate_24h * 100)}%`],
    ['host_scope', a.host_scope],
    ['last_seen_at', a.last_seen_at],
    ['created_at', a.created_at],
    ['revoked_at', a.revoked_at],
  ]);
}

export const CONTRACT_HEADERS = ['contract_id', 'offering', 'status', 'payment', 'attempts', 'agent', 'created_at'];

export function contractRow(c: Contract) {
  const agent = c.lock_agent_label ?? c.lock_agent?.slice(0, 12) ?? c.provisioned_by_label ?? c.provisioned_by?.slice(0, 12) ?? null;
  return [c.contract_id, c.offering_id, c.status, c.payment_status, c.attempts, agent, c.created_at];
}

export function contractFields(c: Contract): string {
  return fields([
    ['contract_id', c.contract_id],
    ['status', c.status],
    ['payment_status', c.payment_status],
    ['offering_id', c.offering_id],
    ['offering_name', c.offering_name],
    ['provider_pubkey', c.provider_pubkey],
    ['customer_pubkey', c.customer_pubkey],
    ['region', c.datacenter_region],
    ['routed_pool_id', c.routed_pool_id],
    ['lease_pool_id', c.lease_pool_id],
    ['created_at', c.created_at],
    ['updated_at', c.updated_at],
    ['attempts', c.attempts],
    ['next_attempt_at', c.next_attempt_at],
    ['last_error', c.last_error],
    ['lock_agent', c.lock_agent_label ? `${c.lock_agent_label} (${c.lock_agent})` : c.lock_agent],
    ['lock_token', c.lock_token],
    ['lock_expires_at', c.lock_expires_at],
    ['provisioned_by', c.provisioned_by_label ? `${c.provisioned_by_label} (${c.provisioned_by})` : c.provisioned_by],
    ['provisioned_at', c.provisioned_at],
    ['instance_details', compactJson(c.instance_details)],
    ['terminated_at', c.terminated_at],
    ['terminated_by', c.terminated_by],
    ['ssh_pubkey', c.ssh_pubkey],
    ['instance_config', compactJson(c.instance_config)],
  ]);
}
