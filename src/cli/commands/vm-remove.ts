import type { Command } from 'commander';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVmOptions, withVms, type VmCommandOptions } from './vm-options.js';

export function registerVmRemove(vm: Command, context: CommandContext): void {
  addVmOptions(vm.command('remove').argument('<name>', 'the VM').description('remove a VM\'s definition; its recovery points stay in the vault'))
    .action(async (name: string, options: VmCommandOptions) => {
      const { io } = context;
      const removed = await withVms(options, io, (service) => service.removeVm(name));
      if (options.json) return printJson(io, { removed: removed.name });
      printLines(io, [`Removed VM ${removed.name} (its recovery points stay in the vault)`]);
    });
}
