/**
 * The protection lifecycle end to end, as a user (or cron) drives it: real `boveda` processes, a
 * real vault and SQLite catalog in a temporary data directory, image files of seeded random data
 * (which does not compress, so every 16 KiB block is 16384 plaintext bytes). Time moves with
 * `--now`: scheduled points come from `scheduler tick --now T --spread-minutes 0` at the policy's
 * slots (daily 02:00 UTC → ticks at 02:10), so points carry those times.
 *
 * Covers: the seeds' three merge cases with exact bytes freed; an on-demand point's own retention;
 * a policy change shortening retention (dry run, then the change); stop protection with retained
 * data (kept forever, billed, resume) and with deleted data (soft delete, undelete, purge after 14
 * days, soft delete off); a VM deleted while protected; the seeds' billing example scaled down;
 * catalog rebuild from the vault; bad input (each a clear error, nothing changed).
 * (The scheduler's catch-up, spreading, serve and job cancel are covered elsewhere.)
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SeededRandom } from '../../src/util/index.js';
import { CliHarness, failed, type Run } from './harness.js';

/** The default vault's block size; random blocks do not compress: freed/live bytes are 16384 per block. */
const BLOCK = 16 * 1024;
const DAY_MS = 86_400_000;

/** 2027-01-DD at HH:MM:SS UTC. */
const jan = (day: number, time = '02:10:00') => `2027-01-${String(day).padStart(2, '0')}T${time}Z`;

interface PointJson {
  id: string;
  vm: string;
  createdAt: string;
  expiresAt: string | null;
  type: 'full' | 'incremental';
  trigger: 'scheduled' | 'on-demand';
  parentId: string | null;
  introducedBytes: number;
  uniqueBytes: number;
  disks: Array<{ name: string; role: string; sizeBytes: number; changedBlocks: number; zeroBlocks: number }>;
}

interface JobJson {
  id: string;
  type: string;
  item: string | null;
  trigger: string;
  status: string;
  slot: string | null;
  error: { code: string; message: string } | null;
  result: Record<string, unknown> | null;
}

interface TickJson {
  now: string;
  entries: Array<{ vmName: string; slot: string; outcome: string; jobId?: string }>;
  jobs: JobJson[];
}

interface CleanupJson {
  now: string;
  dryRun: boolean;
  removedPoints: number;
  purgedItems: string[];
  freedBlocks: number;
  freedBytes: number;
  jobId?: string;
  vms: Array<{
    vmName: string;
    state: string | null;
    purge: boolean;
    remove: Array<{ id: string; trigger: string; expiredAt: string | null; why: string }>;
    keptBy: Record<string, number>;
  }>;
}

interface UsageJson {
  vms: Array<{
    vmName: string; state: string | null; policyName: string | null; points: number; protectedBytes: number; storedBytes: number;
    billing: string; cost: { instanceFee: number; storageFee: number; total: number; tier: number } | null;
  }>;
  totals: { vms: number; billedVms: number; protectedBytes: number; storedBytes: number; cost: { total: number } | null };
  priceTable: { currency: string } | null;
}

interface ItemJson {
  item: { vmName: string; state: string; policyName: string | null; softDeletedAt: string | null; purgeAfter: string | null } | null;
  note: string | null;
}

const work = await mkdtemp(join(tmpdir(), 'boveda-lifecycle-'));
after(() => rm(work, { recursive: true, force: true }));
let labs = 0;

/** One scenario's world: a data directory with an initialized default vault, and its image files. */
class Lab {
  readonly h: CliHarness;
  readonly dir: string;
  /** The disk images' bytes at each point, to check restores byte for byte. */
  readonly images = new Map<string, Map<string, Buffer>>();
  private restores = 0;

  constructor(dir: string) {
    this.dir = dir;
    this.h = new CliHarness(join(dir, 'data'));
    this.h.ok(['vault', 'init']);
  }

  static async create(): Promise<Lab> {
    const dir = join(work, `lab${++labs}`);
    await mkdir(dir, { recursive: true });
    return new Lab(dir);
  }

  image(name: string): string {
    return join(this.dir, `${name}.img`);
  }

  /** Adds a VM with these disks (name → role), images under the lab. */
  addVm(vm: string, disks: Record<string, string>): void {
    this.h.ok(['vm', 'add', vm, ...Object.entries(disks).flatMap(([name, role]) => ['--disk', `${this.image(name)},role=${role},name=${name}`])]);
  }

  /** Remembers the current bytes of these disks as the content of `pointId`. */
  async remember(pointId: string, disks: string[]): Promise<void> {
    const contents = new Map<string, Buffer>();
    for (const disk of disks) contents.set(disk, await readFile(this.image(disk)));
    this.images.set(pointId, contents);
  }

  /** A scheduler tick at `now` (no spreading), parsed, with its exit status. */
  tick(now: string): TickJson & { code: number | null } {
    const run = this.h.run(['scheduler', 'tick', '--now', now, '--spread-minutes', '0', '--json']);
    assert.doesNotMatch(run.stderr, /\n\s+at /, `no stack trace: ${run.stderr}`);
    return { ...(JSON.parse(run.stdout) as TickJson), code: run.code };
  }

  /** A tick that must run exactly one backup of `vm`, successfully; returns the new point and remembers its disks. */
  async scheduled(now: string, vm: string, disks: string[]): Promise<string> {
    const tick = this.tick(now);
    assert.equal(tick.code, 0, JSON.stringify(tick));
    assert.deepEqual(tick.entries.map((entry) => [entry.vmName, entry.outcome]), [[vm, 'started']]);
    assert.equal(tick.jobs.length, 1);
    const job = tick.jobs[0]!;
    assert.match(job.status, /^completed/, JSON.stringify(job));
    assert.equal(job.trigger, 'scheduled');
    const pointId = job.result!.pointId as string;
    await this.remember(pointId, disks);
    return pointId;
  }

  /** An on-demand backup at `now`; returns the completed event. */
  async onDemand(vm: string, now: string, disks: string[], extra: string[] = []): Promise<{ id: string; job: string; expiresAt: string | null; type: string }> {
    const run = this.h.ok(['backup', vm, '--now', now, ...extra, '--json']);
    const event = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { event: string; id: string; job: string; expiresAt: string | null; type: string };
    assert.equal(event.event, 'completed');
    await this.remember(event.id, disks);
    return event;
  }

  points(vm: string): PointJson[] {
    return this.h.json<PointJson[]>(['points', vm]);
  }

  pointIds(vm: string): string[] {
    return this.points(vm).map((point) => point.id);
  }

  cleanup(now: string, options: { dryRun?: boolean } = {}): CleanupJson {
    return this.h.json<CleanupJson>(['cleanup', ...(options.dryRun ? ['--dry-run'] : []), '--now', now]);
  }

  /** Plaintext bytes of the distinct blocks every point references (the vault's live data). */
  liveBytes(): number {
    return this.h.json<{ liveBytes: number }>(['vault', 'usage']).liveBytes;
  }

  liveStoredBytes(): number {
    return this.h.json<{ liveStoredBytes: number }>(['vault', 'usage']).liveStoredBytes;
  }

  usage(extra: string[] = []): UsageJson {
    return this.h.json<UsageJson>(['usage', ...extra]);
  }

  item(vm: string): UsageJson['vms'][number] | undefined {
    return this.usage().vms.find((entry) => entry.vmName === vm);
  }

  /** Restores `pointId` of `vm` (the latest without one) to a new directory and checks every disk byte for byte. */
  async restoresExactly(vm: string, pointId: string | null, expectedFrom: string = pointId!): Promise<void> {
    const to = join(this.dir, `restore${++this.restores}`);
    this.h.ok(['restore', vm, ...(pointId ? ['--point', pointId] : []), '--to', to]);
    const expected = this.images.get(expectedFrom);
    assert.ok(expected, `the disks of ${expectedFrom} were remembered`);
    for (const [disk, bytes] of expected) {
      assert.ok((await readFile(join(to, `${disk}.img`))).equals(bytes), `disk ${disk} of point ${expectedFrom} restores byte for byte`);
    }
    await rm(to, { recursive: true, force: true });
  }
}

/** An image of `blocks` 16 KiB blocks of seeded random data; the blocks in `zero` are zeros. */
async function writeImage(path: string, blocks: number, seed: number, zero: readonly number[] = []): Promise<void> {
  const random = new SeededRandom(seed);
  const image = new Uint8Array(blocks * BLOCK);
  for (let block = 0; block < blocks; block++) {
    if (!zero.includes(block)) random.fill(image.subarray(block * BLOCK, (block + 1) * BLOCK));
  }
  await writeFile(path, image);
}

/** Overwrites whole blocks with new random data. */
async function overwrite(path: string, blocks: readonly number[], seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const handle = await open(path, 'r+');
  try {
    for (const block of blocks) await handle.write(random.bytes(BLOCK), 0, BLOCK, block * BLOCK);
  } finally {
    await handle.close();
  }
}

const removedIds = (report: CleanupJson) => report.vms.flatMap((vm) => vm.remove.map((point) => point.id)).sort();
const sorted = (ids: string[]) => [...ids].sort();
const keptBy = (report: CleanupJson, vm: string) => report.vms.find((entry) => entry.vmName === vm)?.keptBy;

function createPolicy(lab: Lab, name: string, flags: string[]): void {
  lab.h.ok(['policy', 'create', name, ...flags]);
}

/** Daily 02:00 UTC, every point 7 days, no weekly/monthly/yearly points. */
const DAILY7 = ['--daily', '--at', '02:00', '--keep-daily', '7', '--keep-weekly', 'off', '--keep-monthly', 'off'];

describe('boveda lifecycle: retention and the merge', () => {
  it('case 1: the initial full point expires; then an on-demand point is kept until its own expiry, not the policy\'s', async () => {
    const lab = await Lab.create();
    await writeImage(lab.image('os'), 8, 101);
    lab.addVm('web', { os: 'os' });
    createPolicy(lab, 'daily7', DAILY7);
    lab.h.ok(['protect', 'web', '--policy', 'daily7']);

    const p1 = await lab.scheduled(jan(1), 'web', ['os']);
    await overwrite(lab.image('os'), [1, 2], 102);
    const p2 = await lab.scheduled(jan(2), 'web', ['os']);
    await overwrite(lab.image('os'), [2, 5], 103);
    const p3 = await lab.scheduled(jan(3), 'web', ['os']);
    const points = lab.points('web');
    assert.deepEqual(points.map((point) => [point.id, point.type, point.trigger, point.parentId]),
      [[p1, 'full', 'scheduled', null], [p2, 'incremental', 'scheduled', p1], [p3, 'incremental', 'scheduled', p2]]);
    assert.deepEqual(points.map((point) => point.createdAt.slice(0, 16)), ['2027-01-01T02:10', '2027-01-02T02:10', '2027-01-03T02:10']);
    // 8 blocks of the full point, 2 new in each incremental.
    assert.equal(lab.liveBytes(), 12 * BLOCK);

    // `points --now` says what retention keeps and until when: P1 by daily until Jan 8, the newest also as latest.
    const shown = lab.h.json<Array<{ id: string; retention: { keep: boolean; reasons: string[]; keepUntil: string | null } }>>(['points', 'web', '--now', jan(8, '03:00:00')]);
    assert.deepEqual(shown.map((point) => [point.retention.keep, point.retention.reasons]), [[false, []], [true, ['daily']], [true, ['daily', 'latest']]]);
    assert.equal(shown[0]!.retention.keepUntil!.slice(0, 16), '2027-01-08T02:10');
    assert.equal(shown[2]!.retention.keepUntil, null, 'the latest point has no end');

    // P1 expires 7 days after it was taken (02:10:00.xxx): not yet at 02:00.
    const early = lab.cleanup(jan(8, '02:00:00'), { dryRun: true });
    assert.deepEqual([early.removedPoints, early.freedBytes], [0, 0]);

    const dry = lab.cleanup(jan(8, '03:00:00'), { dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(removedIds(dry), [p1]);
    // Of P1's 8 blocks, 1 and 2 were overwritten since (freed); 0, 3, 4, 5, 6, 7 are still P2's (carried over).
    assert.deepEqual([dry.removedPoints, dry.freedBlocks, dry.freedBytes], [1, 2, 2 * BLOCK]);
    assert.deepEqual(keptBy(dry, 'web'), { daily: 2, latest: 1 });
    assert.match(dry.vms[0]!.remove[0]!.why, /policy daily7/);
    assert.deepEqual(lab.pointIds('web'), [p1, p2, p3], 'a dry run changes nothing');
    assert.equal(lab.liveBytes(), 12 * BLOCK);

    const done = lab.cleanup(jan(8, '03:00:00'));
    assert.equal(done.dryRun, false);
    assert.deepEqual(removedIds(done), [p1]);
    assert.deepEqual([done.removedPoints, done.freedBlocks, done.freedBytes], [1, 2, 2 * BLOCK]);
    assert.equal(lab.liveBytes(), 10 * BLOCK, 'live bytes dropped by exactly the bytes freed');
    const job = lab.h.json<JobJson>(['job', 'show', done.jobId!]);
    assert.deepEqual([job.type, job.status, job.result?.removedPoints, job.result?.freedBytes], ['cleanup', 'completed', 1, 2 * BLOCK]);
    // P2 is now the baseline: it holds (introduces) the whole disk; P3 still only its 2 blocks.
    const left = lab.points('web');
    assert.deepEqual(left.map((point) => [point.id, point.introducedBytes]), [[p2, 8 * BLOCK], [p3, 2 * BLOCK]]);
    await lab.restoresExactly('web', p2);
    await lab.restoresExactly('web', p3);

    // An on-demand point kept 20 days under a policy that keeps points 7.
    await overwrite(lab.image('os'), [0], 104);
    const p4 = await lab.scheduled(jan(9), 'web', ['os']);
    await overwrite(lab.image('os'), [3], 105);
    const od = await lab.onDemand('web', jan(9, '12:00:00'), ['os'], ['--retain-days', '20']);
    assert.equal(od.type, 'incremental');
    assert.match(od.expiresAt!, /^2027-01-29T12:00:00\.\d{3}Z$/, 'expires 20 days after the backup, in UTC');
    const odJob = lab.h.json<JobJson>(['job', 'show', od.job]);
    assert.deepEqual([odJob.type, odJob.trigger, odJob.item, odJob.result?.pointId, odJob.result?.expiresAt], ['backup', 'on-demand', 'web', od.id, od.expiresAt]);
    const odPoint = lab.points('web').find((point) => point.id === od.id)!;
    assert.deepEqual([odPoint.trigger, odPoint.expiresAt], ['on-demand', od.expiresAt]);
    const lag = Date.parse(odPoint.createdAt) - (Date.parse(od.expiresAt!) - 20 * DAY_MS);
    assert.ok(lag >= 0 && lag < 1000, `the expiry counts from the backup's start (${lag} ms before the point's time)`);
    await overwrite(lab.image('os'), [3], 106);
    const p5 = await lab.scheduled(jan(10), 'web', ['os']);

    // Jan 20: every scheduled point but the latest is past its 7 days; the on-demand one is not past its 20.
    // Live: P2's 8 + b2'',b5' (P3) + b0' (P4) + b3' (OD) + b3'' (P5) = 13; OD and P5 keep 9.
    assert.equal(lab.liveBytes(), 13 * BLOCK);
    const mid = lab.cleanup(jan(20, '03:00:00'));
    assert.deepEqual(removedIds(mid), sorted([p2, p3, p4]));
    assert.deepEqual(keptBy(mid, 'web'), { 'on-demand': 1, latest: 1 });
    assert.deepEqual([mid.freedBlocks, mid.freedBytes], [4, 4 * BLOCK]);
    assert.equal(lab.liveBytes(), 9 * BLOCK);
    await lab.restoresExactly('web', od.id);

    // Kept until its expiry instant, removed after it.
    const before = lab.cleanup(jan(29, '11:59:00'));
    assert.deepEqual([before.removedPoints, before.freedBytes], [0, 0]);
    const expired = lab.cleanup(jan(29, '12:01:00'));
    assert.deepEqual(removedIds(expired), [od.id]);
    assert.equal(expired.vms[0]!.remove[0]!.expiredAt, od.expiresAt);
    assert.match(expired.vms[0]!.remove[0]!.why, /on-demand point expired/);
    assert.deepEqual([expired.freedBlocks, expired.freedBytes], [1, BLOCK], 'only b3\', overwritten in P5, is freed');
    assert.deepEqual(lab.pointIds('web'), [p5]);
    assert.equal(lab.liveBytes(), 8 * BLOCK);
    await lab.restoresExactly('web', p5);
    lab.h.ok(['vault', 'verify']);
  });

  it('case 2: an intermediate point expires before the full one (kept as monthly)', async () => {
    const lab = await Lab.create();
    await writeImage(lab.image('os'), 8, 201);
    lab.addVm('db', { os: 'os' });
    createPolicy(lab, 'gfs', ['--keep-daily', '7', '--keep-weekly', 'off', '--keep-monthly', '1@1']);
    lab.h.ok(['protect', 'db', '--policy', 'gfs']);
    const p1 = await lab.scheduled(jan(1), 'db', ['os']);
    await overwrite(lab.image('os'), [1, 2], 202);
    const p2 = await lab.scheduled(jan(2), 'db', ['os']);
    await overwrite(lab.image('os'), [2], 203);
    const p3 = await lab.scheduled(jan(3), 'db', ['os']);
    assert.equal(lab.liveBytes(), 11 * BLOCK);
    assert.equal(lab.points('db')[2]!.introducedBytes, BLOCK);

    const dry = lab.cleanup(jan(9, '03:00:00'), { dryRun: true });
    assert.deepEqual(removedIds(dry), [p2]);
    // P2 held b1' and b2': b1' is still P3's (carried into it), b2' was overwritten (freed).
    assert.deepEqual([dry.freedBlocks, dry.freedBytes], [1, BLOCK]);
    assert.deepEqual(keptBy(dry, 'db'), { daily: 1, monthly: 1, latest: 1 });
    assert.deepEqual(lab.pointIds('db'), [p1, p2, p3]);

    const done = lab.cleanup(jan(9, '03:00:00'));
    assert.deepEqual([removedIds(done), done.freedBytes], [[p2], BLOCK]);
    assert.equal(lab.liveBytes(), 10 * BLOCK);
    // P1 stays the full baseline; P3 now introduces b1' (merged into it) and b2''.
    assert.deepEqual(lab.points('db').map((point) => [point.id, point.introducedBytes]), [[p1, 8 * BLOCK], [p3, 2 * BLOCK]]);
    await lab.restoresExactly('db', p1);
    await lab.restoresExactly('db', p3);

    // A month after it, the monthly point goes too (case 1 again): its b1 and b2 were overwritten.
    const monthly = lab.cleanup('2027-02-01T03:00:00Z');
    assert.deepEqual([removedIds(monthly), monthly.freedBytes], [[p1], 2 * BLOCK]);
    assert.deepEqual(lab.pointIds('db'), [p3]);
    await lab.restoresExactly('db', p3);
  });

  it('case 3: an on-demand point between scheduled ones expires after its own retention', async () => {
    const lab = await Lab.create();
    await writeImage(lab.image('os'), 8, 301);
    lab.addVm('app', { os: 'os' });
    createPolicy(lab, 'keep30', ['--keep-daily', '30', '--keep-weekly', 'off', '--keep-monthly', 'off']);
    lab.h.ok(['protect', 'app', '--policy', 'keep30']);
    const p1 = await lab.scheduled(jan(1), 'app', ['os']);
    await overwrite(lab.image('os'), [0], 302);
    const p2 = await lab.scheduled(jan(2), 'app', ['os']);
    await overwrite(lab.image('os'), [3, 4], 303);
    const od = await lab.onDemand('app', jan(2, '12:00:00'), ['os'], ['--retain-days', '3']);
    assert.equal(od.type, 'incremental');
    await overwrite(lab.image('os'), [4, 6], 304);
    const p3 = await lab.scheduled(jan(3), 'app', ['os']);
    const points = lab.points('app');
    assert.deepEqual(points.map((point) => [point.id, point.trigger, point.parentId]),
      [[p1, 'scheduled', null], [p2, 'scheduled', p1], [od.id, 'on-demand', p2], [p3, 'scheduled', od.id]]);
    assert.equal(lab.liveBytes(), 13 * BLOCK);

    const early = lab.cleanup('2027-01-05T11:59:00Z', { dryRun: true });
    assert.deepEqual([early.removedPoints, early.freedBytes], [0, 0]);
    assert.deepEqual(keptBy(early, 'app'), { daily: 3, 'on-demand': 1, latest: 1 });
    const dry = lab.cleanup('2027-01-05T12:01:00Z', { dryRun: true });
    assert.deepEqual(removedIds(dry), [od.id]);
    // OD held b3' and b4': b3' is still current (carried into P3), b4' was overwritten (freed).
    assert.deepEqual([dry.freedBlocks, dry.freedBytes], [1, BLOCK]);
    assert.equal(lab.liveBytes(), 13 * BLOCK);

    const done = lab.cleanup('2027-01-05T12:01:00Z');
    assert.deepEqual([removedIds(done), done.freedBytes], [[od.id], BLOCK]);
    assert.equal(lab.liveBytes(), 12 * BLOCK);
    assert.deepEqual(lab.points('app').map((point) => [point.id, point.introducedBytes]), [[p1, 8 * BLOCK], [p2, BLOCK], [p3, 3 * BLOCK]]);
    for (const id of [p1, p2, p3]) await lab.restoresExactly('app', id);
  });

  it('a policy change shortening retention: the dry run shows what the next cleanup removes, the change then does exactly that', async () => {
    const lab = await Lab.create();
    await writeImage(lab.image('os'), 8, 401);
    lab.addVm('hr', { os: 'os' });
    createPolicy(lab, 'keep', ['--keep-daily', '30', '--keep-weekly', 'off', '--keep-monthly', 'off']);
    lab.h.ok(['protect', 'hr', '--policy', 'keep']);
    const ids = [await lab.scheduled(jan(1), 'hr', ['os'])];
    for (let day = 2; day <= 10; day++) {
      await overwrite(lab.image('os'), [(day - 2) % 4], 400 + day);
      ids.push(await lab.scheduled(jan(day), 'hr', ['os']));
    }
    const live = lab.liveBytes();
    assert.equal(live, 17 * BLOCK);
    const now = jan(12, '03:00:00');
    assert.equal(lab.cleanup(now, { dryRun: true }).removedPoints, 0, 'nothing expires under 30 days');
    const policyBefore = lab.h.json<Record<string, unknown>>(['policy', 'show', 'keep']);

    const preview = lab.h.json<{ policy: { retention: { dailyDays: number } }; preview: CleanupJson }>(['policy', 'update', 'keep', '--keep-daily', '7', '--dry-run', '--now', now]);
    assert.equal(preview.policy.retention.dailyDays, 7);
    // Points of Jan 1-5 are past 7 days at Jan 12 03:00. Freed: P1's b0-b3 and P2's b0 (overwritten on
    // Jan 6); P3-P5's blocks are still P6's.
    assert.deepEqual(removedIds(preview.preview), sorted(ids.slice(0, 5)));
    assert.deepEqual([preview.preview.dryRun, preview.preview.freedBlocks, preview.preview.freedBytes], [true, 5, 5 * BLOCK]);
    assert.deepEqual(lab.h.json(['policy', 'show', 'keep']), policyBefore, 'a dry run leaves the policy as it was');
    assert.deepEqual(lab.pointIds('hr'), ids);
    assert.equal(lab.liveBytes(), live);

    const updated = lab.h.json<{ policy: { retention: { dailyDays: number } }; preview: null }>(['policy', 'update', 'keep', '--keep-daily', '7', '--now', now]);
    assert.deepEqual([updated.policy.retention.dailyDays, updated.preview], [7, null]);
    assert.equal(lab.h.json<{ retention: { dailyDays: number } }>(['policy', 'show', 'keep']).retention.dailyDays, 7);
    assert.deepEqual(lab.pointIds('hr'), ids, 'the change itself removes nothing: the next cleanup does');
    const done = lab.cleanup(now);
    assert.deepEqual(removedIds(done), removedIds(preview.preview));
    assert.equal(done.freedBytes, preview.preview.freedBytes);
    assert.deepEqual(lab.pointIds('hr'), ids.slice(5));
    assert.equal(lab.liveBytes(), live - 5 * BLOCK);
    await lab.restoresExactly('hr', ids[5]!);
  });
});

describe('boveda lifecycle: stop protection, soft delete, a deleted VM', () => {
  it('stop with retained data: no backups, every point kept for years and billed on the last point, resume restores retention', async () => {
    const lab = await Lab.create();
    await writeImage(lab.image('os'), 8, 501, [6, 7]);
    lab.addVm('crm', { os: 'os' });
    createPolicy(lab, 'daily7', DAILY7);
    lab.h.ok(['protect', 'crm', '--policy', 'daily7']);
    assert.deepEqual(pick(lab.item('crm')!, 'billing', 'protectedBytes', 'points'), ['not-started', 0, 0], 'billing starts with the first backup');

    const p1 = await lab.scheduled(jan(1), 'crm', ['os']);
    await overwrite(lab.image('os'), [0], 502);
    const p2 = await lab.scheduled(jan(2), 'crm', ['os']);
    await overwrite(lab.image('os'), [6], 503);
    const p3 = await lab.scheduled(jan(3), 'crm', ['os']);
    assert.equal(lab.item('crm')!.protectedBytes, 7 * BLOCK);

    const stopped = lab.h.json<ItemJson>(['stop-protection', 'crm', '--retain-data', '--now', jan(3, '12:00:00')]);
    assert.equal(stopped.item!.state, 'stopped-retain');
    await overwrite(lab.image('os'), [7], 504); // the VM keeps changing; nothing backs it up
    for (const now of [jan(4), jan(5, '02:30:00')]) {
      const tick = lab.tick(now);
      assert.deepEqual([tick.code, tick.entries, tick.jobs], [0, [], []], 'no scheduled backup of a stopped item');
    }
    const years = lab.cleanup('2031-06-01T00:00:00Z');
    assert.deepEqual([years.removedPoints, keptBy(years, 'crm')], [0, { 'retained-data': 3 }]);
    assert.deepEqual(lab.pointIds('crm'), [p1, p2, p3]);
    const usage = lab.usage();
    const crm = usage.vms.find((vm) => vm.vmName === 'crm')!;
    // Billed on the last point's size (7 used blocks), not the disk's current 8; stored = all its blocks.
    assert.deepEqual(pick(crm, 'state', 'billing', 'protectedBytes', 'points'), ['stopped-retain', 'billed', 7 * BLOCK, 3]);
    assert.equal(crm.storedBytes, lab.liveStoredBytes());
    assert.deepEqual([usage.totals.billedVms, usage.totals.protectedBytes], [1, 7 * BLOCK]);
    await lab.restoresExactly('crm', p1);

    failed(lab.h.run(['stop-protection', 'crm', '--retain-data', '--json']), 1, 'INVALID_STATE', /stopped-retain/);
    const resumed = lab.h.json<ItemJson>(['resume', 'crm', '--now', '2031-06-01T00:00:00Z']);
    assert.deepEqual([resumed.item!.state, resumed.item!.policyName], ['protected', 'daily7']);
    const tick = lab.tick('2031-06-01T02:10:00Z');
    assert.equal(tick.jobs.length, 1, 'backups restart: one catch-up backup, not one per missed slot');
    const p4 = tick.jobs[0]!.result!.pointId as string;
    await lab.remember(p4, ['os']);
    const p4json = lab.points('crm').at(-1)!;
    assert.deepEqual([p4json.id, p4json.type, p4json.parentId, p4json.disks[0]!.changedBlocks], [p4, 'incremental', p3, 1]);
    const after = lab.cleanup('2031-06-01T03:00:00Z');
    assert.deepEqual(removedIds(after), sorted([p1, p2, p3]), 'retention applies again');
    // Only P1's b0 is gone from the disk; every other block of P1-P3 is still P4's.
    assert.deepEqual([after.freedBlocks, after.freedBytes], [1, BLOCK]);
    assert.deepEqual(keptBy(after, 'crm'), { daily: 1, latest: 1 });
    assert.equal(lab.item('crm')!.protectedBytes, 8 * BLOCK);
    await lab.restoresExactly('crm', p4);
  });

  it('stop with deleted data: soft-deleted 14 days (not billed, not cleaned), undelete inside, purge after; soft delete off deletes at once', async () => {
    const lab = await Lab.create();
    await writeImage(lab.image('os'), 8, 601);
    lab.addVm('fin', { os: 'os' });
    createPolicy(lab, 'daily7', DAILY7);
    lab.h.ok(['protect', 'fin', '--policy', 'daily7']);
    const p1 = await lab.scheduled(jan(1), 'fin', ['os']);
    await overwrite(lab.image('os'), [1], 602);
    const p2 = await lab.scheduled(jan(2), 'fin', ['os']);
    await overwrite(lab.image('os'), [1], 603);
    const p3 = await lab.scheduled(jan(3), 'fin', ['os']);

    const deleted = lab.h.json<ItemJson>(['stop-protection', 'fin', '--delete-data', '--now', jan(3, '12:00:00')]);
    assert.equal(deleted.item!.state, 'soft-deleted');
    assert.match(deleted.item!.softDeletedAt!, /^2027-01-03T12:00:00\.\d{3}Z$/);
    assert.equal(Date.parse(deleted.item!.purgeAfter!) - Date.parse(deleted.item!.softDeletedAt!), 14 * DAY_MS);
    assert.deepEqual(pick(lab.item('fin')!, 'state', 'billing', 'points'), ['soft-deleted', 'not-billed', 3]);
    assert.equal(lab.usage().totals.billedVms, 0);
    assert.deepEqual(lab.tick(jan(4)).entries, [], 'no backups while soft-deleted');
    failed(lab.h.run(['resume', 'fin', '--json']), 1, 'INVALID_STATE', /soft-deleted.*undelete/);
    // As in the seeds, soft-deleted data is restored only after undelete.
    failed(lab.h.run(['restore', 'fin', '--to', join(lab.dir, 'soft-deleted-restore'), '--json']), 1, 'INVALID_STATE', /soft-deleted.*undelete/);

    // P1 and P2 are past their 7 days, but nothing of a soft-deleted item is cleaned.
    const kept = lab.cleanup(jan(16, '03:00:00'));
    assert.deepEqual([kept.removedPoints, kept.purgedItems, keptBy(kept, 'fin')], [0, [], { 'soft-deleted': 3 }]);
    assert.deepEqual(lab.pointIds('fin'), [p1, p2, p3]);

    const undeleted = lab.h.json<ItemJson>(['undelete', 'fin', '--now', jan(17, '11:00:00')]);
    assert.deepEqual([undeleted.item!.state, undeleted.item!.purgeAfter], ['stopped-retain', null]);
    assert.equal(lab.item('fin')!.billing, 'billed', 'billed again once undeleted');
    assert.equal(lab.h.json<ItemJson>(['resume', 'fin', '--now', jan(17, '11:00:00')]).item!.state, 'protected');
    const applied = lab.cleanup(jan(17, '11:30:00'));
    assert.deepEqual(removedIds(applied), sorted([p1, p2]), 'after resume, retention applies again');
    assert.equal(applied.freedBytes, 2 * BLOCK);

    // delete-data is for an item stopped with retained data.
    failed(lab.h.run(['delete-data', 'fin', '--json']), 1, 'INVALID_STATE', /protected.*stop-protection/);
    lab.h.ok(['stop-protection', 'fin', '--retain-data', '--now', '2027-02-01T00:00:00Z']);
    const again = lab.h.json<ItemJson>(['delete-data', 'fin', '--now', '2027-02-01T00:00:00Z']);
    assert.equal(again.item!.state, 'soft-deleted');
    const purgeAfter = again.item!.purgeAfter!;
    assert.match(purgeAfter, /^2027-02-15T00:00:00\.\d{3}Z$/);

    // After the window: undelete refuses, nothing changes; cleanup purges every point and the item.
    failed(lab.h.run(['undelete', 'fin', '--now', '2027-02-15T00:00:01Z', '--json']), 1, 'UNDELETE_WINDOW_PASSED', /window ended/);
    assert.equal(lab.item('fin')!.state, 'soft-deleted');
    const dry = lab.cleanup('2027-02-15T00:00:01Z', { dryRun: true });
    assert.deepEqual([dry.vms[0]!.purge, removedIds(dry), dry.purgedItems, dry.freedBytes], [true, [p3], ['fin'], 8 * BLOCK]);
    assert.deepEqual(lab.pointIds('fin'), [p3]);
    const purged = lab.cleanup('2027-02-15T00:00:01Z');
    assert.deepEqual([removedIds(purged), purged.purgedItems, purged.freedBytes], [[p3], ['fin'], 8 * BLOCK]);
    assert.deepEqual(lab.pointIds('fin'), []);
    assert.equal(lab.liveBytes(), 0);
    assert.equal(lab.item('fin'), undefined, 'the item is gone');
    failed(lab.h.run(['undelete', 'fin', '--json']), 1, 'NOT_PROTECTED', /fin/);

    // Soft delete off needs the explicit confirmation.
    failed(lab.h.run(['settings', 'soft-delete', 'off', '--json']), 2, 'INVALID_ARGUMENT', /--confirm-permanent-deletion/);
    assert.equal(lab.h.json<{ softDelete: boolean }>(['settings', 'show']).softDelete, true, 'nothing changed');
    lab.h.ok(['settings', 'soft-delete', 'off', '--confirm-permanent-deletion']);
    assert.equal(lab.h.json<{ softDelete: boolean }>(['settings', 'show']).softDelete, false);
    lab.h.ok(['protect', 'fin', '--policy', 'daily7', '--now', '2027-02-16T00:00:00Z']);
    const fresh = await lab.scheduled('2027-02-16T02:10:00Z', 'fin', ['os']);
    assert.equal(lab.points('fin')[0]!.type, 'full', 'a new start: nothing to be incremental to');
    lab.h.ok(['stop-protection', 'fin', '--retain-data']);
    const gone = lab.h.json<ItemJson>(['delete-data', 'fin']);
    assert.equal(gone.item, null);
    assert.match(gone.note!, /deleted 1 point\(s\) at once/);
    assert.deepEqual(lab.pointIds('fin'), []);
    assert.equal(lab.liveBytes(), 0);
    assert.equal(lab.item('fin'), undefined);
    failed(lab.h.run(['restore', 'fin', '--point', fresh, '--to', join(lab.dir, 'nowhere'), '--json']), 1, 'POINT_NOT_FOUND', new RegExp(fresh));
  });

  it('a VM deleted while protected: one failed job per slot, retention never takes its last point, restore works, re-adding it re-associates', async () => {
    const lab = await Lab.create();
    await writeImage(lab.image('os'), 8, 701);
    lab.addVm('gone', { os: 'os' });
    createPolicy(lab, 'daily7', DAILY7);
    lab.h.ok(['protect', 'gone', '--policy', 'daily7']);
    const p1 = await lab.scheduled(jan(1), 'gone', ['os']);
    await overwrite(lab.image('os'), [2], 702);
    const p2 = await lab.scheduled(jan(2), 'gone', ['os']);
    await overwrite(lab.image('os'), [2], 703);
    const p3 = await lab.scheduled(jan(3), 'gone', ['os']);
    lab.h.ok(['vm', 'remove', 'gone']);

    for (const day of [4, 5]) {
      const tick = lab.tick(jan(day));
      assert.equal(tick.code, 1, 'the tick reports the failed backup in its exit status');
      assert.equal(tick.jobs.length, 1);
      assert.deepEqual([tick.jobs[0]!.status, tick.jobs[0]!.error?.code], ['failed', 'VM_NOT_FOUND']);
      assert.match(tick.jobs[0]!.error!.message, /gone/);
      // More ticks inside the same slot: no retry.
      for (const time of ['02:40:00', '09:00:00', '23:59:00']) {
        const retry = lab.tick(jan(day, time));
        assert.deepEqual([retry.code, retry.entries, retry.jobs], [0, [], []], `no retry at ${time}`);
      }
    }
    const text = lab.h.run(['scheduler', 'tick', '--now', jan(6), '--spread-minutes', '0']);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /failed — no VM named "gone".*\[VM_NOT_FOUND\]/);
    assert.doesNotMatch(text.stderr, /\n\s+at /);
    const failedJobs = lab.h.json<JobJson[]>(['jobs', '--vm', 'gone', '--status', 'failed']);
    assert.deepEqual(failedJobs.map((job) => job.slot).sort(), ['2027-01-04T02:00:00.000Z', '2027-01-05T02:00:00.000Z', '2027-01-06T02:00:00.000Z']);
    assert.equal(lab.h.json<JobJson[]>(['jobs', '--vm', 'gone', '--type', 'backup']).length, 6, '3 successful, 3 failed: nothing else');

    const years = lab.cleanup('2030-01-01T00:00:00Z');
    assert.deepEqual(removedIds(years), sorted([p1, p2]));
    assert.deepEqual(keptBy(years, 'gone'), { latest: 1 }, 'the last point is never expired');
    assert.equal(years.freedBytes, 2 * BLOCK);
    assert.equal(lab.cleanup('2040-01-01T00:00:00Z').removedPoints, 0);
    assert.deepEqual(lab.pointIds('gone'), [p3]);
    await lab.restoresExactly('gone', null, p3);

    // The same name again: the points re-associate, the next backup is incremental against the last one.
    await overwrite(lab.image('os'), [5], 704);
    lab.addVm('gone', { os: 'os' });
    const next = await lab.scheduled('2040-01-01T02:10:00Z', 'gone', ['os']);
    const last = lab.points('gone').at(-1)!;
    assert.deepEqual([last.id, last.type, last.parentId, last.disks[0]!.changedBlocks, last.introducedBytes], [next, 'incremental', p3, 1, BLOCK]);
    await lab.restoresExactly('gone', next);
  });
});

function pick<T extends object>(value: T, ...keys: Array<keyof T>): unknown[] {
  return keys.map((key) => value[key]);
}

describe('boveda lifecycle: usage, billing and the catalog', () => {
  it('the seeds\' billing example scaled down (os 17 + temp 5 + data 30 + data 0 units → 47), prices, then catalog rebuild', async () => {
    const lab = await Lab.create();
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
    await writeImage(lab.image('os'), 32, 801, range(17, 32)); // 17 non-zero blocks
    await writeImage(lab.image('temp'), 8, 802, range(5, 8)); // 5, never backed up
    await writeImage(lab.image('data1'), 40, 803, range(0, 40).filter((block) => block % 4 === 3)); // 30
    await writeImage(lab.image('data2'), 8, 804, range(0, 8)); // 0
    lab.addVm('bill', { os: 'os', temp: 'temp', data1: 'data', data2: 'data' });
    createPolicy(lab, 'daily', []);
    lab.h.ok(['protect', 'bill', '--policy', 'daily']);
    assert.equal(lab.item('bill')!.billing, 'not-started');

    const p1 = await lab.scheduled(jan(1), 'bill', ['os', 'data1', 'data2']);
    assert.deepEqual(lab.points('bill')[0]!.disks.map((disk) => [disk.name, disk.role, disk.zeroBlocks]), [['os', 'os', 15], ['data1', 'data', 10], ['data2', 'data', 8]]);
    let usage = lab.usage();
    assert.deepEqual(pick(usage.vms[0]!, 'vmName', 'billing', 'protectedBytes', 'points'), ['bill', 'billed', 47 * BLOCK, 1]);
    assert.equal(lab.liveBytes(), 47 * BLOCK, 'only the used blocks are stored');
    assert.equal(usage.vms[0]!.storedBytes, lab.liveStoredBytes());

    // Three blocks of data1 change and data2 gets two: protected size is the latest point's, stored the sum of all points' blocks.
    await overwrite(lab.image('data1'), [0, 1, 2], 805);
    await overwrite(lab.image('data2'), [0, 1], 806);
    const p2 = await lab.scheduled(jan(2), 'bill', ['os', 'data1', 'data2']);
    usage = lab.usage();
    assert.deepEqual(pick(usage.vms[0]!, 'protectedBytes', 'points'), [49 * BLOCK, 2]);
    assert.equal(lab.liveBytes(), 52 * BLOCK);
    const stored = lab.liveStoredBytes();
    assert.equal(usage.vms[0]!.storedBytes, stored);
    assert.ok(stored > 52 * BLOCK && stored < 52 * BLOCK * 1.05, `stored ${stored}: 52 encrypted blocks and their maps`);

    // Azure's tiers scaled to 16 KiB "GB": ≤ 50 units 5, ≤ 500 units 10, then 10 per started 500; storage 1024 per GiB.
    const unit = BLOCK;
    const prices = join(lab.dir, 'prices.json');
    await writeFile(prices, JSON.stringify({
      currency: 'eur', storagePerGiBMonth: 1024,
      instanceTiers: [{ upToBytes: 50 * unit, pricePerMonth: 5 }, { upToBytes: 500 * unit, pricePerMonth: 10 }, { upToBytes: null, pricePerMonth: 10, perExtraBytes: 500 * unit, pricePerExtra: 10 }],
    }));
    const priced = lab.usage(['--prices', prices]);
    const storageFee = Math.round((stored / 2 ** 30) * 1024 * 1e6) / 1e6; // stored MiB, rounded to millionths
    assert.deepEqual(priced.vms[0]!.cost, { instanceFee: 5, storageFee, total: Math.round((5 + storageFee) * 1e6) / 1e6, tier: 0 });
    assert.ok(storageFee > 0.8125 && storageFee < 0.86, `≈ 52 blocks of 16 KiB = 0.8125 MiB, plus overhead: ${storageFee}`);
    assert.equal(priced.priceTable!.currency, 'EUR');
    assert.equal(priced.totals.cost!.total, priced.vms[0]!.cost!.total);
    const bad = join(lab.dir, 'bad-prices.json');
    await writeFile(bad, JSON.stringify({ currency: 'EUR', storagePerGiBMonth: -1, instanceTiers: [{ upToBytes: null, pricePerMonth: 5 }] }));
    failed(lab.h.run(['usage', '--prices', bad, '--json']), 2, 'INVALID_ARGUMENT', /storagePerGiBMonth must be a non-negative number/);

    // catalog rebuild: the catalog's points are recreated from the vault alone.
    const catalog = join(lab.h.data, 'catalog.db');
    const rows = () => {
      const db = new Database(catalog, { readonly: true });
      try {
        return db.prepare('select id, vm_name as vm, protected_bytes as protectedBytes, introduced_bytes as introducedBytes from recovery_points order by created_at').all() as Array<{ id: string; vm: string; protectedBytes: number; introducedBytes: number | null }>;
      } finally {
        db.close();
      }
    };
    assert.deepEqual(rows().map((row) => row.id), [p1, p2]);
    const db = new Database(catalog);
    db.prepare('delete from recovery_points').run();
    db.close();
    assert.deepEqual(rows(), []);
    const rebuilt = lab.h.json<{ points: number; vms: string[]; added: number; removed: number }>(['catalog', 'rebuild']);
    assert.deepEqual(rebuilt, { points: 2, vms: ['bill'], added: 2, removed: 0 });
    const points = lab.points('bill');
    assert.deepEqual(rows(), points.map((point, i) => ({ id: point.id, vm: 'bill', protectedBytes: [47, 49][i]! * BLOCK, introducedBytes: point.introducedBytes })));
    assert.deepEqual({ ...lab.usage(), now: null }, { ...usage, now: null }, 'usage is the same after the rebuild');

    // The whole catalog lost: the points come back from the vault; policies and items do not (they are not in the vault).
    const policies = lab.h.json<{ policies: Array<{ name: string }> }>(['policy', 'list']).policies.map((policy) => policy.name);
    assert.deepEqual(policies, ['daily']);
    for (const file of [catalog, `${catalog}-wal`, `${catalog}-shm`]) await rm(file, { force: true });
    const fromVault = lab.h.json<{ points: number; vms: string[]; added: number; removed: number }>(['catalog', 'rebuild']);
    assert.deepEqual(fromVault, { points: 2, vms: ['bill'], added: 2, removed: 0 });
    assert.deepEqual(rows().map((row) => row.id), [p1, p2]);
    const orphan = lab.usage().vms[0]!;
    assert.deepEqual(pick(orphan, 'vmName', 'state', 'billing', 'protectedBytes', 'points', 'storedBytes'), ['bill', null, 'billed', 49 * BLOCK, 2, stored]);
    assert.deepEqual(lab.pointIds('bill'), [p1, p2]);
    await lab.restoresExactly('bill', p1);
  });
});

describe('boveda lifecycle: bad input', () => {
  it('each is a clear error naming the field or flag, with the documented exit status, and changes nothing', async () => {
    const lab = await Lab.create();
    await writeImage(lab.image('os'), 4, 901);
    lab.addVm('vm1', { os: 'os' });
    lab.addVm('vm2', { os: 'os' });
    createPolicy(lab, 'good', []);
    lab.h.ok(['protect', 'vm1', '--policy', 'good']);
    const snapshot = () => ({
      policies: lab.h.json(['policy', 'list']),
      usage: lab.h.json<UsageJson>(['usage']).vms,
      jobs: lab.h.json<JobJson[]>(['jobs']).length,
      points: lab.pointIds('vm1'),
    });
    const before = snapshot();
    const expect = (args: string[], exit: number, code: string, message: RegExp) => failed(lab.h.run([...args, '--json']), exit, code, message);

    // Schedules and retention out of range, on create and on update: the field (or the flag) is named.
    const invalid: Array<[string[], RegExp]> = [
      [['--keep-daily', '3'], /retention\.dailyDays \(--keep-daily\) must be an integer 7\.\.9999, got 3/],
      [['--keep-daily', '10000'], /retention\.dailyDays \(--keep-daily\) must be an integer 7\.\.9999, got 10000/],
      [['--every-hours', '5'], /schedule\.everyHours \(--every-hours\) must be one of 4, 6, 8, 12, got 5/],
      [['--every-hours', '8', '--window-hours', '6'], /schedule\.windowHours \(--window-hours\) must be at least schedule\.everyHours \(8\), got 6/],
      [['--at', '25:00'], /schedule\.time \(--at\) must be a time "HH:MM" from 00:00 to 23:59, got "25:00"/],
      [['--time-zone', 'Mars/Base'], /schedule\.timeZone \(--time-zone\) must be an IANA time zone .*got "Mars\/Base"/],
      [['--keep-weekly', '0@sun'], /retention\.weekly\.weeks \(--keep-weekly\) must be an integer 1\.\.5163, got 0/],
      [['--keep-weekly', '4@someday'], /--keep-weekly "4@someday": "someday" is not a weekday/],
      [['--keep-monthly', '3@30'], /retention\.monthly\.on\.day \(--keep-monthly\) must be an integer 1\.\.28 or "last", got 30/],
      [['--keep-yearly', '100'], /retention\.yearly\.years \(--keep-yearly\) must be an integer 1\.\.99, got 100/],
      [['--keep-yearly', '2@smarch'], /--keep-yearly "2@smarch": "smarch" is not a month/],
      [['--instant-restore-days', '6'], /instantRestoreDays \(--instant-restore-days\) must be an integer 1\.\.5, got 6/],
      [['--keep-daily', 'ten'], /--keep-daily "ten": must be a whole number/],
      [['--days', 'mon,funday'], /--days "mon,funday": "funday" is not a weekday/],
      [['--daily', '--days', 'mon'], /only one of --daily, --days and --every-hours/],
    ];
    invalid.forEach(([flags, message], i) => {
      expect(['policy', 'create', 'other', ...flags], 2, 'INVALID_ARGUMENT', message);
      expect(['policy', 'update', 'good', ...flags, ...(i % 3 === 0 ? ['--dry-run', '--now', jan(20)] : [])], 2, 'INVALID_ARGUMENT', message);
    });

    // Unknown policy.
    expect(['protect', 'vm2', '--policy', 'nope'], 1, 'POLICY_NOT_FOUND', /"nope"/);
    expect(['policy', 'show', 'nope'], 1, 'POLICY_NOT_FOUND', /"nope"/);
    expect(['policy', 'update', 'nope', '--keep-daily', '10'], 1, 'POLICY_NOT_FOUND', /"nope"/);
    expect(['policy', 'delete', 'nope'], 1, 'POLICY_NOT_FOUND', /"nope"/);
    expect(['resume', 'vm1', '--policy', 'nope'], 1, 'INVALID_STATE', /protected/);
    expect(['policy', 'create', 'good'], 1, 'POLICY_EXISTS', /good/);
    // States.
    expect(['protect', 'vm1', '--policy', 'good'], 1, 'ALREADY_PROTECTED', /vm1/);
    expect(['protect', 'ghost', '--policy', 'good'], 1, 'VM_NOT_FOUND', /ghost/);
    expect(['resume', 'vm1'], 1, 'INVALID_STATE', /vm1.*protected.*not stopped/);
    expect(['resume', 'vm2'], 1, 'NOT_PROTECTED', /vm2/);
    expect(['undelete', 'vm1'], 1, 'INVALID_STATE', /vm1.*protected, not soft-deleted/);
    expect(['delete-data', 'vm1'], 1, 'INVALID_STATE', /stop protection first/);
    expect(['stop-protection', 'vm1'], 2, 'INVALID_ARGUMENT', /exactly one of --retain-data and --delete-data/);
    expect(['stop-protection', 'vm1', '--retain-data', '--delete-data'], 2, 'INVALID_ARGUMENT', /exactly one of --retain-data and --delete-data/);
    expect(['policy', 'delete', 'good'], 1, 'POLICY_IN_USE', /good.*vm1/);
    // Times.
    for (const args of [['cleanup'], ['cleanup', '--dry-run'], ['scheduler', 'tick'], ['policy', 'update', 'good', '--keep-daily', '10'], ['protect', 'vm2', '--policy', 'good'], ['backup', 'vm1'], ['stop-protection', 'vm1', '--retain-data']]) {
      expect([...args, '--now', 'garbage'], 2, 'INVALID_ARGUMENT', /--now "garbage" is not a time/);
    }
    expect(['backup', 'vm1', '--retain-days', '0'], 2, 'INVALID_ARGUMENT', /--retain-days "0"/);
    expect(['backup', 'vm1', '--retain-until', '2027-01-01', '--now', '2027-02-01T00:00:00Z'], 2, 'INVALID_ARGUMENT', /--retain-until .* is in the past/);
    expect(['settings', 'soft-delete', 'maybe'], 2, 'INVALID_ARGUMENT', /soft-delete "maybe"/);

    assert.deepEqual(snapshot(), before, 'nothing changed');
    const item: Run = lab.h.run(['undelete', 'vm1']);
    assert.equal(item.code, 1);
    assert.match(item.stderr, /\[INVALID_STATE\]/, 'text output ends the message with the code');
  });
});
