import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { authorityOf, delegationMessage } from '../src/signing.js';
import { identityFromSeed, publicKeyFromHex, requestMessage, sha256Hex, signMessage, signRequestHeaders, verifyMessage } from '../src/node.js';

// A fixed vector written out here (RFC 8032 test 1 seed), so the rule is pinned even without shared/.
test('request signature matches a fixed vector (seed, message and signature written in the test)', () => {
  const provider = identityFromSeed('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  assert.equal(provider.publicKey, 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const body = '{"name":"europe-proxmox","location":"europe","provisioner_type":"proxmox"}';
  const message = requestMessage({
    method: 'post',
    host: 'API.example.net',
    path: '/api/v1/providers/d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a/pools',
    timestamp: '1764028800000',
    nonce: 'n0nce-0000000001',
    body,
  });
  assert.equal(
    message,
    'DC1\nPOST\napi.example.net\n/api/v1/providers/d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a/pools\n1764028800000\nn0nce-0000000001\nb6ccf585a652374e89a599534ed69bf32c547d770d272d2ae9272ccb28f2f204',
  );
  assert.equal(
    signMessage(provider.privateKey, message),
    '974ebb1ae4a06ed0c5591f15d2dbca2e6addc8339af8a354094691d5c4beac1b655ca2724771f3d7ceb42a87a5790c49b05dbcf59f34ba15daeea77b9dd29a0d',
  );
});

// A copy of shared/vectors/signing.json (DESIGN.md's vectors), kept with the tests.
const vectors: any = JSON.parse(readFileSync(new URL('../../test/fixtures/signing.json', import.meta.url), 'utf8'));

test('every request vector in shared/vectors/signing.json is reproduced', () => {
  const seeds: Record<string, string> = {};
  for (const k of Object.values<any>(vectors.keys)) seeds[k.public_key] = k.seed_hex;
  assert.equal(vectors.requests.length, 3);
  for (const v of vectors.requests) {
    const id = identityFromSeed(seeds[v.public_key]!);
    assert.equal(id.publicKey, v.public_key);
    assert.equal(sha256Hex(v.body), v.body_sha256, v.name);
    const msg = requestMessage({ method: v.method, host: v.host, path: v.path, timestamp: v.timestamp, nonce: v.nonce, body: v.body });
    assert.equal(msg, v.message, v.name);
    assert.equal(signMessage(id.privateKey, msg), v.signature, v.name);
    const headers = signRequestHeaders(id, { method: v.method, host: v.host, path: v.path, body: v.body }, { keyHeader: v.key_header, timestamp: Number(v.timestamp), nonce: v.nonce });
    assert.equal(headers['X-Signature'], v.signature);
    assert.equal(headers[v.key_header], v.public_key);
    assert.ok(verifyMessage(publicKeyFromHex(v.public_key), msg, v.signature));
  }
});

test('the delegation vector is reproduced, with permissions sorted before joining', () => {
  const d = vectors.delegation;
  const msg = delegationMessage(d);
  assert.equal(msg, d.message);
  const server = identityFromSeed(vectors.keys.server.seed_hex);
  assert.equal(server.publicKey, d.server_public_key);
  assert.equal(signMessage(server.privateKey, msg), d.signature);
  assert.ok(verifyMessage(publicKeyFromHex(d.server_public_key), msg, d.signature));
});

test('a changed byte anywhere in the message fails verification', () => {
  const id = identityFromSeed('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
  const parts = { method: 'GET', host: '127.0.0.1:8080', path: '/a?b=1', timestamp: '1', nonce: 'abcdefghijklmnop', body: '' };
  const sig = signMessage(id.privateKey, requestMessage(parts));
  const key = publicKeyFromHex(id.publicKey);
  for (const change of [{ path: '/a?b=2' }, { host: '127.0.0.1:8081' }, { body: 'x' }, { nonce: 'abcdefghijklmnoq' }, { method: 'POST' }]) {
    assert.equal(verifyMessage(key, requestMessage({ ...parts, ...change }), sig), false, JSON.stringify(change));
  }
  assert.equal(verifyMessage(key, requestMessage(parts), sig), true);
});

test('authorityOf drops the default port and lowercases the host', () => {
  assert.equal(authorityOf('https://API.Example.net:443/'), 'api.example.net');
  assert.equal(authorityOf('http://127.0.0.1:8080'), '127.0.0.1:8080');
  assert.equal(authorityOf('http://localhost:80/x'), 'localhost');
});
