import type { Command } from 'commander';
import type { StoredJob } from '../../app/index.js';
import { BovedaError, JOB_STATUSES, JOB_TYPES } from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import { addAppOptions, withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';

interface JobsOptions extends AppCommandOptions {
  status?: string;
  vm?: string;
  type?: string;
  limit: string;
}

/** A job as `jobs --json` and `job show --json` print it (the stable field names of core's JobRecord). */
export function jobJson(job: StoredJob) {
  return {
    id: job.id, type: job.type, item: job.item, trigger: job.trigger, status: job.status, queuedAt: job.queuedAt, startedAt: job.startedAt,
    endedAt: job.endedAt, durationSeconds: job.durationSeconds, progress: job.progress, warnings: job.warnings, error: job.error,
    result: job.result, cancelRequested: job.cancelRequested, slot: job.slot, owner: job.owner,
  };
}

function progressText(job: StoredJob): string {
  const { bytesDone, bytesTotal, percent, bytesPerSecond } = job.progress;
  if (bytesDone === 0 && bytesTotal === null) return '';
  return `${formatSize(bytesDone)}${bytesTotal !== null ? ` of ${formatSize(bytesTotal)}` : ''}${percent !== null ? ` (${percent}%)` : ''}${bytesPerSecond ? `, ${formatSize(bytesPerSecond)}/s` : ''}`;
}

export function jobLines(job: StoredJob): string[] {
  const lines = [
    `Job ${job.id}: ${job.type}${job.item ? ` of ${job.item}` : ''} (${job.trigger}${job.slot ? `, slot ${job.slot}` : ''}) — ${job.status}${job.cancelRequested && job.status === 'in-progress' ? ' (cancel requested)' : ''}`,
    `  queued ${job.queuedAt}${job.startedAt ? `, started ${job.startedAt}` : ''}${job.endedAt ? `, ended ${job.endedAt}` : ''}${job.durationSeconds !== null ? ` (${job.durationSeconds} s)` : ''}`,
  ];
  const progress = progressText(job);
  if (progress) lines.push(`  progress: ${progress}`);
  if (job.type === 'backup' && job.result && 'pointId' in job.result) {
    lines.push(`  recovery point ${String(job.result.pointId)}, expires ${job.result.expiresAt ? `${String(job.result.expiresAt)} (UTC)` : 'never (on-demand) / by policy (scheduled)'}`);
  } else if (job.result) {
    lines.push(`  result: ${JSON.stringify(job.result)}`);
  }
  for (const warning of job.warnings) lines.push(`  warning: ${warning}`);
  if (job.error) lines.push(`  error: ${job.error.message} [${job.error.code}]`);
  return lines;
}

/** The table of `jobs` (also its remote form). */
export function jobTableLines(jobs: StoredJob[]): string[] {
  if (jobs.length === 0) return ['No jobs.'];
  return ['ID                      TYPE     ITEM              TRIGGER     STATUS                   STARTED (UTC)         DURATION  ERROR',
    ...jobs.map((job) => [
      job.id.padEnd(22), job.type.padEnd(7), (job.item ?? '-').padEnd(16), job.trigger.padEnd(10), job.status.padEnd(23),
      (job.startedAt ?? '-').slice(0, 19).padEnd(20), (job.durationSeconds === null ? '-' : `${job.durationSeconds} s`).padEnd(8),
      job.error ? `${job.error.code}` : job.warnings.length > 0 ? `${job.warnings.length} warning(s)` : '',
    ].join('  '))];
}

export function registerJobs(program: Command, context: CommandContext): void {
  const { io } = context;
  addAppOptions(program.command('jobs').description('list jobs, newest first: backups, restores, cleanups, verifies'))
    .option('--status <status>', `only jobs in this status (${JOB_STATUSES.join(', ')})`)
    .option('--vm <name>', 'only jobs of this VM')
    .option('--type <type>', `only jobs of this type (${JOB_TYPES.join(', ')})`)
    .option('--limit <n>', 'at most N jobs', '50')
    .action(async (options: JobsOptions) => {
      if (options.status !== undefined && !(JOB_STATUSES as readonly string[]).includes(options.status)) {
        throw new BovedaError('INVALID_ARGUMENT', `--status "${options.status}" is not a job status (${JOB_STATUSES.join(', ')})`);
      }
      if (options.type !== undefined && !(JOB_TYPES as readonly string[]).includes(options.type)) {
        throw new BovedaError('INVALID_ARGUMENT', `--type "${options.type}" is not a job type (${JOB_TYPES.join(', ')})`);
      }
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new BovedaError('INVALID_ARGUMENT', `--limit "${options.limit}" must be a positive whole number`);
      const jobs = await withApp(options, io, async (app) => {
        await app.catalog.jobs.failOrphans();
        return app.catalog.jobs.list({ status: options.status as StoredJob['status'] | undefined, item: options.vm, type: options.type as StoredJob['type'] | undefined, limit });
      });
      if (options.json) return printJson(io, jobs.map(jobJson));
      printLines(io, jobTableLines(jobs));
    });

  const job = program.command('job').description('one job: show it or cancel it');
  addAppOptions(job.command('show').argument('<id>', 'job id (or a unique prefix)').description('show a job: status, progress, warnings, error, result'))
    .action(async (id: string, options: AppCommandOptions) => {
      const found = await withApp(options, io, async (app) => {
        await app.catalog.jobs.failOrphans();
        return app.catalog.jobs.resolve(id);
      });
      if (options.json) return printJson(io, jobJson(found));
      printLines(io, jobLines(found));
    });
  addAppOptions(job.command('cancel').argument('<id>', 'job id (or a unique prefix)').description('cancel a queued or running job (a running one stops at its next check, within about a second)'))
    .action(async (id: string, options: AppCommandOptions) => {
      const cancelled = await withApp(options, io, async (app) => app.catalog.jobs.requestCancel((await app.catalog.jobs.resolve(id)).id));
      if (options.json) return printJson(io, jobJson(cancelled));
      printLines(io, [cancelled.status === 'cancelled' ? `Job ${cancelled.id} cancelled.` : `Cancel requested for job ${cancelled.id}; it stops shortly.`]);
    });
}
