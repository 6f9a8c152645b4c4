/**
 * The scheduler, `serve` and jobs as a user runs them: real `boveda` processes, a real vault and
 * SQLite catalog per scenario, small image files. `scheduler tick --now T` stands for cron at T;
 * `serve` runs on the real clock, so its VMs are protected with a back-dated `--now` and an
 * every-4-hours policy (a slot always lies within the last 4 hours, after protection started).
 * Backups are slowed by a pre-script that sleeps when BOVEDA_TEST_SLOW is set in the environment
 * of the process running the backup (it first touches "$BOVEDA_TEST_SLOW-<vm>").
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { spreadOffsetMs } from '../../src/core/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { CliHarness, failed, ok, type Run, type Started } from './harness.js';

const KiB = 1024;
const IMAGE_SIZE = 96 * KiB;
const HOUR = 3_600_000;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const SLOW_PRE_SCRIPT = 'if [ -n "$BOVEDA_TEST_SLOW" ]; then : > "$BOVEDA_TEST_SLOW-$BOVEDA_VM"; sleep "${BOVEDA_TEST_SLEEP:-2}"; fi';

interface JobJson {
  id: string;
  type: string;
  item: string | null;
  trigger: string;
  status: string;
  queuedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
  progress: { bytesDone: number; bytesTotal: number | null; percent: number | null; bytesPerSecond: number | null };
  warnings: string[];
  error: { code: string; message: string } | null;
  result: Record<string, unknown> | null;
  cancelRequested: boolean;
  slot: string | null;
  owner: string | null;
}

interface TickEntryJson {
  vmName: string;
  slot: string;
  startAt: string;
  outcome: string;
  jobId?: string;
}

interface TickJson {
  now: string;
  entries: TickEntryJson[];
  jobs: JobJson[];
  orphansFailed: string[];
}

interface PointJson {
  id: string;
  vm: string;
  createdAt: string;
  expiresAt: string | null;
  trigger: string;
}

let work: string;
let images: string;

async function writeImage(path: string, seed: number): Promise<void> {
  await writeFile(path, new SeededRandom(seed).bytes(IMAGE_SIZE));
}

/** A fresh data directory with an initialized vault, VMs (name → slow pre-script?) and policies. */
async function scenario(name: string, vms: Record<string, boolean>, policies: string[][] = []): Promise<CliHarness> {
  const h = new CliHarness(join(work, name));
  h.ok(['vault', 'init']);
  let seed = 1;
  for (const [vm, slow] of Object.entries(vms)) {
    const image = join(images, `${name}-${vm}.img`);
    await writeImage(image, seed++);
    h.ok(['vm', 'add', vm, '--disk', image, ...(slow ? ['--pre-script', SLOW_PRE_SCRIPT] : [])]);
  }
  for (const policy of policies) h.ok(['policy', 'create', ...policy]);
  return h;
}

const tick = (h: CliHarness, now: string | null, ...flags: string[]) => h.json<TickJson>(['scheduler', 'tick', ...(now ? ['--now', now] : []), ...flags]);
const outcomes = (report: TickJson) => report.entries.map((entry) => `${entry.vmName} ${entry.slot} ${entry.outcome}`);
const jobs = (h: CliHarness, ...flags: string[]) => h.json<JobJson[]>(['jobs', '--limit', '1000', ...flags]);
const points = (h: CliHarness, vm: string) => h.json<PointJson[]>(['points', vm]);

/** completed, or completed-with-warnings exactly when it has warnings (no reflink on this file system is a warning). */
function assertCompleted(job: JobJson): void {
  assert.equal(job.status, job.warnings.length > 0 ? 'completed-with-warnings' : 'completed', JSON.stringify(job));
  assert.equal(job.error, null);
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, running?: Started, ms = 30_000): Promise<void> {
  let ended: Run | undefined;
  void running?.done.then((result) => (ended = result));
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (ended) assert.fail(`the process ended (exit ${ended.code}) before ${what}: ${ended.stdout}${ended.stderr}`);
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}${running ? `: ${running.stdout()}${running.stderr()}` : ''}`);
    await sleep(50);
  }
}

async function locks(h: CliHarness): Promise<string[]> {
  return readdir(join(h.data, 'vault', 'locks')).catch(() => []);
}

/** serve --json log lines. */
function events(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
}

function startedIn(stdout: string): TickEntryJson[] {
  return events(stdout).filter((event) => event.event === 'tick')
    .flatMap((event) => (event.report as { entries: TickEntryJson[] }).entries).filter((entry) => entry.outcome === 'started');
}

describe('boveda scheduler, serve and jobs (CLI, real processes)', () => {
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-scheduler-cli-'));
    images = join(work, 'images');
    await mkdir(images);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('tick runs due backups and waits for them; the same slot again does nothing; after downtime it catches up once; jobs show it all', async () => {
    const h = await scenario('tick', { a: false, b: false }, [['nightly', '--daily', '--at', '02:00']]);
    for (const vm of ['a', 'b']) h.ok(['protect', vm, '--policy', 'nightly', '--now', '2027-01-01T00:00:00Z']);

    assert.deepEqual(outcomes(tick(h, '2027-01-01T01:59:00Z')), []);
    const first = tick(h, '2027-01-01T02:20:00Z', '--spread-minutes', '0');
    assert.match(first.now, /^2027-01-01T02:20:00\.\d{3}Z$/);
    assert.deepEqual(outcomes(first), ['a 2027-01-01T02:00:00.000Z started', 'b 2027-01-01T02:00:00.000Z started']);
    assert.deepEqual(first.jobs.map((job) => job.id), first.entries.map((entry) => entry.jobId));
    for (const job of first.jobs) assertCompleted(job); // the tick waited for them

    const again = ok(h.run(['scheduler', 'tick', '--now', '2027-01-01T02:40:00Z', '--spread-minutes', '0']));
    assert.match(again.stdout, /^Scheduler tick at 2027-01-01T02:40:00\.\d{3}Z\n {2}nothing due\n$/);
    assert.deepEqual(outcomes(tick(h, '2027-01-02T01:59:59Z', '--spread-minutes', '0')), []);

    // Down from Jan 1 to Jan 6: one backup per VM, of the latest missed slot only.
    const late = tick(h, '2027-01-06T09:00:00Z', '--spread-minutes', '0');
    assert.deepEqual(outcomes(late), ['a 2027-01-06T02:00:00.000Z started', 'b 2027-01-06T02:00:00.000Z started']);
    assert.deepEqual(outcomes(tick(h, '2027-01-06T09:05:00Z', '--spread-minutes', '0')), []);

    for (const vm of ['a', 'b']) {
      assert.deepEqual(points(h, vm).map((point) => [point.trigger, point.createdAt.slice(0, 13)]), [['scheduled', '2027-01-01T02'], ['scheduled', '2027-01-06T09']]);
    }
    const all = jobs(h);
    assert.deepEqual(all.map((job) => `${job.item} ${job.slot}`), [
      'b 2027-01-06T02:00:00.000Z', 'a 2027-01-06T02:00:00.000Z', 'b 2027-01-01T02:00:00.000Z', 'a 2027-01-01T02:00:00.000Z',
    ]);
    for (const job of all) {
      assert.deepEqual([job.type, job.trigger, job.cancelRequested], ['backup', 'scheduled', false]);
      assertCompleted(job);
      assert.match(job.startedAt!, ISO_UTC);
      assert.match(job.endedAt!, ISO_UTC);
      assert.equal(job.durationSeconds, (Date.parse(job.endedAt!) - Date.parse(job.startedAt!)) / 1000);
      assert.ok(job.startedAt! >= job.queuedAt && job.queuedAt >= job.slot!, JSON.stringify(job));
      assert.deepEqual([job.progress.bytesDone, job.progress.bytesTotal, job.progress.percent], [IMAGE_SIZE, IMAGE_SIZE, 100]);
      assert.ok(job.progress.bytesPerSecond! > 0, `a rate: ${JSON.stringify(job.progress)}`);
      assert.match(job.owner!, new RegExp(`^\\d+@${hostname()}$`));
      assert.match(String(job.result!.pointId), /^[0-9a-f]{16}$/);
    }
    assert.deepEqual(jobs(h, '--vm', 'a').map((job) => job.item), ['a', 'a']);
    const text = ok(h.run(['jobs'])).stdout.split('\n');
    assert.match(text[0]!, /^ID +TYPE +ITEM +TRIGGER +STATUS +STARTED \(UTC\) +DURATION +ERROR$/);
    assert.match(text[1]!, new RegExp(`^${all[0]!.id} +backup +b +scheduled +completed`));

    // An on-demand backup's job shows its point's expiry in UTC.
    const before = Date.now();
    const backup = JSON.parse(ok(h.run(['backup', 'a', '--retain-days', '7', '--json'])).stdout.trim().split('\n').at(-1)!) as { id: string; job: string; expiresAt: string };
    const shown = h.json<JobJson>(['job', 'show', backup.job]);
    assert.deepEqual([shown.type, shown.item, shown.trigger, shown.slot], ['backup', 'a', 'on-demand', null]);
    assertCompleted(shown);
    assert.equal(shown.result!.pointId, backup.id);
    assert.equal(shown.result!.expiresAt, backup.expiresAt);
    assert.match(backup.expiresAt, ISO_UTC);
    assert.ok(Math.abs(Date.parse(backup.expiresAt) - (before + 7 * 24 * HOUR)) < 60_000, backup.expiresAt);
    const shownText = ok(h.run(['job', 'show', backup.job.slice(0, 18)])).stdout;
    assert.match(shownText, new RegExp(`^Job ${backup.job}: backup of a \\(on-demand\\) — completed`));
    assert.match(shownText, new RegExp(`^ {2}recovery point ${backup.id}, expires ${backup.expiresAt.replace(/\./g, '\\.')} \\(UTC\\)$`, 'm'));
    assert.match(shownText, /^ {2}progress: .* \(100%\), .*\/s$/m);
  });

  it('spreads VMs sharing a slot: each starts at its own offset within --spread-minutes, once', async () => {
    const vms = ['alpha', 'bravo', 'charlie'];
    const h = await scenario('spread', Object.fromEntries(vms.map((vm) => [vm, false])), [['nightly', '--daily', '--at', '02:00']]);
    for (const vm of vms) h.ok(['protect', vm, '--policy', 'nightly', '--now', '2027-01-01T00:00:00Z']);
    const slot = Date.parse('2027-01-01T02:00:00Z');
    const window = 30 * 60_000;
    const startAt = new Map(vms.map((vm) => [vm, slot + spreadOffsetMs(vm, window)]));
    const order = [...vms].sort((x, y) => startAt.get(x)! - startAt.get(y)!);
    // Distinct start times, at least a minute apart, so ticks between them are well defined.
    const times = order.map((vm) => startAt.get(vm)!);
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! > 60_000, `start times ${times.map((t) => new Date(t).toISOString()).join(', ')}`);
    assert.ok(times[0]! > slot + 1000 && times.at(-1)! < slot + window);

    const atSlot = tick(h, '2027-01-01T02:00:00Z', '--spread-minutes', '30');
    assert.deepEqual(atSlot.entries.map((entry) => [entry.vmName, entry.outcome, entry.startAt]), vms.map((vm) => [vm, 'waiting-for-spread', new Date(startAt.get(vm)!).toISOString()]));
    assert.deepEqual(atSlot.jobs, []);
    const started: string[] = [];
    for (const vm of order) {
      // Half a minute after its start time: it starts; the later ones still wait.
      const report = tick(h, new Date(startAt.get(vm)! + 30_000).toISOString(), '--spread-minutes', '30');
      const now = report.entries.filter((entry) => entry.outcome === 'started').map((entry) => entry.vmName);
      assert.deepEqual(now, [vm]);
      started.push(...now);
      for (const entry of report.entries) if (entry.vmName !== vm) assert.equal(entry.outcome, 'waiting-for-spread');
    }
    assert.deepEqual(outcomes(tick(h, '2027-01-01T02:45:00Z', '--spread-minutes', '30')), []);
    const all = jobs(h).reverse();
    assert.deepEqual(all.map((job) => [job.item, job.slot]), order.map((vm) => [vm, '2027-01-01T02:00:00.000Z']));
    for (const [i, job] of all.entries()) assert.ok(Date.parse(job.startedAt!) >= startAt.get(order[i]!)!, `${job.item} not started before ${new Date(startAt.get(order[i]!)!).toISOString()}`);
    for (const vm of vms) assert.equal(points(h, vm).length, 1);
  });

  it('limits concurrent backups: --max-concurrent 1 starts one of two due VMs per tick', async () => {
    const h = await scenario('limit', { a: false, b: false }, [['nightly', '--daily', '--at', '02:00']]);
    for (const vm of ['a', 'b']) h.ok(['protect', vm, '--policy', 'nightly', '--now', '2027-01-01T00:00:00Z']);
    const first = tick(h, '2027-01-01T02:00:00Z', '--spread-minutes', '0', '--max-concurrent', '1');
    assert.deepEqual(outcomes(first), ['a 2027-01-01T02:00:00.000Z started', 'b 2027-01-01T02:00:00.000Z limit']);
    const text = ok(h.run(['scheduler', 'tick', '--now', '2027-01-01T02:01:00Z', '--spread-minutes', '0', '--max-concurrent', '1'])).stdout;
    assert.match(text, /^ {2}b: slot 2027-01-01T02:00:00\.000Z: started job (\S+)$/m);
    assert.match(text, /^ {2}job \S+ \(b\): completed/m);
    assert.deepEqual(outcomes(tick(h, '2027-01-01T02:02:00Z', '--spread-minutes', '0', '--max-concurrent', '1')), []);
    assert.deepEqual(jobs(h).map((job) => job.item), ['b', 'a']);
    failed(h.run(['scheduler', 'tick', '--max-concurrent', '0', '--json']), 2, 'INVALID_ARGUMENT', /--max-concurrent "0" must be a whole number from 1 to 64/);
  });

  it('never runs a (VM, slot) twice: two tick processes at once on one data directory, three days running', async () => {
    const vms = ['v1', 'v2', 'v3', 'v4', 'v5'];
    const h = await scenario('two', Object.fromEntries(vms.map((vm) => [vm, false])), [
      ['nightly', '--daily', '--at', '02:00'], ['four', '--every-hours', '4', '--at', '00:00'],
    ]);
    for (const vm of vms) h.ok(['protect', vm, '--policy', 'nightly', '--now', '2027-01-01T00:00:00Z']);
    for (const day of ['01', '02', '03']) {
      const now = `2027-01-${day}T02:30:00Z`;
      const runs = await Promise.all([0, 1].map(() => h.start(['scheduler', 'tick', '--now', now, '--spread-minutes', '0', '--max-concurrent', '8', '--json']).done));
      const reports = runs.map((run) => JSON.parse(ok(run).stdout) as TickJson);
      const started = reports.flatMap((report) => report.entries.filter((entry) => entry.outcome === 'started').map((entry) => entry.vmName));
      assert.deepEqual(started.sort(), vms, `each VM started once on day ${day}: ${JSON.stringify(reports.map(outcomes))}`);
      for (const report of reports) for (const entry of report.entries) assert.ok(['started', 'claimed-elsewhere'].includes(entry.outcome), entry.outcome);
      for (const report of reports) for (const job of report.jobs) assertCompleted(job);
    }
    const scheduled = jobs(h);
    assert.equal(scheduled.length, 15);
    assert.equal(new Set(scheduled.map((job) => `${job.item} ${job.slot}`)).size, 15);
    for (const vm of vms) assert.deepEqual(points(h, vm).map((point) => point.createdAt.slice(0, 10)), ['2027-01-01', '2027-01-02', '2027-01-03']);

  });

  it('two serve processes on one data directory back up each due VM once', async () => {
    const vms = ['s1', 's2', 's3', 's4'];
    const h = await scenario('two-serve', Object.fromEntries(vms.map((vm) => [vm, false])), [['four', '--every-hours', '4', '--at', '00:00']]);
    // Protected 5 hours ago: the latest 4-hour slot (within the last 4 hours) is due.
    const protectedAt = new Date(Date.now() - 5 * HOUR).toISOString();
    for (const vm of vms) h.ok(['protect', vm, '--policy', 'four', '--now', protectedAt]);
    const serves = [0, 1].map(() => h.start(['serve', '--listen', '127.0.0.1:0', '--tick-seconds', '1', '--cleanup-minutes', '0', '--spread-minutes', '0', '--max-concurrent', '8', '--json']));
    await waitFor(() => jobs(h).filter((job) => job.status !== 'queued' && job.status !== 'in-progress').length >= vms.length, 'every VM backed up', serves[0]);
    await sleep(2500); // a few more ticks of each: nothing more is due
    for (const serve of serves) serve.child.kill('SIGTERM');
    const runs = await Promise.all(serves.map((serve) => serve.done));
    for (const run of runs) ok(run);
    const started = runs.flatMap((run) => startedIn(run.stdout).map((entry) => entry.vmName));
    assert.deepEqual(started.sort(), vms, runs.map((run) => run.stdout).join('\n'));
    const all = jobs(h);
    assert.equal(all.length, vms.length);
    assert.deepEqual(all.map((job) => job.item).sort(), vms);
    assert.equal(new Set(all.map((job) => job.slot)).size, 1);
    for (const job of all) assertCompleted(job);
    for (const vm of vms) assert.equal(points(h, vm).length, 1);
  });

  it('serve runs a due backup and logs it; on SIGTERM a running backup ends cancelled: no point, no lock, exit 0', async () => {
    const h = await scenario('serve', { fast: false, slow: true }, [['four', '--every-hours', '4', '--at', '00:00']]);
    const protectedAt = new Date(Date.now() - 5 * HOUR).toISOString();
    for (const vm of ['fast', 'slow']) h.ok(['protect', vm, '--policy', 'four', '--now', protectedAt]);
    const marker = join(work, 'serve-slow');
    const serve = h.start(['serve', '--listen', '127.0.0.1:0', '--tick-seconds', '1', '--cleanup-minutes', '0', '--spread-minutes', '0', '--json'], { BOVEDA_TEST_SLOW: marker, BOVEDA_TEST_SLEEP: '60' });
    await waitFor(() => existsSync(`${marker}-slow`), 'the slow backup in its pre-script', serve);
    await waitFor(() => jobs(h, '--vm', 'fast').some((job) => job.status !== 'in-progress' && job.status !== 'queued'), 'the fast backup to end', serve);
    const fast = jobs(h, '--vm', 'fast')[0]!;
    assertCompleted(fast);
    assert.equal(points(h, 'fast').length, 1);
    const running = jobs(h, '--vm', 'slow');
    assert.deepEqual(running.map((job) => [job.status, job.trigger, job.owner]), [['in-progress', 'scheduled', `${serve.child.pid}@${hostname()}`]]);

    const sent = Date.now();
    serve.child.kill('SIGTERM');
    const run = ok(await serve.done);
    assert.ok(Date.now() - sent < 15_000, 'the sleeping pre-script is not waited for');
    const log = events(run.stdout);
    // A new data directory: the first start creates the admin and prints its login once.
    assert.deepEqual(log.map((event) => event.event).filter((event) => event !== 'tick'), ['listening', 'first-admin', 'started', 'stopping', 'stopped']);
    assert.equal(log[0]!.pid, serve.child.pid);
    assert.deepEqual(startedIn(run.stdout).map((entry) => [entry.vmName, entry.jobId]).sort(), [['fast', fast.id], ['slow', running[0]!.id]]);
    const cancelled = h.json<JobJson>(['job', 'show', running[0]!.id]);
    assert.deepEqual([cancelled.status, cancelled.error?.code, cancelled.result], ['cancelled', 'ABORTED', null]);
    assert.deepEqual(points(h, 'slow'), []);
    assert.deepEqual(await locks(h), []);
  });

  it('a killed serve leaves an in-progress job that the next jobs/tick fails, naming the dead pid', async () => {
    const h = await scenario('killed', { slow: true }, [['four', '--every-hours', '4', '--at', '00:00']]);
    h.ok(['protect', 'slow', '--policy', 'four', '--now', new Date(Date.now() - 5 * HOUR).toISOString()]);
    const marker = join(work, 'killed-slow');
    const serve = h.start(['serve', '--listen', '127.0.0.1:0', '--tick-seconds', '1', '--cleanup-minutes', '0', '--spread-minutes', '0', '--json'], { BOVEDA_TEST_SLOW: marker, BOVEDA_TEST_SLEEP: '5' });
    await waitFor(() => existsSync(`${marker}-slow`), 'the slow backup in its pre-script', serve);
    serve.child.kill('SIGKILL');
    const run = await serve.done;
    assert.equal(run.signal, 'SIGKILL');
    const pid = serve.child.pid!;
    const [job] = jobs(h);
    assert.equal(job!.status, 'failed');
    assert.deepEqual(job!.error, { code: 'INTERNAL', message: `the process running the job (pid ${pid} on ${hostname()}) died` });
    assert.match(job!.endedAt!, ISO_UTC);
    // Its slot was claimed: the next tick does not run it again, and finds no orphan left.
    const next = tick(h, null, '--spread-minutes', '0');
    assert.deepEqual([next.entries, next.orphansFailed], [[], []]);
    assert.deepEqual(points(h, 'slow'), []);
  });

  it('job cancel from another process stops a running on-demand backup (exit 130, cancelled, no point); the scheduler waits for it meanwhile', async () => {
    const h = await scenario('cancel', { slow: true }, [['four', '--every-hours', '4', '--at', '00:00']]);
    h.ok(['protect', 'slow', '--policy', 'four', '--now', new Date(Date.now() - 5 * HOUR).toISOString()]);
    const marker = join(work, 'cancel-slow');
    const backup = h.start(['backup', 'slow'], { BOVEDA_TEST_SLOW: marker, BOVEDA_TEST_SLEEP: '60' });
    await waitFor(() => existsSync(`${marker}-slow`), 'the backup in its pre-script', backup);
    const [running] = jobs(h, '--status', 'in-progress');
    assert.deepEqual([running!.item, running!.trigger, running!.type], ['slow', 'on-demand', 'backup']);
    // A backup of the VM is running: the scheduled one waits for a later tick.
    const busy = tick(h, null, '--spread-minutes', '0');
    assert.deepEqual(busy.entries.map((entry) => [entry.vmName, entry.outcome]), [['slow', 'busy']]);

    const sent = Date.now();
    const cancel = ok(h.run(['job', 'cancel', running!.id.slice(0, 19)]));
    assert.equal(cancel.stdout, `Cancel requested for job ${running!.id}; it stops shortly.\n`);
    const run = await backup.done;
    assert.equal(run.code, 130, run.stdout + run.stderr);
    assert.match(run.stderr, /cancelled.*\[ABORTED\]/);
    assert.ok(Date.now() - sent < 15_000, 'the backup stops within seconds');
    const cancelled = h.json<JobJson>(['job', 'show', running!.id]);
    assert.deepEqual([cancelled.status, cancelled.cancelRequested, cancelled.error?.code, cancelled.result], ['cancelled', true, 'ABORTED', null]);
    assert.deepEqual(points(h, 'slow'), []);
    assert.deepEqual(await locks(h), []);

    // Now the scheduled backup runs, once.
    const next = tick(h, null, '--spread-minutes', '0');
    assert.deepEqual(next.entries.map((entry) => [entry.vmName, entry.outcome]), [['slow', 'started']]);
    assertCompleted(next.jobs[0]!);
    assert.deepEqual(tick(h, null, '--spread-minutes', '0').entries, []);
    assert.deepEqual(points(h, 'slow').map((point) => point.trigger), ['scheduled']);

    failed(h.run(['job', 'cancel', running!.id, '--json']), 1, 'INVALID_STATE', new RegExp(`job ${running!.id} already ended \\(cancelled\\) and cannot be cancelled`));
    failed(h.run(['job', 'cancel', next.jobs[0]!.id, '--json']), 1, 'INVALID_STATE', /already ended \(completed(-with-warnings)?\) and cannot be cancelled/);
    failed(h.run(['job', 'cancel', '19990101-000000-abcdef', '--json']), 1, 'JOB_NOT_FOUND', /no job with id "19990101-000000-abcdef"/);
    failed(h.run(['job', 'show', 'nope', '--json']), 1, 'JOB_NOT_FOUND', /no job with id "nope" or an id starting with it/);
    const prefix = running!.id.slice(0, 2);
    assert.ok(next.jobs[0]!.id.startsWith(prefix));
    failed(h.run(['job', 'cancel', prefix, '--json']), 2, 'INVALID_ARGUMENT', new RegExp(`job id prefix "${prefix}" is ambiguous: it matches `));
    assert.equal(h.json<JobJson>(['job', 'show', next.jobs[0]!.id]).status, next.jobs[0]!.status, 'nothing changed');
  });
});
