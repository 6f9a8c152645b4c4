import type { Command } from 'commander';
import { clearLocks, localStore } from '../../app/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVaultOptions, vaultDir, type VaultCommandOptions } from '../vault-options.js';

export function registerVaultUnlock(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('unlock').description('remove stale locks (of processes that are gone); --force removes every lock'))
    .option('--force', 'remove all locks, also of live processes (only when you know none is running)')
    .action(async (options: VaultCommandOptions & { force?: boolean }) => {
      const locks = await clearLocks(localStore(vaultDir(options, context.io)), options.force === true);
      if (options.json) return printJson(context.io, locks);
      if (locks.length === 0) return printLines(context.io, ['The vault has no locks.']);
      printLines(context.io, locks.map(({ key, record, removed }) =>
        `${removed ? 'removed' : 'kept   '} ${key}: ${record ? `${record.exclusive ? 'exclusive' : 'shared'} lock of ${record.purpose}, pid ${record.pid} on ${record.host} since ${record.createdAt}` : 'unreadable'}`));
    });
}
