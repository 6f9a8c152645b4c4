import type { Command } from 'commander';
import { PRICE_TABLE_SETTING, SOFT_DELETE_SETTING, setSoftDelete } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { addAppOptions, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { readPriceTable } from './usage.js';

export function registerSettings(program: Command, context: CommandContext): void {
  const { io } = context;
  const settings = program.command('settings').description('vault-wide settings kept in the catalog');
  addAppOptions(settings.command('show').description('show the settings'))
    .action(async (options: AppCommandOptions) => {
      const values = await withApp(options, io, async (app) => ({
        softDelete: await app.catalog.settings.get(SOFT_DELETE_SETTING, true),
        priceTable: await app.catalog.settings.get(PRICE_TABLE_SETTING, null),
      }));
      if (options.json) return printJson(io, values);
      printLines(io, [`soft delete: ${values.softDelete ? 'on (deleted data kept 14 days)' : 'OFF (deleted data is gone at once)'}`, `price table: ${values.priceTable ? JSON.stringify(values.priceTable) : 'none'}`]);
    });
  addAppOptions(settings.command('soft-delete').argument('<on|off>', 'on or off').description('turn soft delete on or off (off needs --confirm-permanent-deletion)'))
    .option('--confirm-permanent-deletion', 'confirm that with soft delete off, deleted backup data cannot be recovered')
    .action(async (value: string, options: AppCommandOptions & { confirmPermanentDeletion?: boolean }) => {
      if (value !== 'on' && value !== 'off') throw new BovedaError('INVALID_ARGUMENT', `soft-delete "${value}": expected on or off`);
      await withApp(options, io, (app) => setSoftDelete(app, value === 'on', options.confirmPermanentDeletion === true));
      if (options.json) return printJson(io, { softDelete: value === 'on' });
      printLines(io, [`Soft delete is ${value}.`]);
    });
  addAppOptions(settings.command('price-table').argument('[file]', 'price table JSON').description('store the price table "boveda usage" estimates costs with'))
    .option('--clear', 'remove the stored price table')
    .action(async (file: string | undefined, options: AppCommandOptions & { clear?: boolean }) => {
      if ((file === undefined) === !options.clear) throw new BovedaError('INVALID_ARGUMENT', 'give a price table file or --clear');
      const table = file === undefined ? null : await readPriceTable(file);
      await withApp(options, io, async (app) => {
        if (table === null) await app.catalog.settings.remove(PRICE_TABLE_SETTING);
        else await app.catalog.settings.set(PRICE_TABLE_SETTING, table);
      });
      if (options.json) return printJson(io, { priceTable: table });
      printLines(io, [table === null ? 'Price table removed.' : `Price table stored (${table.currency}).`]);
    });
}
