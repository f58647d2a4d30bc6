// Error types and the one function that decides what an error means for the daemon.
import { ERROR_CATALOGUE, isErrorCode, type ErrorCode } from '@dc/core';

/** Exit codes (documented in README.md; the systemd unit does not restart on EXIT_REVOKED). */
export const EXIT_OK = 0;
/** Anything unexpected; systemd restarts the agent. */
export const EXIT_FAILURE = 1;
/** Bad command-line usage. */
export const EXIT_USAGE = 2;
/** The configuration or key file is missing or invalid; the message names the field. */
export const EXIT_CONFIG = 3;
/** `setup` on a host that is already configured (use --force). */
export const EXIT_ALREADY_CONFIGURED = 4;
/** The provider revoked this agent (or its key is unknown): restarting cannot help. */
export const EXIT_REVOKED = 78;

/** An HTTP answer from dc-api (or a proxy in front of it) that is not a success. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/** No HTTP answer at all: connection refused or reset, DNS, TLS, timeout. */
export class NetworkError extends Error {
  override name = 'NetworkError';
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
  }
}

/** The configuration is unusable; `field` is the dotted TOML key at fault, when there is one. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

/** A failure the CLI reports with a given exit code and no stack trace. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** What an error means for whoever got it. */
export type Disposition =
  /** Stop the agent: nothing it does will work until a person acts. */
  | { kind: 'fatal'; exitCode: number; message: string }
  /** The API is down, overloaded or unreachable: back off and try again. */
  | { kind: 'transient' }
  /** This lease is gone (lease_lost, contract_cancelled): tear down what was created for it. */
  | { kind: 'lease_gone'; code: string }
  /** Any other refusal: not worth retrying, not a reason to stop. */
  | { kind: 'rejected' };

const TRANSIENT: Disposition = { kind: 'transient' };
const REJECTED: Disposition = { kind: 'rejected' };

/** The one place that decides which errors are fatal, transient or lease-ending. */
export function classify(err: unknown): Disposition {
  if (err instanceof NetworkError) return TRANSIENT;
  if (err instanceof ConfigError) return { kind: 'fatal', exitCode: EXIT_CONFIG, message: err.message };
  if (!(err instanceof ApiError)) return REJECTED;
  // A catalogue code with another status is not dc-api's answer (a proxy's, say): judge it by status.
  if (isErrorCode(err.code) && ERROR_CATALOGUE[err.code].status === err.status) return classifyCode(err.code, err);
  return classifyStatus(err.status);
}

/** Every code of the catalogue, decided here: a new code does not compile until it is. */
function classifyCode(code: ErrorCode, err: ApiError): Disposition {
  switch (code) {
    case 'agent_revoked':
    case 'unknown_agent': {
      const why = code === 'agent_revoked' ? 'this agent has been revoked by its provider' : 'the API does not know this agent key';
      return {
        kind: 'fatal',
        exitCode: EXIT_REVOKED,
        message: `${why} (401 ${code}); it stops and will not retry. To bring this host back, create a new setup token for the pool and run "dc-agent setup --force".`,
      };
    }
    // The auth layer: this key acts for another provider than the config says. (not_routed
    // concerns one contract, not the agent.)
    case 'forbidden':
      return {
        kind: 'fatal',
        exitCode: EXIT_CONFIG,
        message: `the API refused this agent (403: ${err.message}); check agent.provider_pubkey and agent.api_url in the configuration.`,
      };
    case 'lease_lost':
    case 'contract_cancelled':
      return { kind: 'lease_gone', code };
    // Outages and overload. 401s about the request itself (clock skew, a proxy rewriting
    // requests, a reused nonce) may heal: retry.
    case 'internal_error':
    case 'request_timeout':
    case 'database_unavailable':
    case 'agent_bundle_missing':
    case 'installer_missing':
    case 'dashboard_not_built':
    case 'rate_limited':
    case 'unauthenticated':
    case 'bad_signature':
    case 'stale_request':
    case 'replayed_request':
    case 'invalid_token':
      return TRANSIENT;
    // Refusals of one grant (v3 fleet rules): another agent, a later try or a person decides; the
    // agent goes on with other work.
    case 'sticky_owner':
    case 'pool_paused':
    case 'agent_draining':
    case 'agent_cooling_down':
    case 'agent_at_capacity':
    case 'retry_elsewhere':
    case 'lock_held':
    case 'backing_off':
    case 'not_routed':
    case 'not_provisionable':
    case 'not_paid':
    case 'invalid_transition':
      return REJECTED;
    // The request or its target is wrong: retrying the same request cannot help.
    case 'invalid_input':
    case 'invalid_json':
    case 'invalid_csv':
    case 'invalid_host':
    case 'bad_request':
    case 'unknown_pool':
    case 'pool_type_mismatch':
    case 'fallback_mismatch':
    case 'fallback_cycle':
    case 'not_found':
    case 'provider_not_registered':
    case 'offering_not_found':
    case 'token_used':
    case 'agent_exists':
    case 'pool_name_taken':
    case 'pool_not_empty':
    case 'pool_in_use':
    case 'offering_exists':
    case 'offering_in_use':
    case 'token_expired':
    case 'body_too_large':
    case 'unsupported_media_type':
    case 'expectation_failed':
    case 'headers_too_large':
      return REJECTED;
    default: {
      const _never: never = code;
      return _never;
    }
  }
}

/** An answer without a catalogue code (a proxy, a load balancer, an older API). */
function classifyStatus(status: number): Disposition {
  return status >= 500 || status === 429 || status === 408 || status === 401 ? TRANSIENT : REJECTED;
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return `${err.status} ${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
