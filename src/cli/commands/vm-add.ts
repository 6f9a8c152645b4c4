import type { Command } from 'commander';
import { isDiskRole, type DiskRole } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVmOptions, collect, diskLines, DISK_SPEC_SYNTAX, parseDiskSpec, parseScriptTimeout, vmJson, withVms, type VmCommandOptions } from './vm-options.js';

interface AddOptions extends VmCommandOptions {
  disk: string[];
  preScript?: string;
  postScript?: string;
  scriptTimeout?: string;
  notes?: string;
  qemuQmp?: string;
  qga?: string;
  diskRole: string[];
  exclude: string[];
}

/** `--disk-role QDEV_OR_NODE=ROLE` flags as a map (the remote CLI sends it as the API's diskRoles). */
export function parseDiskRoles(specs: readonly string[]): Map<string, DiskRole> {
  const roles = new Map<string, DiskRole>();
  for (const spec of specs) {
    const equals = spec.lastIndexOf('=');
    const role = spec.slice(equals + 1);
    if (equals <= 0 || !isDiskRole(role)) throw new BovedaError('INVALID_ARGUMENT', `invalid --disk-role "${spec}" (expected QDEV_OR_NODE=os|data|temp)`);
    roles.set(spec.slice(0, equals), role);
  }
  return roles;
}

export function registerVmAdd(vm: Command, context: CommandContext): void {
  addVmOptions(vm.command('add').argument('<name>', 'the VM\'s name (letters, digits, ".", "_", "-"; up to 64)')
    .description('define a VM to protect: its disks (raw image files or block devices) and optional scripts'))
    .option('--disk <spec>', `a disk: ${DISK_SPEC_SYNTAX}; repeat for each disk. Role defaults to os for the first disk and data for the others; temp disks are never backed up. Name defaults to disk0, disk1, …`, collect, [])
    .option('--pre-script <cmd>', 'shell command run before the disks are read (e.g. to freeze file systems)')
    .option('--post-script <cmd>', 'shell command run after the disks are read, also when the backup failed')
    .option('--script-timeout <seconds>', 'kill a script that runs longer than this (default 300)')
    .option('--notes <text>', 'free text kept with the definition')
    .option('--qemu-qmp <socket>', 'a running QEMU VM: the unix socket of a QMP monitor for Boveda (-chardev socket,id=qmp-backup,path=SOCKET,server=on,wait=off -mon chardev=qmp-backup,mode=control); its disks are discovered')
    .option('--qga <socket>', 'with --qemu-qmp: the guest agent\'s socket (file-system-consistent points by freezing)')
    .option('--disk-role <qdev-or-node=role>', 'with --qemu-qmp: the role of a discovered disk (by qdev path, device id such as vda, or node name); repeatable', collect, [])
    .option('--exclude <qdev-or-node>', 'with --qemu-qmp: never back up this disk (stored as temp); repeatable', collect, [])
    .action(async (name: string, options: AddOptions) => {
      const { io } = context;
      const scriptTimeoutSeconds = options.scriptTimeout === undefined ? undefined : parseScriptTimeout(options.scriptTimeout);
      let vm;
      if (options.qemuQmp !== undefined) {
        if (options.disk.length > 0) throw new BovedaError('INVALID_ARGUMENT', '--disk and --qemu-qmp exclude each other: a QEMU VM\'s disks are discovered over QMP');
        const roles = parseDiskRoles(options.diskRole);
        const qmpSocket = options.qemuQmp;
        vm = await withVms(options, io, (service) => service.addQemuVm({
          name, qmpSocket, guestAgentSocket: options.qga ?? null, roles, exclude: options.exclude,
          preScript: options.preScript, postScript: options.postScript, scriptTimeoutSeconds, notes: options.notes,
        }));
      } else {
        if (options.qga !== undefined || options.diskRole.length > 0 || options.exclude.length > 0) {
          throw new BovedaError('INVALID_ARGUMENT', '--qga, --disk-role and --exclude need --qemu-qmp');
        }
        const disks = options.disk.map((spec) => parseDiskSpec(spec));
        vm = await withVms(options, io, (service) => service.addVm({
          name, disks, preScript: options.preScript, postScript: options.postScript, scriptTimeoutSeconds, notes: options.notes,
        }));
      }
      if (options.json) return printJson(io, vmJson(vm));
      printLines(io, [`Added ${vm.qemu ? 'QEMU ' : ''}VM ${vm.name} with ${vm.disks.length} disk${vm.disks.length === 1 ? '' : 's'}:`, ...diskLines(vm)]);
    });
}
