// What the Terminate and Mark terminated dialogs say about a machine, and which outcome they
// announce: the facts come from what provisioners report, the outcome from core's state table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTRACT_STATUSES, providerActionsFor, type Contract, type ContractStatus } from '@dc/core';
import { machineFacts, machineTag, terminateOutcome } from '../src/lib/machine.js';

function contract(over: Partial<Contract>): Contract {
  return {
    contract_id: 'c0ffee00-0000-4000-8000-000000000001',
    provider_pubkey: 'a'.repeat(64),
    offering_id: 'vps-de',
    customer_pubkey: 'b'.repeat(64),
    status: 'provisioned',
    payment_status: 'succeeded',
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    lock_agent: null,
    lock_agent_label: null,
    lock_token: 1,
    lock_expires_at: null,
    attempts: 0,
    next_attempt_at: null,
    last_error: null,
    provisioned_by: 'c'.repeat(64),
    provisioned_by_label: 'pve-1',
    provisioned_at: '2026-01-01T00:01:00.000Z',
    instance_details: null,
    provisioned_pool_id: 'europe-pve-1',
    teardown_owner: null,
    host_scope: null,
    teardown_handed_off: false,
    terminated_at: null,
    terminated_by: null,
    ssh_pubkey: null,
    instance_config: null,
    offering_name: 'VPS DE',
    datacenter_region: 'europe',
    resolved_pool_id: 'europe-pve-1',
    routed_pool_id: 'europe-pve-1',
    lease_pool_id: null,
    ...over,
  };
}

test('machine facts: what proxmox reports (hostname, IPv4/IPv6, node, VM id), the recorded host scope first', () => {
  const c = contract({
    host_scope: 'cluster-a',
    instance_details: { provisioner: 'proxmox', host_scope: 'other', node: 'pve1', vmid: 4242, name: 'dc-x-web-1', hostname: 'web-1', ipv4: '203.0.113.9', ipv6: '2001:db8::9' },
  });
  assert.deepEqual(machineFacts(c), [
    { label: 'Hostname', value: 'web-1' },
    { label: 'IP address', value: '203.0.113.9' },
    { label: 'IPv6', value: '2001:db8::9' },
    { label: 'Host scope', value: 'cluster-a' },
    { label: 'Node', value: 'pve1' },
    { label: 'VM id', value: '4242' },
  ]);
});

test('machine facts: a manual ip_address, objects and blanks skipped, the requested hostname when nothing was reported', () => {
  const manual = contract({ instance_details: { ip_address: ' 198.51.100.4 ', hostname: '', name: 'box-7', extra: { a: 1 }, vmid: { no: 1 } } });
  assert.deepEqual(machineFacts(manual), [
    { label: 'Hostname', value: 'box-7' },
    { label: 'IP address', value: '198.51.100.4' },
  ]);
  const unfinished = contract({ status: 'accepted', instance_details: null, instance_config: { hostname: 'web-2' }, provisioned_by: null });
  assert.deepEqual(machineFacts(unfinished), [{ label: 'Hostname', value: 'web-2 (requested)' }]);
  assert.deepEqual(machineFacts(contract({ instance_details: null })), []);
  assert.equal(machineTag('abc'), 'dc-abc');
});

test('terminate outcome follows core: terminating where a machine may exist, cancelled when never granted, refused on requested and ended ones', () => {
  const expected: Record<ContractStatus, [granted: ReturnType<typeof terminateOutcome>, never: ReturnType<typeof terminateOutcome>]> = {
    requested: [null, null],
    accepted: ['terminating', 'cancelled'],
    provisioning: ['terminating', 'cancelled'],
    provisioning_failed: ['terminating', 'cancelled'],
    provisioned: ['terminating', 'terminating'],
    terminating: ['unchanged', 'unchanged'],
    termination_failed: ['unchanged', 'unchanged'],
    terminated: ['unchanged', 'unchanged'],
    rejected: [null, null],
    cancelled: [null, null],
  };
  for (const status of CONTRACT_STATUSES) {
    assert.equal(terminateOutcome(contract({ status, lock_token: 3 })), expected[status][0], `${status}, granted`);
    assert.equal(terminateOutcome(contract({ status, lock_token: 0 })), expected[status][1], `${status}, never granted`);
    // The dashboard offers Terminate exactly where it changes something.
    const changes = expected[status][0] === 'terminating';
    assert.equal(providerActionsFor(status).includes('terminate'), changes, `Terminate offered on ${status}`);
  }
  assert.deepEqual(providerActionsFor('termination_failed'), ['retry', 'terminated']);
  assert.deepEqual(providerActionsFor('terminating'), ['terminated']);
});
