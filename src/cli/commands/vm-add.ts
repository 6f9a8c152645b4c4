import type { Command } from 'commander';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVmOptions, collect, diskLines, DISK_SPEC_SYNTAX, parseDiskSpec, parseScriptTimeout, vmJson, withVms, type VmCommandOptions } from './vm-options.js';

interface AddOptions extends VmCommandOptions {
  disk: string[];
  preScript?: string;
  postScript?: string;
  scriptTimeout?: string;
  notes?: string;
}

export function registerVmAdd(vm: Command, context: CommandContext): void {
  addVmOptions(vm.command('add').argument('<name>', 'the VM\'s name (letters, digits, ".", "_", "-"; up to 64)')
    .description('define a VM to protect: its disks (raw image files or block devices) and optional scripts'))
    .option('--disk <spec>', `a disk: ${DISK_SPEC_SYNTAX}; repeat for each disk. Role defaults to os for the first disk and data for the others; temp disks are never backed up. Name defaults to disk0, disk1, …`, collect, [])
    .option('--pre-script <cmd>', 'shell command run before the disks are read (e.g. to freeze file systems)')
    .option('--post-script <cmd>', 'shell command run after the disks are read, also when the backup failed')
    .option('--script-timeout <seconds>', 'kill a script that runs longer than this (default 300)')
    .option('--notes <text>', 'free text kept with the definition')
    .action(async (name: string, options: AddOptions) => {
      const { io } = context;
      const disks = options.disk.map((spec) => parseDiskSpec(spec));
      const scriptTimeoutSeconds = options.scriptTimeout === undefined ? undefined : parseScriptTimeout(options.scriptTimeout);
      const vm = await withVms(options, io, (service) => service.addVm({
        name, disks, preScript: options.preScript, postScript: options.postScript, scriptTimeoutSeconds, notes: options.notes,
      }));
      if (options.json) return printJson(io, vmJson(vm));
      printLines(io, [`Added VM ${vm.name} with ${vm.disks.length} disk${vm.disks.length === 1 ? '' : 's'}:`, ...diskLines(vm)]);
    });
}
