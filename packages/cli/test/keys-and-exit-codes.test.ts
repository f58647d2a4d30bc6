// Key files and exit codes: the dashboard's own key backup signs dcctl requests; a key file others
// can read is refused before anything is sent; 0 ok, 1 refused by the API, 2 usage, 3 retryable.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateIdentity, seedHex } from '@dc/core/node';
import { freePort } from '@dc/testkit';
import { cleanup, dcctl, fieldsOf, json, startLiveApi, tempDir, writeKeyFileOf, type LiveApi } from './helpers.js';

let api: LiveApi;
let dir: string;
before(async () => {
  api = await startLiveApi();
  dir = tempDir();
});
after(async () => {
  await api?.close();
  cleanup(dir);
});

/** The dashboard's key module, as compiled for its own tests (packages/web/src/api/signing.ts). */
interface DashboardSigning {
  generateKey(): Promise<{ key: { publicKey: string }; seedHex: string }>;
  backupFile(publicKey: string, seedHex: string): Record<string, unknown>;
}
async function dashboardSigning(): Promise<DashboardSigning> {
  const url = new URL('../../../web/dist/src/api/signing.js', import.meta.url);
  return (await import(url.href)) as DashboardSigning;
}

test("the dashboard's key backup is a dcctl key file as it is", async () => {
  const web = await dashboardSigning();
  // Exactly what the dashboard does when a provider generates a key and downloads the backup.
  const { key, seedHex: seed } = await web.generateKey();
  const backup = join(dir, 'dc-api-provider-key.json');
  writeFileSync(backup, JSON.stringify(web.backupFile(key.publicKey, seed), null, 2), { mode: 0o600 });

  const shown = await dcctl(['key', 'show', backup]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.equal(shown.stdout, `${key.publicKey}\n`);
  const reg = await dcctl(['provider', 'register', '--name', 'Dashboard Provider', '--key-file', backup, '--api-url', api.url]);
  assert.equal(reg.code, 0, reg.stderr);
  assert.equal(fieldsOf(reg.stdout).pubkey, key.publicKey);
  const pools = await dcctl(['pools', 'ls', '-o', 'json'], { DC_KEY_FILE: backup, DC_API_URL: api.url });
  assert.equal(pools.code, 0, pools.stderr);
  assert.deepEqual(json(pools), { items: [] });
});

test('a bare 64-hex seed works as a key file; a file whose public_key does not match its seed is refused', async () => {
  const who = generateIdentity();
  const bare = join(dir, 'bare.key');
  writeFileSync(bare, `${seedHex(who.privateKey)}\n`, { mode: 0o600 });
  const shown = await dcctl(['key', 'show', '--key-file', bare]);
  assert.equal(shown.stdout, `${who.publicKey}\n`);

  const damaged = writeKeyFileOf(join(dir, 'damaged.json'), who);
  writeFileSync(damaged, JSON.stringify({ seed_hex: seedHex(who.privateKey), public_key: generateIdentity().publicKey }), { mode: 0o600 });
  const r = await dcctl(['key', 'show', damaged]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /public_key does not belong to seed_hex/);

  const notAKey = join(dir, 'notes.txt');
  writeFileSync(notAKey, 'hello', { mode: 0o600 });
  const r2 = await dcctl(['pools', 'ls', '--key-file', notAKey, '--api-url', api.url]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /neither the key backup JSON \(with seed_hex\) nor a 64-character hex seed/);
});

test('a key file readable by group or others is refused with the chmod that fixes it, before any request', async () => {
  const file = writeKeyFileOf(join(dir, 'open.json'), generateIdentity());
  const closed = `http://127.0.0.1:${await freePort()}`;
  for (const mode of [0o644, 0o640, 0o604, 0o660]) {
    chmodSync(file, mode);
    // Pointed at a closed port: a 2 (not a 3) proves nothing was sent.
    const r = await dcctl(['pools', 'ls', '--key-file', file, '--api-url', closed]);
    assert.equal(r.code, 2, `mode ${mode.toString(8)}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`can be read by other users \\(mode 0${mode.toString(8)}\\).*chmod 600 ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.equal(r.stdout, '');
  }
  chmodSync(file, 0o600);
  const fixed = await dcctl(['key', 'show', file]);
  assert.equal(fixed.code, 0, fixed.stderr);
  const readOnlyOwner = await dcctl(['key', 'show', (chmodSync(file, 0o400), file)]);
  assert.equal(readOnlyOwner.code, 0, '0400 is fine too');
});

test('exit 2: usage errors, a missing key file, no key file at all', async () => {
  const cases: [string[], RegExp][] = [
    [['pools', 'frobnicate'], /unknown command 'frobnicate'/],
    [['pools', 'create', '--name', 'x', '--type', 'script'], /required option '--location <region>' not specified/],
    [['pools', 'create', '--name', 'x', '--location', 'mars', '--type', 'script'], /argument 'mars' is invalid\. Allowed choices are europe, na, latam, apac, mena, ssa, cis/],
    [['tokens', 'create', '--pool', 'p', '--expires-in-hours', 'soon'], /--expires-in-hours must be a number from .* to 720/],
    [['contracts', 'ls', '--limit', '0'], /--limit must be a whole number from 1 to 500/],
    [['payment', 'c1', 'maybe'], /value 'maybe' is invalid for argument 'status'\. Allowed choices are succeeded, failed, refunded/],
    [['pools', 'ls', '--output', 'yaml'], /Allowed choices are table, json/],
    [['pools', 'ls', '--api-url', 'ftp://x'], /the URL must start with http:\/\/ or https:\/\//],
    [['offerings', 'create', '--id', 'x', '--country', 'DE', '--price', '1', '--currency', 'EUR', '--config', '[1]'], /--config must be a JSON object/],
    [['pools', 'ls'], /this command signs its requests: pass --key-file FILE or set DC_KEY_FILE/],
    [['pools', 'ls', '--key-file', join(dir, 'missing.json')], /key file .*missing\.json does not exist; create one with "dcctl key generate/],
    [['key', 'generate'], /say where to write the key: dcctl key generate FILE/],
    [['pools'], /Usage: dcctl pools/],
  ];
  for (const [args, message] of cases) {
    const r = await dcctl(args, { DC_API_URL: api.url });
    assert.equal(r.code, 2, `dcctl ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, `dcctl ${args.join(' ')}`);
  }
  const help = await dcctl(['contracts', 'wait', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}dcctl contracts wait/);
  assert.match(help.stdout, /Global Options:[\s\S]*--key-file/);
  assert.equal((await dcctl(['--version'])).stdout, '0.1.0\n');
});

test('exit 3: the API cannot be reached (table and JSON error output)', async () => {
  const key = writeKeyFileOf(join(dir, 'net.json'), generateIdentity());
  const closed = `http://127.0.0.1:${await freePort()}`;
  const r = await dcctl(['pools', 'ls', '--key-file', key, '--api-url', closed]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`^dcctl: cannot reach dc-api at ${closed}: connection refused\\nhint: is dc-api running there\\? Set the address with --api-url or DC_API_URL`));
  const j = await dcctl(['pools', 'ls', '-o', 'json'], { DC_KEY_FILE: key, DC_API_URL: closed });
  assert.equal(j.code, 3);
  assert.equal(JSON.parse(j.stderr).error.code, 'network');
  assert.equal(j.stdout, '');
});

test('exit 3: 429 and 5xx answers are retryable; Retry-After is passed on; a bare proxy error gets the catalogue wording', async () => {
  // Answers dc-api gives under load (and a proxy's bare 502), in the order dcctl will ask.
  const answers: [number, Record<string, string>, string][] = [
    [429, { 'retry-after': '7' }, JSON.stringify({ error: { code: 'rate_limited', message: 'Too many attempts; try again later.' } })],
    [503, {}, JSON.stringify({ error: { code: 'database_unavailable', message: 'The database is not reachable; try again shortly.' } })],
    [502, { 'content-type': 'text/html' }, '<html>Bad Gateway</html>'],
  ];
  const seen: http.IncomingHttpHeaders[] = [];
  const srv = http.createServer((req, res) => {
    seen.push(req.headers);
    const [status, headers, body] = answers.shift()!;
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const env = { DC_KEY_FILE: writeKeyFileOf(join(dir, 'busy.json'), generateIdentity()), DC_API_URL: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` };
    const limited = await dcctl(['pools', 'ls'], env);
    assert.equal(limited.code, 3);
    assert.match(limited.stderr, /^dcctl: rate_limited \(HTTP 429\): Too many attempts; try again later\.\nretry after: 7 s\nhint: wait a moment and run the command again\n$/);
    const down = await dcctl(['pools', 'ls'], env);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /^dcctl: database_unavailable \(HTTP 503\)/);
    const proxy = await dcctl(['pools', 'ls', '-o', 'json'], env);
    assert.equal(proxy.code, 3);
    assert.deepEqual(JSON.parse(proxy.stderr).error, {
      code: 'internal_error',
      message: 'The server failed to handle this request; the error has been logged.',
      status: 502,
      hint: "try again; if it persists, dc-api's log has the error",
    });
    assert.ok(seen.every((h) => /^[0-9a-f]{128}$/.test(String(h['x-signature']))), 'every request was signed');
  } finally {
    await new Promise((r) => srv.close(r));
  }
});

test('exit 1: refused by the API, with code, message and hint (table and JSON)', async () => {
  const key = writeKeyFileOf(join(dir, 'unregistered.json'), generateIdentity());
  const r = await dcctl(['pools', 'create', '--name', 'p', '--location', 'europe', '--type', 'proxmox'], { DC_KEY_FILE: key, DC_API_URL: api.url });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^dcctl: provider_not_registered \(HTTP 404\): \S.*\nhint: register this key as a provider first: dcctl provider register --name "Your company"\n$/);
  const j = await dcctl(['pools', 'create', '--name', 'p', '--location', 'europe', '--type', 'proxmox'], { DC_KEY_FILE: key, DC_API_URL: api.url, DC_OUTPUT: 'json' });
  assert.equal(j.code, 1);
  const body = JSON.parse(j.stderr);
  assert.equal(body.error.code, 'provider_not_registered');
  assert.equal(body.error.status, 404);
  assert.match(body.error.hint, /dcctl provider register/);

  // Signatures cover the host: a client that signs for another host than the server accepts is refused.
  const other = await startLiveApi({ DC_PUBLIC_URL: 'https://api.example.net' });
  try {
    const s = await dcctl(['provider', 'register', '--name', 'x'], { DC_KEY_FILE: key, DC_API_URL: other.url });
    assert.equal(s.code, 1);
    assert.match(s.stderr, /^dcctl: bad_signature \(HTTP 401\)/);
    assert.match(s.stderr, /hint: signatures cover the API host: --api-url \(or DC_API_URL\) must be the address in the server's DC_PUBLIC_URL/);
  } finally {
    await other.close();
  }
});
