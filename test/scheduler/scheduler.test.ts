/**
 * The scheduler in process: a catalog (in memory, or a temp file shared by two Catalog objects
 * standing for two processes), a ManualClock and a fake backup handler run through the real job
 * runner. Covers due slots, catch-up once, spreading, the concurrency limit (also across
 * processes), one backup of a VM at a time, stopped and soft-deleted items, orphans and stop().
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runJob } from '../../src/app/job-runner.js';
import { Catalog, type StoredJob } from '../../src/catalog/index.js';
import { spreadOffsetMs, type PolicyDefinition } from '../../src/core/index.js';
import { Scheduler, type SchedulerOptions, type TickReport } from '../../src/scheduler/index.js';
import { ManualClock } from '../../src/util/index.js';

const MIN = 60_000;
const SLOT = '2027-01-01T02:00:00.000Z';
/** A pid no process has (above Linux's largest pid_max). */
const DEAD_OWNER = `4194999@${hostname()}`;

function policy(name: string, time = '02:00'): PolicyDefinition {
  return {
    name, description: null, schedule: { kind: 'daily', time, timeZone: 'UTC' },
    retention: { dailyDays: 30, weekly: null, monthly: null, yearly: null }, instantRestoreDays: 2,
  };
}

/** Scheduled backups run by the real job runner; `hold` keeps them running until released. */
class FakeBackups {
  readonly started: StoredJob[] = [];
  readonly #gates = new Map<string, () => void>();
  hold = false;
  constructor(private readonly catalog: () => Catalog) {}

  readonly handler = (job: StoredJob, signal: AbortSignal) => {
    this.started.push(job);
    return runJob(this.catalog(), job, async (context) => {
      if (this.hold) {
        await new Promise<void>((resolve, reject) => {
          this.#gates.set(job.item!, resolve);
          context.signal.addEventListener('abort', () => reject(context.signal.reason as Error), { once: true });
        });
      }
      context.progress(100, 100);
      return { value: undefined, result: { pointId: `point-${job.item}` } };
    }, { signal, pollMs: 20 });
  };

  /** Lets the held backup of `vm` finish (waiting for it to reach its body first). */
  async release(vm: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!this.#gates.has(vm) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
    const gate = this.#gates.get(vm);
    assert.ok(gate, `a backup of ${vm} is held`);
    this.#gates.delete(vm);
    gate();
  }

  items(): string[] {
    return this.started.map((job) => job.item!);
  }
}

/** Ticks at `at` with the clock set there too (jobs record the clock's time). */
let tickClock: ManualClock;
async function tickAt(scheduler: Scheduler, at: string | number): Promise<TickReport> {
  tickClock.set(at);
  return scheduler.tick();
}

const outcomes = (report: TickReport) => report.entries.map((entry) => [entry.vmName, entry.slot, entry.outcome]);

async function scheduledJobs(catalog: Catalog): Promise<StoredJob[]> {
  return (await catalog.jobs.list({ type: 'backup' })).filter((job) => job.trigger === 'scheduled').reverse();
}

describe('Scheduler (in process, injected clock)', () => {
  let clock: ManualClock;
  let catalog: Catalog;
  let backups: FakeBackups;
  const scheduler = (options: Partial<SchedulerOptions> = {}) =>
    new Scheduler({ catalog, clock, runBackup: backups.handler, spreadWindowMs: 0, ...options });

  beforeEach(async () => {
    clock = new ManualClock('2027-01-01T00:00:00Z');
    tickClock = clock;
    catalog = await Catalog.openInMemory({ clock });
    backups = new FakeBackups(() => catalog);
    await catalog.policies.create(policy('nightly'));
  });
  afterEach(async () => {
    await catalog.close();
  });

  it('runs a slot at or after its time only, once; the job is scheduled, has the slot and completes', async () => {
    await catalog.items.create('a', 'nightly', '2027-01-01T00:00:00Z');
    const s = scheduler();
    assert.deepEqual(outcomes(await tickAt(s, '2027-01-01T01:59:59.999Z')), []);
    const report = await tickAt(s, SLOT);
    assert.deepEqual(outcomes(report), [['a', SLOT, 'started']]);
    assert.equal(report.running.length, 1);
    await Promise.all(report.running);
    const [job] = await scheduledJobs(catalog);
    assert.ok(job);
    assert.equal(job.id, report.entries[0]!.jobId);
    assert.deepEqual([job.type, job.item, job.trigger, job.slot, job.status, job.startedAt, job.result], ['backup', 'a', 'scheduled', SLOT, 'completed', SLOT, { pointId: 'point-a' }]);
    assert.deepEqual([job.progress.bytesDone, job.progress.bytesTotal, job.progress.percent], [100, 100, 100]);
    // The same slot again, and the rest of the day: nothing.
    assert.deepEqual(outcomes(await tickAt(s, SLOT)), []);
    assert.deepEqual(outcomes(await tickAt(s, '2027-01-02T01:59:00Z')), []);
    assert.equal((await catalog.items.get('a')).lastSlot, SLOT);
    assert.deepEqual(backups.items(), ['a']);
  });

  it('does not run slots before protection started', async () => {
    await catalog.items.create('a', 'nightly', '2027-01-01T02:00:00.001Z');
    assert.deepEqual(outcomes(await tickAt(scheduler(), '2027-01-01T23:00:00Z')), []);
    assert.deepEqual(outcomes(await tickAt(scheduler(), '2027-01-02T02:00:00Z')), [['a', '2027-01-02T02:00:00.000Z', 'started']]);
  });

  it('after downtime catches up once: only the latest missed slot', async () => {
    await catalog.items.create('a', 'nightly', '2027-01-01T00:00:00Z');
    const s = scheduler();
    await Promise.all((await tickAt(s, SLOT)).running);
    // Down for five days: the tick runs 2027-01-06 02:00 only.
    const late = await tickAt(s, '2027-01-06T09:30:00Z');
    assert.deepEqual(outcomes(late), [['a', '2027-01-06T02:00:00.000Z', 'started']]);
    await Promise.all(late.running);
    assert.deepEqual(outcomes(await tickAt(s, '2027-01-06T09:31:00Z')), []);
    assert.deepEqual(outcomes(await tickAt(s, '2027-01-07T01:00:00Z')), []);
    assert.deepEqual((await scheduledJobs(catalog)).map((job) => job.slot), [SLOT, '2027-01-06T02:00:00.000Z']);
    for (const day of ['02', '03', '04', '05']) assert.equal(await catalog.schedule.findClaim('a', `2027-01-${day}T02:00:00Z`), null);
  });

  it('spreads VMs sharing a slot: distinct deterministic start times within the window, none started before its own', async () => {
    const vms = ['alpha', 'bravo', 'charlie'];
    for (const vm of vms) await catalog.items.create(vm, 'nightly', '2027-01-01T00:00:00Z');
    const window = 30 * MIN;
    const s = scheduler({ spreadWindowMs: window });
    const slotMs = Date.parse(SLOT);
    const startAt = new Map(vms.map((vm) => [vm, slotMs + spreadOffsetMs(vm, window)]));
    const offsets = [...startAt.values()].map((at) => at - slotMs);
    assert.equal(new Set(offsets).size, 3, `distinct offsets ${offsets.join(', ')}`);
    for (const offset of offsets) assert.ok(offset >= 0 && offset < window, `offset ${offset} within the window`);
    // The offsets are a function of the name only.
    assert.deepEqual(vms.map((vm) => spreadOffsetMs(vm, window)), offsets);

    const first = await tickAt(s, SLOT);
    assert.deepEqual(first.entries.map((entry) => [entry.vmName, entry.startAt]), vms.map((vm) => [vm, new Date(startAt.get(vm)!).toISOString()]));
    const order = [...vms].sort((x, y) => startAt.get(x)! - startAt.get(y)!);
    for (const vm of order) {
      const at = startAt.get(vm)!;
      if (at > slotMs) {
        const early = await tickAt(s, at - 1);
        assert.equal(early.entries.find((entry) => entry.vmName === vm)!.outcome, 'waiting-for-spread');
      }
      const onTime = await tickAt(s, at);
      assert.deepEqual(onTime.entries.filter((entry) => entry.outcome === 'started').map((entry) => entry.vmName), [vm]);
      await Promise.all(onTime.running);
    }
    assert.deepEqual(backups.items(), order);
    assert.deepEqual(outcomes(await tickAt(s, slotMs + window)), []);
    const jobs = await scheduledJobs(catalog);
    assert.deepEqual(jobs.map((job) => [job.item, job.slot, job.startedAt]), order.map((vm) => [vm, SLOT, new Date(startAt.get(vm)!).toISOString()]));
  });

  it('keeps the spread window of an hourly schedule within half the time between its slots', async () => {
    await catalog.policies.create({ ...policy('hourly'), schedule: { kind: 'hourly', everyHours: 4, windowStart: '00:00', windowHours: 24, timeZone: 'UTC' } });
    await catalog.items.create('h', 'hourly', '2027-01-01T00:00:00Z');
    const report = await tickAt(scheduler({ spreadWindowMs: 24 * 60 * MIN }), '2027-01-01T00:00:00Z');
    assert.equal(report.entries[0]!.startAt, new Date(Date.parse('2027-01-01T00:00:00Z') + spreadOffsetMs('h', 2 * 60 * MIN)).toISOString());
  });

  it('limits concurrent backups: with 1, the second VM waits for a later tick', async () => {
    for (const vm of ['a', 'b']) await catalog.items.create(vm, 'nightly', '2027-01-01T00:00:00Z');
    backups.hold = true;
    const s = scheduler({ maxConcurrentBackups: 1 });
    const first = await tickAt(s, SLOT);
    assert.deepEqual(outcomes(first), [['a', SLOT, 'started'], ['b', SLOT, 'limit']]);
    clock.set('2027-01-01T02:05:00Z');
    assert.deepEqual(outcomes(await s.tick()), [['b', SLOT, 'limit']]);
    await backups.release('a');
    await Promise.all(first.running);
    const second = await s.tick();
    assert.deepEqual(outcomes(second), [['b', SLOT, 'started']]);
    await backups.release('b');
    await Promise.all(second.running);
    assert.deepEqual(outcomes(await s.tick()), []);
    assert.deepEqual(backups.items(), ['a', 'b']);
    assert.deepEqual((await scheduledJobs(catalog)).map((job) => [job.item, job.status, job.startedAt]), [['a', 'completed', SLOT], ['b', 'completed', '2027-01-01T02:05:00.000Z']]);
  });

  it('never runs two backups of one VM: an on-demand backup in progress makes the scheduled one wait, then it runs once', async () => {
    await catalog.items.create('a', 'nightly', '2027-01-01T00:00:00Z');
    clock.set(SLOT);
    const onDemand = await catalog.jobs.create({ type: 'backup', item: 'a', trigger: 'on-demand', owner: `${process.pid}@${hostname()}` });
    await catalog.jobs.start(onDemand.id, `${process.pid}@${hostname()}`);
    const s = scheduler();
    assert.deepEqual(outcomes(await s.tick()), [['a', SLOT, 'busy']]);
    assert.equal(await catalog.schedule.findClaim('a', SLOT), null, 'a busy VM does not consume its slot');
    // A queued one counts too.
    await catalog.jobs.finish(onDemand.id, { status: 'completed' });
    const queued = await catalog.jobs.create({ type: 'backup', item: 'a', trigger: 'on-demand', owner: `${process.pid}@${hostname()}` });
    clock.set('2027-01-01T02:01:00Z');
    assert.deepEqual(outcomes(await s.tick()), [['a', SLOT, 'busy']]);
    await catalog.jobs.requestCancel(queued.id);
    clock.set('2027-01-01T02:02:00Z');
    const report = await s.tick();
    assert.deepEqual(outcomes(report), [['a', SLOT, 'started']]);
    await Promise.all(report.running);
    assert.deepEqual(outcomes(await s.tick()), []);
    assert.deepEqual((await scheduledJobs(catalog)).map((job) => [job.slot, job.startedAt, job.status]), [[SLOT, '2027-01-01T02:02:00.000Z', 'completed']]);
    // And a scheduled backup in progress refuses an on-demand one (the catalog's exclusiveWith).
    backups.hold = true;
    const next = await tickAt(s, '2027-01-02T02:00:00Z');
    await assert.rejects(catalog.jobs.create({ type: 'backup', item: 'a', trigger: 'on-demand', exclusiveWith: ['backup'] }), /VM "a" is busy: backup job/);
    await backups.release('a');
    await Promise.all(next.running);
  });

  it('gives stopped and soft-deleted items no backups', async () => {
    for (const vm of ['kept', 'stopped', 'deleted']) await catalog.items.create(vm, 'nightly', '2027-01-01T00:00:00Z');
    await catalog.items.transition('stopped', ['protected'], { state: 'stopped-retain', stoppedAt: '2027-01-01T01:00:00Z' });
    await catalog.items.transition('deleted', ['protected'], {
      state: 'soft-deleted', softDeletedAt: '2027-01-01T01:00:00Z', purgeAfter: '2027-01-15T01:00:00Z', stateBeforeDelete: 'protected',
    });
    const report = await tickAt(scheduler(), SLOT);
    assert.deepEqual(outcomes(report), [['kept', SLOT, 'started']]);
    await Promise.all(report.running);
    assert.deepEqual(backups.items(), ['kept']);
    assert.equal(await catalog.schedule.findClaim('stopped', SLOT), null);
    assert.equal(await catalog.schedule.findClaim('deleted', SLOT), null);
  });

  it('fails orphans at each tick (naming the dead process), which frees their VM for the slot', async () => {
    await catalog.items.create('a', 'nightly', '2027-01-01T00:00:00Z');
    const orphan = await catalog.jobs.create({ type: 'backup', item: 'a', trigger: 'on-demand', owner: DEAD_OWNER });
    await catalog.jobs.start(orphan.id, DEAD_OWNER);
    const report = await tickAt(scheduler(), SLOT);
    assert.deepEqual(report.orphansFailed.map((job) => [job.id, job.status, job.error]), [[orphan.id, 'failed', { code: 'INTERNAL', message: `the process running the job (pid 4194999 on ${hostname()}) died` }]]);
    assert.equal(report.orphansFailed[0]!.endedAt, SLOT);
    assert.deepEqual(outcomes(report), [['a', SLOT, 'started']]);
    await Promise.all(report.running);
  });

  it('judges heartbeats stale only when asked to (a scheduler on a shifted clock passes Infinity)', async () => {
    const remote = await catalog.jobs.create({ type: 'backup', item: 'r', trigger: 'on-demand' });
    await catalog.jobs.start(remote.id, '77@another-host', '2027-01-01T00:00:00Z');
    assert.deepEqual((await tickAt(scheduler({ orphanStaleAfterMs: Infinity }), '2027-06-01T00:00:00Z')).orphansFailed, []);
    assert.equal((await catalog.jobs.get(remote.id)).status, 'in-progress');
    const failed = (await tickAt(scheduler(), '2027-01-01T00:10:00.001Z')).orphansFailed;
    assert.deepEqual(failed.map((job) => job.id), [remote.id]);
    assert.match(failed[0]!.error!.message, /pid 77 on another-host\) stopped reporting: its last heartbeat was at 2027-01-01T00:00:00.000Z, more than 600 s/);
  });

  it('stop() cancels running backups (their jobs end cancelled) and claims nothing more', async () => {
    for (const vm of ['a', 'b']) await catalog.items.create(vm, 'nightly', '2027-01-01T00:00:00Z');
    backups.hold = true;
    const s = scheduler({ maxConcurrentBackups: 1 });
    const report = await tickAt(s, SLOT);
    assert.deepEqual(outcomes(report), [['a', SLOT, 'started'], ['b', SLOT, 'limit']]);
    await s.stop();
    await s.stop();
    const [job] = await scheduledJobs(catalog);
    assert.deepEqual([job!.item, job!.status, job!.error?.code], ['a', 'cancelled', 'ABORTED']);
    assert.deepEqual(outcomes(await tickAt(s, '2027-01-01T02:30:00Z')), [['b', SLOT, 'stopping']]);
    assert.equal(await catalog.schedule.findClaim('b', SLOT), null);
  });

  it('start(intervalMs) ticks on the clock until stop()', async () => {
    await catalog.items.create('a', 'nightly', '2027-01-01T00:00:00Z');
    clock.set(SLOT);
    const reports: TickReport[] = [];
    const s = scheduler();
    s.start(10, (report) => reports.push(report));
    const deadline = Date.now() + 5000;
    while (backups.started.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    while (reports.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await s.stop();
    assert.deepEqual(backups.items(), ['a']);
    assert.ok(reports.length >= 3);
    assert.deepEqual(reports.slice(1).flatMap((report) => report.entries), [], 'later ticks find nothing due');
  });
});

// Two Catalog objects in ONE process cannot run write transactions at once (better-sqlite3 waits
// for the lock synchronously, blocking the event loop the other needs to commit): concurrent ticks
// of two processes are tested end to end (test/cli/scheduler-cli.test.ts). Here the other process
// only leaves its jobs in the catalog file.
describe('Scheduler with another process on the catalog file', () => {
  let work: string;
  let clock: ManualClock;
  let other: Catalog;
  let mine: Catalog;
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-scheduler-'));
    clock = new ManualClock(SLOT);
    other = await Catalog.open(join(work, 'catalog.db'), { clock });
    mine = await Catalog.open(join(work, 'catalog.db'), { clock });
    await other.policies.create(policy('nightly'));
    for (const vm of ['a', 'b', 'c', 'd', 'e']) await other.items.create(vm, 'nightly', '2027-01-01T00:00:00Z');
  });
  afterEach(async () => {
    await other.close();
    await mine.close();
    await rm(work, { recursive: true, force: true });
  });

  it('keeps the concurrency limit across processes: queued and running scheduled backups of the other count', async () => {
    const owner = `${process.pid}@${hostname()}`;
    assert.ok(await other.schedule.claim('a', SLOT, { owner }), 'claimed, not started yet');
    const b = await other.schedule.claim('b', SLOT, { owner });
    await other.jobs.start(b!.id, owner);
    const backups = new FakeBackups(() => mine);
    backups.hold = true;
    const report = await new Scheduler({ catalog: mine, clock, spreadWindowMs: 0, maxConcurrentBackups: 3, runBackup: backups.handler }).tick();
    assert.deepEqual(outcomes(report).map(([vm, , outcome]) => `${vm} ${outcome}`), ['c started', 'd limit', 'e limit']);
    assert.equal((await mine.jobs.list({ status: ['queued', 'in-progress'] })).length, 3);
    assert.equal(await mine.schedule.findClaim('d', SLOT), null);
    await backups.release('c');
    await Promise.all(report.running);
  });

  it('sees the other process\'s claim: a slot it claimed is not run again', async () => {
    const owner = `${process.pid}@${hostname()}`;
    for (const vm of ['a', 'b', 'c', 'd', 'e']) assert.ok(await other.schedule.claim(vm, SLOT, { owner }));
    const backups = new FakeBackups(() => mine);
    const report = await new Scheduler({ catalog: mine, clock, spreadWindowMs: 0, maxConcurrentBackups: 10, runBackup: backups.handler }).tick();
    assert.deepEqual(report.entries, []);
    assert.deepEqual(backups.started, []);
    assert.equal((await mine.schedule.tryClaim('a', SLOT)).outcome, 'claimed-elsewhere');
  });
});
