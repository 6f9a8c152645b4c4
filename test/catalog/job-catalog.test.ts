import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Catalog, currentJobOwner, isJobOwnerAlive, parseJobOwner } from '../../src/catalog/index.js';
import { ManualClock } from '../../src/util/index.js';
import { coded } from './helpers.js';

describe('JobCatalog', () => {
  let catalog: Catalog;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock('2026-11-22T23:15:00Z');
    catalog = await Catalog.openInMemory({ clock });
  });
  afterEach(async () => {
    await catalog.close();
  });

  it('queues a job with a time-ordered id and empty progress', async () => {
    const job = await catalog.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand' });
    assert.match(job.id, /^20261122-231500-[0-9a-f]{6}$/);
    assert.deepEqual({ ...job, id: '' }, {
      id: '', type: 'backup', item: 'web', trigger: 'on-demand', status: 'queued',
      queuedAt: '2026-11-22T23:15:00.000Z', startedAt: null, endedAt: null, durationSeconds: null,
      progress: { bytesDone: 0, bytesTotal: null, percent: null, bytesPerSecond: null },
      warnings: [], error: null, result: null, cancelRequested: false, slot: null, owner: null, heartbeatAt: null,
    });
    assert.deepEqual(await catalog.jobs.get(job.id), job);
    const cleanup = await catalog.jobs.create({ type: 'cleanup', trigger: 'scheduled', slot: '2026-11-23T00:00:00+01:00' });
    assert.equal(cleanup.item, null);
    assert.equal(cleanup.slot, '2026-11-22T23:00:00.000Z');
    await assert.rejects(catalog.jobs.create({ type: 'dance' as never, trigger: 'on-demand' }), coded('INVALID_ARGUMENT', /unknown job type "dance"/));
    await assert.rejects(catalog.jobs.create({ type: 'backup', trigger: 'whenever' as never }), coded('INVALID_ARGUMENT', /unknown job trigger/));
    await assert.rejects(catalog.jobs.get('nope'), coded('JOB_NOT_FOUND', /no job with id "nope"/));
    assert.equal(await catalog.jobs.find('nope'), null);
  });

  it('runs the forward-only state machine: start, progress (heartbeat), warnings, finish', async () => {
    const job = await catalog.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand' });
    await assert.rejects(catalog.jobs.progress(job.id, { bytesDone: 1 }), coded('INVALID_STATE', new RegExp(`job ${job.id} is queued and cannot be given progress`)));
    await assert.rejects(catalog.jobs.finish(job.id, { status: 'completed' }), coded('INVALID_STATE', /is queued and cannot be finished/));
    clock.advance(2000);
    assert.equal(await catalog.jobs.start(job.id, '123@host'), true);
    await assert.rejects(catalog.jobs.start(job.id, '123@host'), coded('INVALID_STATE', /is in-progress and cannot be started/));
    let running = await catalog.jobs.get(job.id);
    assert.deepEqual([running.status, running.startedAt, running.owner, running.heartbeatAt], ['in-progress', '2026-11-22T23:15:02.000Z', '123@host', '2026-11-22T23:15:02.000Z']);
    clock.advance(3000);
    running = await catalog.jobs.progress(job.id, { bytesDone: 500, bytesTotal: 1000, percent: 50, bytesPerSecond: 166.5 });
    assert.deepEqual(running.progress, { bytesDone: 500, bytesTotal: 1000, percent: 50, bytesPerSecond: 166.5 });
    assert.equal(running.heartbeatAt, '2026-11-22T23:15:05.000Z');
    running = await catalog.jobs.progress(job.id, { bytesDone: 800 }, '2026-11-22T23:15:06Z');
    assert.deepEqual(running.progress, { bytesDone: 800, bytesTotal: 1000, percent: 50, bytesPerSecond: 166.5 });
    await assert.rejects(catalog.jobs.progress(job.id, { percent: -1 }), coded('INVALID_ARGUMENT', /percent must be a non-negative number/));
    await catalog.jobs.addWarning(job.id, 'pre-script failed, fell back to crash-consistent');
    clock.advance(5000);
    const done = await catalog.jobs.finish(job.id, { status: 'completed', result: { pointId: 'abcd', expiresAt: '2026-12-22T23:15:00Z', nested: { list: [1, 2] } }, warnings: ['disk1 grew'] });
    assert.equal(done.status, 'completed-with-warnings');
    assert.deepEqual(done.warnings, ['pre-script failed, fell back to crash-consistent', 'disk1 grew']);
    assert.deepEqual(done.result, { pointId: 'abcd', expiresAt: '2026-12-22T23:15:00Z', nested: { list: [1, 2] } });
    assert.equal(done.endedAt, '2026-11-22T23:15:10.000Z');
    assert.equal(done.durationSeconds, 8);
    assert.equal(done.error, null);
    // Forward only: nothing moves a finished job.
    await assert.rejects(catalog.jobs.finish(job.id, { status: 'failed', error: { code: 'INTERNAL', message: 'x' } }), coded('INVALID_STATE', /already ended \(completed-with-warnings\)/));
    await assert.rejects(catalog.jobs.start(job.id, '1@h'), coded('INVALID_STATE', /already ended/));
    await assert.rejects(catalog.jobs.addWarning(job.id, 'late'), coded('INVALID_STATE', /already ended/));
    await assert.rejects(catalog.jobs.requestCancel(job.id), coded('INVALID_STATE', /already ended \(completed-with-warnings\) and cannot be cancelled/));
  });

  it('finishes as failed with an error code and message; refuses outcomes that do not fit', async () => {
    const job = await catalog.jobs.create({ type: 'backup', item: 'gone', trigger: 'scheduled' });
    await catalog.jobs.start(job.id, currentJobOwner());
    await assert.rejects(catalog.jobs.finish(job.id, { status: 'failed' }), coded('INVALID_ARGUMENT', /cannot fail without an error/));
    await assert.rejects(catalog.jobs.finish(job.id, { status: 'completed', error: { code: 'X', message: 'y' } }), coded('INVALID_ARGUMENT', /cannot be completed with an error/));
    await assert.rejects(catalog.jobs.finish(job.id, { status: 'queued' as never }), coded('INVALID_ARGUMENT', /cannot finish as "queued"/));
    const failed = await catalog.jobs.finish(job.id, { status: 'failed', error: { code: 'VM_NOT_FOUND', message: 'no VM named "gone"' } });
    assert.deepEqual([failed.status, failed.error], ['failed', { code: 'VM_NOT_FOUND', message: 'no VM named "gone"' }]);
    const plain = await catalog.jobs.create({ type: 'verify', trigger: 'on-demand' });
    await catalog.jobs.start(plain.id, '1@h');
    assert.equal((await catalog.jobs.finish(plain.id, { status: 'completed' })).status, 'completed');
  });

  it('cancels a queued job at once (start then says false) and asks an in-progress one to stop', async () => {
    const queued = await catalog.jobs.create({ type: 'restore', item: 'web', trigger: 'on-demand' });
    const cancelled = await catalog.jobs.requestCancel(queued.id);
    assert.deepEqual([cancelled.status, cancelled.endedAt, cancelled.cancelRequested], ['cancelled', '2026-11-22T23:15:00.000Z', true]);
    assert.equal(await catalog.jobs.start(queued.id, '1@h'), false);
    assert.equal((await catalog.jobs.get(queued.id)).status, 'cancelled');
    await assert.rejects(catalog.jobs.requestCancel(queued.id), coded('INVALID_STATE', /already ended \(cancelled\)/));

    const running = await catalog.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand' });
    await catalog.jobs.start(running.id, '1@h');
    assert.equal((await catalog.jobs.progress(running.id, { bytesDone: 1 })).cancelRequested, false);
    const asked = await catalog.jobs.requestCancel(running.id);
    assert.deepEqual([asked.status, asked.cancelRequested], ['in-progress', true]);
    assert.equal((await catalog.jobs.requestCancel(running.id)).cancelRequested, true);
    assert.equal((await catalog.jobs.progress(running.id, { bytesDone: 2 })).cancelRequested, true);
    const ended = await catalog.jobs.finish(running.id, { status: 'cancelled', error: { code: 'ABORTED', message: 'cancelled by job cancel' } });
    assert.deepEqual([ended.status, ended.error?.code], ['cancelled', 'ABORTED']);
    await assert.rejects(catalog.jobs.requestCancel('nope'), coded('JOB_NOT_FOUND', /nope/));
  });

  it('lists newest first, filtered by status, item and type, with a limit', async () => {
    const ids: string[] = [];
    for (const [type, item] of [['backup', 'web'], ['backup', 'db'], ['restore', 'web'], ['cleanup', null], ['backup', 'web']] as const) {
      ids.push((await catalog.jobs.create({ type, item, trigger: 'on-demand' })).id);
      if (ids.length === 2) clock.advance(1000); // the others share a queueing second: insertion order breaks the tie
    }
    await catalog.jobs.start(ids[0]!, '1@h');
    assert.deepEqual((await catalog.jobs.list()).map((job) => job.id), [...ids].reverse());
    assert.deepEqual((await catalog.jobs.list({ item: 'web' })).map((job) => job.id), [ids[4], ids[2], ids[0]]);
    assert.deepEqual((await catalog.jobs.list({ item: 'web', type: 'backup' })).map((job) => job.id), [ids[4], ids[0]]);
    assert.deepEqual((await catalog.jobs.list({ status: 'in-progress' })).map((job) => job.id), [ids[0]]);
    assert.deepEqual((await catalog.jobs.list({ status: ['in-progress', 'queued'], limit: 2 })).map((job) => job.id), [ids[4], ids[3]]);
    assert.deepEqual(await catalog.jobs.list({ status: [] }), []);
    await assert.rejects(catalog.jobs.list({ limit: 0 }), coded('INVALID_ARGUMENT', /limit must be a positive integer/));
    assert.deepEqual((await catalog.jobs.running('web', 'backup')).map((job) => job.id), [ids[4], ids[0]]);
    assert.deepEqual((await catalog.jobs.running('web')).map((job) => job.id), [ids[4], ids[2], ids[0]]);
    assert.deepEqual(await catalog.jobs.running('nope'), []);
  });

  it('refuses a second exclusive job of the same VM (VM_BUSY naming the running one) until it ends', async () => {
    const first = await catalog.jobs.create({ type: 'backup', item: 'web', trigger: 'scheduled', exclusiveWith: ['backup', 'restore'] });
    await assert.rejects(catalog.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand', exclusiveWith: ['backup', 'restore'] }), coded('VM_BUSY', new RegExp(`VM "web" is busy: backup job ${first.id} is queued`)));
    await catalog.jobs.start(first.id, '1@h');
    await assert.rejects(catalog.jobs.create({ type: 'restore', item: 'web', trigger: 'on-demand', exclusiveWith: ['backup', 'restore'] }), coded('VM_BUSY', /in progress/));
    await catalog.jobs.create({ type: 'backup', item: 'db', trigger: 'on-demand', exclusiveWith: ['backup'] });
    await catalog.jobs.create({ type: 'verify', item: 'web', trigger: 'on-demand', exclusiveWith: ['verify'] });
    await catalog.jobs.finish(first.id, { status: 'completed' });
    await catalog.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand', exclusiveWith: ['backup', 'restore'] });
  });

  it('resolves a job by its id or a unique prefix; JOB_NOT_FOUND / INVALID_ARGUMENT when ambiguous', async () => {
    const a = await catalog.jobs.create({ type: 'backup', item: 'web', trigger: 'on-demand' });
    const b = await catalog.jobs.create({ type: 'backup', item: 'db', trigger: 'on-demand' });
    clock.advance(3_600_000);
    const c = await catalog.jobs.create({ type: 'backup', item: 'db', trigger: 'on-demand' });
    assert.equal((await catalog.jobs.resolve(a.id)).id, a.id);
    assert.equal((await catalog.jobs.resolve(` ${c.id} `)).id, c.id);
    assert.equal((await catalog.jobs.resolve('20261123-0015')).id, c.id);
    assert.equal((await catalog.jobs.resolve(c.id.slice(0, 16))).id, c.id);
    if (a.id.slice(16, 18) !== b.id.slice(16, 18)) assert.equal((await catalog.jobs.resolve(a.id.slice(0, 18))).id, a.id);
    await assert.rejects(catalog.jobs.resolve('20261122-2315'), coded('INVALID_ARGUMENT', new RegExp(`prefix "20261122-2315" is ambiguous: it matches (${a.id}|${b.id}), (${a.id}|${b.id})`)));
    await assert.rejects(catalog.jobs.resolve('2026'), coded('INVALID_ARGUMENT', /ambiguous/));
    await assert.rejects(catalog.jobs.resolve('2025'), coded('JOB_NOT_FOUND', /no job with id "2025" or an id starting with it/));
    await assert.rejects(catalog.jobs.resolve('%'), coded('JOB_NOT_FOUND', /"%"/));
    await assert.rejects(catalog.jobs.resolve('_'), coded('JOB_NOT_FOUND', /"_"/));
    await assert.rejects(catalog.jobs.resolve(''), coded('INVALID_ARGUMENT', /job id \(or a prefix of one\) is required/));
  });

  it('fails orphans: jobs of a dead process, and in-progress jobs whose heartbeat is stale', async () => {
    const dead = await catalog.jobs.create({ type: 'backup', item: 'a', trigger: 'scheduled' });
    const stale = await catalog.jobs.create({ type: 'backup', item: 'b', trigger: 'scheduled' });
    const healthy = await catalog.jobs.create({ type: 'backup', item: 'c', trigger: 'scheduled' });
    const queuedByDead = await catalog.jobs.create({ type: 'backup', item: 'd', trigger: 'scheduled', owner: '999@here' });
    const queuedNoOwner = await catalog.jobs.create({ type: 'backup', item: 'e', trigger: 'scheduled' });
    const finished = await catalog.jobs.create({ type: 'backup', item: 'f', trigger: 'scheduled' });
    await catalog.jobs.start(dead.id, '999@here');
    await catalog.jobs.start(stale.id, '111@elsewhere');
    await catalog.jobs.start(healthy.id, '222@here');
    await catalog.jobs.start(finished.id, '999@here');
    await catalog.jobs.finish(finished.id, { status: 'completed' });
    clock.advance(11 * 60_000);
    await catalog.jobs.progress(healthy.id, { bytesDone: 10 });
    const alive = (owner: string) => owner !== '999@here';
    const failed = await catalog.jobs.failOrphans({ isOwnerAlive: alive });
    assert.deepEqual(failed.map((job) => job.id).sort(), [dead.id, stale.id, queuedByDead.id].sort());
    const byId = new Map(failed.map((job) => [job.id, job]));
    assert.deepEqual(byId.get(dead.id)!.error, { code: 'INTERNAL', message: 'the process running the job (pid 999 on here) died' });
    assert.equal(byId.get(dead.id)!.status, 'failed');
    assert.equal(byId.get(dead.id)!.endedAt, '2026-11-22T23:26:00.000Z');
    assert.match(byId.get(stale.id)!.error!.message, /the process running the job \(pid 111 on elsewhere\) stopped reporting: its last heartbeat was at 2026-11-22T23:15:00.000Z, more than 600 s before 2026-11-22T23:26:00.000Z/);
    assert.match(byId.get(queuedByDead.id)!.error!.message, /the process that queued the job \(pid 999 on here\) died before starting it/);
    assert.equal((await catalog.jobs.get(healthy.id)).status, 'in-progress');
    assert.equal((await catalog.jobs.get(queuedNoOwner.id)).status, 'queued');
    assert.equal((await catalog.jobs.get(finished.id)).status, 'completed');
    assert.deepEqual(await catalog.jobs.failOrphans({ isOwnerAlive: alive }), []);
    // A custom threshold.
    clock.advance(30_000);
    assert.deepEqual((await catalog.jobs.failOrphans({ isOwnerAlive: alive, staleAfterMs: 10_000 })).map((job) => job.id), [healthy.id]);
  });

  it('tells live local processes from dead ones by pid ("pid@host")', () => {
    const me = currentJobOwner();
    assert.deepEqual(parseJobOwner(me), { pid: process.pid, host: hostname() });
    assert.equal(parseJobOwner('nonsense'), null);
    assert.equal(parseJobOwner('0@h'), null);
    assert.equal(isJobOwnerAlive(me), true);
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    assert.equal(isJobOwnerAlive(`${gone.stdout.trim()}@${hostname()}`), false);
    assert.equal(isJobOwnerAlive(`${gone.stdout.trim()}@some-other-host`), true);
    assert.equal(isJobOwnerAlive('not an owner'), true);
  });
});
