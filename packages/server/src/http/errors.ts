// Coded API errors (DESIGN.md "HTTP conventions"). Handlers throw these; the one error handler in
// app.ts turns them into `{"error": {code, message}}` and hides every 5xx detail.
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** Extra fields merged into the error object, e.g. per-row CSV errors. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'invalid_input') => new ApiError(400, code, message);
export const unauthenticated = (message: string, code = 'unauthenticated') => new ApiError(401, code, message);
export const forbidden = (message: string) => new ApiError(403, 'forbidden', message);
export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} was not found`);
export const conflict = (code: string, message: string) => new ApiError(409, code, message);
export const gone = (code: string, message: string) => new ApiError(410, code, message);
export const tooManyRequests = (retryAfterSeconds: number) =>
  new ApiError(429, 'rate_limited', `Too many attempts; try again in ${retryAfterSeconds} s.`, {
    'retry-after': String(retryAfterSeconds),
  });

/** PostgreSQL error codes we translate instead of answering 500. */
export const PG_UNIQUE_VIOLATION = '23505';
export const PG_FOREIGN_KEY_VIOLATION = '23503';
export function pgCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}
