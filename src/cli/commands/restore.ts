import type { Command } from 'commander';
import { latestPoint, readPoint, resolvePointId, restoreInPlace, restoreToDirectory } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJsonLine, printLines } from '../io.js';
import { ProgressReporter } from '../progress.js';
import { addDataOptions, openDataVault, openVmContext, type DataCommandOptions } from '../data-options.js';

interface RestoreCliOptions extends DataCommandOptions {
  point?: string;
  disk?: string[];
  to?: string;
  replace?: boolean;
  force?: boolean;
}

export function registerRestore(program: Command, context: CommandContext): void {
  addDataOptions(program.command('restore').argument('<vm>', 'the VM whose point to restore')
    .description('restore a recovery point (default: the latest) to new sparse images, or --replace the VM\'s own disks in place'))
    .option('--point <id>', 'recovery point id or unique prefix (default: the latest)')
    .option('--disk <name...>', 'only these disks')
    .option('--to <dir>', 'write <dir>/<disk>.img (new sparse images)')
    .option('--force', 'with --to: overwrite existing image files')
    .option('--replace', 'rewrite the VM\'s own disks in place, writing only the blocks that differ (stop the VM first)')
    .action(async (vmName: string, options: RestoreCliOptions) => {
      const { io } = context;
      if ((options.to === undefined) === (options.replace !== true)) throw new BovedaError('INVALID_ARGUMENT', 'give exactly one of --to DIR or --replace');
      const progress = new ProgressReporter(io, options.json === true);
      const onProgress = ({ disk, bytesDone, bytesTotal }: { disk: string; bytesDone: number; bytesTotal: number }) => progress.update(disk, bytesDone, bytesTotal);
      const pickPoint = async (vault: Parameters<typeof readPoint>[0]) => {
        if (options.point) {
          const point = await readPoint(vault, await resolvePointId(vault, options.point));
          if (point.subject !== vmName) throw new BovedaError('INVALID_ARGUMENT', `recovery point ${point.pointId} belongs to VM "${point.subject}", not "${vmName}"`);
          return point;
        }
        const latest = await latestPoint(vault, vmName, context.signal);
        if (!latest) throw new BovedaError('POINT_NOT_FOUND', `VM "${vmName}" has no recovery points`);
        return latest;
      };
      if (options.to !== undefined) {
        const to = options.to;
        // From the vault alone: works for a VM whose definition (or disks) are gone.
        await openDataVault(options, io, async (vault) => {
          const point = await pickPoint(vault);
          const restored = await restoreToDirectory(vault, point, to, { disks: options.disk, force: options.force === true, signal: context.signal, onProgress });
          progress.done();
          if (options.json) printJsonLine(io, { event: 'completed', point: point.pointId, restored });
          else printLines(io, [`Restored recovery point ${point.pointId} (${point.createdAt}) of VM "${vmName}":`, ...restored.map((item) => `  ${item.disk} → ${item.path} (${formatSize(item.sizeBytes)})`)]);
        });
        return;
      }
      await openVmContext(options, io, vmName, async ({ vault, vm }) => {
        const point = await pickPoint(vault);
        const names = options.disk ?? point.disks.map((disk) => disk.name);
        const targets = names.map((name) => {
          const current = vm.disks.find((disk) => disk.name === name);
          if (!current) throw new BovedaError('DISK_NOT_FOUND', `VM "${vmName}" has no disk "${name}" to replace (its disks: ${vm.disks.map((disk) => disk.name).join(', ')})`);
          return { disk: name, path: current.path };
        });
        const replaced = await restoreInPlace(vault, point, targets, { signal: context.signal, onProgress });
        progress.done();
        if (options.json) printJsonLine(io, { event: 'completed', point: point.pointId, replaced });
        else printLines(io, [`Replaced the disks of VM "${vmName}" with recovery point ${point.pointId} (${point.createdAt}):`, ...replaced.map((item) => `  ${item.disk} (${item.path}): ${item.blocksWritten} of ${item.blocksChecked} blocks differed, ${formatSize(item.bytesWritten)} written`)]);
      });
    });
}
