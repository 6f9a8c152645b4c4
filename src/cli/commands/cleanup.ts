import type { Command } from 'commander';
import { checkCleanupVms, runCleanup, runCleanupJob, type CleanupReport } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import { addAppOptions, addNowOption, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { collect } from './vm-options.js';

interface CleanupOptions extends AppCommandOptions {
  dryRun?: boolean;
  vm: string[];
}

/** The text report of a cleanup (or of its dry run, or of a policy change's preview). */
export function cleanupLines(report: CleanupReport): string[] {
  const verb = report.dryRun ? 'would remove' : 'removed';
  const lines = [`Cleanup at ${report.now}${report.dryRun ? ' (dry run: nothing changed)' : ''}`];
  for (const vm of report.vms) {
    const kept = Object.entries(vm.keptBy).map(([reason, count]) => `${count} ${reason}`).join(', ');
    const state = vm.state === null ? 'not protected' : `${vm.state}${vm.policyName ? `, policy ${vm.policyName}` : ''}`;
    lines.push(`  ${vm.vmName} (${state}): ${vm.points} point(s); ${verb} ${vm.remove.length}${vm.purge ? ' (purge after soft delete)' : ''}${kept ? `; kept: ${kept}` : ''}`);
    for (const point of vm.remove) lines.push(`    ${point.id}  ${point.createdAt}  ${point.trigger}: ${point.why}`);
  }
  if (report.vms.length === 0) lines.push('  no recovery points in the vault');
  lines.push(`  ${verb} ${report.removedPoints} point(s), ${report.dryRun ? 'would free' : 'freed'} ${formatSize(report.freedBytes)} of data (${formatSize(report.freedStoredBytes)} stored)`);
  for (const vmName of report.purgedItems) lines.push(`  ${report.dryRun ? 'would purge' : 'purged'} the soft-deleted item of ${vmName}`);
  if (report.gcDeferred) lines.push(`  note: ${report.gcDeferred}`);
  return lines;
}

export function registerCleanup(program: Command, context: CommandContext): void {
  addNowOption(addAppOptions(program.command('cleanup')
    .description('remove the recovery points retention no longer keeps, free their blocks (those later points still need stay) and purge soft-deleted items past their window')))
    .option('--dry-run', 'change nothing: show what would be removed and the bytes it would free')
    .option('--vm <name>', 'only this VM (repeatable)', collect, [])
    .action(async (options: CleanupOptions) => {
      const { io } = context;
      const report = await withApp(options, io, async (app) => {
        const vmNames = options.vm.length > 0 ? await checkCleanupVms(app, options.vm) : undefined;
        if (options.dryRun) return runCleanup(app, { dryRun: true, vmNames, signal: context.signal });
        const outcome = await runCleanupJob(app, 'on-demand', { vmNames, signal: context.signal });
        if (outcome.error) throw outcome.error;
        return { ...outcome.value!, jobId: outcome.job.id };
      });
      if (options.json) return printJson(io, report);
      printLines(io, cleanupLines(report));
    });
}
