import { setTimeout as sleep } from 'node:timers/promises';
import type { Catalog, StoredJob } from '../app/index.js';
import { isFinished } from '../core/index.js';

export interface JobEventOptions {
  /** Follow this job only: its state now, each change, and the stream ends when it has finished. */
  jobId?: string;
  pollMs?: number;
  signal: AbortSignal;
}

/** What changes in a job that a watcher cares about (not the heartbeat). */
function fingerprint(job: StoredJob): string {
  return JSON.stringify([job.status, job.progress, job.warnings.length, job.error, job.cancelRequested, job.endedAt]);
}

/**
 * Job changes as they happen, read by polling the catalog (so jobs run by other processes — a CLI
 * backup, a second server — show too). First the jobs queued or running now, then every job whose
 * status, progress, warnings or error changed since the last poll. Ends when `signal` aborts (or the
 * followed job finished).
 */
export async function* jobEvents(catalog: Catalog, options: JobEventOptions): AsyncGenerator<StoredJob> {
  const pollMs = options.pollMs ?? 500;
  const seen = new Map<string, string>();
  const changed = (job: StoredJob) => {
    const print = fingerprint(job);
    if (seen.get(job.id) === print) return false;
    seen.set(job.id, print);
    return true;
  };
  if (options.jobId === undefined) {
    for (const job of await catalog.jobs.list({ limit: 50 })) seen.set(job.id, fingerprint(job));
    for (const job of (await catalog.jobs.list({ status: ['queued', 'in-progress'] })).reverse()) yield job;
  }
  while (!options.signal.aborted) {
    if (options.jobId !== undefined) {
      const job = await catalog.jobs.get(options.jobId);
      if (changed(job)) yield job;
      if (isFinished(job.status)) return;
    } else {
      for (const job of (await catalog.jobs.list({ limit: 50 })).reverse()) if (changed(job)) yield job;
    }
    await sleep(pollMs, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
