import type { Command } from 'commander';
import type { AppCommandOptions } from './app-options.js';

/** The options of commands that use the catalog only, never the vault (user, audit). */
export type CatalogCommandOptions = Pick<AppCommandOptions, 'dataDir' | 'json'>;

export function addCatalogOnlyOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'Boveda\'s data directory (default: $BOVEDA_DATA, else ~/.local/share/boveda)')
    .option('--json', 'print machine-readable JSON');
}
