// Field rules shared by the API, the dashboard's forms and the CLI: each pattern with the rule in
// words (what a person reads when input is refused, never the raw regular expression), and the
// numeric limits of DESIGN.md.

export interface FieldRule {
  /** JSON-schema pattern. As an HTML `pattern` it needs the dashboard's htmlPattern (Chromium compiles it with the v flag). */
  readonly pattern: string;
  /** The rule in words, completing "field: …". */
  readonly rule: string;
}

export const PUBKEY: FieldRule = { pattern: '^[0-9a-f]{64}$', rule: '64 lowercase hex characters (an Ed25519 public key)' };
export const POOL_NAME: FieldRule = {
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  rule: '1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit',
};
export const OFFERING_ID: FieldRule = {
  pattern: '^[a-z0-9][a-z0-9._-]{0,63}$',
  rule: '1–64 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit',
};
export const LABEL: FieldRule = { pattern: '^[A-Za-z0-9._ -]{1,64}$', rule: '1–64 letters, digits, spaces, dots, dashes or underscores' };
export const VERSION: FieldRule = { pattern: '^[0-9A-Za-z.+-]{1,32}$', rule: '1–32 letters, digits, dots, pluses or dashes' };
export const HOSTNAME: FieldRule = {
  pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$',
  rule: '1–63 lowercase letters, digits or dashes, not starting or ending with a dash',
};
export const OS_IMAGE: FieldRule = { pattern: '^[A-Za-z0-9._-]{1,64}$', rule: '1–64 letters, digits, dots, dashes or underscores' };
export const COUNTRY: FieldRule = { pattern: '^[A-Za-z]{2}$', rule: 'an ISO 3166-1 alpha-2 country code such as DE or us' };
export const CURRENCY: FieldRule = { pattern: '^[A-Za-z]{3}$', rule: 'a three-letter currency code such as EUR' };
/** Printable text: no control characters (names shown in tables and logs). */
export const PRINTABLE: FieldRule = { pattern: '^[^\\u0000-\\u001f]+$', rule: 'text without control characters' };

export const POOL_NAME_MAX = 64;
export const PROVIDER_NAME_MAX = 128;
export const OFFERING_NAME_MAX = 200;
export const PRODUCT_TYPE_MAX = 64;
export const SETUP_TOKEN_MAX_HOURS = 720;
export const SETUP_TOKEN_DEFAULT_HOURS = 24;
export const MONTHLY_PRICE_MAX = 9_999_999_999.99;
export const LIST_LIMIT_MAX = 500;
export const LIST_LIMIT_DEFAULT = 100;
export const PENDING_LIMIT_MAX = 100;
export const PENDING_LIMIT_DEFAULT = 50;
export const CLAIM_MAX = 10;
export const CLAIM_EXCLUDE_MAX = 100;
/** Long-poll: an empty answer is held at most this long (s). */
export const WAIT_MAX_SECONDS = 50;
export const ERROR_MESSAGE_MAX = 100_000;
/** last_error keeps the agent's message verbatim up to this many characters. */
export const LAST_ERROR_MAX_CHARS = 2000;
export const INSTANCE_DETAILS_MAX_BYTES = 65_536;
export const CAPABILITIES_MAX_BYTES = 8192;
export const HANDOFF_NOTE_MAX = 2000;
export const CONTRACT_ID_MAX = 64;
export const POOL_ID_MAX = 128;
/** Heartbeat inventory: contract ids of the tagged machines an agent sees. */
export const INVENTORY_MAX = 10_000;
export const HOST_SCOPE_MAX = 253;
/** Fleet operations (DESIGN.md v3): a pool's fallback timer, an agent's drain reason, its capacity. */
export const FALLBACK_AFTER_MAX_SECONDS = 86_400;
export const FALLBACK_AFTER_DEFAULT_SECONDS = 300;
export const STATE_REASON_MAX = 500;
export const MAX_CONCURRENT_MAX = 1000;
