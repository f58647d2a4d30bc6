// Ed25519 keys, request signing and verification with node:crypto (the node-only half of
// core's signing; the message formats are in ../signing.ts).
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { HEX_KEY_RE, HEX_SIG_RE, signedMessage, type KeyHeader } from '../signing.js';

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

/** The DC1 message of a request, hashing its body. */
export function requestMessage(p: SignedRequestParts): string {
  const { body, ...rest } = p;
  return signedMessage({ ...rest, bodySha256: sha256Hex(body) });
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
