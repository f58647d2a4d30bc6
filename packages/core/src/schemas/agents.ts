import { Type, type Static } from '@sinclair/typebox';
import { CONTRACT_ID_MAX, HOST_SCOPE_MAX, INVENTORY_MAX, LABEL, VERSION } from '../limits.js';
import { WORK_ACTIONS } from '../contract-states.js';
import { AnyObject, Nullable, ProvisionerType, Pubkey, RuleString } from './common.js';

export const PERMISSIONS = ['fetch_contracts', 'heartbeat', 'provision'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const AgentSetupInput = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 256 }), agent_pubkey: Pubkey, label: Type.Optional(RuleString(LABEL)) },
  { additionalProperties: false },
);
export type AgentSetupInput = Static<typeof AgentSetupInput>;
export const Delegation = Type.Object({
  provider_pubkey: Type.String(),
  agent_pubkey: Type.String(),
  pool_id: Type.String(),
  permissions: Type.Array(Type.String()),
  issued_at: Type.String(),
});
export type Delegation = Static<typeof Delegation>;
export const AgentSetupResult = Type.Object({
  provider_pubkey: Type.String(),
  pool_id: Type.String(),
  pool_name: Type.String(),
  pool_location: Type.String(),
  provisioner_type: Type.String(),
  permissions: Type.Array(Type.String()),
  delegation: Delegation,
  delegation_signature: Type.String(),
});
export type AgentSetupResult = Static<typeof AgentSetupResult>;

export const HeartbeatInput = Type.Object({
  version: RuleString(VERSION),
  provisioner_type: Type.Optional(ProvisionerType),
  active_contracts: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  /** The agent's concurrency limit; omitted keeps the last value, never sent means unlimited. */
  max_concurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'a whole number from 1 to 1000' })),
  /**
   * Free-form, ≤ 8 KiB; v3 reads `actions` (the work it takes: provision, terminate) and
   * `host_scope` (the hypervisor or cluster it manages), which decide who may take a teardown.
   */
  capabilities: Type.Optional(
    Type.Object(
      {
        actions: Type.Optional(Type.Array(Type.String({ enum: [...WORK_ACTIONS] }), { maxItems: WORK_ACTIONS.length, uniqueItems: true, description: 'provision and/or terminate' })),
        host_scope: Type.Optional(Type.String({ minLength: 1, maxLength: HOST_SCOPE_MAX, description: `1 to ${HOST_SCOPE_MAX} characters naming the hypervisor or cluster` })),
      },
      { additionalProperties: true },
    ),
  ),
  /** Contract ids of the tagged machines the agent sees (≤ 10,000); omitted keeps the last report. */
  inventory: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: CONTRACT_ID_MAX }), { maxItems: INVENTORY_MAX, description: `at most ${INVENTORY_MAX} contract ids` })),
});
export type HeartbeatInput = Static<typeof HeartbeatInput>;
export const HeartbeatResult = Type.Object({
  acknowledged: Type.Boolean(),
  pool_id: Nullable(Type.String()),
  pool_name: Nullable(Type.String()),
  next_heartbeat_seconds: Type.Integer(),
  /** Fleet operations (v3): the agent's state and whether it is drained (draining, no live lease). */
  state: Type.Unsafe<'active' | 'draining'>(Type.String({ enum: ['active', 'draining'] })),
  drained: Type.Boolean(),
});
export type HeartbeatResult = Static<typeof HeartbeatResult>;

export const ServerKey = Type.Object({ public_key: Type.String() });
export type ServerKey = Static<typeof ServerKey>;
