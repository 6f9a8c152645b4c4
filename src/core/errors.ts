import { errorCodes, type ErrorCode } from './error-codes.js';

/**
 * The one error class of Boveda: a stable `code` (see error-codes.ts), a message that
 * names the object at fault, and the lower-level `cause` when there is one.
 */
export class BovedaError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BovedaError';
    this.code = code;
    this.details = options.details ?? {};
  }

  get exitCode(): number {
    return errorCodes[this.code].exit;
  }
}

export function isBovedaError(error: unknown, code?: ErrorCode): error is BovedaError {
  return error instanceof BovedaError && (code === undefined || error.code === code);
}

/** The message of any thrown value, for wrapping foreign errors. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
