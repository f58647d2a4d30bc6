import { Type, type Static } from '@sinclair/typebox';
import {
  COUNTRY, CURRENCY, LIST_LIMIT_MAX, MONTHLY_PRICE_MAX, OFFERING_ID, OFFERING_NAME_MAX, POOL_ID_MAX, PRINTABLE, PRODUCT_TYPE_MAX,
} from '../limits.js';
import { AnyObject, DateTime, Nullable, ProvisionerType, RuleString } from './common.js';
import { RegionIdSchema } from './pools.js';

export const OFFERING_STATUSES = ['active', 'inactive'] as const;
export type OfferingStatus = (typeof OFFERING_STATUSES)[number];
const OfferingStatusSchema = Type.Unsafe<OfferingStatus>(Type.String({ enum: [...OFFERING_STATUSES], description: 'active or inactive' }));

const offeringFields = {
  name: RuleString(PRINTABLE, { minLength: 1, maxLength: OFFERING_NAME_MAX }),
  product_type: RuleString(PRINTABLE, { minLength: 1, maxLength: PRODUCT_TYPE_MAX }),
  datacenter_country: RuleString(COUNTRY),
  monthly_price: Type.Number({ minimum: 0, maximum: MONTHLY_PRICE_MAX, description: 'a price of at least 0 with at most two decimals' }),
  currency: RuleString(CURRENCY),
  provisioner_type: Type.Optional(ProvisionerType),
  provisioner_config: Type.Optional(Nullable(AnyObject)),
  agent_pool_id: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: POOL_ID_MAX }))),
  status: Type.Optional(OfferingStatusSchema),
};
export const OfferingCreate = Type.Object({ offering_id: RuleString(OFFERING_ID), ...offeringFields }, { additionalProperties: false });
export type OfferingCreate = Static<typeof OfferingCreate>;
export const OfferingUpdate = Type.Partial(Type.Object(offeringFields), {
  additionalProperties: false,
  minProperties: 1,
  description:
    'A partial update. The object GET returned is accepted as it is: its read-only fields (OFFERING_READ_ONLY_FIELDS) are ignored when they match the path and the stored or resulting values, and are 400 when they contradict them.',
});
export type OfferingUpdate = Static<typeof OfferingUpdate>;

export const POOL_MATCHES = ['explicit', 'location', 'none'] as const;
export type PoolMatch = (typeof POOL_MATCHES)[number];
export const PoolMatchSchema = Type.Unsafe<PoolMatch>(Type.String({ enum: [...POOL_MATCHES] }));
export const Offering = Type.Object({
  offering_id: Type.String(),
  provider_pubkey: Type.String(),
  name: Type.String(),
  product_type: Type.String(),
  datacenter_country: Type.String(),
  datacenter_region: RegionIdSchema,
  monthly_price: Type.Number(),
  currency: Type.String(),
  provisioner_type: ProvisionerType,
  provisioner_config: Nullable(AnyObject),
  agent_pool_id: Nullable(Type.String()),
  resolved_pool_id: Nullable(Type.String()),
  pool_match: PoolMatchSchema,
  status: OfferingStatusSchema,
  created_at: DateTime,
  updated_at: DateTime,
});
export type Offering = Static<typeof Offering>;
/** Fields of an Offering that a PUT cannot set (a GET → PUT round trip may carry them unchanged). */
export const OFFERING_READ_ONLY_FIELDS = Object.keys(Offering.properties).filter((k) => !(k in OfferingUpdate.properties)) as (keyof Offering)[];

export const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIST_LIMIT_MAX, description: `1 to ${LIST_LIMIT_MAX}` })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000 })),
});
export type ListQuery = Static<typeof ListQuery>;
export const OfferingListQuery = Type.Composite([
  ListQuery,
  Type.Object({
    pool_id: Type.Optional(Type.String({ maxLength: POOL_ID_MAX })),
    product_type: Type.Optional(Type.String({ maxLength: PRODUCT_TYPE_MAX })),
    status: Type.Optional(OfferingStatusSchema),
    q: Type.Optional(Type.String({ maxLength: 200 })),
  }),
]);
export type OfferingListQuery = Static<typeof OfferingListQuery>;

export const CsvImportResult = Type.Object({ imported: Type.Integer(), created: Type.Integer(), updated: Type.Integer() });
export type CsvImportResult = Static<typeof CsvImportResult>;
export const CsvRowError = Type.Object({ line: Type.Integer(), field: Nullable(Type.String()), message: Type.String() });
export type CsvRowError = Static<typeof CsvRowError>;
/** 400 `invalid_csv`: the error object also lists every bad row (the serializer drops unlisted fields). */
export const CsvImportErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), rows: Type.Optional(Type.Array(CsvRowError)) }),
});
export type CsvImportErrorBody = Static<typeof CsvImportErrorBody>;
