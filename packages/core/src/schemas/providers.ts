import { Type, type Static } from '@sinclair/typebox';
import { PRINTABLE, PROVIDER_NAME_MAX } from '../limits.js';
import { DateTime, RuleString } from './common.js';

export const ProviderInput = Type.Object(
  { name: RuleString(PRINTABLE, { minLength: 1, maxLength: PROVIDER_NAME_MAX }) },
  { additionalProperties: false },
);
export type ProviderInput = Static<typeof ProviderInput>;
export const Provider = Type.Object({
  pubkey: Type.String(),
  name: Type.String(),
  created_at: DateTime,
  updated_at: DateTime,
});
export type Provider = Static<typeof Provider>;
