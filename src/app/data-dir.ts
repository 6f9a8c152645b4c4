import { mkdir, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { BovedaError, describeError } from '../core/index.js';

/**
 * Boveda's data directory: its own state on this machine (the catalog; later caches, logs).
 * Chosen, first match wins, by `--data-dir DIR`, `$BOVEDA_DATA`, or
 * `${XDG_DATA_HOME:-$HOME/.local/share}/boveda`. Created with mode 0700 on first use (it lists what
 * is backed up, with script command lines). Layout:
 *   <data-dir>/catalog.db      the catalog (SQLite, plus -wal/-shm files while open)
 *   <data-dir>/vault/          the default vault when no --vault / $BOVEDA_VAULT is given
 *   <data-dir>/vault.key       its key file, when `serve` created it without a passphrase (mode 0600)
 *   <data-dir>/images/, restores/  default directories the server may read disks from and restore to
 */

/** The environment variables the data directory depends on. */
export type DataDirEnv = Readonly<Record<string, string | undefined>>;

/** The absolute data directory for an explicit `--data-dir` (may be undefined) and the environment. */
export function resolveDataDir(given: string | undefined, env: DataDirEnv): string {
  if (given !== undefined && given !== '') return resolve(given);
  if (env.BOVEDA_DATA) return resolve(env.BOVEDA_DATA);
  // The XDG spec says to ignore a relative XDG_DATA_HOME.
  const xdg = env.XDG_DATA_HOME && isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : undefined;
  if (xdg) return join(xdg, 'boveda');
  if (env.HOME) return join(resolve(env.HOME), '.local', 'share', 'boveda');
  throw new BovedaError('INVALID_ARGUMENT', 'no data directory: use --data-dir DIR or set BOVEDA_DATA (HOME is not set)');
}

export function catalogFile(dataDir: string): string {
  return join(dataDir, 'catalog.db');
}

/** The key file `serve` creates for the default vault on a data directory's first start (when no passphrase was given). */
export function defaultVaultKeyFile(dataDir: string): string {
  return join(dataDir, 'vault.key');
}

/** The vault used when neither --vault nor $BOVEDA_VAULT is given. */
export function defaultVaultDir(dataDir: string): string {
  return join(dataDir, 'vault');
}

/**
 * `--vault` if given, else $BOVEDA_VAULT, else the data directory's default vault; absolute. The data
 * directory is asked for only in the last case, so an explicit vault works without HOME or BOVEDA_DATA.
 */
export function resolveVaultDir(given: string | undefined, env: DataDirEnv, dataDir: () => string): string {
  if (given !== undefined && given !== '') return resolve(given);
  if (env.BOVEDA_VAULT) return resolve(env.BOVEDA_VAULT);
  return defaultVaultDir(dataDir());
}

/**
 * Makes sure `dataDir` exists: creates it with mode 0700 (its parents with the usual mode) when
 * missing; an existing directory is left as it is. INVALID_ARGUMENT when the path is not a directory,
 * CATALOG_ERROR (naming it) when it cannot be created.
 */
export async function ensureDataDir(dataDir: string): Promise<string> {
  const dir = resolve(dataDir);
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new BovedaError('INVALID_ARGUMENT', `data directory ${dir} exists but is not a directory`);
    return dir;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (error instanceof BovedaError) throw error;
      throw new BovedaError('CATALOG_ERROR', `cannot use data directory ${dir}: ${describeError(error)}`, { cause: error });
    }
  }
  try {
    await mkdir(resolve(dir, '..'), { recursive: true });
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    // Another process may have created it in between: that is fine.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new BovedaError('CATALOG_ERROR', `cannot create data directory ${dir}: ${describeError(error)}`, { cause: error });
    }
  }
  return dir;
}
