import type { Command } from 'commander';
import { collectGarbage } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVaultOptions, withVault, type VaultCommandOptions } from '../vault-options.js';

interface GcCliOptions extends VaultCommandOptions {
  dryRun?: boolean;
  repackBelow: string;
  wait: string;
}

export function registerVaultGc(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('gc').description('remove blocks no recovery point references and rewrite sparse packs (takes the exclusive lock)'))
    .option('--dry-run', 'only report what would be removed and freed')
    .option('--repack-below <fraction>', 'rewrite packs whose live share is below this fraction', '0.5')
    .option('--wait <seconds>', 'wait this long for running backups to finish', '0')
    .action(async (options: GcCliOptions) => {
      const { io } = context;
      const repackBelow = Number(options.repackBelow);
      if (!(repackBelow >= 0 && repackBelow <= 1)) throw new BovedaError('INVALID_ARGUMENT', `--repack-below "${options.repackBelow}" must be a number from 0 to 1`);
      const waitSeconds = Number(options.wait);
      if (!(waitSeconds >= 0)) throw new BovedaError('INVALID_ARGUMENT', `--wait "${options.wait}" must be a number of seconds`);
      await withVault(options, io, async (opened) => {
        const report = await collectGarbage(opened, { dryRun: options.dryRun === true, repackBelow, waitMs: waitSeconds * 1000, signal: context.signal });
        if (options.json) return printJson(io, report);
        printLines(io, [
          `${report.dryRun ? 'Would free' : 'Freed'} ${formatSize(report.bytesFreed)}: ${report.packsDeleted} packs deleted, ${report.packsRepacked} repacked into ${report.packsWritten}, ${report.orphanPacksDeleted} orphan packs, ${report.blobsRemoved} blobs removed`,
          `${report.points} recovery points kept; index files ${report.indexFilesBefore} → ${report.indexFilesAfter}`,
        ]);
      });
    });
}
