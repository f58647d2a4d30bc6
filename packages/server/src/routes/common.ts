// Shared route pieces: path parameter schemas, error responses for OpenAPI, auth presets.
import { Type } from '@sinclair/typebox';
import { ErrorBody, OFFERING_ID_PATTERN, Pubkey } from '@dc/core';
import type { AuthMode } from '../http/auth.js';

export const ProviderParams = Type.Object({ pubkey: Pubkey });
export const PoolParams = Type.Object({ pubkey: Pubkey, pool_id: Type.String({ minLength: 1, maxLength: 128 }) });
export const OfferingParams = Type.Object({ pubkey: Pubkey, offering_id: Type.String({ pattern: OFFERING_ID_PATTERN }) });
export const ContractParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const ProviderContractParams = Type.Object({ pubkey: Pubkey, id: Type.String({ minLength: 1, maxLength: 64 }) });

export const PROVIDER_ONLY: AuthMode = { provider: true, agent: false };
export const AGENT_ONLY: AuthMode = { provider: false, agent: true };
export const PROVIDER_OR_AGENT: AuthMode = { provider: true, agent: true };

/** Standard error responses, so OpenAPI lists them and the serializer keeps their shape. */
export function errors(...codes: number[]) {
  return Object.fromEntries(codes.map((c) => [c, ErrorBody]));
}

