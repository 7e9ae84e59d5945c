/**
 * Expected failures are values: a stable code for programs and tests, and one
 * sentence for the person who acted. Throw only for bugs and broken
 * infrastructure.
 */
export type ErrorCode =
  | 'bad_input'
  | 'not_found'
  | 'no_access'
  | 'forbidden'
  | 'conflict'
  | 'last_owner'
  | 'unknown_user'
  | 'expired'
  | 'already_done'
  | 'upstream';

export interface AppError {
  readonly code: ErrorCode;
  readonly message: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: AppError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

export const fail = (code: ErrorCode, message: string): { ok: false; error: AppError } => ({
  ok: false,
  error: { code, message },
});
