import type { Command } from 'commander';
import {
  deleteProtectedData, protectVm, resumeProtection, stopProtectionRetainingData, undeleteProtection,
  type AppContext, type ProtectedItemRecord,
} from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { addAppOptions, addNowOption, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';

export function itemLine(item: ProtectedItemRecord): string {
  const parts = [`VM ${item.vmName}: ${item.state}`];
  if (item.policyName) parts.push(`policy ${item.policyName}`);
  if (item.state === 'soft-deleted') parts.push(`soft-deleted ${item.softDeletedAt}, restorable with "boveda undelete ${item.vmName}" until ${item.purgeAfter} (UTC), not billed meanwhile`);
  if (item.state === 'stopped-retain') parts.push('no more backups; every point kept (and billed) until the data is deleted; "boveda resume" restarts backups');
  return parts.join('; ');
}

/** One command per lifecycle move; each prints the item after (or --json). */
function lifecycleCommand(
  program: Command, context: CommandContext, name: string, description: string,
  run: (app: AppContext, vmName: string, options: Record<string, unknown>) => Promise<{ item: ProtectedItemRecord | null; note?: string }>,
  extra: (command: Command) => Command = (command) => command,
): void {
  extra(addNowOption(addAppOptions(program.command(name).argument('<vm>', 'VM name').description(description))))
    .action(async (vmName: string, options: AppCommandOptions & Record<string, unknown>) => {
      const { io } = context;
      const { item, note } = await withApp(options, io, (app) => run(app, vmName, options));
      if (options.json) return printJson(io, { item, note: note ?? null });
      printLines(io, [item ? itemLine(item) : `VM ${vmName}: no protected item`, ...(note ? [note] : [])]);
    });
}

export function registerProtection(program: Command, context: CommandContext): void {
  lifecycleCommand(program, context, 'protect', 'protect a VM with a policy: scheduled backups and retention start',
    async (app, vmName, options) => ({ item: await protectVm(app, vmName, options.policy as string) }),
    (command) => command.requiredOption('--policy <name>', 'the backup policy'));

  lifecycleCommand(program, context, 'stop-protection', 'stop backups of a VM, keeping its points (--retain-data) or deleting them (--delete-data)',
    async (app, vmName, options) => {
      if (Boolean(options.retainData) === Boolean(options.deleteData)) {
        throw new BovedaError('INVALID_ARGUMENT', 'give exactly one of --retain-data and --delete-data');
      }
      if (options.retainData) return { item: await stopProtectionRetainingData(app, vmName) };
      const outcome = await deleteProtectedData(app, vmName, 'either');
      return { item: outcome.item, note: outcome.purged ? `soft delete is off: deleted ${outcome.removedPoints} point(s) at once` : undefined };
    },
    (command) => command
      .option('--retain-data', 'keep every recovery point forever (billed); resume later with "boveda resume"')
      .option('--delete-data', 'delete the points: soft-deleted for 14 days (restorable with "boveda undelete"), then purged'));

  lifecycleCommand(program, context, 'resume', 'resume backups of a VM stopped with retained data',
    async (app, vmName, options) => ({ item: await resumeProtection(app, vmName, options.policy as string | undefined) }),
    (command) => command.option('--policy <name>', 'resume under this policy (default: the one it had)'));

  lifecycleCommand(program, context, 'delete-data', 'delete the data of a VM stopped with retained data (soft delete applies)',
    async (app, vmName) => {
      const outcome = await deleteProtectedData(app, vmName, 'stopped-retain');
      return { item: outcome.item, note: outcome.purged ? `soft delete is off: deleted ${outcome.removedPoints} point(s) at once` : undefined };
    });

  lifecycleCommand(program, context, 'undelete', 'bring back a soft-deleted VM within its 14-day window (it comes back stopped, data retained)',
    async (app, vmName) => ({ item: await undeleteProtection(app, vmName), note: `resume backups with "boveda resume ${vmName}"` }));
}
