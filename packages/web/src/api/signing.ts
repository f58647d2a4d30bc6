// The DC1 request signature (DESIGN.md "Request signing") on WebCrypto: core's `signedMessage`
// builds the message, this module hashes the body (SHA-256) and signs it (Ed25519) in the
// browser. test/signing.test.ts proves it equal to core's node signer on the shared vectors.
// It runs unchanged in the browser and in Node 20 (globalThis.crypto).
import { signedMessage, type KeyHeader } from '@dc/core';

/** PKCS#8 DER header of a raw 32-byte Ed25519 seed (RFC 8410): PKCS8 = prefix || seed. */
const PKCS8_ED25519_PREFIX = '302e020100300506032b657004220420';

const utf8 = new TextEncoder();

export function toHex(bytes: Uint8Array | ArrayBuffer): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] as number).toString(16).padStart(2, '0');
  return s;
}

function fromHex(hex: string): Uint8Array<ArrayBuffer> {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error('not a hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function utf8Bytes(s: string): Uint8Array<ArrayBuffer> {
  return utf8.encode(s) as Uint8Array<ArrayBuffer>;
}

export async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  return toHex(await crypto.subtle.digest('SHA-256', data));
}

interface RequestParts {
  method: string;
  /** Lowercase authority of the API base URL (`host` or `host:port`; no default port). */
  host: string;
  /** The request target exactly as sent: path plus `?query`. */
  path: string;
  timestamp: string;
  nonce: string;
  /** The exact body bytes (none: the hash of ""). */
  body?: Uint8Array<ArrayBuffer>;
}

/** SHA-256 of no bytes: a GET's body hash, known without an asynchronous digest (one task less before the request leaves). */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The DC1 message of a request: core's format over the WebCrypto hash of its body. */
export async function requestMessage({ body, ...parts }: RequestParts): Promise<string> {
  return signedMessage({ ...parts, bodySha256: body && body.length > 0 ? await sha256Hex(body) : EMPTY_SHA256 });
}

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i] as number);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** 24 characters of [A-Za-z0-9_-] carrying 144 random bits (the server takes 16 to 64). */
export function newNonce(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(18)));
}

export interface SigningKey {
  /** Ed25519 private key; in the dashboard a non-extractable CryptoKey from IndexedDB. */
  privateKey: CryptoKey;
  /** 64 lowercase hex characters. */
  publicKey: string;
}

interface SignInput {
  method: string;
  host: string;
  path: string;
  body?: Uint8Array<ArrayBuffer>;
  timestamp?: number;
  nonce?: string;
}

/** The four signature headers plus the key header (`X-Public-Key` for providers). */
export async function signedHeaders(key: SigningKey, req: SignInput, keyHeader: KeyHeader = 'X-Public-Key'): Promise<Record<string, string>> {
  const timestamp = String(req.timestamp ?? Date.now());
  const nonce = req.nonce ?? newNonce();
  const message = await requestMessage({ method: req.method, host: req.host, path: req.path, timestamp, nonce, ...(req.body ? { body: req.body } : {}) });
  const signature = await crypto.subtle.sign({ name: 'Ed25519' }, key.privateKey, utf8Bytes(message));
  return {
    [keyHeader]: key.publicKey,
    'X-Timestamp': timestamp,
    'X-Nonce': nonce,
    'X-Signature': toHex(signature),
  };
}

/** PKCS#8 DER bytes of an Ed25519 seed, for crypto.subtle.importKey('pkcs8', …). */
export function pkcs8FromSeed(seed: Uint8Array): Uint8Array<ArrayBuffer> {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes (64 hex characters)');
  const prefix = fromHex(PKCS8_ED25519_PREFIX);
  const out = new Uint8Array(prefix.length + 32);
  out.set(prefix, 0);
  out.set(seed, prefix.length);
  return out;
}

function fromBase64url(s: string): Uint8Array<ArrayBuffer> {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Imports a seed. The key is first imported extractable only to read its public half from the
 * JWK (`x`), then imported again non-extractable: only the second one is kept.
 */
export async function keyFromSeed(seedHex: string): Promise<SigningKey> {
  const seed = fromHex(seedHex.trim().toLowerCase());
  const pkcs8 = pkcs8FromSeed(seed);
  const probe = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = await crypto.subtle.exportKey('jwk', probe);
  if (!jwk.x) throw new Error('the browser did not return the public key of this seed');
  const publicKey = toHex(fromBase64url(jwk.x));
  const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
  return { privateKey, publicKey };
}

/** A fresh identity: returns the non-extractable key to keep and the seed for the one backup. */
export async function generateKey(): Promise<{ key: SigningKey; seedHex: string }> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  const prefixLen = PKCS8_ED25519_PREFIX.length / 2;
  if (pkcs8.length !== prefixLen + 32 || toHex(pkcs8.subarray(0, prefixLen)) !== PKCS8_ED25519_PREFIX) {
    throw new Error('unexpected PKCS#8 encoding of a generated Ed25519 key');
  }
  const seedHex = toHex(pkcs8.subarray(prefixLen));
  pkcs8.fill(0);
  const key = await keyFromSeed(seedHex);
  const raw = toHex(await crypto.subtle.exportKey('raw', pair.publicKey));
  if (raw !== key.publicKey) throw new Error('generated key pair does not round-trip');
  return { key, seedHex };
}

/** Accepts a hex seed or the backup file's text (JSON with seed_hex, or a bare hex line). */
export function seedFromBackup(text: string): string {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return t.toLowerCase();
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch {
    throw new Error('Paste the 64-character hex seed or choose the backup file (.json) saved when the key was created.');
  }
  const seed = (parsed as { seed_hex?: unknown } | null)?.seed_hex;
  if (typeof seed !== 'string' || !/^[0-9a-fA-F]{64}$/.test(seed)) {
    throw new Error('This file has no seed_hex field of 64 hex characters; is it a dc-api provider key backup?');
  }
  return seed.toLowerCase();
}

interface KeyBackup {
  kind: 'dc-api-provider-key';
  version: 1;
  public_key: string;
  seed_hex: string;
  created_at: string;
  note: string;
}

export function backupFile(publicKey: string, seedHex: string, now = new Date()): KeyBackup {
  return {
    kind: 'dc-api-provider-key',
    version: 1,
    public_key: publicKey,
    seed_hex: seedHex,
    created_at: now.toISOString(),
    note: 'Ed25519 private key seed of a dc-api provider. Anyone holding this file can act as the provider: keep it offline.',
  };
}
