import type { Command } from 'commander';
import {
  progressLabel, runRestoreJob, shellQuote, type ImageFormat, type KvmMode, type PointManifest, type RestoredVm, type RestoreTarget,
} from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJsonLine, printLines } from '../io.js';
import { ProgressReporter } from '../progress.js';
import { addDataOptions, type DataCommandOptions } from '../data-options.js';
import { withApp } from '../app-options.js';

interface RestoreCliOptions extends DataCommandOptions {
  point?: string;
  disk?: string[];
  to?: string;
  replace?: boolean;
  force?: boolean;
  format?: string;
  asVm?: string;
  memory?: string;
  cpus?: string;
  kvm?: string;
}

export { progressLabel };

export function imageFormat(value: string | undefined, fallback: ImageFormat): ImageFormat {
  if (value === undefined) return fallback;
  if (value !== 'raw' && value !== 'qcow2') throw new BovedaError('INVALID_ARGUMENT', `--format ${JSON.stringify(value)}: use raw or qcow2`);
  return value;
}

function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new BovedaError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(value)}: give a whole number`);
  return Number(value);
}

function kvmMode(value: string | undefined): KvmMode | undefined {
  if (value === undefined || value === 'auto' || value === 'on' || value === 'off') return value;
  throw new BovedaError('INVALID_ARGUMENT', `--kvm ${JSON.stringify(value)}: use auto, on or off`);
}

/**
 * The new VM of `--as-vm NAME [--memory] [--cpus] [--kvm]` (undefined without --as-vm), with the
 * flags' own checks: local and remote restores read them the same way.
 */
export function newVmFlags(options: Pick<RestoreCliOptions, 'asVm' | 'memory' | 'cpus' | 'kvm' | 'disk'>): { name: string; memoryMiB?: number; cpus?: number; kvm?: KvmMode } | undefined {
  if (options.asVm === undefined && (options.memory !== undefined || options.cpus !== undefined || options.kvm !== undefined)) {
    throw new BovedaError('INVALID_ARGUMENT', '--memory, --cpus and --kvm go with --as-vm NAME');
  }
  if (options.asVm === undefined) return undefined;
  if (options.disk !== undefined) throw new BovedaError('INVALID_ARGUMENT', '--as-vm restores every disk of the point: leave out --disk');
  return { name: options.asVm, memoryMiB: wholeNumber('--memory', options.memory), cpus: wholeNumber('--cpus', options.cpus), kvm: kvmMode(options.kvm) };
}

export function registerRestore(program: Command, context: CommandContext): void {
  addDataOptions(program.command('restore').argument('<vm>', 'the VM whose point to restore')
    .description('restore a recovery point (default: the latest) to new sparse images, as a new VM (images + QEMU script + libvirt XML), or --replace the VM\'s own disks in place'))
    .option('--point <id>', 'recovery point id or unique prefix (default: the latest)')
    .option('--disk <name...>', 'only these disks')
    .option('--to <dir>', 'write <dir>/<disk>.img (new sparse raw images) or <dir>/<disk>.qcow2 (--format qcow2)')
    .option('--format <format>', 'with --to: raw (default; qcow2 with --as-vm) or qcow2 (needs qemu-img)')
    .option('--as-vm <name>', 'with --to: restore every disk as a new VM: images, <dir>/<name>.qemu.sh (QEMU command line) and <dir>/<name>.libvirt.xml')
    .option('--memory <MiB>', 'with --as-vm: the new VM\'s memory in MiB (default 2048)')
    .option('--cpus <n>', 'with --as-vm: the new VM\'s virtual CPUs (default 2)')
    .option('--kvm <mode>', 'with --as-vm: auto (KVM when /dev/kvm is usable where the script runs; default), on or off')
    .option('--force', 'with --to: overwrite existing image (and VM definition) files')
    .option('--replace', 'rewrite the VM\'s own disks in place, writing only the blocks that differ (stop the VM first)')
    .action(async (vmName: string, options: RestoreCliOptions) => {
      const { io } = context;
      if ((options.to === undefined) === (options.replace !== true)) throw new BovedaError('INVALID_ARGUMENT', 'give exactly one of --to DIR or --replace');
      if (options.replace && options.format !== undefined) throw new BovedaError('INVALID_ARGUMENT', '--format goes with --to, not --replace (which keeps the disks\' own format)');
      const asVm = newVmFlags(options);
      const format = imageFormat(options.format, asVm === undefined ? 'raw' : 'qcow2');
      const progress = new ProgressReporter(io, options.json === true);
      const to = options.to;
      const target: RestoreTarget = to === undefined ? { kind: 'replace' } : { kind: 'directory', path: to, format, force: options.force === true, asVm };
      const outcome = await withApp(options, io, async (app) => {
        const run = await runRestoreJob(app, { vmName, point: options.point, disks: options.disk, target }, {
          signal: context.signal, onProgress: (label, bytesDone, bytesTotal) => progress.update(label, bytesDone, bytesTotal),
        });
        if (run.error) throw run.error;
        return { ...run.value!, jobId: run.job.id };
      });
      progress.done();
      const { point, restored, replaced, newVm, definitionKnown, jobId } = outcome;
      if (newVm) {
        if (options.json) printJsonLine(io, { event: 'completed', job: jobId, point: point.pointId, restored: newVm.disks, vm: newVm });
        else printLines(io, newVmLines(vmName, point, newVm, definitionKnown === true, jobId));
        return;
      }
      if (restored) {
        if (options.json) printJsonLine(io, { event: 'completed', job: jobId, point: point.pointId, restored });
        else printLines(io, [`Restored recovery point ${point.pointId} (${point.createdAt}) of VM "${vmName}" (job ${jobId}):`, ...restored.map((item) => `  ${item.disk} → ${item.path} (${formatSize(item.sizeBytes)})`)]);
        return;
      }
      if (options.json) printJsonLine(io, { event: 'completed', job: jobId, point: point.pointId, replaced });
      else printLines(io, [`Replaced the disks of VM "${vmName}" with recovery point ${point.pointId} (${point.createdAt}) (job ${jobId}):`, ...replaced!.map((item) => `  ${item.disk} (${item.path}): ${item.blocksWritten} of ${item.blocksChecked} blocks differed, ${formatSize(item.bytesWritten)} written`)]);
    });
}

function newVmLines(vmName: string, point: PointManifest, vm: RestoredVm, definitionKnown: boolean, jobId: string): string[] {
  const lines = [
    `Restored recovery point ${point.pointId} (${point.createdAt}) of VM "${vmName}" as new VM ${JSON.stringify(vm.name)} (job ${jobId}):`,
    ...vm.disks.map((disk) => `  ${disk.device} ${disk.disk} (${disk.role}) → ${disk.path} (${disk.format}, ${formatSize(disk.sizeBytes)})`),
    `Start it with QEMU (${vm.memoryMiB} MiB, ${vm.cpus} CPUs, KVM ${vm.kvm}; QMP socket ${vm.qmpSocket}):`,
    `  ${shellQuote(vm.script)}`,
    'Or define it in libvirt (add a network interface if it needs one):',
    `  virsh define ${shellQuote(vm.libvirtXml)} && virsh start ${shellQuote(vm.name)}`,
  ];
  if (vm.tempDisks.length > 0) {
    const one = vm.tempDisks.length === 1;
    lines.push(`Temp disk${one ? '' : 's'} ${vm.tempDisks.join(', ')} ${one ? 'was' : 'were'} not restored (temp disks are never backed up): if the VM needs ${one ? 'it' : 'them'}, create ${one ? 'it' : 'them'} empty (qemu-img create -f qcow2 FILE SIZE) and add ${one ? 'it' : 'them'} to the script and the XML.`);
  } else if (!definitionKnown) {
    lines.push(`VM "${vmName}" is no longer defined, so its temp disks (never backed up) are unknown: if it had one the guest needs, create it empty and add it.`);
  }
  return lines;
}
