import { BovedaError, isFinished, type JobRecord } from '../../core/index.js';
import type { CommandContext } from '../command-context.js';
import { printJsonLine } from '../io.js';
import { ProgressReporter } from '../progress.js';
import { jobError, type ApiClient } from './api-client.js';

const RECONNECT_MS = 1000;

/**
 * Waits for a job the server started, following its event stream: a progress bar on a terminal, or
 * one JSON line per change with --json. Ctrl-C (the context's signal) asks the server to cancel
 * the job and ends with ABORTED (exit 130). Returns the finished job when it completed (with or
 * without warnings); a failed or cancelled job throws its error, so the exit status is its code's.
 */
export async function waitForJob(client: ApiClient, started: JobRecord, context: CommandContext, json: boolean): Promise<JobRecord> {
  const { io, signal } = context;
  const progress = new ProgressReporter(io, false);
  const label = started.item ? `${started.type} ${started.item}` : started.type;
  let job = started;
  let lastLine = '';
  const show = (next: JobRecord) => {
    job = next;
    if (json) {
      const line = JSON.stringify({ status: next.status, progress: next.progress });
      if (line !== lastLine) printJsonLine(io, { event: 'progress', job: next.id, status: next.status, progress: next.progress });
      lastLine = line;
    } else if (next.progress.bytesDone > 0 || next.progress.bytesTotal !== null) {
      progress.update(label, next.progress.bytesDone, next.progress.bytesTotal ?? next.progress.bytesDone);
    }
  };
  try {
    while (!isFinished(job.status)) {
      for await (const next of client.jobEvents(job.id, signal)) show(next);
      if (isFinished(job.status)) break;
      // The stream ended before the job did (server restart, proxy timeout): look again, then reconnect.
      show((await client.request<{ job: JobRecord }>('GET', `/api/jobs/${encodeURIComponent(job.id)}`, { signal })).job);
      if (!isFinished(job.status)) await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
    }
  } catch (error) {
    progress.done();
    if (signal.aborted) {
      // The user's Ctrl-C stops the server's job too; a fresh request, as the command's signal fired.
      await client.request('POST', `/api/jobs/${encodeURIComponent(job.id)}/cancel`).catch(() => undefined);
      throw new BovedaError('ABORTED', `cancelled: asked ${client.baseUrl} to cancel job ${job.id}`);
    }
    throw error;
  }
  progress.done();
  if (job.status === 'completed' || job.status === 'completed-with-warnings') return job;
  if (job.error) throw jobError(job.error);
  if (job.status === 'cancelled') throw new BovedaError('ABORTED', `job ${job.id} was cancelled`);
  throw new BovedaError('INTERNAL', `job ${job.id} ended ${job.status}`);
}
