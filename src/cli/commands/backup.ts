import type { Command } from 'commander';
import { diskMeta, runBackupJob, trackingMissedBlocks } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJsonLine, printLines } from '../io.js';
import { ProgressReporter } from '../progress.js';
import { addDataOptions, type DataCommandOptions } from '../data-options.js';
import { addNowOption, commandClock, withApp } from '../app-options.js';
import { DAMAGE_EXIT_CODE } from './vault-verify.js';

interface BackupCliOptions extends DataCommandOptions {
  now?: string;
  retainDays?: string;
  retainUntil?: string;
  snapshot: boolean;
  wait: string;
  verifyTracking?: boolean;
}

/** Expiry from --retain-days / --retain-until, in UTC; null when neither is given (never expires). */
export function expiryFrom(options: { retainDays?: string; retainUntil?: string }, now: Date): Date | null {
  if (options.retainDays !== undefined && options.retainUntil !== undefined) {
    throw new BovedaError('INVALID_ARGUMENT', 'give either --retain-days or --retain-until, not both');
  }
  if (options.retainDays !== undefined) {
    const days = Number(options.retainDays);
    if (!Number.isInteger(days) || days < 1 || days > 36500) throw new BovedaError('INVALID_ARGUMENT', `--retain-days "${options.retainDays}" must be a whole number of days from 1 to 36500`);
    return new Date(now.getTime() + days * 86_400_000);
  }
  if (options.retainUntil !== undefined) {
    // A bare date means the end of that day in UTC; a time without zone is read as UTC.
    const text = /^\d{4}-\d{2}-\d{2}$/.test(options.retainUntil) ? `${options.retainUntil}T23:59:59Z`
      : /[zZ]|[+-]\d{2}:?\d{2}$/.test(options.retainUntil) ? options.retainUntil : `${options.retainUntil}Z`;
    const until = new Date(text);
    // Date() rolls a day that does not exist over (2027-02-30 → 2027-03-02): the written day must exist.
    const written = /^\d{4}-\d{2}-\d{2}/.exec(options.retainUntil)?.[0];
    const day = written === undefined ? null : new Date(`${written}T00:00:00Z`);
    const noSuchDay = day !== null && (Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== written);
    if (Number.isNaN(until.getTime()) || noSuchDay) throw new BovedaError('INVALID_ARGUMENT', `--retain-until "${options.retainUntil}" is not a date (examples: 2027-01-31, 2027-01-31T18:00Z)`);
    if (until.getTime() <= now.getTime()) throw new BovedaError('INVALID_ARGUMENT', `--retain-until ${until.toISOString()} is in the past`);
    return until;
  }
  return null;
}

export function registerBackup(program: Command, context: CommandContext): void {
  addNowOption(addDataOptions(program.command('backup').argument('<vm>', 'the VM to back up').description('back up a VM now: full the first time, then only the blocks that changed'))
    .option('--retain-days <n>', 'keep this recovery point for N days (UTC); default: never expires')
    .option('--retain-until <date>', 'keep this recovery point until DATE (UTC), e.g. 2027-01-31')
    .option('--no-snapshot', 'read disks in place instead of from a reflink clone')
    .option('--verify-tracking', 'QEMU VMs (running, or qcow2 disks of stopped ones): also read every allocated block and report changed blocks the dirty bitmap missed (exit status 3 when it missed any)')
    .option('--wait <seconds>', 'wait this long if another backup of the VM is running', '0'))
    .action(async (vmName: string, options: BackupCliOptions) => {
      const { io } = context;
      const waitSeconds = Number(options.wait);
      if (!(waitSeconds >= 0)) throw new BovedaError('INVALID_ARGUMENT', `--wait "${options.wait}" must be a number of seconds`);
      // Checked before the vault is opened: a typo is reported before any passphrase prompt.
      expiryFrom(options, commandClock(options.now).now());
      const outcome = await withApp(options, io, async (app) => {
        // The expiry counts from the command's clock (--now included), as the point's time does.
        const expiresAt = expiryFrom(options, app.clock.now());
        await app.catalog.jobs.failOrphans();
        const progress = new ProgressReporter(io, options.json === true);
        const run = await runBackupJob(app, vmName, {
          trigger: 'on-demand', expiresAt, snapshot: options.snapshot, verifyTracking: options.verifyTracking === true, waitMs: waitSeconds * 1000, signal: context.signal,
          onProgress: ({ disk, bytesDone, bytesTotal }) => progress.update(disk, bytesDone, bytesTotal),
        });
        progress.done();
        if (run.error) throw run.error;
        return { ...run.value!, job: run.job };
      });
      const { point, meta, cleanupProblems, job } = outcome;
      for (const problem of cleanupProblems) io.stderr.write(`warning: ${problem}\n`);
      if (trackingMissedBlocks(point) > 0) context.setExitCode(DAMAGE_EXIT_CODE);
      if (options.json) {
        printJsonLine(io, {
          event: 'completed', id: point.pointId, job: job.id, jobStatus: job.status, vm: point.subject, createdAt: point.createdAt, expiresAt: meta.expiresAt,
          type: meta.type, consistency: meta.consistency, warnings: meta.warnings, durationSeconds: meta.durationSeconds,
          disks: point.disks.map((disk) => {
            const { changeDetection, changeDetectionNote, trackingMissedBlocks: missed } = diskMeta(disk);
            return { name: disk.name, sizeBytes: disk.sizeBytes, ...disk.stats, changeDetection, changeDetectionNote, ...(missed === undefined ? {} : { trackingMissedBlocks: missed }) };
          }),
        });
        return;
      }
      const lines = [
        `Recovery point ${point.pointId} of VM "${point.subject}" (${meta.type}, ${meta.consistency}-consistent) at ${point.createdAt}`,
        `  expires ${meta.expiresAt ?? 'never'}${meta.expiresAt ? ' (UTC)' : ''}`,
        `  job ${job.id}: ${job.status}`,
      ];
      for (const disk of point.disks) {
        const how = diskMeta(disk);
        lines.push(`  ${disk.name}: ${formatSize(disk.sizeBytes)}, ${disk.stats.changedBlocks} blocks changed, read ${formatSize(disk.stats.bytesRead)}, stored ${formatSize(disk.stats.newStoredBytes)} new, changes by ${how.changeDetection}${how.changeDetectionNote ? ` (${how.changeDetectionNote})` : ''}`);
      }
      for (const warning of meta.warnings) lines.push(`  warning: ${warning}`);
      lines.push(`  took ${meta.durationSeconds} s`);
      printLines(io, lines);
    });
}
