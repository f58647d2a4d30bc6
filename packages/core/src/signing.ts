// Request and delegation signing (DESIGN.md "Request signing"): the one place that builds the
// signed messages. The server verifies with the same functions; agents and the dashboard sign.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

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

// DER prefixes that wrap a raw 32-byte Ed25519 key (RFC 8410), so node:crypto can import it.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SignedRequestParts {
  method: string;
  host: string;
  path: string;
  timestamp: string;
  nonce: string;
  body: Uint8Array | string;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function requestMessage(p: SignedRequestParts): string {
  return [
    SIGNATURE_VERSION,
    p.method.toUpperCase(),
    p.host.toLowerCase(),
    p.path,
    p.timestamp,
    p.nonce,
    sha256Hex(p.body),
  ].join('\n');
}

export function delegationMessage(d: {
  provider_pubkey: string;
  agent_pubkey: string;
  pool_id: string;
  permissions: readonly string[];
  issued_at: string;
}): string {
  const perms = [...d.permissions].sort().join(',');
  return [DELEGATION_VERSION, d.provider_pubkey, d.agent_pubkey, d.pool_id, perms, d.issued_at].join('\n');
}

export function privateKeyFromSeed(seed: Uint8Array | string): KeyObject {
  const raw = typeof seed === 'string' ? Buffer.from(seed, 'hex') : Buffer.from(seed);
  if (raw.length !== 32) throw new Error('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

export function publicKeyFromHex(hex: string): KeyObject {
  if (!HEX_KEY_RE.test(hex)) throw new Error('a public key is 64 lowercase hex characters');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
}

export function publicKeyHex(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length).toString('hex');
}

export function seedHex(key: KeyObject): string {
  return key.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length).toString('hex');
}

export interface Identity {
  privateKey: KeyObject;
  publicKey: string;
}

export function identityFromSeed(seed: Uint8Array | string): Identity {
  const privateKey = privateKeyFromSeed(seed);
  return { privateKey, publicKey: publicKeyHex(privateKey) };
}

export function generateIdentity(): Identity {
  return identityFromSeed(randomBytes(32));
}

export function signMessage(key: KeyObject, message: string): string {
  return sign(null, Buffer.from(message, 'utf8'), key).toString('hex');
}

export function verifyMessage(key: KeyObject, message: string, signatureHex: string): boolean {
  if (!HEX_SIG_RE.test(signatureHex)) return false;
  return verify(null, Buffer.from(message, 'utf8'), key, Buffer.from(signatureHex, 'hex'));
}

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

export type KeyHeader = 'X-Public-Key' | 'X-Agent-Pubkey';

/** Headers for a signed request; `path` is the request target exactly as it goes on the wire. */
export function signRequestHeaders(
  identity: Identity,
  req: { method: string; host: string; path: string; body?: Uint8Array | string },
  opts: { keyHeader?: KeyHeader; timestamp?: number; nonce?: string } = {},
): Record<string, string> {
  const timestamp = String(opts.timestamp ?? Date.now());
  const nonce = opts.nonce ?? newNonce();
  const message = requestMessage({ ...req, body: req.body ?? '', timestamp, nonce });
  return {
    [opts.keyHeader ?? 'X-Public-Key']: identity.publicKey,
    'X-Timestamp': timestamp,
    'X-Nonce': nonce,
    'X-Signature': signMessage(identity.privateKey, message),
  };
}

/** The authority (`host[:port]`, lowercase, default port dropped) of a base URL. */
export function authorityOf(baseUrl: string): string {
  const u = new URL(baseUrl);
  return u.host.toLowerCase(); // URL already drops the scheme's default port
}
