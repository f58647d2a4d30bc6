// The signed-message formats of DESIGN.md "Request signing": the one place that builds them.
// Browser-safe: hashing and Ed25519 live in the caller's crypto (node: `@dc/core/node`, the
// dashboard: WebCrypto), so this module only assembles strings.

export const SIGNATURE_VERSION = 'DC1';
export const DELEGATION_VERSION = 'DC1-DELEGATION';
/** A request may be this old (ms) ... */
export const MAX_CLOCK_PAST_MS = 300_000;
/** ... or this far in the future (ms): clocks drift less forward than requests queue. */
export const MAX_CLOCK_FUTURE_MS = 30_000;

export const HEX_KEY_RE = /^[0-9a-f]{64}$/;
export const HEX_SIG_RE = /^[0-9a-f]{128}$/;
export const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;
export const TIMESTAMP_RE = /^[0-9]{1,16}$/;

export type KeyHeader = 'X-Public-Key' | 'X-Agent-Pubkey';

/** The parts of a request that are signed, with the body already hashed (lowercase hex SHA-256). */
export interface SignedMessageParts {
  method: string;
  host: string;
  path: string;
  timestamp: string;
  nonce: string;
  bodySha256: string;
}

/** `DC1\n{METHOD}\n{HOST}\n{PATH}\n{TIMESTAMP}\n{NONCE}\n{BODY_SHA256}` */
export function signedMessage(p: SignedMessageParts): string {
  return [SIGNATURE_VERSION, p.method.toUpperCase(), p.host.toLowerCase(), p.path, p.timestamp, p.nonce, p.bodySha256].join('\n');
}

export interface DelegationFields {
  provider_pubkey: string;
  agent_pubkey: string;
  pool_id: string;
  permissions: readonly string[];
  issued_at: string;
}

/** `DC1-DELEGATION\n{provider}\n{agent}\n{pool_id}\n{permissions sorted, comma-joined}\n{issued_at}` */
export function delegationMessage(d: DelegationFields): string {
  const perms = [...d.permissions].sort().join(',');
  return [DELEGATION_VERSION, d.provider_pubkey, d.agent_pubkey, d.pool_id, perms, d.issued_at].join('\n');
}

/** The authority (`host[:port]`, lowercase, default port dropped) of a base URL. */
export function authorityOf(baseUrl: string): string {
  return new URL(baseUrl).host.toLowerCase(); // URL already drops the scheme's default port
}
