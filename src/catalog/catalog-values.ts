import { BovedaError } from '../core/index.js';
import type { Clock } from '../util/index.js';

/** A time a caller passes to the catalog: a Date or an ISO-8601 string. Stored as ISO-8601 UTC text. */
export type TimeInput = Date | string;

/** `at` (or the clock's now when undefined) as ISO-8601 UTC; INVALID_ARGUMENT naming `what` when it is not a time. */
export function isoTime(at: TimeInput | undefined, clock: Clock, what = 'time'): string {
  const date = at === undefined ? clock.now() : at instanceof Date ? at : new Date(at);
  if (Number.isNaN(date.getTime())) throw new BovedaError('INVALID_ARGUMENT', `${what} ${JSON.stringify(String(at))} is not a valid date and time`);
  return date.toISOString();
}

/** Like isoTime, for optional fields: null stays null. */
export function isoTimeOrNull(at: TimeInput | null, clock: Clock, what: string): string | null {
  return at === null ? null : isoTime(at, clock, what);
}

/** A non-empty string, else INVALID_ARGUMENT naming `what`. */
export function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new BovedaError('INVALID_ARGUMENT', `${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

/** JSON text of a value the catalog stores; INVALID_ARGUMENT when it has no JSON form. */
export function toJson(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new BovedaError('INVALID_ARGUMENT', `${what} cannot be stored as JSON`, { cause: error });
  }
  if (text === undefined) throw new BovedaError('INVALID_ARGUMENT', `${what} cannot be stored as JSON`);
  return text;
}

/** Parses JSON text the catalog wrote. */
export function fromJson<T>(text: string): T {
  return JSON.parse(text) as T;
}

/** A non-negative safe integer byte count, else INVALID_ARGUMENT. */
export function checkBytes(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new BovedaError('INVALID_ARGUMENT', `${what} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A list's row limit: `limit` (else `fallback`) truncated to an integer and held within 1…`max`. */
export function clampLimit(limit: number | undefined, fallback: number, max: number): number {
  return Math.min(Math.max(1, Math.trunc(limit ?? fallback)), max);
}
