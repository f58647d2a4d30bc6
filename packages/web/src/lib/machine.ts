// What the dashboard says about a contract's machine before anyone destroys it: the identifying
// facts agents report in instance_details (provisioners name them differently), and what a
// provider's terminate will do, from core's state table.
import { triggerTarget, type Contract } from '@dc/core';

export interface MachineFact {
  label: string;
  value: string;
}

/** The first of `keys` in `details` that holds a non-empty string or a number, as text. */
function pick(details: Record<string, unknown>, keys: readonly string[]): string | null {
  for (const k of keys) {
    const v = details[k];
    if (typeof v === 'string' && v.trim()) return v.trim();
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  }
  return null;
}

/**
 * Hostname, addresses, where it runs and its VM id, as far as the contract knows them. Without
 * instance details (a teardown of an unfinished provision) the requested hostname stands in.
 */
export function machineFacts(c: Contract): MachineFact[] {
  const d = (c.instance_details ?? {}) as Record<string, unknown>;
  const facts: MachineFact[] = [];
  const add = (label: string, value: string | null) => {
    if (value) facts.push({ label, value });
  };
  const requested = pick((c.instance_config ?? {}) as Record<string, unknown>, ['hostname']);
  add('Hostname', pick(d, ['hostname', 'name']) ?? (requested ? `${requested} (requested)` : null));
  add('IP address', pick(d, ['ip_address', 'ipv4', 'ip', 'public_ip']));
  add('IPv6', pick(d, ['ipv6']));
  add('Host scope', c.host_scope ?? pick(d, ['host_scope']));
  add('Node', pick(d, ['node']));
  add('VM id', pick(d, ['vmid', 'vm_id']));
  return facts;
}

/** The tag every provisioner puts on what it builds for a contract; teardowns find machines by it. */
export function machineTag(contractId: string): string {
  return `dc-${contractId}`;
}

/** What the provider's terminate does to this contract now (null: refused, e.g. still requested). */
export function terminateOutcome(c: Contract): 'terminating' | 'cancelled' | 'unchanged' | null {
  const to = triggerTarget(c.status, 'terminate', c.lock_token > 0);
  return to === 'terminating' || to === 'cancelled' || to === 'unchanged' ? to : null;
}
