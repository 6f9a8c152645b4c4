/**
 * Jobs: every backup, restore, cleanup, verify and gc run is recorded as a job, with its progress,
 * warnings and error (a stable code and message). Statuses move forward only:
 * queued → in-progress → completed | completed-with-warnings | failed | cancelled
 * (queued → cancelled too).
 */
export const JOB_TYPES = ['backup', 'restore', 'cleanup', 'verify', 'gc'] as const;
export type JobType = (typeof JOB_TYPES)[number];

export const JOB_STATUSES = ['queued', 'in-progress', 'completed', 'completed-with-warnings', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export type JobTrigger = 'scheduled' | 'on-demand';

export function isFinished(status: JobStatus): boolean {
  return status !== 'queued' && status !== 'in-progress';
}

export interface JobProgress {
  bytesDone: number;
  /** null while unknown. */
  bytesTotal: number | null;
  percent: number | null;
  bytesPerSecond: number | null;
}

export interface JobError {
  code: string;
  message: string;
}

export interface JobRecord {
  id: string;
  type: JobType;
  /** The VM name the job is about; null for vault-wide jobs (cleanup of all, verify, gc). */
  item: string | null;
  trigger: JobTrigger;
  status: JobStatus;
  queuedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
  progress: JobProgress;
  warnings: string[];
  error: JobError | null;
  /** Type-specific outcome, e.g. { pointId, expiresAt } of a backup, { removedPoints, freedBytes } of a cleanup. */
  result: Record<string, unknown> | null;
  /** Set by `job cancel`; the process running the job aborts it. */
  cancelRequested: boolean;
  /** The scheduled slot (ISO UTC) a scheduled backup runs for, else null. */
  slot: string | null;
}
