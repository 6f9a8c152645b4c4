import type { Command } from 'commander';
import { latestPoint, readPoint, resolvePointId, restoreInPlace, restoreToDirectory, runNewJob, type PointManifest, type ReplacedDisk, type RestoredDisk } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJsonLine, printLines } from '../io.js';
import { ProgressReporter } from '../progress.js';
import { addDataOptions, type DataCommandOptions } from '../data-options.js';
import { withApp } from '../app-options.js';

interface RestoreOutcome {
  point: PointManifest;
  restored: RestoredDisk[] | undefined;
  replaced: ReplacedDisk[] | undefined;
}

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
      const pickPoint = async (vault: Parameters<typeof readPoint>[0]) => {
        if (options.point) {
          const point = await readPoint(vault, await resolvePointId(vault, options.point));
          if (point.subject !== vmName) throw new BovedaError('INVALID_ARGUMENT', `recovery point ${point.pointId} belongs to VM "${point.subject}", not "${vmName}"`);
          return point;
        }
        const latest = await latestPoint(vault, vmName);
        if (!latest) throw new BovedaError('POINT_NOT_FOUND', `VM "${vmName}" has no recovery points`);
        return latest;
      };
      const to = options.to;
      const outcome = await withApp(options, io, async (app) => {
        // For --replace the VM must be defined (its disk paths); checked before any passphrase prompt.
        const vm = to === undefined ? await app.catalog.vms.get(vmName) : undefined;
        // As in the seeds: soft-deleted data is restorable only after undelete.
        const item = await app.catalog.items.find(vmName);
        if (item?.state === 'soft-deleted') {
          throw new BovedaError('INVALID_STATE', `VM ${vmName} is soft-deleted (until ${item.purgeAfter}): "boveda undelete ${vmName}" first, then restore`, { details: { state: item.state } });
        }
        const run = await runNewJob<RestoreOutcome>(app.catalog, { type: 'restore', item: vmName, trigger: 'on-demand' }, async (job) => {
          const vault = await app.vault();
          const point = await pickPoint(vault);
          const report = (disk: string, bytesDone: number, bytesTotal: number) => {
            progress.update(disk, bytesDone, bytesTotal);
            totals.set(disk, [bytesDone, bytesTotal]);
            let done = 0;
            let total = 0;
            for (const [d, t] of totals.values()) {
              done += d;
              total += t;
            }
            job.progress(done, total);
          };
          const totals = new Map<string, [number, number]>();
          const onJobProgress = ({ disk, bytesDone, bytesTotal }: { disk: string; bytesDone: number; bytesTotal: number }) => report(disk, bytesDone, bytesTotal);
          if (to !== undefined) {
            // From the vault alone: works for a VM whose definition (or disks) are gone.
            const restored = await restoreToDirectory(vault, point, to, { disks: options.disk, force: options.force === true, signal: job.signal, onProgress: onJobProgress });
            return { value: { point, restored, replaced: undefined }, result: { pointId: point.pointId, mode: 'new-images', directory: to, disks: restored.map((item) => item.disk) } };
          }
          const names = options.disk ?? point.disks.map((disk) => disk.name);
          const targets = names.map((name) => {
            const current = vm!.disks.find((disk) => disk.name === name);
            if (!current) throw new BovedaError('DISK_NOT_FOUND', `VM "${vmName}" has no disk "${name}" to replace (its disks: ${vm!.disks.map((disk) => disk.name).join(', ')})`);
            return { disk: name, path: current.path };
          });
          const replaced = await restoreInPlace(vault, point, targets, { signal: job.signal, onProgress: onJobProgress });
          return { value: { point, restored: undefined, replaced }, result: { pointId: point.pointId, mode: 'replace', disks: replaced.map((item) => item.disk), bytesWritten: replaced.reduce((sum, item) => sum + item.bytesWritten, 0) } };
        }, { signal: context.signal });
        if (run.error) throw run.error;
        return { ...run.value!, jobId: run.job.id };
      });
      progress.done();
      const { point, restored, replaced, jobId } = outcome;
      if (restored) {
        if (options.json) printJsonLine(io, { event: 'completed', job: jobId, point: point.pointId, restored });
        else printLines(io, [`Restored recovery point ${point.pointId} (${point.createdAt}) of VM "${vmName}" (job ${jobId}):`, ...restored.map((item) => `  ${item.disk} → ${item.path} (${formatSize(item.sizeBytes)})`)]);
        return;
      }
      if (options.json) printJsonLine(io, { event: 'completed', job: jobId, point: point.pointId, replaced });
      else printLines(io, [`Replaced the disks of VM "${vmName}" with recovery point ${point.pointId} (${point.createdAt}) (job ${jobId}):`, ...replaced!.map((item) => `  ${item.disk} (${item.path}): ${item.blocksWritten} of ${item.blocksChecked} blocks differed, ${formatSize(item.bytesWritten)} written`)]);
    });
}
