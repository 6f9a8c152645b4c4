import type { Command } from 'commander';
import { rebuildCatalogPoints } from '../../app/index.js';
import { addAppOptions, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';

export function registerCatalogRebuild(program: Command, context: CommandContext): void {
  const catalog = program.command('catalog').description('the catalog database of the data directory');
  addAppOptions(catalog.command('rebuild').description('recreate the recovery points of the catalog from the vault alone (policies, items and jobs are kept)'))
    .action(async (options: AppCommandOptions) => {
      const { io } = context;
      const report = await withApp(options, io, (app) => rebuildCatalogPoints(app, context.signal));
      if (options.json) return printJson(io, report);
      printLines(io, [`Catalog rebuilt from the vault: ${report.points} point(s) of ${report.vms.length} VM(s) (${report.added} added, ${report.removed} removed).`]);
    });
}
