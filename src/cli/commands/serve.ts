import type { Command } from 'commander';
import { runCleanupJob } from '../../app/index.js';
import { describeError } from '../../core/index.js';
import { addAppOptions, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJsonLine } from '../io.js';
import { createScheduler, nonNegativeNumber, positiveInteger, tickLines } from './scheduler.js';

interface ServeOptions extends AppCommandOptions {
  tickSeconds: string;
  cleanupMinutes: string;
  maxConcurrent: string;
  spreadMinutes: string;
}

/**
 * `boveda serve`: the long-running process. Ticks the scheduler, runs cleanup periodically (as a
 * job), fails the jobs of processes that died; stops on SIGINT/SIGTERM, cancelling running
 * backups (their jobs end as cancelled and leave no partial point). Several `serve` processes may
 * share a data directory: slot claims in the catalog keep each slot to one of them.
 */
export function registerServe(program: Command, context: CommandContext): void {
  addAppOptions(program.command('serve').description('run the scheduler and periodic cleanup until stopped (Ctrl-C or SIGTERM)'))
    .option('--tick-seconds <n>', 'how often to look for due backups', '30')
    .option('--cleanup-minutes <n>', 'how often to run cleanup (0: never)', '60')
    .option('--max-concurrent <n>', 'scheduled backups at once', '2')
    .option('--spread-minutes <n>', 'spread VMs sharing a start time over this many minutes', '10')
    .action(async (options: ServeOptions) => {
      const { io, signal } = context;
      const tickMs = nonNegativeNumber('--tick-seconds', options.tickSeconds) * 1000;
      const cleanupMs = nonNegativeNumber('--cleanup-minutes', options.cleanupMinutes) * 60_000;
      const settings = { maxConcurrent: positiveInteger('--max-concurrent', options.maxConcurrent, 64), spreadMinutes: nonNegativeNumber('--spread-minutes', options.spreadMinutes) };
      const log = (event: string, fields: Record<string, unknown> = {}, text?: string[]) => {
        if (options.json) printJsonLine(io, { time: new Date().toISOString(), event, ...fields });
        else for (const line of text ?? [`${event} ${JSON.stringify(fields)}`]) io.stdout.write(`${new Date().toISOString()} ${line}\n`);
      };
      await withApp(options, io, async (app) => {
        await app.vault(); // fail now (wrong passphrase, missing vault), not at the first slot
        const scheduler = createScheduler(app, settings, signal);
        log('started', { pid: process.pid, catalog: app.catalog.file }, [`boveda serve: pid ${process.pid}, catalog ${app.catalog.file}; stop with Ctrl-C`]);
        scheduler.start(Math.max(1000, tickMs), (report) => {
          if (report.entries.length > 0 || report.orphansFailed.length > 0) log('tick', { report: { ...report, running: undefined } }, tickLines(report));
        }, (error) => log('error', { message: describeError(error) }, [`scheduler error: ${describeError(error)}`]));

        let cleaning = false;
        const cleanup = async () => {
          if (cleaning) return;
          cleaning = true;
          try {
            const outcome = await runCleanupJob(app, 'scheduled', { signal });
            log('cleanup', { jobId: outcome.job.id, status: outcome.job.status, result: outcome.job.result }, [`cleanup job ${outcome.job.id}: ${outcome.job.status} ${JSON.stringify(outcome.job.result ?? outcome.job.error)}`]);
          } catch (error) {
            log('error', { message: describeError(error) }, [`cleanup error: ${describeError(error)}`]);
          } finally {
            cleaning = false;
          }
        };
        const cleanupTimer = cleanupMs > 0 ? setInterval(() => void cleanup(), cleanupMs) : undefined;
        if (cleanupMs > 0) void cleanup();

        await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
        if (cleanupTimer) clearInterval(cleanupTimer);
        log('stopping', {}, ['stopping: cancelling running jobs']);
        await scheduler.stop();
        while (cleaning) await new Promise((resolve) => setTimeout(resolve, 100));
        log('stopped', {}, ['stopped']);
      });
    });
}
