/**
 * The job runner in process: statuses (completed, with warnings, failed with a code, cancelled by a
 * signal or by `job cancel` from another Catalog on the same file), progress, rate and heartbeat.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runJob, runNewJob, type JobContext } from '../../src/app/job-runner.js';
import { Catalog, currentJobOwner, type StoredJob } from '../../src/catalog/index.js';
import { BovedaError } from '../../src/core/index.js';
import { ManualClock } from '../../src/util/index.js';

const T0 = '2027-01-01T02:00:00.000Z';

/** Resolves when `signal` aborts (rejecting with its reason), or after `ms`. */
function waitOrAbort(signal: AbortSignal, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    }, { once: true });
  });
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await sleep(5);
  }
}

describe('runJob', () => {
  let clock: ManualClock;
  let catalog: Catalog;
  beforeEach(async () => {
    clock = new ManualClock(T0);
    catalog = await Catalog.openInMemory({ clock });
  });
  afterEach(async () => {
    await catalog.close();
  });

  const queue = () => catalog.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand' });

  it('completes: in progress while the body runs, then completed with its result, progress at 100 % and a rate', async () => {
    const job = await queue();
    let during: StoredJob | undefined;
    const updates: string[] = [];
    const outcome = await runJob(catalog, job, async (context) => {
      during = await catalog.jobs.get(context.jobId);
      context.progress(0, 4096);
      await sleep(30);
      context.progress(4096, 4096);
      clock.advance(2500);
      return { value: 42, result: { pointId: 'p1', expiresAt: null } };
    }, { onUpdate: (update) => updates.push(update.status) });
    assert.equal(outcome.value, 42);
    assert.equal(outcome.error, undefined);
    assert.deepEqual([during!.status, during!.startedAt, during!.owner, during!.heartbeatAt], ['in-progress', T0, currentJobOwner(), T0]);
    const done = outcome.job;
    assert.deepEqual([done.status, done.startedAt, done.endedAt, done.durationSeconds, done.result, done.error, done.warnings], ['completed', T0, '2027-01-01T02:00:02.500Z', 2.5, { pointId: 'p1', expiresAt: null }, null, []]);
    assert.deepEqual([done.progress.bytesDone, done.progress.bytesTotal, done.progress.percent], [4096, 4096, 100]);
    assert.ok(typeof done.progress.bytesPerSecond === 'number' && done.progress.bytesPerSecond > 0, `a rate: ${done.progress.bytesPerSecond}`);
    assert.ok(done.progress.bytesPerSecond <= 4096 / 0.03, `the rate over the transfer: ${done.progress.bytesPerSecond}`);
    assert.equal(updates.at(-1), 'completed');
    assert.deepEqual(await catalog.jobs.get(job.id), done);
  });

  it('completes with warnings: from context.warn and from the body\'s result', async () => {
    const outcome = await runJob(catalog, await queue(), async (context) => {
      context.warn('pre-script failed, fell back to crash-consistent');
      return { value: null, result: {}, warnings: ['disk1: no snapshot'] };
    });
    assert.equal(outcome.job.status, 'completed-with-warnings');
    assert.deepEqual(outcome.job.warnings, ['pre-script failed, fell back to crash-consistent', 'disk1: no snapshot']);
    assert.equal(outcome.job.error, null);
  });

  it('fails with the body\'s error code and message; a foreign error becomes INTERNAL', async () => {
    const failed = await runJob(catalog, await queue(), async () => {
      throw new BovedaError('VM_NOT_FOUND', 'no VM named "web"');
    });
    assert.deepEqual([failed.job.status, failed.job.error, failed.error?.code], ['failed', { code: 'VM_NOT_FOUND', message: 'no VM named "web"' }, 'VM_NOT_FOUND']);
    assert.ok(failed.job.endedAt);
    const foreign = await runJob(catalog, await queue(), async () => {
      throw new TypeError('boom');
    });
    assert.equal(foreign.job.status, 'failed');
    assert.equal(foreign.job.error!.code, 'INTERNAL');
    assert.match(foreign.job.error!.message, /boom/);
  });

  it('is cancelled by its AbortSignal (Ctrl-C, serve stopping): status cancelled, ABORTED, no result', async () => {
    const controller = new AbortController();
    const run = runJob(catalog, await queue(), async (context) => {
      setTimeout(() => controller.abort(new Error('interrupted')), 20);
      await waitOrAbort(context.signal);
      return { value: 'never', result: { pointId: 'never' } };
    }, { signal: controller.signal });
    const outcome = await run;
    assert.deepEqual([outcome.job.status, outcome.job.error?.code, outcome.job.result, outcome.value], ['cancelled', 'ABORTED', null, undefined]);
    assert.equal(outcome.error?.code, 'ABORTED');
  });

  it('a job cancelled before it started never runs its body', async () => {
    const job = await queue();
    await catalog.jobs.requestCancel(job.id);
    let ran = false;
    const outcome = await runJob(catalog, job, async () => {
      ran = true;
      return { value: 1, result: {} };
    });
    assert.equal(ran, false);
    assert.equal(outcome.error?.code, 'ABORTED');
    assert.equal(outcome.job.status, 'cancelled');
  });

  it('runNewJob refuses a second exclusive job of the VM (VM_BUSY naming the first) and records none', async () => {
    const first = await queue();
    await assert.rejects(runNewJob(catalog, { type: 'backup', item: 'web', trigger: 'on-demand', exclusiveWith: ['backup'] }, async () => ({ value: 1, result: {} })),
      (error: unknown) => error instanceof BovedaError && error.code === 'VM_BUSY' && error.message.includes(first.id));
    assert.equal((await catalog.jobs.list()).length, 1);
  });

  it('writes progress and a heartbeat every pollMs while the body runs', async () => {
    const job = await queue();
    let seen: StoredJob | undefined;
    const outcome = await runJob(catalog, job, async (context) => {
      context.progress(1000, 4000);
      await sleep(30);
      context.progress(2000, 4000);
      clock.advance(7000);
      seen = await until(() => catalog.jobs.get(job.id), (now) => now.heartbeatAt === '2027-01-01T02:00:07.000Z' && now.progress.bytesDone === 2000, 'a heartbeat with the latest progress');
      return { value: null, result: {} };
    }, { pollMs: 20 });
    assert.deepEqual([seen!.progress.bytesDone, seen!.progress.bytesTotal, seen!.progress.percent], [2000, 4000, 50]);
    assert.ok(seen!.progress.bytesPerSecond! > 0);
    assert.equal(outcome.job.status, 'completed');
  });
});

describe('runJob with another process on the catalog file', () => {
  let work: string;
  let mine: Catalog;
  let other: Catalog;
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-job-runner-'));
    mine = await Catalog.open(join(work, 'catalog.db'));
    other = await Catalog.open(join(work, 'catalog.db'));
  });
  afterEach(async () => {
    await mine.close();
    await other.close();
    await rm(work, { recursive: true, force: true });
  });

  it('is cancelled by `job cancel` from another process: cancelRequested, then cancelled at the next poll', async () => {
    const job = await mine.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand' });
    let context: JobContext | undefined;
    const run = runJob(mine, job, async (ctx) => {
      context = ctx;
      ctx.progress(10, 100);
      await waitOrAbort(ctx.signal);
      return { value: null, result: { pointId: 'never' } };
    }, { pollMs: 20 });
    await until(() => other.jobs.get(job.id), (now) => now.status === 'in-progress', 'the job to start');
    const requested = await other.jobs.requestCancel(job.id);
    assert.deepEqual([requested.status, requested.cancelRequested], ['in-progress', true]);
    const outcome = await run;
    assert.equal(context!.signal.aborted, true);
    assert.deepEqual([outcome.job.status, outcome.job.error?.code, outcome.job.result], ['cancelled', 'ABORTED', null]);
    assert.match(outcome.job.error!.message, new RegExp(`job ${job.id} was cancelled`));
    assert.equal((await other.jobs.get(job.id)).status, 'cancelled');
  });

  it('stops working on a job another process failed as an orphan, and reports it as that process left it', async () => {
    const job = await mine.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand' });
    let aborted = false;
    const run = runJob(mine, job, async (ctx) => {
      try {
        await waitOrAbort(ctx.signal);
      } catch (error) {
        aborted = true;
        throw error;
      }
      return { value: null, result: {} };
    }, { pollMs: 20 });
    await until(() => other.jobs.get(job.id), (now) => now.status === 'in-progress', 'the job to start');
    const [orphan] = await other.jobs.failOrphans({ isOwnerAlive: () => false });
    assert.equal(orphan?.id, job.id);
    const outcome = await run;
    assert.equal(aborted, true);
    assert.equal(outcome.job.status, 'failed');
    assert.match(outcome.job.error!.message, /the process running the job \(pid \d+ on .*\) died/);
  });
});
