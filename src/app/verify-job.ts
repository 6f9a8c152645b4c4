import type { StoredJob } from '../catalog/index.js';
import { verifyVault, type VerifyReport } from '../repository/index.js';
import type { AppContext } from './app-context.js';
import { runJob, runNewJob, type JobContext, type JobBodyResult, type JobRunOutcome } from './job-runner.js';

export interface VerifyJobOptions {
  readData?: boolean;
  signal?: AbortSignal;
  onUpdate?: (job: StoredJob) => void;
}

/**
 * A vault verify as a job (`boveda vault verify`, `POST /api/vault/verify`), recorded in the data
 * directory's catalog. Damage found is a warning (the job completes with warnings), not a failure:
 * the verify itself worked; the result counts the problems.
 */
export async function runVerifyJob(app: AppContext, options: VerifyJobOptions = {}, queued?: StoredJob): Promise<JobRunOutcome<VerifyReport>> {
  const body = async (job: JobContext): Promise<JobBodyResult<VerifyReport>> => {
    const value = await verifyVault(await app.vault(), { readData: options.readData === true, signal: job.signal });
    return {
      value, warnings: value.ok ? [] : [`${value.problems.length} damaged object(s) found`],
      result: { ok: value.ok, points: value.points, packs: value.packs, readData: value.readData, problems: value.problems.length, bytesChecked: value.bytesChecked },
    };
  };
  const runOptions = { signal: options.signal, onUpdate: options.onUpdate };
  if (queued) return runJob(app.catalog, queued, body, runOptions);
  return runNewJob(app.catalog, { type: 'verify', item: null, trigger: 'on-demand' }, body, runOptions);
}
