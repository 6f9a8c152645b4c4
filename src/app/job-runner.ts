import { BovedaError, describeError, isBovedaError, type JobError, type JobType } from '../core/index.js';
import type { Catalog, NewJob, StoredJob } from '../catalog/index.js';
import { currentJobOwner } from '../catalog/index.js';

/** What a job's body gets: the signal to stop on (Ctrl-C, `job cancel`), progress and warnings. */
export interface JobContext {
  readonly jobId: string;
  readonly signal: AbortSignal;
  /** Records progress (throttled to one catalog write a second); the total may be unknown. */
  progress(bytesDone: number, bytesTotal: number | null): void;
  warn(message: string): void;
}

/** What a job's body returns: its outcome for the job record, and a value for the caller. */
export interface JobBodyResult<T> {
  result: Record<string, unknown>;
  warnings?: readonly string[];
  value: T;
}

export interface JobRunOutcome<T> {
  job: StoredJob;
  /** Set when the body succeeded. */
  value?: T;
  /** Set when it failed or was cancelled (a BovedaError; foreign errors wrapped as INTERNAL). */
  error?: BovedaError;
}

export interface RunJobOptions {
  signal?: AbortSignal;
  /** How often the runner writes progress and a heartbeat and looks for `job cancel` (default 1000 ms). */
  pollMs?: number;
  /** Every catalog update of the job, for live display. */
  onUpdate?: (job: StoredJob) => void;
}

const HEARTBEAT_MS = 30_000;

/**
 * Runs `body` as a job: queued → in-progress → completed | completed-with-warnings | failed |
 * cancelled, with progress, heartbeats and cancellation through the catalog, so another process
 * (`boveda job cancel`, a second `serve`) sees and can stop it. The job's error is the body's
 * BovedaError code and message (foreign errors become INTERNAL); an abort (Ctrl-C, `job cancel`)
 * ends it as cancelled. Never throws for a failure of the body: the caller reads `error`.
 */
export async function runJob<T>(
  catalog: Catalog, job: StoredJob, body: (context: JobContext) => Promise<JobBodyResult<T>>, options: RunJobOptions = {},
): Promise<JobRunOutcome<T>> {
  const owner = job.owner ?? currentJobOwner();
  if (!(await catalog.jobs.start(job.id, owner))) {
    return { job: await catalog.jobs.get(job.id), error: new BovedaError('ABORTED', `job ${job.id} was cancelled before it started`) };
  }
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) controller.abort(options.signal.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const warnings: string[] = [];
  let latest: { bytesDone: number; bytesTotal: number | null } | null = null;
  let firstProgressAt = 0;
  let writtenAt = 0;
  let writing: Promise<void> = Promise.resolve();
  const write = (force: boolean) => {
    const now = Date.now();
    if (!force && now - writtenAt < (options.pollMs ?? 1000)) return;
    writtenAt = now;
    const progress = latest;
    writing = writing.then(async () => {
      try {
        const elapsed = (Date.now() - firstProgressAt) / 1000;
        const updated = await catalog.jobs.progress(job.id, progress === null ? {} : {
          bytesDone: progress.bytesDone,
          bytesTotal: progress.bytesTotal,
          percent: progress.bytesTotal ? Math.min(100, Math.round((progress.bytesDone / progress.bytesTotal) * 1000) / 10) : null,
          bytesPerSecond: elapsed > 0 ? Math.round(progress.bytesDone / elapsed) : null,
        });
        options.onUpdate?.(updated);
        if (updated.cancelRequested && !controller.signal.aborted) {
          controller.abort(new BovedaError('ABORTED', `job ${job.id} was cancelled`));
        }
      } catch (error) {
        // The job was taken from us (failOrphans thought this process dead): stop working on it.
        if (isBovedaError(error, 'INVALID_STATE') && !controller.signal.aborted) controller.abort(error);
      }
    });
  };
  const timer = setInterval(() => write(true), Math.min(options.pollMs ?? 1000, HEARTBEAT_MS));
  timer.unref();

  const context: JobContext = {
    jobId: job.id,
    signal: controller.signal,
    progress(bytesDone, bytesTotal) {
      if (firstProgressAt === 0) firstProgressAt = Date.now();
      latest = { bytesDone, bytesTotal };
      write(false);
    },
    warn(message) {
      warnings.push(message);
    },
  };

  let value: T | undefined;
  let failure: BovedaError | undefined;
  let result: Record<string, unknown> | null = null;
  try {
    const outcome = await body(context);
    value = outcome.value;
    result = outcome.result;
    warnings.push(...(outcome.warnings ?? []));
  } catch (error) {
    failure = asBovedaError(error, controller.signal.aborted);
  } finally {
    clearInterval(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
    await writing;
  }
  if (latest !== null && failure === undefined) {
    const done = latest as { bytesDone: number; bytesTotal: number | null };
    // The rate over the whole transfer: a job shorter than pollMs has no other rate recorded.
    const elapsed = (Date.now() - firstProgressAt) / 1000;
    await catalog.jobs.progress(job.id, {
      bytesDone: done.bytesDone, bytesTotal: done.bytesTotal, percent: done.bytesTotal ? 100 : null,
      bytesPerSecond: Math.round(done.bytesDone / Math.max(elapsed, 0.001)),
    }).catch(() => undefined);
  }
  const jobError: JobError | null = failure ? { code: failure.code, message: failure.message } : null;
  const status = failure === undefined ? 'completed' : failure.code === 'ABORTED' ? 'cancelled' : 'failed';
  let finished: StoredJob;
  try {
    finished = await catalog.jobs.finish(job.id, { status, error: jobError, result, warnings });
  } catch (error) {
    // failOrphans (another process) already ended it: report the job as it is.
    if (!isBovedaError(error, 'INVALID_STATE')) throw error;
    finished = await catalog.jobs.get(job.id);
  }
  options.onUpdate?.(finished);
  return failure === undefined ? { job: finished, value } : { job: finished, error: failure };
}

/** Creates the job and runs it: what on-demand operations do. VM_BUSY when `exclusiveWith` refuses it. */
export async function runNewJob<T>(
  catalog: Catalog, job: Omit<NewJob, 'owner'>, body: (context: JobContext) => Promise<JobBodyResult<T>>, options: RunJobOptions = {},
): Promise<JobRunOutcome<T>> {
  const created = await catalog.jobs.create({ ...job, owner: currentJobOwner() });
  return runJob(catalog, created, body, options);
}

function asBovedaError(error: unknown, aborted: boolean): BovedaError {
  if (error instanceof BovedaError) return aborted && error.code !== 'ABORTED' && isAbortLike(error) ? new BovedaError('ABORTED', error.message, { cause: error }) : error;
  if (aborted) return new BovedaError('ABORTED', 'cancelled', { cause: error });
  return new BovedaError('INTERNAL', describeError(error), { cause: error });
}

function isAbortLike(error: BovedaError): boolean {
  return error.cause instanceof Error && error.cause.name === 'AbortError';
}

/** The job types that must not overlap on one VM: a backup and an in-place restore both write. */
export const EXCLUSIVE_VM_JOBS: readonly JobType[] = ['backup', 'restore'];
