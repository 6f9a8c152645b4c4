import type { Command } from 'commander';
import { measureVaultUsage } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVaultOptions, withVault, type VaultCommandOptions } from '../vault-options.js';

export function registerVaultUsage(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('usage').description('stored bytes in total and per recovery point (introduced, and freed if deleted)')).action(async (options: VaultCommandOptions) => {
    const { io } = context;
    await withVault(options, io, async (opened) => {
      const usage = await measureVaultUsage(opened, context.signal);
      if (options.json) return printJson(io, usage);
      const lines = [
        `Total stored ${formatSize(usage.totalStoredBytes)} (${usage.packCount} packs ${formatSize(usage.packBytes)}, index ${formatSize(usage.indexBytes)}, manifests ${formatSize(usage.manifestBytes)})`,
        `Live data ${formatSize(usage.liveBytes)} in ${usage.liveBlocks} blocks, stored as ${formatSize(usage.liveStoredBytes)}; unreferenced ${formatSize(usage.unreferencedStoredBytes)} (freed by gc)`,
        '',
        'POINT             CREATED (UTC)             VM                INTRODUCED    UNIQUE (freed if deleted)',
      ];
      for (const point of usage.points) {
        lines.push(`${point.pointId}  ${point.createdAt.padEnd(24)}  ${point.subject.padEnd(16)}  ${formatSize(point.introducedBytes).padEnd(12)}  ${formatSize(point.uniqueBytes)}`);
      }
      printLines(io, lines);
    });
  });
}
