import type { Command } from 'commander';
import type { VmRecord } from '../../app/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVmOptions, vmJson, withVms, type VmCommandOptions } from './vm-options.js';

export function registerVmList(vm: Command, context: CommandContext): void {
  addVmOptions(vm.command('list').description('list the defined VMs')).action(async (options: VmCommandOptions) => {
    const { io } = context;
    const vms = await withVms(options, io, (service) => service.listVms());
    if (options.json) return printJson(io, { vms: vms.map(vmJson) });
    printLines(io, vmListLines(vms));
  });
}

/** The text of `vm list` (also its remote form). */
export function vmListLines(vms: VmRecord[]): string[] {
  if (vms.length === 0) return ['No VMs defined (add one with "boveda vm add NAME --disk PATH").'];
  const width = Math.max(4, ...vms.map((entry) => entry.name.length));
  return [`${'NAME'.padEnd(width)}  CREATED (UTC)             SCRIPTS    DISKS`, ...vms.map((entry) => {
    const scripts = [entry.preScript === null ? '' : 'pre', entry.postScript === null ? '' : 'post'].filter(Boolean).join('+') || '-';
    return `${entry.name.padEnd(width)}  ${entry.createdAt.padEnd(24)}  ${scripts.padEnd(9)}  ${entry.disks.map((disk) => `${disk.name} (${disk.role})`).join(', ')}`;
  })];
}
