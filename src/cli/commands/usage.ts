import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { usageReport, type UsageReport } from '../../app/index.js';
import { BovedaError, checkPriceTable, type PriceTable } from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import { addAppOptions, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';

interface UsageOptions extends AppCommandOptions {
  prices?: string;
}

/** Reads and checks a price table JSON file; errors name the file and the field. */
export async function readPriceTable(path: string): Promise<PriceTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BovedaError('INVALID_ARGUMENT', `cannot read price table ${path}: ${(error as Error).message}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BovedaError('INVALID_ARGUMENT', `price table ${path} is not JSON: ${(error as Error).message}`, { cause: error });
  }
  try {
    return checkPriceTable(parsed);
  } catch (error) {
    throw new BovedaError('INVALID_ARGUMENT', `${path}: ${(error as Error).message}`, { cause: error });
  }
}

function money(value: number, table: PriceTable): string {
  return `${value.toFixed(2)} ${table.currency}`;
}

export function usageLines(report: UsageReport): string[] {
  const lines = [`Usage at ${report.now}`];
  if (report.vms.length === 0) lines.push('  nothing protected and nothing stored');
  for (const vm of report.vms) {
    const state = vm.state === null ? 'not protected' : vm.state;
    lines.push(`  ${vm.vmName} (${state}${vm.policyName ? `, policy ${vm.policyName}` : ''}): ${vm.points} point(s); protected size ${formatSize(vm.protectedBytes)}; stored ${formatSize(vm.storedBytes)}; billing ${vm.billing}${vm.cost && report.priceTable ? `; ${money(vm.cost.total, report.priceTable)}/month (instance ${money(vm.cost.instanceFee, report.priceTable)} + storage ${money(vm.cost.storageFee, report.priceTable)})` : ''}`);
  }
  const { totals } = report;
  lines.push(`  total: ${totals.vms} VM(s), ${totals.billedVms} billed; protected ${formatSize(totals.protectedBytes)}; stored ${formatSize(totals.storedBytes)} (vault on disk ${formatSize(totals.vaultBytes)})`);
  if (totals.cost && report.priceTable) lines.push(`  estimated monthly cost: ${money(totals.cost.total, report.priceTable)}`);
  return lines;
}

export function registerUsage(program: Command, context: CommandContext): void {
  addAppOptions(program.command('usage')
    .description('per VM: protected instance size (used bytes of backed-up disks, temp disks excluded), stored bytes (blocks of all its points), billing state; totals; a monthly cost estimate with a price table'))
    .option('--prices <file>', 'price table JSON (default: the one stored with "boveda settings price-table")')
    .action(async (options: UsageOptions) => {
      const { io } = context;
      const priceTable = options.prices === undefined ? undefined : await readPriceTable(options.prices);
      const report = await withApp(options, io, (app) => usageReport(app, { priceTable, signal: context.signal }));
      if (options.json) return printJson(io, report);
      printLines(io, usageLines(report));
    });
}
