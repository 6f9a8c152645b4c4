import { BovedaError } from '../core/errors.js';
import { isValidKey } from './blob-store.js';

/** Throws INVALID_ARGUMENT unless `key` is a well-formed blob key (see BlobStore). */
export function assertValidKey(key: string, location: string): void {
  if (typeof key !== 'string' || !isValidKey(key)) {
    throw new BovedaError(
      'INVALID_ARGUMENT',
      `invalid blob key ${JSON.stringify(key)} for ${location}: keys are slash-separated segments of [A-Za-z0-9._-], none empty, "." or ".."`,
      { details: { location, key } },
    );
  }
}

/** Throws INVALID_ARGUMENT unless offset and length are non-negative safe integers. */
export function assertValidRange(offset: number, length: number, location: string, key: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new BovedaError(
      'INVALID_ARGUMENT',
      `invalid range (offset ${offset}, length ${length}) for "${key}" in ${location}: both must be non-negative integers`,
      { details: { location, key, offset, length } },
    );
  }
}

/** Throws INVALID_ARGUMENT unless `olderThanMs` is a non-negative finite number. */
export function assertValidAge(olderThanMs: number, location: string): void {
  if (typeof olderThanMs !== 'number' || !Number.isFinite(olderThanMs) || olderThanMs < 0) {
    throw new BovedaError(
      'INVALID_ARGUMENT',
      `invalid age ${olderThanMs} for sweeping partial objects in ${location}: must be a non-negative number of milliseconds`,
      { details: { location, olderThanMs } },
    );
  }
}

/** The error a getRange past the end of an object raises (STORAGE_IO, per the BlobStore contract). */
export function rangeBeyondEnd(location: string, key: string, offset: number, length: number, size: number): BovedaError {
  return new BovedaError(
    'STORAGE_IO',
    `cannot read ${length} bytes at offset ${offset} of "${key}" in ${location}: the object has only ${size} bytes`,
    { details: { location, key, offset, length, size } },
  );
}
