// Key files: the dashboard's key backup format (packages/web/src/api/signing.ts `backupFile`), so a
// provider's dashboard backup signs dcctl requests as it is, and a file dcctl writes can be
// restored in the dashboard. The seed is a secret: files are written with mode 0600 and a file
// that group or others can access is refused, as ssh does with private keys.
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync, chmodSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { generateIdentity, identityFromSeed, seedHex, type Identity } from '@dc/core/node';
import { UsageError } from './errors.js';

/** The file's fields, exactly as the dashboard writes them. */
export interface KeyFile {
  kind: 'dc-api-provider-key';
  version: 1;
  public_key: string;
  seed_hex: string;
  created_at: string;
  note: string;
}

export function keyFileContent(identity: Identity, now = new Date()): KeyFile {
  return {
    kind: 'dc-api-provider-key',
    version: 1,
    public_key: identity.publicKey,
    seed_hex: seedHex(identity.privateKey),
    created_at: now.toISOString(),
    note: 'Ed25519 private key seed of a dc-api key (provider, operator or customer). Anyone holding this file can act with this key: keep it offline.',
  };
}

/** Generates a key and writes it to `path` (mode 0600; the directory is created 0700 when missing). */
export function writeNewKeyFile(path: string, opts: { force?: boolean } = {}): Identity {
  const identity = generateIdentity();
  mkdirSync(dirname(resolve(path)), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    // 'wx' refuses to replace a key (losing one is losing an identity); the mode applies on creation.
    fd = openSync(path, opts.force ? 'w' : 'wx', 0o600);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EEXIST') throw new UsageError(`${path} already exists; dcctl does not replace a key (pass --force to overwrite it, and keep a copy of the old one first)`);
    throw new UsageError(`cannot write ${path}: ${e.message}`);
  }
  try {
    writeSync(fd, JSON.stringify(keyFileContent(identity), null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o600); // --force over an existing file keeps that file's mode otherwise
  return identity;
}

/** Reads a key file: the backup JSON (seed_hex, public_key) or a bare 64-hex seed line. */
export function readKeyFile(path: string): Identity {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') {
      throw new UsageError(`key file ${path} does not exist; create one with "dcctl key generate ${path}", or use the key backup the dashboard offered`);
    }
    throw new UsageError(`cannot read key file ${path}: ${e.message}`);
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new UsageError(
      `key file ${path} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); anyone who reads it can act with this key. Restrict it, then run dcctl again: chmod 600 ${path}`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read key file ${path}: ${(err as Error).message}`);
  }
  return identityFromText(text, path);
}

function identityFromText(text: string, path: string): Identity {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return identityFromSeed(text.toLowerCase());
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`key file ${path} is neither the key backup JSON (with seed_hex) nor a 64-character hex seed`);
  }
  const { seed_hex: seed, public_key: pub } = (parsed ?? {}) as { seed_hex?: unknown; public_key?: unknown };
  if (typeof seed !== 'string' || !/^[0-9a-fA-F]{64}$/.test(seed)) {
    throw new UsageError(`key file ${path} has no seed_hex field of 64 hex characters; is it a dc-api key backup?`);
  }
  const identity = identityFromSeed(seed.toLowerCase());
  if (pub !== undefined && (typeof pub !== 'string' || pub.toLowerCase() !== identity.publicKey)) {
    throw new UsageError(`key file ${path}: public_key does not belong to seed_hex; the file is damaged or was edited`);
  }
  return identity;
}
