// Setup token format (DESIGN.md "Pools, tokens, agents"): `apt_{location}_{secret}`; the server
// keeps only a SHA-256 of the whole token, so a database leak reveals no usable token.
import { createHash, randomBytes } from 'node:crypto';

/** 24 random bytes = 192 bits, 32 base64url characters (the contract asks for >= 128 bits, >= 22 chars). */
const SECRET_BYTES = 24;
export const SETUP_TOKEN_RE = /^apt_([a-z]+)_([A-Za-z0-9_-]{22,128})$/;

export function generateSetupToken(location: string): string {
  return `apt_${location}_${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

export function hashSetupToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function looksLikeSetupToken(token: string): boolean {
  return SETUP_TOKEN_RE.test(token);
}
