// The error catalogue (DESIGN.md "HTTP conventions"): every code the API answers with, its HTTP
// status and a default sentence. The server's error factories take only these codes, clients
// switch over `ErrorCode` exhaustively, and a new code is added here first.

interface CatalogueEntry {
  readonly status: number;
  readonly message: string;
}

export const ERROR_CATALOGUE = {
  // 400: the request itself is wrong; the message names the field and the rule.
  invalid_input: { status: 400, message: 'The input is invalid.' },
  invalid_json: { status: 400, message: 'The body is not valid JSON.' },
  invalid_csv: { status: 400, message: 'The CSV file has errors; nothing was imported.' },
  invalid_host: { status: 400, message: 'The Host header is not a valid host; set DC_PUBLIC_URL or send a proper Host.' },
  bad_request: { status: 400, message: 'The request is malformed.' },
  unknown_pool: { status: 400, message: 'The pool does not exist for this provider.' },
  pool_type_mismatch: { status: 400, message: "The pool's provisioner type differs from the offering's." },
  fallback_mismatch: { status: 400, message: 'A fallback pool must belong to the same provider, provisioner type and location.' },
  fallback_cycle: { status: 400, message: 'The fallback pools would form a cycle.' },
  // 401: who is calling is unknown or not believed.
  unauthenticated: { status: 401, message: 'This request must be signed (X-Public-Key or X-Agent-Pubkey, X-Timestamp, X-Nonce, X-Signature).' },
  bad_signature: { status: 401, message: 'The signature does not verify for this request.' },
  stale_request: { status: 401, message: 'X-Timestamp is outside the accepted window (300 s past, 30 s future); check the clock.' },
  replayed_request: { status: 401, message: 'This nonce was already used with this key; send a fresh nonce.' },
  unknown_agent: { status: 401, message: 'This agent key is not registered.' },
  agent_revoked: { status: 401, message: 'This agent has been revoked by its provider.' },
  invalid_token: { status: 401, message: 'The setup token is not valid.' },
  // 403: known, but not allowed.
  forbidden: { status: 403, message: 'This key may not perform this request.' },
  not_routed: { status: 403, message: 'This contract is routed to another pool; your agent may not take it.' },
  // 404
  not_found: { status: 404, message: 'Not found.' },
  provider_not_registered: { status: 404, message: 'Register the provider first (PUT /api/v1/providers/{pubkey}).' },
  offering_not_found: { status: 404, message: 'The offering does not exist or is not active.' },
  // 409: the state of things refuses the change.
  token_used: { status: 409, message: 'This setup token was already used.' },
  agent_exists: { status: 409, message: 'This agent key is already registered.' },
  pool_name_taken: { status: 409, message: 'A pool with this name already exists.' },
  pool_not_empty: { status: 409, message: 'The pool still has agents; revoke them first.' },
  pool_in_use: { status: 409, message: 'The pool is still in use.' },
  offering_exists: { status: 409, message: 'An offering with this id already exists.' },
  offering_in_use: { status: 409, message: 'The offering has contracts that are not finished.' },
  invalid_transition: { status: 409, message: 'The contract cannot make this change in its current status.' },
  not_provisionable: { status: 409, message: 'Only accepted contracts can be locked.' },
  not_paid: { status: 409, message: "The contract's payment has not succeeded; it cannot be provisioned yet." },
  contract_cancelled: { status: 409, message: 'The contract was cancelled; tear down anything you created for it.' },
  lease_lost: { status: 409, message: 'This lease is no longer yours (a newer grant or a finished lease); tear down anything you created for it.' },
  sticky_owner: { status: 409, message: 'The agent that built this machine tears it down.' },
  pool_paused: { status: 409, message: 'The pool is paused; no new provisioning starts in it.' },
  agent_draining: { status: 409, message: 'This agent is draining; it takes no new provisioning work.' },
  agent_cooling_down: { status: 409, message: 'This agent is cooling down after repeated failures.' },
  agent_at_capacity: { status: 409, message: 'This agent holds as many provisioning leases as its max_concurrent allows.' },
  retry_elsewhere: { status: 409, message: 'This agent failed this contract recently; another agent gets it first.' },
  lock_held: { status: 409, message: 'Another agent holds a live lease on this contract.' },
  backing_off: { status: 409, message: 'The contract is backing off after a failure; try after next_attempt_at.' },
  // Other statuses.
  request_timeout: { status: 408, message: 'The request did not arrive completely in time; send it again.' },
  token_expired: { status: 410, message: 'This setup token has expired; create a new one.' },
  body_too_large: { status: 413, message: 'The body is larger than the limit for this endpoint.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json (CSV import: text/csv).' },
  expectation_failed: { status: 417, message: 'Only "Expect: 100-continue" is supported; send the request without this Expect header.' },
  rate_limited: { status: 429, message: 'Too many attempts; try again later.' },
  headers_too_large: { status: 431, message: 'The request headers are too large (16 KiB at most); send fewer or shorter headers.' },
  internal_error: { status: 500, message: 'The server failed to handle this request; the error has been logged.' },
  database_unavailable: { status: 503, message: 'The database is not reachable; try again shortly.' },
  agent_bundle_missing: { status: 503, message: 'The dc-agent bundle is not built on this server; run "npm run build".' },
  installer_missing: { status: 503, message: 'The installer script is missing on this server.' },
  dashboard_not_built: { status: 503, message: 'The dashboard is not built on this server; run "npm run build".' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && Object.hasOwn(ERROR_CATALOGUE, x);
}

export function errorStatus(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

/** The error object of every non-2xx answer. */
export interface ErrorObject {
  code: ErrorCode;
  message: string;
}
