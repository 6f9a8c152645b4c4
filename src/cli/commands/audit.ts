import type { Command } from 'commander';
import type { AuditEntry } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { withApp } from '../app-options.js';
import { addCatalogOnlyOptions, type CatalogCommandOptions } from '../catalog-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';

type AuditOptions = CatalogCommandOptions & { limit?: string; action?: string; target?: string; before?: string };

export function registerAudit(program: Command, context: CommandContext): void {
  const { io } = context;
  addCatalogOnlyOptions(program.command('audit').description('show the audit log, newest first: who did what, from where, when, and how it ended'))
    .option('--limit <n>', 'at most N entries (1 to 10000; default 100)')
    .option('--action <action>', 'only this action (e.g. user.add, session.login, protection.delete-data)')
    .option('--target <target>', 'only entries about this object (e.g. user:alice, vm:web)')
    .option('--before <id>', 'only entries older than the one with this id (paging)')
    .action(async (options: AuditOptions) => {
      const limit = wholeNumber(options.limit, '--limit', 1, 10_000);
      const beforeId = wholeNumber(options.before, '--before', 1, Number.MAX_SAFE_INTEGER);
      const entries = await withApp(options, io, (app) => app.catalog.audit.list({ limit, beforeId, action: options.action, target: options.target }));
      if (options.json) return printJson(io, { entries });
      if (entries.length === 0) return printLines(io, ['No audit entries match.']);
      printLines(io, auditLines(entries));
    });
}

export function wholeNumber(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new BovedaError('INVALID_ARGUMENT', `${flag} "${text}": expected a whole number from ${min} to ${max}`);
  return value;
}

export function auditLines(entries: AuditEntry[]): string[] {
  const userWidth = Math.max(4, ...entries.map((entry) => entry.userName.length));
  const actionWidth = Math.max(6, ...entries.map((entry) => entry.action.length));
  return [
    `ID      TIME (UTC)                ${'USER'.padEnd(userWidth)}  SOURCE           ${'ACTION'.padEnd(actionWidth)}  OUTCOME    TARGET / DETAILS`,
    ...entries.map((entry) => [
      String(entry.id).padEnd(6), entry.time.padEnd(24), entry.userName.padEnd(userWidth), entry.source.padEnd(15), entry.action.padEnd(actionWidth),
      entry.outcome.padEnd(9), `${entry.target ?? '-'}${entry.details ? ` ${JSON.stringify(entry.details)}` : ''}`,
    ].join('  ')),
  ];
}
