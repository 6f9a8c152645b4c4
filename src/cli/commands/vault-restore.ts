import type { Command } from 'commander';
import { readPoint, resolvePointId, restoreToDirectory } from '../../app/index.js';
import { imageFormat, progressLabel } from './restore.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { ProgressReporter } from '../progress.js';
import { addVaultOptions, withVault, type VaultCommandOptions } from '../vault-options.js';

export function registerVaultRestore(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('restore').argument('<point>', 'recovery point id (or a unique prefix of at least 4 digits)')
    .description('restore the disks of a recovery point to new sparse image files <dir>/<disk>.img (or .qcow2)'))
    .requiredOption('--to <dir>', 'directory for the restored images (files are never overwritten)')
    .option('--disk <name...>', 'only these disks')
    .option('--format <format>', 'raw (default: <dir>/<disk>.img) or qcow2 (<dir>/<disk>.qcow2, needs qemu-img)')
    .option('--force', 'overwrite existing image files')
    .action(async (pointArg: string, options: VaultCommandOptions & { to: string; disk?: string[]; format?: string; force?: boolean }) => {
      const { io } = context;
      const format = imageFormat(options.format, 'raw');
      await withVault(options, io, async (opened) => {
        const point = await readPoint(opened, await resolvePointId(opened, pointArg));
        const progress = new ProgressReporter(io, options.json === true);
        const restored = await restoreToDirectory(opened, point, options.to, {
          disks: options.disk, format, force: options.force === true, signal: context.signal,
          onProgress: (item) => progress.update(progressLabel(item), item.bytesDone, item.bytesTotal),
        });
        progress.done();
        if (options.json) printJson(io, { point: point.pointId, restored });
        else printLines(io, restored.map((item) => `Restored ${item.disk} (${formatSize(item.sizeBytes)}) to ${item.path}`));
      });
    });
}
