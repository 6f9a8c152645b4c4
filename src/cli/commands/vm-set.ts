import type { Command } from 'commander';
import { BovedaError } from '../../core/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVmOptions, collect, diskLines, DISK_SPEC_SYNTAX, parseDiskSpec, parseScriptTimeout, vmJson, withVms, type VmCommandOptions } from './vm-options.js';

interface SetOptions extends VmCommandOptions {
  preScript?: string | false;
  postScript?: string | false;
  scriptTimeout?: string;
  notes?: string | false;
  addDisk: string[];
  removeDisk: string[];
}

export function registerVmSet(vm: Command, context: CommandContext): void {
  addVmOptions(vm.command('set').argument('<name>', 'the VM').description('change a VM: scripts, script timeout, notes, disks (removals first, then additions)'))
    .option('--pre-script <cmd>', 'set the pre-script')
    .option('--no-pre-script', 'remove the pre-script')
    .option('--post-script <cmd>', 'set the post-script')
    .option('--no-post-script', 'remove the post-script')
    .option('--script-timeout <seconds>', 'kill a script that runs longer than this')
    .option('--notes <text>', 'set the notes')
    .option('--no-notes', 'remove the notes')
    .option('--add-disk <spec>', `add a disk: ${DISK_SPEC_SYNTAX}; repeatable`, collect, [])
    .option('--remove-disk <disk>', 'remove the disk of this name (see "vm show"); repeatable', collect, [])
    .action(async (name: string, options: SetOptions) => {
      const { io } = context;
      const addDisks = options.addDisk.map((spec) => parseDiskSpec(spec, '--add-disk'));
      const changes = {
        preScript: options.preScript === false ? null : options.preScript,
        postScript: options.postScript === false ? null : options.postScript,
        notes: options.notes === false ? null : options.notes,
        scriptTimeoutSeconds: options.scriptTimeout === undefined ? undefined : parseScriptTimeout(options.scriptTimeout),
        addDisks,
        removeDisks: options.removeDisk,
      };
      if (Object.values(changes).every((value) => value === undefined || (Array.isArray(value) && value.length === 0))) {
        throw new BovedaError('INVALID_ARGUMENT', 'nothing to change: give --pre-script, --post-script, --script-timeout, --notes, --add-disk or --remove-disk (or their --no- forms)');
      }
      const updated = await withVms(options, io, (service) => service.updateVm(name, changes));
      if (options.json) return printJson(io, vmJson(updated));
      printLines(io, [`Updated VM ${updated.name}; disks now:`, ...diskLines(updated)]);
    });
}
