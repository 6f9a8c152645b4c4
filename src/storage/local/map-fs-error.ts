import { BovedaError, describeError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/error-codes.js';

/** The BlobStore operations, as named in error messages and details. */
export type StoreOperation = 'put' | 'get' | 'getRange' | 'stat' | 'list' | 'delete' | 'sweepPartials';

const writeOperations: ReadonlySet<StoreOperation> = new Set(['put', 'delete', 'sweepPartials']);

const verbs: Record<StoreOperation, string> = {
  put: 'write',
  get: 'read',
  getRange: 'read',
  stat: 'stat',
  list: 'list',
  delete: 'delete',
  sweepPartials: 'sweep partial objects',
};

/** The errno code of a Node file-system error (ENOENT, ENOSPC, …), or undefined. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turns a Node file-system error raised while doing `op` on `key` into the BovedaError the
 * BlobStore contract promises. BovedaErrors pass through unchanged.
 */
export function mapFsError(error: unknown, op: StoreOperation, location: string, key: string): BovedaError {
  if (error instanceof BovedaError) return error;
  const errno = errnoOf(error);
  const subject = key === '' ? location : `"${key}" in ${location}`;
  const details = { location, key, op, errno };
  const make = (code: ErrorCode, message: string): BovedaError =>
    new BovedaError(code, message, { cause: error, details });

  if ((error as Error | undefined)?.name === 'AbortError') {
    return make('ABORTED', `${op} of ${subject} was cancelled`);
  }
  const isWrite = writeOperations.has(op);
  switch (errno) {
    case 'ENOSPC':
    case 'EDQUOT':
      return make('STORAGE_NO_SPACE', `cannot ${verbs[op]} ${subject}: no space left (${errno})`);
    case 'EROFS':
      return make('STORAGE_READ_ONLY', `cannot ${verbs[op]} ${subject}: the file system is read-only (${errno})`);
    case 'EACCES':
    case 'EPERM':
      // Reading without permission is not "read-only"; it is an I/O failure of the store.
      if (isWrite) return make('STORAGE_READ_ONLY', `cannot ${verbs[op]} ${subject}: permission denied (${errno})`);
      break;
    case 'EEXIST':
      if (op === 'put') return make('STORAGE_EXISTS', `object "${key}" already exists in ${location}`);
      break;
    case 'ENOENT':
    case 'ENOTDIR':
    case 'EISDIR':
      // A missing file, a path through a file, or a directory: in every case no object has that key.
      if (op === 'get' || op === 'getRange' || op === 'stat') {
        return make('STORAGE_NOT_FOUND', `object "${key}" not found in ${location}`);
      }
      break;
  }
  return make('STORAGE_IO', `cannot ${verbs[op]} ${subject}: ${describeError(error)}`);
}
