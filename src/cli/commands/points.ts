import type { Command } from 'commander';
import { listVmPoints } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addDataOptions, openDataVault, type DataCommandOptions } from '../data-options.js';

export function registerPoints(program: Command, context: CommandContext): void {
  addDataOptions(program.command('points').argument('<vm>', 'the VM').description('list the recovery points of a VM, oldest first'))
    .action(async (vmName: string, options: DataCommandOptions) => {
      const { io } = context;
      // Points live in the vault: they are listed even for a VM whose definition was removed.
      await openDataVault(options, io, async (vault) => {
        const points = await listVmPoints(vault, vmName, context.signal);
        if (options.json) return printJson(io, points);
        if (points.length === 0) return printLines(io, [`VM "${vmName}" has no recovery points.`]);
        const lines = ['ID                CREATED (UTC)             TYPE         CONSISTENCY  EXPIRES (UTC)             INTRODUCED  UNIQUE'];
        for (const point of points) {
          lines.push(`${point.id}  ${point.createdAt.padEnd(24)}  ${point.type.padEnd(11)}  ${point.consistency.padEnd(11)}  ${(point.expiresAt ?? 'never').padEnd(24)}  ${formatSize(point.introducedBytes).padEnd(10)}  ${formatSize(point.uniqueBytes)}`);
          for (const disk of point.disks) {
            lines.push(`    ${disk.name} (${disk.role}, ${formatSize(disk.sizeBytes)}): ${disk.changedBlocks} blocks changed, read ${formatSize(disk.bytesRead)}, stored ${formatSize(disk.storedBytes)}, changes by ${disk.changeDetection}${disk.changeDetectionNote ? ` (${disk.changeDetectionNote})` : ''}`);
          }
          for (const warning of point.warnings) lines.push(`    warning: ${warning}`);
        }
        printLines(io, lines);
      });
    });
}
