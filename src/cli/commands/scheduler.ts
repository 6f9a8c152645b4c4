import type { Command } from 'commander';
import { Scheduler, runBackupJob, type AppContext, type TickReport } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { addAppOptions, addNowOption, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';

interface TickOptions extends AppCommandOptions {
  maxConcurrent: string;
  spreadMinutes: string;
}

export function positiveInteger(flag: string, value: string, max = 1_000_000): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1 || number > max) throw new BovedaError('INVALID_ARGUMENT', `${flag} "${value}" must be a whole number from 1 to ${max}`);
  return number;
}

export function nonNegativeNumber(flag: string, value: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number < 0) throw new BovedaError('INVALID_ARGUMENT', `${flag} "${value}" must be a number ≥ 0`);
  return number;
}

/** The scheduler of a data directory, running backups as jobs on this process. */
export function createScheduler(app: AppContext, options: { maxConcurrent: number; spreadMinutes: number; shiftedClock?: boolean }, signal: AbortSignal): Scheduler {
  return new Scheduler({
    catalog: app.catalog, clock: app.clock, maxConcurrentBackups: options.maxConcurrent, spreadWindowMs: options.spreadMinutes * 60_000,
    // On a --now clock, the heartbeats of processes on the real clock cannot be judged stale.
    ...(options.shiftedClock ? { orphanStaleAfterMs: Infinity } : {}),
    runBackup: (job, stop) => runBackupJob(app, job.item!, { trigger: 'scheduled', signal: AbortSignal.any([stop, signal]) }, job),
  });
}

export function tickLines(report: TickReport): string[] {
  const lines = [`Scheduler tick at ${report.now}`];
  for (const job of report.orphansFailed) lines.push(`  job ${job.id} failed: ${job.error?.message ?? 'its process died'}`);
  if (report.entries.length === 0) lines.push('  nothing due');
  for (const entry of report.entries) {
    const what = {
      'started': `started job ${entry.jobId}`,
      'waiting-for-spread': `waits for its start time ${entry.startAt} (VMs sharing a slot are spread)`,
      'busy': 'a backup of this VM is running: next tick',
      'limit': 'concurrent backup limit reached: next tick',
      'claimed-elsewhere': 'claimed by another process',
      'not-protected': 'no longer protected',
      'stopping': 'the scheduler is stopping: not started',
    }[entry.outcome];
    lines.push(`  ${entry.vmName}: slot ${entry.slot}: ${what}`);
  }
  return lines;
}

export function registerScheduler(program: Command, context: CommandContext): void {
  const scheduler = program.command('scheduler').description('the backup scheduler (also run by "boveda serve")');
  addNowOption(addAppOptions(scheduler.command('tick')
    .description('run the scheduled backups due now (once each; after downtime only the latest missed slot) and wait for them: for cron users and tests')))
    .option('--max-concurrent <n>', 'scheduled backups at once', '2')
    .option('--spread-minutes <n>', 'spread VMs sharing a start time over this many minutes', '10')
    .action(async (options: TickOptions) => {
      const { io } = context;
      const settings = {
        maxConcurrent: positiveInteger('--max-concurrent', options.maxConcurrent, 64), spreadMinutes: nonNegativeNumber('--spread-minutes', options.spreadMinutes),
        shiftedClock: options.now !== undefined,
      };
      const { report, jobs } = await withApp(options, io, async (app) => {
        const tick = await createScheduler(app, settings, context.signal).tick();
        await Promise.allSettled(tick.running);
        const ids = tick.entries.flatMap((entry) => (entry.jobId ? [entry.jobId] : []));
        return { report: tick, jobs: await Promise.all(ids.map((id) => app.catalog.jobs.get(id))) };
      });
      // The exit status says whether a backup failed, whatever the output format (cron and scripts rely on it).
      if (jobs.some((job) => job.status === 'failed')) context.setExitCode(1);
      if (options.json) return printJson(io, { now: report.now, entries: report.entries, jobs, orphansFailed: report.orphansFailed.map((job) => job.id) });
      const lines = tickLines(report);
      for (const job of jobs) lines.push(`  job ${job.id} (${job.item}): ${job.status}${job.error ? ` — ${job.error.message} [${job.error.code}]` : ''}`);
      printLines(io, lines);
    });
}
