// The agent's Ed25519 key file: PKCS#8 PEM (readable by openssl), mode 0600, created with
// O_EXCL so an existing key is never silently replaced. A bare 64-hex seed is accepted too.
import { createPrivateKey } from 'node:crypto';
import { closeSync, fchownSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { identityFromSeed, seedHex, type Identity } from '@dc/core/node';
import { ConfigError } from './errors.js';

export function encodeKey(identity: Identity): string {
  return identity.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

export function decodeKey(text: string, path: string): Identity {
  const t = text.trim();
  if (/^[0-9a-f]{64}$/i.test(t)) return identityFromSeed(t.toLowerCase());
  try {
    const key = createPrivateKey({ key: t, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key, not Ed25519`);
    return identityFromSeed(seedHex(key));
  } catch (err) {
    throw new ConfigError(`${path} is not an Ed25519 private key (PKCS#8 PEM or 64 hex characters): ${(err as Error).message}`, 'keys.private_key_path');
  }
}

export interface LoadedKey {
  identity: Identity;
}

export function readKeyFile(path: string): LoadedKey {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : (err as Error).message;
    throw new ConfigError(`keys.private_key_path: ${path} ${why}.`, 'keys.private_key_path');
  }
  return { identity: decodeKey(text, path) };
}

/**
 * Writes the key with mode 0600. Without `replace` the file must not exist (O_EXCL); with it, a
 * temporary file is renamed over the old one, so a crash leaves either key, never half of one.
 */
export function writeKeyFile(path: string, identity: Identity, opts: WriteOptions = {}): void {
  writePrivateFile(path, encodeKey(identity), opts);
}

export interface WriteOptions {
  /** Rename a temporary file over an existing one instead of failing when it exists. */
  replace?: boolean;
  /** Give the file to this user before it appears under its name (setup as root: the service user). */
  owner?: { uid: number; gid: number } | null;
}

/** Writes `text` to a file only its owner can read (0600), creating the directory (0700). */
export function writePrivateFile(path: string, text: string, opts: WriteOptions = {}): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const target = opts.replace ? `${path}.tmp-${process.pid}` : path;
  if (opts.replace) removeQuietly(target);
  const fd = openSync(target, 'wx', 0o600);
  try {
    writeSync(fd, text);
    if (opts.owner) fchownSync(fd, opts.owner.uid, opts.owner.gid);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (opts.replace) renameSync(target, path);
}

export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
