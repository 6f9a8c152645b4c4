import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { BovedaError } from '../core/index.js';

/** The libvirt default image pool: where most hosts keep VM disks. */
export const LIBVIRT_IMAGES = '/var/lib/libvirt/images';

/**
 * Where the server may read disks and write restores when nothing else is configured: the data
 * directory's images/ and restores/, and libvirt's image pool. `serve --allow-path DIR` (repeatable)
 * or $BOVEDA_ALLOWED_PATHS (colon-separated) replace the list.
 */
export function defaultAllowedPaths(dataDir: string): string[] {
  return [join(dataDir, 'images'), join(dataDir, 'restores'), LIBVIRT_IMAGES];
}

/** The allowed roots: given flags first, else $BOVEDA_ALLOWED_PATHS, else the defaults; absolute. */
export function resolveAllowedPaths(given: readonly string[] | undefined, env: Readonly<Record<string, string | undefined>>, dataDir: string): string[] {
  if (given && given.length > 0) return given.map((path) => resolve(path));
  const fromEnv = env.BOVEDA_ALLOWED_PATHS?.split(':').filter((path) => path !== '');
  if (fromEnv && fromEnv.length > 0) return fromEnv.map((path) => resolve(path));
  return defaultAllowedPaths(dataDir);
}

/** The real path of `path`, resolving the deepest ancestor that exists (the rest cannot be a symlink yet). */
async function realPathOf(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(await realpath(current), ...missing.reverse());
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new BovedaError('PATH_NOT_ALLOWED', `cannot resolve path ${JSON.stringify(path)}: ${(error as Error).message}`, { cause: error });
      const parent = dirname(current);
      if (parent === current) return join(current, ...missing.reverse());
      missing.push(basename(current));
      current = parent;
    }
  }
}

/**
 * Checks that a path a client gave (a disk to back up, a restore directory) lies inside one of the
 * allowed roots once `..` and symlinks are resolved, so a server user cannot read or overwrite
 * other files of the host. Returns the path normalized (symlinks kept, as the catalog stores disks);
 * INVALID_ARGUMENT for relative paths or NUL bytes, PATH_NOT_ALLOWED naming the path and the roots.
 */
export async function checkAllowedPath(path: string, roots: readonly string[]): Promise<string> {
  if (path.includes('\0')) throw new BovedaError('INVALID_ARGUMENT', `path ${JSON.stringify(path)} contains a NUL byte`);
  if (!isAbsolute(path)) throw new BovedaError('INVALID_ARGUMENT', `path ${JSON.stringify(path)} must be absolute`);
  const normalized = resolve(path);
  const real = await realPathOf(normalized);
  for (const root of roots) {
    const realRoot = await realPathOf(resolve(root));
    if (real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) return normalized;
  }
  throw new BovedaError('PATH_NOT_ALLOWED', `path ${JSON.stringify(path)} is outside the directories this server may use (${roots.join(', ')}); start the server with --allow-path DIR to add one`);
}
