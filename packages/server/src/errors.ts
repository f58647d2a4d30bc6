// Domain errors: every refusal the product makes, by catalogue code (core's ERROR_CATALOGUE). Store
// code throws these without knowing HTTP; the one error handler in app.ts turns them into
// `{"error": {code, message}}` with the catalogue's status and hides every 5xx detail.
import { ERROR_CATALOGUE, type ErrorCode } from '@dc/core';

export class DomainError extends Error {
  override name = 'DomainError';
  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CATALOGUE[code].message,
    /** Extra fields merged into the error object, e.g. per-row CSV errors. */
    readonly details: Record<string, unknown> = {},
    /** Sent as Retry-After (429, 503). */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
}

/** A refusal with a catalogue code and, where the default is not specific enough, a sentence. */
export const fail = (code: ErrorCode, message?: string) => new DomainError(code, message);
/** 400 invalid_input: the message names the field and the rule in words. */
export const invalidInput = (message: string) => new DomainError('invalid_input', message);
export const notFound = (what: string) => new DomainError('not_found', `${what} was not found.`);
export const rateLimited = (retryAfterSeconds: number) =>
  new DomainError('rate_limited', `Too many attempts; try again in ${retryAfterSeconds} s.`, {}, retryAfterSeconds);

/** PostgreSQL error codes we translate instead of answering 500. */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';
export function pgCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
