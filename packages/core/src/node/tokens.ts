// Setup-token generation and hashing (node:crypto). The server keeps only a SHA-256 of the whole
// token, so a database leak reveals no usable token.
import { createHash, randomBytes } from 'node:crypto';

/** 24 random bytes = 192 bits, 32 base64url characters (the contract asks for >= 128 bits, >= 22 chars). */
const SECRET_BYTES = 24;

export function generateSetupToken(location: string): string {
  return `apt_${location}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

export function hashSetupToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
