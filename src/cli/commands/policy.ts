import type { Command } from 'commander';
import { createPolicy, updatePolicy } from '../../app/index.js';
import { defaultPolicy, describeRetention, describeSchedule, type PolicyDefinition, type PolicyRecord } from '../../core/index.js';
import { addAppOptions, addNowOption, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addPolicyFlags, applyPolicyFlags, withFlagName, type PolicyFlags } from '../policy-flags.js';
import { cleanupLines } from './cleanup.js';

type PolicyOptions = AppCommandOptions & PolicyFlags & { dryRun?: boolean };

/** A policy as `policy show --json` and `policy list --json` print it. */
export function policyJson(policy: PolicyRecord | PolicyDefinition, usedBy?: string[]) {
  return { ...policy, summary: { schedule: describeSchedule(policy.schedule), retention: describeRetention(policy.retention) }, ...(usedBy ? { usedBy } : {}) };
}

export function policyLines(policy: PolicyRecord | PolicyDefinition, usedBy: string[]): string[] {
  return [
    `Policy ${policy.name}${policy.description ? ` — ${policy.description}` : ''}`,
    `  schedule:  ${describeSchedule(policy.schedule)}`,
    `  retention: ${describeRetention(policy.retention)}`,
    `  instant restore snapshots: ${policy.instantRestoreDays} day(s)`,
    `  protects:  ${usedBy.length === 0 ? 'no VM' : usedBy.join(', ')}`,
  ];
}

export function registerPolicy(program: Command, context: CommandContext): void {
  const policy = program.command('policy').description('backup policies: when VMs are backed up and how long their points are kept');
  const { io } = context;

  addPolicyFlags(addAppOptions(policy.command('create').argument('<name>', 'policy name')
    .description('create a policy (defaults: daily at 02:00 UTC; daily points 30 days, weekly 12 weeks, monthly 12 months; instant restore 2 days)')))
    .action(async (name: string, options: PolicyOptions) => {
      const created = await withApp(options, io, (app) => createPolicy(app, applyPolicyFlags(defaultPolicy(name), options)))
        .catch((error: unknown) => { throw withFlagName(error); });
      if (options.json) return printJson(io, policyJson(created, []));
      printLines(io, ['Created:', ...policyLines(created, [])]);
    });

  addAppOptions(policy.command('show').argument('<name>', 'policy name').description('show a policy and the VMs it protects'))
    .action(async (name: string, options: AppCommandOptions) => {
      const [found, usedBy] = await withApp(options, io, async (app) => [await app.catalog.policies.get(name), await app.catalog.policies.itemsUsing(name)] as const);
      if (options.json) return printJson(io, policyJson(found, usedBy));
      printLines(io, policyLines(found, usedBy));
    });

  addAppOptions(policy.command('list').description('list the policies'))
    .action(async (options: AppCommandOptions) => {
      const rows = await withApp(options, io, async (app) => Promise.all((await app.catalog.policies.list()).map(async (entry) => ({ entry, usedBy: await app.catalog.policies.itemsUsing(entry.name) }))));
      if (options.json) return printJson(io, { policies: rows.map(({ entry, usedBy }) => policyJson(entry, usedBy)) });
      if (rows.length === 0) return printLines(io, ['No policies (create one with "boveda policy create NAME").']);
      printLines(io, rows.flatMap(({ entry, usedBy }) => [...policyLines(entry, usedBy), '']).slice(0, -1));
    });

  addNowOption(addPolicyFlags(addAppOptions(policy.command('update').argument('<name>', 'policy name')
    .description('change a policy; existing points follow the new retention at the next cleanup')))
    .option('--dry-run', 'change nothing: show what the next cleanup would remove under the new policy and the bytes it would free'))
    .action(async (name: string, options: PolicyOptions) => {
      const outcome = await withApp(options, io, async (app) => {
        const current = await app.catalog.policies.get(name);
        return updatePolicy(app, applyPolicyFlags(current, options), { dryRun: options.dryRun, signal: context.signal });
      }).catch((error: unknown) => { throw withFlagName(error); });
      if (options.json) return printJson(io, { policy: policyJson(outcome.policy), preview: outcome.preview });
      const lines = [options.dryRun ? 'Would change to (dry run, nothing changed):' : 'Updated:', ...policyLines(outcome.policy, outcome.preview?.vms.map((vm) => vm.vmName) ?? [])];
      if (outcome.preview) lines.push('', ...cleanupLines(outcome.preview));
      printLines(io, lines);
    });

  addAppOptions(policy.command('delete').argument('<name>', 'policy name').description('delete a policy that protects no VM'))
    .action(async (name: string, options: AppCommandOptions) => {
      const deleted = await withApp(options, io, (app) => app.catalog.policies.delete(name));
      if (options.json) return printJson(io, { deleted: deleted.name });
      printLines(io, [`Deleted policy ${deleted.name}.`]);
    });
}
