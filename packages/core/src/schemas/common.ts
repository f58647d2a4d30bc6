// Building blocks of the wire schemas: nullable types, rule-carrying strings, list shapes, the
// error body and path parameters.
import { Type, type Static, type TSchema, type StringOptions } from '@sinclair/typebox';
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import { CONTRACT_ID_MAX, OFFERING_ID, POOL_ID_MAX, PUBKEY, type FieldRule } from '../limits.js';

/** `T | null` as a JSON-schema type array (OpenAPI 3.1; fast to serialize, unlike anyOf). */
export function Nullable<T extends TSchema>(schema: T) {
  const { type } = schema as unknown as { type: string };
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] });
}

/** A string that must follow `rule`; its words become the schema's description and the 400 message. */
export function RuleString(rule: FieldRule, opts: StringOptions = {}) {
  return Type.String({ pattern: rule.pattern, description: rule.rule, ...opts });
}

export const Pubkey = RuleString(PUBKEY);
export const DateTime = Type.String({ format: 'date-time' });
export const NullableDateTime = Nullable(DateTime);
/** A JSON object with any fields (configs, details, capabilities). */
export const AnyObject = Type.Object({}, { additionalProperties: true });
export const Empty = Type.Null();

export const PROVISIONER_TYPES = ['proxmox', 'script', 'manual'] as const;
export type ProvisionerType = (typeof PROVISIONER_TYPES)[number];
export const ProvisionerType = Type.Unsafe<ProvisionerType>(Type.String({ enum: [...PROVISIONER_TYPES], description: 'proxmox, script or manual' }));

export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.Unsafe<ErrorCode>(Type.String({ enum: ERROR_CODES })), message: Type.String() }),
});
export type ErrorBody = Static<typeof ErrorBody>;

export function listOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item) });
}
export function pageOf<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), total: Type.Integer() });
}

export const PoolId = Type.String({ minLength: 1, maxLength: POOL_ID_MAX });
export const ContractId = Type.String({ minLength: 1, maxLength: CONTRACT_ID_MAX });

export const ProviderParams = Type.Object({ pubkey: Pubkey });
export const PoolParams = Type.Object({ pubkey: Pubkey, pool_id: PoolId });
export const OfferingParams = Type.Object({ pubkey: Pubkey, offering_id: RuleString(OFFERING_ID) });
export const ContractParams = Type.Object({ id: ContractId });
export const ProviderContractParams = Type.Object({ pubkey: Pubkey, id: ContractId });
export const AgentParams = Type.Object({ pubkey: Pubkey, agent_pubkey: Pubkey });
export const TokenParams = Type.Object({ pubkey: Pubkey, token_id: Type.String({ minLength: 1, maxLength: 64 }) });
