// Exit codes and the errors that choose them (DESIGN.md "Provider CLI (v3)"): 0 ok, 1 refused by
// the API, 2 usage (including a key file dcctl will not use), 3 retryable (429, 5xx, network,
// a wait that timed out). Every API refusal is printed with its code, its message and a hint.
import { ERROR_CATALOGUE, isErrorCode, type ErrorCode } from '@dc/core';

export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_RETRYABLE = 3;

/** Something wrong with how dcctl was called, or with its local files: nothing was sent. */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
}

/** One row of a refused CSV import. */
export interface RowError {
  line: number;
  field: string | null;
  message: string;
}

/** A non-2xx answer of the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly apiMessage: string,
    readonly extra: { rows?: RowError[]; retryAfter?: string | null; hint?: string } = {},
  ) {
    super(`${status} ${code}: ${apiMessage}`);
  }

  get exitCode(): number {
    return isRetryableStatus(this.status) ? EXIT_RETRYABLE : EXIT_REFUSED;
  }
}

/** The API could not be reached, or did not answer in time. */
export class NetworkError extends Error {
  readonly exitCode = EXIT_RETRYABLE;
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

/** `--wait` ran out of time before the awaited state was reached (try again later). */
export class WaitTimeout extends Error {
  readonly exitCode = EXIT_RETRYABLE;
}

export const isRetryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

/** The catalogue's sentence for a code the answer did not explain (a proxy's bare 502, say). */
export function defaultMessage(code: string, status: number): string {
  if (isErrorCode(code)) return ERROR_CATALOGUE[code].message;
  return `The API answered HTTP ${status}.`;
}

/** The error code to report for an answer without a JSON error body. */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 413) return 'body_too_large';
  if (status === 429) return 'rate_limited';
  if (status === 503) return 'database_unavailable';
  if (status >= 500) return 'internal_error';
  return 'bad_request';
}

// What to do next, per code. Codes without an entry get the status's generic hint, so a code
// added to the catalogue later still prints something useful.
const HINTS: Partial<Record<ErrorCode, string>> = {
  invalid_input: 'fix the value the message names; "dcctl <command> --help" lists the options and their rules',
  invalid_csv: 'fix the rows listed above and import the whole file again (nothing was imported)',
  invalid_host: 'use the URL the server is reached at (its DC_PUBLIC_URL when set) as --api-url or DC_API_URL',
  bad_signature:
    'signatures cover the API host: --api-url (or DC_API_URL) must be the address in the server\'s DC_PUBLIC_URL when that is set',
  stale_request: "this machine's clock is more than 300 s behind or 30 s ahead of the server's; synchronise it (e.g. timedatectl set-ntp true)",
  replayed_request: 'run the command again: each run signs with a fresh nonce',
  unauthenticated: 'pass a key file with --key-file or DC_KEY_FILE',
  unknown_pool: '"dcctl pools ls" lists your pools (ids and names)',
  pool_type_mismatch: "give the offering the pool's provisioner type (--provisioner), or choose a pool of the offering's type",
  fallback_mismatch: 'choose a fallback pool of the same provisioner type and location, or pass --fallback-cross-region',
  fallback_cycle: '"dcctl pools ls --output json" shows each pool\'s fallback_pool_id; break the chain',
  forbidden:
    'this key may not do that: provider commands need the provider\'s key, payments a key listed in the server\'s DC_OPERATOR_PUBKEYS ("dcctl key show" prints the public key of --key-file)',
  not_found: 'check the id; the "ls" command of the same group lists what exists for this key',
  provider_not_registered: 'register this key as a provider first: dcctl provider register --name "Your company"',
  offering_not_found: 'the provider has no active offering with this id; the provider can list them with "dcctl offerings ls"',
  pool_name_taken: 'choose another --name, or use the existing pool ("dcctl pools ls")',
  pool_not_empty: 'revoke its agents first: "dcctl agents ls --pool POOL", then "dcctl agents revoke AGENT"',
  pool_in_use: 'point the offerings that name it elsewhere, remove it as another pool\'s fallback, and let its machines be torn down first',
  offering_exists: 'choose another --id, or update existing offerings with "dcctl offerings import FILE.csv"',
  offering_in_use: 'its contracts must finish first ("dcctl contracts ls"; end one with "dcctl contracts terminate ID"); until then you can set it inactive',
  invalid_transition: '"dcctl contracts show ID" shows the status; only some actions apply to each status',
  not_paid: 'the operator records the payment: dcctl payment ID succeeded',
  rate_limited: 'wait a moment and run the command again',
  body_too_large: 'split the file into smaller ones and import them one by one',
  internal_error: "try again; if it persists, dc-api's log has the error",
  database_unavailable: "dc-api cannot reach its database; try again shortly (GET /readyz says when it is back)",
  request_timeout: 'run the command again',
};

export function hintFor(code: string, status: number): string {
  if (isErrorCode(code) && HINTS[code]) return HINTS[code]!;
  if (isRetryableStatus(status)) return 'a temporary failure: run the command again shortly';
  if (status === 401) return 'check --key-file and --api-url';
  if (status === 403) return 'this key may not do that; check --key-file';
  if (status === 404) return 'check the id; the "ls" command of the same group lists what exists';
  if (status === 409) return 'the current state refuses the change; "show" the object to see its state';
  return 'see the message above';
}
