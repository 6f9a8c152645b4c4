import type { Command } from 'commander';
import { loadPoints } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVaultOptions, withVault, type VaultCommandOptions } from '../vault-options.js';

export function registerVaultPoints(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('points').description('list every recovery point stored in the vault (from the vault alone)'))
    .option('--subject <name>', 'only points of this VM')
    .action(async (options: VaultCommandOptions & { subject?: string }) => {
      const { io } = context;
      await withVault(options, io, async (opened) => {
        const { points, damaged } = await loadPoints(opened, context.signal);
        const shown = points.filter((point) => options.subject === undefined || point.subject === options.subject);
        if (options.json) {
          printJson(io, {
            points: shown.map((point) => ({
              id: point.pointId, subject: point.subject, createdAt: point.createdAt, parentId: point.parentId, meta: point.meta,
              disks: point.disks.map((disk) => ({ name: disk.name, sizeBytes: disk.sizeBytes, blockSize: disk.blockSize, ...disk.stats })),
            })),
            damaged: damaged.map((entry) => ({ id: entry.pointId, object: entry.key, error: entry.error.message })),
          });
          return;
        }
        if (shown.length === 0) printLines(io, ['No recovery points.']);
        else {
          printLines(io, ['ID                CREATED (UTC)             VM                DISKS', ...shown.map((point) =>
            `${point.pointId}  ${point.createdAt.padEnd(24)}  ${point.subject.padEnd(16)}  ${point.disks.map((disk) => `${disk.name} (${formatSize(disk.sizeBytes)}, ${disk.stats.changedBlocks} changed)`).join(', ')}`)]);
        }
        for (const entry of damaged) io.stderr.write(`warning: manifest ${entry.key} is damaged: ${entry.error.message}\n`);
      });
    });
}
