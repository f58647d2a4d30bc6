import { Type, type Static } from '@sinclair/typebox';
import { LABEL, VERSION } from '../limits.js';
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
  capabilities: Type.Optional(AnyObject),
});
export type HeartbeatInput = Static<typeof HeartbeatInput>;
export const HeartbeatResult = Type.Object({
  acknowledged: Type.Boolean(),
  pool_id: Nullable(Type.String()),
  pool_name: Nullable(Type.String()),
  next_heartbeat_seconds: Type.Integer(),
});
export type HeartbeatResult = Static<typeof HeartbeatResult>;

export const ServerKey = Type.Object({ public_key: Type.String() });
export type ServerKey = Static<typeof ServerKey>;
