import type { Command } from 'commander';
import { listVmPoints, retentionOf } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addDataOptions, type DataCommandOptions } from '../data-options.js';
import { addNowOption, withApp, type AppCommandOptions } from '../app-options.js';

export function registerPoints(program: Command, context: CommandContext): void {
  addNowOption(addDataOptions(program.command('points').argument('<vm>', 'the VM').description('list the recovery points of a VM, oldest first, with what retention says of each')))
    .action(async (vmName: string, options: DataCommandOptions & AppCommandOptions) => {
      const { io } = context;
      // Points live in the vault: they are listed even for a VM whose definition was removed.
      await withApp(options, io, async (app) => {
        const listed = await listVmPoints(await app.vault(), vmName, context.signal);
        const retention = await retentionOf(app, vmName, listed);
        const points = listed.map((point) => {
          const decision = retention.get(point.id)!;
          return { ...point, retention: { keep: decision.keep, reasons: decision.reasons, keepUntil: decision.keepUntil } };
        });
        if (options.json) return printJson(io, points);
        printLines(io, pointLines(vmName, points));
      });
    });
}

type ListedPoint = Awaited<ReturnType<typeof listVmPoints>>[number] & { retention: { keep: boolean; reasons: string[]; keepUntil: string | null } };

/** The text of `points` (also its remote form). */
export function pointLines(vmName: string, points: ListedPoint[]): string[] {
  if (points.length === 0) return [`VM "${vmName}" has no recovery points.`];
  const lines = ['ID                CREATED (UTC)             TYPE         CONSISTENCY  EXPIRES (UTC)             KEPT BY RETENTION                   INTRODUCED  UNIQUE'];
  for (const point of points) {
    const kept = point.retention.keep
      ? `${point.retention.reasons.join('+')}${point.retention.keepUntil ? ` until ${point.retention.keepUntil.slice(0, 16)}Z` : ''}`
      : `expired ${point.retention.keepUntil?.slice(0, 16) ?? ''}Z (next cleanup)`;
    lines.push(`${point.id}  ${point.createdAt.padEnd(24)}  ${point.type.padEnd(11)}  ${point.consistency.padEnd(11)}  ${(point.expiresAt ?? 'never').padEnd(24)}  ${kept.padEnd(34)}  ${formatSize(point.introducedBytes).padEnd(10)}  ${formatSize(point.uniqueBytes)}`);
    for (const disk of point.disks) {
      lines.push(`    ${disk.name} (${disk.role}, ${formatSize(disk.sizeBytes)}): ${disk.changedBlocks} blocks changed, read ${formatSize(disk.bytesRead)}, stored ${formatSize(disk.storedBytes)}, changes by ${disk.changeDetection}${disk.changeDetectionNote ? ` (${disk.changeDetectionNote})` : ''}`);
    }
    for (const warning of point.warnings) lines.push(`    warning: ${warning}`);
  }
  return lines;
}
