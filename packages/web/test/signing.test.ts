// The browser's DC1 signing (src/api/signing.ts: core's signedMessage over a WebCrypto body hash,
// WebCrypto Ed25519) must produce byte-identical messages and signatures to @dc/core's node:crypto
// signer, on the shared vectors (shared/vectors/signing.json, copied into core's fixtures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { generateIdentity, identityFromSeed, requestMessage as coreRequestMessage, signRequestHeaders, verifyMessage, publicKeyFromHex } from '@dc/core/node';
import { ENDPOINTS, NONCE_RE, pathOf, type KeyHeader } from '@dc/core';
import { backupFile, generateKey, keyFromSeed, newNonce, pkcs8FromSeed, requestMessage, seedFromBackup, sha256Hex, signedHeaders, toHex, utf8Bytes } from '../src/api/signing.js';
import { wireTarget } from '../src/api/client.js';

interface Vector {
  name: string;
  public_key: string;
  key_header: KeyHeader;
  method: string;
  host: string;
  path: string;
  timestamp: string;
  nonce: string;
  body: string;
  body_sha256: string;
  message: string;
  signature: string;
}
const fixtures = JSON.parse(readFileSync(new URL('../../../core/test/fixtures/signing.json', import.meta.url), 'utf8')) as {
  keys: Record<string, { seed_hex: string; public_key: string }>;
  requests: Vector[];
};
const seedOf = (pub: string) => Object.values(fixtures.keys).find((k) => k.public_key === pub)!.seed_hex;

test('browser message equals core requestMessage and the shared vector for every request vector', async () => {
  assert.ok(fixtures.requests.length >= 3);
  for (const v of fixtures.requests) {
    assert.equal(await sha256Hex(utf8Bytes(v.body)), v.body_sha256, v.name);
    const mine = await requestMessage({ method: v.method, host: v.host, path: v.path, timestamp: v.timestamp, nonce: v.nonce, body: utf8Bytes(v.body) });
    const core = coreRequestMessage({ method: v.method, host: v.host, path: v.path, timestamp: v.timestamp, nonce: v.nonce, body: v.body });
    assert.equal(mine, core, v.name);
    assert.equal(mine, v.message, v.name);
  }
});

test('method is upper-cased, host lower-cased and a missing body hashed as "" exactly as core does', async () => {
  const parts = { method: 'post', host: 'API.Example.NET:8443', path: '/api/v1/x?q=A%20b', timestamp: '1', nonce: 'abcdefghijklmnop' };
  assert.equal(await requestMessage({ ...parts, body: utf8Bytes('{}') }), coreRequestMessage({ ...parts, body: '{}' }));
  assert.equal(await requestMessage(parts), coreRequestMessage({ ...parts, body: '' }));
});

test('WebCrypto Ed25519 key from a seed (PKCS8 prefix || seed) reproduces every vector signature', async () => {
  for (const v of fixtures.requests) {
    const key = await keyFromSeed(seedOf(v.public_key));
    assert.equal(key.publicKey, v.public_key, v.name);
    assert.equal(key.privateKey.extractable, false, 'the kept key is non-extractable');
    const headers = await signedHeaders(key, { method: v.method, host: v.host, path: v.path, body: utf8Bytes(v.body), timestamp: Number(v.timestamp), nonce: v.nonce }, v.key_header);
    assert.equal(headers['X-Signature'], v.signature, v.name);
    assert.equal(headers[v.key_header], v.public_key);
    assert.equal(headers['X-Timestamp'], v.timestamp);
    assert.equal(headers['X-Nonce'], v.nonce);
  }
});

test('signatures of the browser signer verify with core, and core headers match for the same inputs', async () => {
  const id = generateIdentity();
  const { key, seedHex } = await generateKey();
  assert.equal(identityFromSeed(seedHex).publicKey, key.publicKey, 'generated seed and public key belong together');
  const body = utf8Bytes('offering_id,name\nx,y\n');
  const req = { method: 'POST', host: '127.0.0.1:8080', path: '/api/v1/providers/p/offerings/import', body, timestamp: 1764028800000, nonce: 'n0nce_n0nce_n0nce' };
  const h = await signedHeaders(key, req);
  const message = coreRequestMessage({ ...req, timestamp: String(req.timestamp), body });
  assert.ok(verifyMessage(publicKeyFromHex(key.publicKey), message, h['X-Signature']!));

  // Same seed in both implementations → identical headers (Ed25519 is deterministic).
  const nodeSide = identityFromSeed(seedHex);
  const coreHeaders = signRequestHeaders(nodeSide, { method: 'POST', host: req.host, path: req.path, body }, { timestamp: req.timestamp, nonce: req.nonce });
  assert.deepEqual(h, coreHeaders);
  assert.notEqual(id.publicKey, key.publicKey);
});

test('nonces are 24 characters of [A-Za-z0-9_-] and do not repeat', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const n = newNonce();
    assert.equal(n.length, 24);
    assert.match(n, NONCE_RE);
    seen.add(n);
  }
  assert.equal(seen.size, 1000);
});

test('pkcs8FromSeed is the RFC 8410 prefix followed by the seed', () => {
  const seed = new Uint8Array(32).fill(7);
  assert.equal(toHex(pkcs8FromSeed(seed)), '302e020100300506032b657004220420' + '07'.repeat(32));
  assert.throws(() => pkcs8FromSeed(new Uint8Array(31)));
});

test('backup file round-trips through seedFromBackup; bare hex works; junk is refused with a sentence', async () => {
  const { key, seedHex } = await generateKey();
  const file = JSON.stringify(backupFile(key.publicKey, seedHex));
  assert.equal(seedFromBackup(file), seedHex);
  assert.equal(seedFromBackup(`  ${seedHex.toUpperCase()}\n`), seedHex);
  assert.equal((await keyFromSeed(seedFromBackup(file))).publicKey, key.publicKey);
  assert.throws(() => seedFromBackup('hello'), /hex seed/);
  assert.throws(() => seedFromBackup('{"seed_hex":"abc"}'), /seed_hex/);
});

test('request targets are signed in the form the browser sends (core pathOf, then URL-normalised)', () => {
  const pk = 'ab'.repeat(32);
  const list = pathOf(ENDPOINTS.listOfferings, { pubkey: pk }, { limit: 50, offset: 0, q: 'a b&c', status: undefined, pool_id: '' });
  assert.equal(wireTarget(list), `/api/v1/providers/${pk}/offerings?limit=50&offset=0&q=a%20b%26c`);
  assert.equal(wireTarget(pathOf(ENDPOINTS.getPool, { pubkey: pk, pool_id: 'eu/1 x' })), `/api/v1/providers/${pk}/pools/eu%2F1%20x`);
  // encodeURIComponent leaves ' alone, the URL parser (and so fetch) sends it as %27: sign that.
  const quote = wireTarget(pathOf(ENDPOINTS.listOfferings, { pubkey: pk }, { q: 'ü"<>\'' }));
  assert.equal(quote, `/api/v1/providers/${pk}/offerings?q=%C3%BC%22%3C%3E%27`);
  assert.equal(wireTarget(quote), quote, 'normalising is a fixed point: what is signed is what is sent');
});
