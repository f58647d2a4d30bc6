// OpenSSH public key validation (DESIGN.md contracts): customer text must be one well-formed key
// line before it is stored, because an agent may hand it to cloud-init or a script. Browser-safe.
const KEY_TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521)$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const COMMENT = /^[\x20-\x7e]*$/;
export const SSH_PUBKEY_MAX_BYTES = 8192;

/** Returns null when valid, else a sentence saying what is wrong. */
export function sshPubkeyProblem(line: string): string | null {
  if (new TextEncoder().encode(line).length > SSH_PUBKEY_MAX_BYTES) return 'is longer than 8 KiB';
  if (/[\r\n]/.test(line)) return 'must be a single line';
  const m = /^(\S+) (\S+)(?: ([\x20-\x7e]*))?$/.exec(line);
  if (!m) return 'must look like "ssh-ed25519 AAAA... comment"';
  const [, type, data, comment] = m as unknown as [string, string, string, string | undefined];
  if (!KEY_TYPES.test(type)) return `key type "${type}" is not one of ssh-ed25519, ssh-rsa, ecdsa-sha2-*`;
  if (!BASE64.test(data) || data.length % 4 !== 0) return 'key data is not valid base64';
  const blob = atob(data); // one char per byte
  // The blob starts with the key type as an SSH string: uint32 length, then the name.
  if (blob.length < 4) return 'key data is too short';
  const n = ((blob.charCodeAt(0) << 24) | (blob.charCodeAt(1) << 16) | (blob.charCodeAt(2) << 8) | blob.charCodeAt(3)) >>> 0;
  if (n > blob.length - 4 || blob.slice(4, 4 + n) !== type) return 'key data does not match its key type';
  if (comment !== undefined && !COMMENT.test(comment)) return 'comment must be printable ASCII';
  return null;
}
