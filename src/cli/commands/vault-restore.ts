import type { Command } from 'commander';
import { readPoint, resolvePointId, restoreToDirectory } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { ProgressReporter } from '../progress.js';
import { addVaultOptions, withVault, type VaultCommandOptions } from '../vault-options.js';

export function registerVaultRestore(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('restore').argument('<point>', 'recovery point id (or a unique prefix of at least 4 digits)')
    .description('restore the disks of a recovery point to new sparse image files <dir>/<disk>.img'))
    .requiredOption('--to <dir>', 'directory for the restored images (files are never overwritten)')
    .option('--disk <name...>', 'only these disks')
    .option('--force', 'overwrite existing image files')
    .action(async (pointArg: string, options: VaultCommandOptions & { to: string; disk?: string[]; force?: boolean }) => {
      const { io } = context;
      await withVault(options, io, async (opened) => {
        const point = await readPoint(opened, await resolvePointId(opened, pointArg));
        const progress = new ProgressReporter(io, options.json === true);
        const restored = await restoreToDirectory(opened, point, options.to, {
          disks: options.disk, force: options.force === true, signal: context.signal,
          onProgress: ({ disk, bytesDone, bytesTotal }) => progress.update(disk, bytesDone, bytesTotal),
        });
        progress.done();
        if (options.json) printJson(io, { point: point.pointId, restored });
        else printLines(io, restored.map((item) => `Restored ${item.disk} (${formatSize(item.sizeBytes)}) to ${item.path}`));
      });
    });
}
