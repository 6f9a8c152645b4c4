import type { Command } from 'commander';
import { Catalog, LazyAppContext, catalogFile, ensureDataDir, openLocalVault, resolveDataDir, type AppContext } from '../app/index.js';
import { BovedaError } from '../core/index.js';
import { OffsetClock, systemClock, type Clock } from '../util/index.js';
import type { CliIo } from './io.js';
import { addVaultOptions, gatherSecrets, vaultDir, type VaultCommandOptions } from './vault-options.js';

export interface AppCommandOptions extends VaultCommandOptions {
  now?: string;
}

/** Lifecycle commands take the vault options (the vault is opened only when the command needs it). */
export const addAppOptions = addVaultOptions;

/** Adds `--now TIME`: run as if it were TIME (what-if questions, and tests that cannot wait months). */
export function addNowOption(command: Command): Command {
  return command.option('--now <time>', 'act as if it were TIME (ISO 8601, UTC unless a zone is given): for what-if runs and tests');
}

/** The clock of a command: the system clock, or one starting at --now. */
export function commandClock(now: string | undefined): Clock {
  if (now === undefined) return systemClock;
  const text = /[zZ]|[+-]\d{2}:?\d{2}$/.test(now) || /^\d{4}-\d{2}-\d{2}$/.test(now) ? now : `${now}Z`;
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) throw new BovedaError('INVALID_ARGUMENT', `--now "${now}" is not a time (example: 2027-03-01T02:00:00Z)`);
  return new OffsetClock(time);
}

/**
 * Runs `body` with the data directory's catalog and, on first use, its vault (secrets are asked
 * for only then); closes both. The same clock drives catalog timestamps, the vault and decisions.
 */
export async function withApp<T>(options: AppCommandOptions, io: CliIo, body: (app: AppContext) => Promise<T>): Promise<T> {
  const clock = commandClock(options.now);
  const dataDir = await ensureDataDir(resolveDataDir(options.dataDir, io.env));
  const catalog = await Catalog.open(catalogFile(dataDir), { clock });
  const app = new LazyAppContext(catalog, clock, async () => openLocalVault({ dir: vaultDir(options, io), clock }, await gatherSecrets(options, io)));
  try {
    return await body(app);
  } finally {
    await app.closeVault();
    await catalog.close();
  }
}
