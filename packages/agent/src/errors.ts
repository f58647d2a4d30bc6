// Error types and the one function that decides what an error means for the daemon.

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

/** The one place that decides which errors are fatal, transient or lease-ending. */
export function classify(err: unknown): Disposition {
  if (err instanceof NetworkError) return { kind: 'transient' };
  if (err instanceof ConfigError) return { kind: 'fatal', exitCode: EXIT_CONFIG, message: err.message };
  if (!(err instanceof ApiError)) return { kind: 'rejected' };
  if (err.status === 401 && (err.code === 'agent_revoked' || err.code === 'unknown_agent')) {
    const why = err.code === 'agent_revoked' ? 'this agent has been revoked by its provider' : 'the API does not know this agent key';
    return {
      kind: 'fatal',
      exitCode: EXIT_REVOKED,
      message: `${why} (401 ${err.code}); it stops and will not retry. To bring this host back, create a new setup token for the pool and run "dc-agent setup --force".`,
    };
  }
  // 403 `forbidden` is the auth layer: this key acts for another provider than the config says.
  // Other 403s (not_routed) concern one contract, not the agent.
  if (err.status === 403 && err.code === 'forbidden') {
    return {
      kind: 'fatal',
      exitCode: EXIT_CONFIG,
      message: `the API refused this agent (403: ${err.message}); check agent.provider_pubkey and agent.api_url in the configuration.`,
    };
  }
  if (err.status === 409 && (err.code === 'lease_lost' || err.code === 'contract_cancelled')) {
    return { kind: 'lease_gone', code: err.code };
  }
  // 401 bad_signature / stale_request (clock skew, a proxy rewriting requests) may heal: retry.
  if (err.status >= 500 || err.status === 429 || err.status === 408 || err.status === 401) return { kind: 'transient' };
  return { kind: 'rejected' };
}

export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return `${err.status} ${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
