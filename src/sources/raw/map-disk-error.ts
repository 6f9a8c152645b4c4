import { BovedaError, describeError } from '../../core/errors.js';

/** What was being done to a disk when a file-system call failed, as named in messages and details. */
export type DiskOperation = 'open' | 'stat' | 'read';

const verbs: Record<DiskOperation, string> = {
  open: 'open',
  stat: 'stat',
  read: 'read',
};

/** The errno code of a Node file-system error (ENOENT, EIO, …), or undefined. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turns a Node file-system error raised while doing `op` on the disk at `path` into the BovedaError
 * the DiskSource contract promises: a missing path (or a path through a non-directory) is
 * DISK_NOT_FOUND, everything else (permission denied, I/O errors, devices that went away) is
 * DISK_UNREADABLE, an AbortError is ABORTED. BovedaErrors pass through unchanged. `where` adds a
 * position to the message ("at byte 4096").
 */
export function mapDiskError(error: unknown, path: string, op: DiskOperation, where = ''): BovedaError {
  if (error instanceof BovedaError) return error;
  const errno = errnoOf(error);
  const details = { path, op, errno };
  const at = where === '' ? '' : ` ${where}`;
  if ((error as Error | undefined)?.name === 'AbortError') {
    return new BovedaError('ABORTED', `${verbs[op]} of disk ${path} was cancelled`, { cause: error, details });
  }
  switch (errno) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new BovedaError('DISK_NOT_FOUND', `disk ${path} does not exist (${errno})`, { cause: error, details });
    case 'EACCES':
    case 'EPERM':
      return new BovedaError('DISK_UNREADABLE', `cannot ${verbs[op]} disk ${path}${at}: permission denied (${errno})`, {
        cause: error,
        details,
      });
  }
  return new BovedaError('DISK_UNREADABLE', `cannot ${verbs[op]} disk ${path}${at}: ${describeError(error)}`, {
    cause: error,
    details,
  });
}
