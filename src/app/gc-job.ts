import type { StoredJob } from '../catalog/index.js';
import { collectGarbage, type GcOptions, type GcReport } from '../repository/index.js';
import type { AppContext } from './app-context.js';
import { runJob, runNewJob, type JobContext, type JobBodyResult, type JobRunOutcome } from './job-runner.js';

export interface GcJobOptions extends Omit<GcOptions, 'signal' | 'dryRun'> {
  signal?: AbortSignal;
  onUpdate?: (job: StoredJob) => void;
}

/**
 * A vault garbage collection as a job (`POST /api/vault/gc`), so the API can follow and cancel it
 * like the others; the result holds what was freed. (`boveda vault gc` keeps calling collectGarbage
 * directly: it works on any --vault, with or without a data directory.)
 */
export async function runGcJob(app: AppContext, options: GcJobOptions = {}, queued?: StoredJob): Promise<JobRunOutcome<GcReport>> {
  const body = async (job: JobContext): Promise<JobBodyResult<GcReport>> => {
    const value = await collectGarbage(await app.vault(), { repackBelow: options.repackBelow, waitMs: options.waitMs, partialsOlderThanMs: options.partialsOlderThanMs, signal: job.signal });
    return {
      value,
      result: {
        bytesFreed: value.bytesFreed, packsDeleted: value.packsDeleted, packsRepacked: value.packsRepacked, packsWritten: value.packsWritten,
        orphanPacksDeleted: value.orphanPacksDeleted, blobsRemoved: value.blobsRemoved, points: value.points,
      },
    };
  };
  const runOptions = { signal: options.signal, onUpdate: options.onUpdate };
  if (queued) return runJob(app.catalog, queued, body, runOptions);
  return runNewJob(app.catalog, { type: 'gc', item: null, trigger: 'on-demand' }, body, runOptions);
}

/**
 * What a gc would remove and free, changing nothing (`POST /api/vault/gc {dryRun:true}`, like
 * `boveda vault gc --dry-run`): answered at once, not as a job.
 */
export async function previewGc(app: AppContext, options: { repackBelow?: number; signal?: AbortSignal } = {}): Promise<GcReport> {
  return collectGarbage(await app.vault(), { dryRun: true, repackBelow: options.repackBelow, signal: options.signal });
}
