import type { Command } from 'commander';
import type { VmService } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVmOptions, vmJson, withVms, type VmCommandOptions } from './vm-options.js';

type VmStatus = Awaited<ReturnType<VmService['describeVm']>>;

export function registerVmShow(vm: Command, context: CommandContext): void {
  addVmOptions(vm.command('show').argument('<name>', 'the VM').description('show a VM\'s definition and the current state of its disks'))
    .action(async (name: string, options: VmCommandOptions) => {
      const { io } = context;
      const { vm: record, disks, qemu } = await withVms(options, io, (service) => service.describeVm(name));
      if (options.json) {
        return printJson(io, {
          ...vmJson(record),
          ...(qemu ? { qemuStatus: qemu } : {}),
          disks: disks.map((disk) => ({
            name: disk.name, path: disk.path, role: disk.role, backedUp: disk.backedUp, exists: disk.exists,
            kind: disk.kind, sizeBytes: disk.sizeBytes, readable: disk.readable, problem: disk.problem,
          })),
        });
      }
      printLines(io, vmShowLines(record, disks, qemu));
    });
}

/** The text of `vm show` (also its remote form). */
export function vmShowLines(record: VmStatus['vm'], disks: VmStatus['disks'], qemu: VmStatus['qemu']): string[] {
  const nameWidth = Math.max(4, ...disks.map((disk) => disk.name.length));
  return [
    `VM ${record.name}`,
    `  created         ${record.createdAt}`,
    `  updated         ${record.updatedAt}`,
    `  pre-script      ${record.preScript ?? '-'}`,
    `  post-script     ${record.postScript ?? '-'}`,
    `  script timeout  ${record.scriptTimeoutSeconds} s`,
    ...(record.qemu ? [
      `  QEMU VM         QMP ${record.qemu.qmpSocket}: ${qemu?.reachable ? `reachable (${qemu.status ?? '?'})` : `not reachable (${qemu?.problem ?? '?'})`}`,
      `  guest agent     ${record.qemu.guestAgentSocket ?? '-'}`,
    ] : []),
    ...(record.notes === null ? [] : [`  notes           ${record.notes}`]),
    '',
    `  ${'DISK'.padEnd(nameWidth)}  ROLE  SIZE        STATE    PATH`,
    ...disks.map((disk) => {
      const state = !disk.exists ? 'missing' : disk.problem !== null ? 'problem' : 'ok';
      const size = disk.sizeBytes === null ? '?' : formatSize(disk.sizeBytes);
      const notes = [disk.role === 'temp' ? 'never backed up' : '', disk.kind === 'block-device' ? 'block device' : '', disk.exists ? disk.problem ?? '' : ''].filter(Boolean);
      return `  ${disk.name.padEnd(nameWidth)}  ${disk.role.padEnd(4)}  ${size.padEnd(10)}  ${state.padEnd(7)}  ${disk.path}${notes.length ? `  (${notes.join('; ')})` : ''}`;
    }),
  ];
}
