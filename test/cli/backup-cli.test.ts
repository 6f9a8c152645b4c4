/**
 * The backup, points and restore commands as a user runs them: real `boveda` processes, real image
 * files, a real data directory (catalog + default vault). Covers the CLI contract (output, exit
 * statuses, error codes), bad input, concurrent backups of one VM, Ctrl-C and kill -9.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { SeededRandom } from '../../src/util/index.js';

const bin = join(process.cwd(), 'dist/src/cli/main.js');
const KiB = 1024;
const MiB = 1024 * KiB;
/** The default vault's block size: change detection works on these. */
const BLOCK = 16 * KiB;
const DAY_MS = 86_400_000;
const PASSPHRASE = 'correct horse';
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Started {
  child: ChildProcess;
  done: Promise<Run>;
  stdout(): string;
}

interface PointJson {
  id: string;
  vm: string;
  createdAt: string;
  expiresAt: string | null;
  type: string;
  consistency: string;
  parentId: string | null;
  warnings: string[];
  introducedBytes: number;
  uniqueBytes: number;
  disks: Array<{ name: string; role: string; sizeBytes: number; changedBlocks: number; bytesRead: number; changeDetection: string }>;
}

interface VaultPointJson {
  id: string;
  subject: string;
  parentId: string | null;
}

let work: string;
let data: string;
let images: string;

function env(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  // The caller's BOVEDA_* and XDG settings never leak in; undefined entries are dropped by spawn.
  return {
    ...process.env, BOVEDA_SCRYPT_N: '1024', BOVEDA_PASSPHRASE: PASSPHRASE, BOVEDA_DATA: data,
    BOVEDA_VAULT: undefined, BOVEDA_DEBUG: undefined, XDG_DATA_HOME: undefined, ...extra,
  };
}

/** Runs `boveda` to completion. */
function boveda(args: string[], extra: Record<string, string | undefined> = {}): Run {
  const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: env(extra), timeout: 60_000 });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Starts `boveda` in the background. */
function start(args: string[], extra: Record<string, string | undefined> = {}): Started {
  const child = spawn(process.execPath, [bin, ...args], { env: env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, stdout: () => stdout };
}

/** Waits until `condition` holds while `run` is still running (fails if it ended first). */
async function whileRunning(run: Started, condition: () => boolean, what: string): Promise<void> {
  let ended: Run | undefined;
  void run.done.then((result) => (ended = result));
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (ended) assert.fail(`the backup ended (exit ${ended.code}) before ${what}: ${ended.stdout}${ended.stderr}`);
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code} (${run.signal ?? 'no signal'}): ${run.stdout}${run.stderr}`);
  return run;
}

/** Asserts a failed --json run: exit status, error code and message of the JSON error on stderr. */
function failed(run: Run, exit: number, code: string, message: RegExp): void {
  assert.equal(run.code, exit, `expected exit ${exit}, got ${run.code}: ${run.stdout}${run.stderr}`);
  const error = (JSON.parse(run.stderr.trim().split('\n').at(-1)!) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
}

/** Every stdout line of a --json stream parsed; the last is returned as the result. */
function jsonLines(stdout: string): Array<Record<string, unknown>> {
  const lines = stdout.split('\n');
  assert.equal(lines.pop(), '', 'the stream ends with a newline');
  return lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return assert.fail(`not a JSON line: ${JSON.stringify(line)}`);
    }
  });
}

function completed(run: Run): Record<string, unknown> {
  const events = jsonLines(ok(run).stdout);
  const last = events.at(-1)!;
  assert.equal(last.event, 'completed', run.stdout);
  for (const event of events.slice(0, -1)) assert.equal(event.event, 'progress', JSON.stringify(event));
  return last;
}

function pointIdFromText(stdout: string): string {
  const match = /^Recovery point ([0-9a-f]{16}) of VM /m.exec(stdout);
  assert.ok(match, `the output names the point: ${stdout}`);
  return match[1]!;
}

function pointsOf(vm: string): PointJson[] {
  const run = ok(boveda(['points', vm, '--json']));
  const points = JSON.parse(run.stdout) as PointJson[];
  assert.ok(Array.isArray(points), run.stdout);
  return points;
}

function vaultPoints(): VaultPointJson[] {
  return (JSON.parse(ok(boveda(['vault', 'points', '--json'])).stdout) as { points: VaultPointJson[] }).points;
}

const vaultDir = () => join(data, 'vault');

/** Every file of the vault with its size. */
async function listVault(): Promise<string[]> {
  const entries = await readdir(vaultDir(), { withFileTypes: true, recursive: true });
  const files: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.push(`${path} ${(await stat(path)).size}`);
  }
  return files.sort();
}

async function locks(): Promise<string[]> {
  return readdir(join(vaultDir(), 'locks')).catch(() => []);
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const fileHash = async (path: string) => sha256(await readFile(path));

/** An image of seeded random data in which every fourth 64 KiB chunk (starting with the second) is zero. */
async function writeImage(path: string, size: number, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const image = new Uint8Array(size);
  for (let at = 0, chunk = 0; at < size; at += 64 * KiB, chunk++) {
    if (chunk % 4 !== 1) random.fill(image.subarray(at, Math.min(size, at + 64 * KiB)));
  }
  await writeFile(path, image);
}

/** A sparse image with `count` random regions of `length` bytes, `stride` apart. */
async function writeSparseImage(path: string, size: number, regions: { count: number; length: number; stride: number }, seed: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
  await scribble(path, Array.from({ length: regions.count }, (_, i) => [i * regions.stride + MiB, regions.length] as const), seed);
}

/** Overwrites regions [offset, length] with new random data; returns the indexes of the blocks touched. */
async function scribble(path: string, regions: ReadonlyArray<readonly [number, number]>, seed: number): Promise<Set<number>> {
  const random = new SeededRandom(seed);
  const touched = new Set<number>();
  const handle = await open(path, 'r+');
  try {
    for (const [offset, length] of regions) {
      await handle.write(random.bytes(length), 0, length, offset);
      for (let block = Math.floor(offset / BLOCK); block <= Math.floor((offset + length - 1) / BLOCK); block++) touched.add(block);
    }
  } finally {
    await handle.close();
  }
  return touched;
}

/** Plaintext bytes of the given blocks of a disk of `size` bytes (the last block may be short). */
function blockBytes(blocks: Iterable<number>, size: number): number {
  let total = 0;
  for (const block of blocks) total += Math.min(BLOCK, size - block * BLOCK);
  return total;
}

/** Non-zero blocks of an image and their plaintext bytes. */
function nonZeroBlocks(image: Uint8Array): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (let at = 0; at < image.length; at += BLOCK) {
    const block = image.subarray(at, Math.min(at + BLOCK, image.length));
    if (block.some((byte) => byte !== 0)) {
      count++;
      bytes += block.length;
    }
  }
  return { count, bytes };
}

describe('boveda backup, points and restore (CLI, real processes and image files)', () => {
  let osImg: string;
  let dataImg: string;
  let swapImg: string;
  const OS_SIZE = 12 * MiB + 12 * KiB; // not a whole number of blocks: the last block is 12 KiB
  const DATA_SIZE = 6 * MiB;
  /** sha256 of each web disk at the time of each point: point id → [disk0, disk1]. */
  const webAt = new Map<string, [string, string]>();
  const bigAt = new Map<string, string>();
  let firstWebPoint = '';
  let firstDbPoint = '';
  let scriptLog = '';
  let preScript = '';

  const recordWeb = async (pointId: string) => webAt.set(pointId, [await fileHash(osImg), await fileHash(dataImg)]);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-backup-cli-'));
    data = join(work, 'data');
    images = join(work, 'images');
    await mkdir(images);
    osImg = join(images, 'web-os.img');
    dataImg = join(images, 'web-data.img');
    swapImg = join(images, 'web-swap.img');
    await writeImage(osImg, OS_SIZE, 1);
    await writeImage(dataImg, DATA_SIZE, 2);
    await writeImage(swapImg, MiB, 3);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('backs up a VM in full: names the point, crash-consistent, never expires, temp disk skipped', async () => {
    ok(boveda(['vault', 'init']));
    ok(boveda(['vm', 'add', 'web', '--disk', osImg, '--disk', `${dataImg},role=data`, '--disk', `${swapImg},role=temp`]));
    const run = ok(boveda(['backup', 'web']));
    firstWebPoint = pointIdFromText(run.stdout);
    assert.match(run.stdout, new RegExp(`^Recovery point ${firstWebPoint} of VM "web" \\(full, crash-consistent\\) at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`, 'm'));
    assert.match(run.stdout, /^ {2}expires never$/m);
    assert.match(run.stdout, /^ {2}disk0: .* blocks changed, read /m);
    assert.match(run.stdout, /^ {2}disk1: .* blocks changed, read /m);
    assert.doesNotMatch(run.stdout, /disk2|swap/, 'the temp disk is never backed up');
    await recordWeb(firstWebPoint);
  });

  it('sets the expiry from --retain-days (UTC, N days ahead) and --retain-until (end of that day, UTC)', async () => {
    const before = Date.now();
    const days = ok(boveda(['backup', 'web', '--retain-days', '7']));
    const after = Date.now();
    assert.match(days.stdout, /\(incremental, crash-consistent\)/);
    const expires = /^ {2}expires (\S+) \(UTC\)$/m.exec(days.stdout)?.[1];
    assert.ok(expires, days.stdout);
    assert.match(expires, ISO_UTC);
    const at = Date.parse(expires);
    assert.ok(at >= before + 7 * DAY_MS - 1000 && at <= after + 7 * DAY_MS, `${expires} is 7 days after the backup`);
    await recordWeb(pointIdFromText(days.stdout));

    const until = ok(boveda(['backup', 'web', '--retain-until', '2099-01-31']));
    assert.match(until.stdout, /^ {2}expires 2099-01-31T23:59:59\.000Z \(UTC\)$/m);
    await recordWeb(pointIdFromText(until.stdout));

    const points = pointsOf('web');
    assert.deepEqual(points.map((point) => point.expiresAt), [null, expires, '2099-01-31T23:59:59.000Z']);
  });

  it('refuses bad retention and wait values with exit 2 naming the option, and adds no point', () => {
    const count = pointsOf('web').length;
    const bad: Array<[string[], RegExp]> = [
      [['--retain-days', '0'], /--retain-days "0" must be a whole number/],
      [['--retain-days', 'x'], /--retain-days "x" must be a whole number/],
      [['--retain-days', '1.5'], /--retain-days "1\.5"/],
      [['--retain-until', 'yesterday'], /--retain-until "yesterday" is not a date/],
      [['--retain-until', '2099-02-30'], /--retain-until "2099-02-30" is not a date/],
      [['--retain-until', '2099-02-29T12:00Z'], /--retain-until "2099-02-29T12:00Z" is not a date/],
      [['--retain-until', '2020-01-01'], /--retain-until 2020-01-01T23:59:59\.000Z is in the past/],
      [['--retain-days', '7', '--retain-until', '2099-01-31'], /either --retain-days or --retain-until, not both/],
      [['--wait', 'soon'], /--wait "soon"/],
    ];
    for (const [options, message] of bad) failed(boveda(['backup', 'web', '--json', ...options]), 2, 'INVALID_ARGUMENT', message);
    const text = boveda(['backup', 'web', '--retain-days', 'x']);
    assert.equal(text.code, 2);
    assert.match(text.stderr, /--retain-days "x".*\[INVALID_ARGUMENT\]/);
    assert.equal(pointsOf('web').length, count);
  });

  it('lists points as JSON; the next backup after a few changed 4 KiB regions is incremental with exactly those blocks', async () => {
    const image = { disk0: await readFile(osImg), disk1: await readFile(dataImg) };
    const listed = pointsOf('web');
    assert.equal(listed.length, 3);
    for (const point of listed) {
      assert.match(point.id, /^[0-9a-f]{16}$/);
      assert.equal(point.vm, 'web');
      assert.match(point.createdAt, ISO_UTC);
      if (point.expiresAt !== null) assert.match(point.expiresAt, ISO_UTC);
      assert.ok(['full', 'incremental'].includes(point.type), point.type);
      assert.ok(['application', 'file-system', 'crash'].includes(point.consistency), point.consistency);
      assert.ok(Number.isSafeInteger(point.introducedBytes) && point.introducedBytes >= 0);
      assert.ok(Number.isSafeInteger(point.uniqueBytes) && point.uniqueBytes >= 0);
      assert.deepEqual(point.disks.map((disk) => [disk.name, disk.role, disk.sizeBytes]), [['disk0', 'os', OS_SIZE], ['disk1', 'data', DATA_SIZE]]);
      for (const disk of point.disks) {
        assert.ok(Number.isSafeInteger(disk.changedBlocks) && disk.changedBlocks >= 0);
        assert.equal(disk.bytesRead, disk.sizeBytes, 'every block is read');
        assert.ok(['full', 'checksum'].includes(disk.changeDetection), disk.changeDetection);
      }
    }
    const [full, ...unchanged] = listed;
    assert.equal(full!.id, firstWebPoint);
    assert.equal(full!.type, 'full');
    assert.equal(full!.consistency, 'crash');
    assert.equal(full!.parentId, null);
    const nonZero = [nonZeroBlocks(image.disk0), nonZeroBlocks(image.disk1)];
    assert.deepEqual(full!.disks.map((disk) => [disk.changeDetection, disk.changedBlocks]), [['full', nonZero[0]!.count], ['full', nonZero[1]!.count]]);
    assert.equal(full!.introducedBytes, nonZero[0]!.bytes + nonZero[1]!.bytes);
    for (const point of unchanged) {
      assert.equal(point.type, 'incremental');
      assert.equal(point.introducedBytes, 0);
      assert.deepEqual(point.disks.map((disk) => [disk.changeDetection, disk.changedBlocks]), [['checksum', 0], ['checksum', 0]]);
    }

    // Two regions in block 0, one across blocks 1 and 2, one in a zero chunk (block 5), the short last block.
    const osBlocks = await scribble(osImg, [[0, 4 * KiB], [8 * KiB, 4 * KiB], [2 * BLOCK - 2 * KiB, 4 * KiB], [84 * KiB, 4 * KiB], [OS_SIZE - 4 * KiB, 4 * KiB]], 11);
    const dataBlocks = await scribble(dataImg, [[3 * MiB + 4 * KiB, 4 * KiB]], 12);
    assert.deepEqual([...osBlocks].sort((a, b) => a - b), [0, 1, 2, 5, Math.floor(OS_SIZE / BLOCK)]);
    const run = ok(boveda(['backup', 'web']));
    const id = pointIdFromText(run.stdout);
    assert.match(run.stdout, /\(incremental, crash-consistent\)/);
    assert.match(run.stdout, /^ {2}disk0: .*, 5 blocks changed, /m);
    assert.match(run.stdout, /^ {2}disk1: .*, 1 blocks? changed, /m);
    await recordWeb(id);

    const latest = pointsOf('web').at(-1)!;
    assert.equal(latest.id, id);
    assert.equal(latest.type, 'incremental');
    assert.equal(latest.parentId, listed.at(-1)!.id);
    assert.deepEqual(latest.disks.map((disk) => [disk.name, disk.changeDetection, disk.changedBlocks, disk.bytesRead]), [
      ['disk0', 'checksum', osBlocks.size, OS_SIZE],
      ['disk1', 'checksum', dataBlocks.size, DATA_SIZE],
    ]);
    const introduced = blockBytes(osBlocks, OS_SIZE) + blockBytes(dataBlocks, DATA_SIZE);
    assert.equal(latest.introducedBytes, introduced);
    assert.equal(latest.uniqueBytes, introduced, 'only the latest point references its changed blocks');
  });

  it('streams JSON lines only on stdout with --json, ending with the completed event and the point id', async () => {
    const run = boveda(['backup', 'web', '--json']);
    const done = completed(run);
    assert.equal(run.stderr, '');
    assert.match(String(done.id), /^[0-9a-f]{16}$/);
    assert.equal(done.vm, 'web');
    assert.equal(done.type, 'incremental');
    assert.equal(done.expiresAt, null);
    assert.deepEqual((done.disks as Array<{ name: string; changedBlocks: number }>).map((disk) => [disk.name, disk.changedBlocks]), [['disk0', 0], ['disk1', 0]]);
    assert.equal(pointsOf('web').at(-1)!.id, done.id);
    await recordWeb(String(done.id));
  });

  it('runs pre/post scripts: application-consistent; a failing pre-script still backs up, crash-consistent, with the warning', async () => {
    const dbImg = join(images, 'db.img');
    await writeImage(dbImg, 2 * MiB, 4);
    scriptLog = join(work, 'scripts.log');
    // Slow (a marker file, then $BOVEDA_TEST_SLEEP or 2 seconds) only when the test asks for it.
    preScript = `echo "pre $BOVEDA_PHASE $BOVEDA_VM" >> '${scriptLog}'; if [ -n "$BOVEDA_TEST_SLOW" ]; then : > "$BOVEDA_TEST_SLOW"; sleep "\${BOVEDA_TEST_SLEEP:-2}"; fi`;
    ok(boveda(['vm', 'add', 'db', '--disk', dbImg, '--pre-script', preScript, '--post-script', `echo "post $BOVEDA_PHASE $BOVEDA_VM" >> '${scriptLog}'`]));
    const app = ok(boveda(['backup', 'db']));
    firstDbPoint = pointIdFromText(app.stdout);
    assert.match(app.stdout, /\(full, application-consistent\)/);
    assert.equal(await readFile(scriptLog, 'utf8'), 'pre pre db\npost post db\n');

    ok(boveda(['vm', 'set', 'db', '--pre-script', 'echo cannot freeze >&2; exit 3']));
    const crash = ok(boveda(['backup', 'db']));
    assert.match(crash.stdout, /\(incremental, crash-consistent\)/);
    assert.match(crash.stdout, /^ {2}warning: pre-script failed \(exit 3: cannot freeze\); fell back to crash-consistent$/m);
    const points = pointsOf('db');
    assert.deepEqual(points.map((point) => point.consistency), ['application', 'crash']);
    assert.ok(points[1]!.warnings.some((warning) => /pre-script failed \(exit 3/.test(warning)), points[1]!.warnings.join('; '));
    ok(boveda(['vm', 'set', 'db', '--pre-script', preScript]));
  });

  it('refuses a second backup of a busy VM (exit 4, VM_BUSY naming the first); with --wait it waits and succeeds', async () => {
    const marker = join(work, 'db-in-pre-script');
    const first = start(['backup', 'db', '--json'], { BOVEDA_TEST_SLOW: marker });
    // The lock is taken before the pre-script: once the marker exists, the VM is busy.
    await whileRunning(first, () => existsSync(marker), 'the pre-script started');
    const busy = new RegExp(`VM "db" is busy: a backup of VM "db" is running \\(pid ${first.child.pid} on `);
    // The catalog refuses first (the running backup's job), naming that job and its process.
    failed(boveda(['backup', 'db', '--json']), 4, 'VM_BUSY', new RegExp(`VM "db" is busy: backup job \\S+ is in progress \\(pid ${first.child.pid} on `));
    failed(boveda(['restore', 'db', '--replace', '--json']), 4, 'VM_BUSY', busy);
    const waiter = start(['backup', 'db', '--json', '--wait', '30']);
    const [firstRun, waiterRun] = await Promise.all([first.done, waiter.done]);
    const firstId = completed(firstRun).id;
    const waiterDone = completed(waiterRun);
    const points = pointsOf('db');
    assert.deepEqual(points.slice(-2).map((point) => point.id), [firstId, waiterDone.id]);
    assert.equal(points.at(-1)!.parentId, firstId, 'the waiting backup builds on the one it waited for');
    assert.equal(points.at(-1)!.type, 'incremental');
    assert.deepEqual(await locks(), []);
  });

  it('cancels on Ctrl-C in the pre-script: exit 130, the post-script still runs, no point, no lock left', async () => {
    const count = pointsOf('db').length;
    const logBefore = await readFile(scriptLog, 'utf8');
    const marker = join(work, 'db-in-pre-script-again');
    const run = start(['backup', 'db'], { BOVEDA_TEST_SLOW: marker, BOVEDA_TEST_SLEEP: '20' });
    await whileRunning(run, () => existsSync(marker), 'the pre-script started');
    const sent = Date.now();
    run.child.kill('SIGINT');
    const result = await run.done;
    assert.equal(result.code, 130, result.stdout + result.stderr);
    assert.match(result.stderr, /cancelled.*\[ABORTED\]/);
    assert.ok(Date.now() - sent < 10_000, 'the sleeping pre-script is killed, not waited for');
    assert.equal((await readFile(scriptLog, 'utf8')).slice(logBefore.length), 'pre pre db\npost post db\n');
    assert.equal(pointsOf('db').length, count);
    assert.deepEqual(await locks(), []);
  });

  it('restores the latest point or a --point prefix to sparse images equal to the disks at backup time', async () => {
    const points = pointsOf('web');
    const latest = points.at(-1)!;
    const dir = join(work, 'restore-latest');
    const run = ok(boveda(['restore', 'web', '--to', dir]));
    assert.match(run.stdout, new RegExp(`^Restored recovery point ${latest.id} `));
    assert.deepEqual((await readdir(dir)).sort(), ['disk0.img', 'disk1.img']);
    assert.deepEqual([await fileHash(join(dir, 'disk0.img')), await fileHash(join(dir, 'disk1.img'))], webAt.get(latest.id));
    const info = await stat(join(dir, 'disk0.img'));
    assert.equal(info.size, OS_SIZE);
    assert.ok(info.blocks * 512 < info.size, `the restored image is sparse (${info.blocks * 512} of ${info.size} bytes allocated)`);

    const older = join(work, 'restore-first');
    ok(boveda(['restore', 'web', '--point', firstWebPoint.slice(0, 6), '--to', older]));
    assert.deepEqual([await fileHash(join(older, 'disk0.img')), await fileHash(join(older, 'disk1.img'))], webAt.get(firstWebPoint));
    assert.notDeepEqual(webAt.get(firstWebPoint), webAt.get(latest.id));
  });

  it('never overwrites an existing image without --force (exit 1, RESTORE_TARGET_EXISTS, file untouched); with --force it does', async () => {
    const dir = join(work, 'restore-latest');
    const latest = pointsOf('web').at(-1)!;
    const target = join(dir, 'disk0.img');
    const before = await stat(target);
    failed(boveda(['restore', 'web', '--point', firstWebPoint, '--to', dir, '--json']), 1, 'RESTORE_TARGET_EXISTS', new RegExp(`${target} exists`));
    const text = boveda(['restore', 'web', '--to', dir]);
    assert.equal(text.code, 1);
    assert.match(text.stderr, /--force.*\[RESTORE_TARGET_EXISTS\]/);
    assert.equal(await fileHash(target), webAt.get(latest.id)![0]);
    assert.equal((await stat(target)).mtimeMs, before.mtimeMs);

    const forced = boveda(['restore', 'web', '--point', firstWebPoint, '--to', dir, '--force', '--json']);
    const done = completed(forced);
    assert.equal(done.point, firstWebPoint);
    assert.deepEqual([await fileHash(target), await fileHash(join(dir, 'disk1.img'))], webAt.get(firstWebPoint));
  });

  it('--replace rewrites the VM\'s own disks exactly, writing only the blocks that differ', async () => {
    const latest = pointsOf('web').at(-1)!;
    // One block of random data, one block that was zero.
    const changed = await scribble(osImg, [[3 * BLOCK + 100, 1000], [70 * KiB, 4 * KiB]], 21);
    assert.deepEqual([...changed], [3, 4]);
    assert.notEqual(await fileHash(osImg), webAt.get(latest.id)![0]);
    const done = completed(boveda(['restore', 'web', '--replace', '--json']));
    assert.equal(done.point, latest.id);
    const replaced = done.replaced as Array<{ disk: string; path: string; blocksChecked: number; blocksWritten: number; bytesWritten: number }>;
    assert.deepEqual(replaced.map((disk) => [disk.disk, disk.path, disk.blocksChecked, disk.blocksWritten, disk.bytesWritten]), [
      ['disk0', osImg, Math.ceil(OS_SIZE / BLOCK), 2, 2 * BLOCK],
      ['disk1', dataImg, DATA_SIZE / BLOCK, 0, 0],
    ]);
    assert.deepEqual([await fileHash(osImg), await fileHash(dataImg)], webAt.get(latest.id));

    // Text: the same, and nothing differs any more.
    const again = ok(boveda(['restore', 'web', '--replace']));
    assert.match(again.stdout, new RegExp(`^ {2}disk0 \\(${osImg}\\): 0 of ${Math.ceil(OS_SIZE / BLOCK)} blocks differed, 0 B written$`, 'm'));
  });

  it('refuses bad restore requests: neither or both of --to/--replace, an unknown point, a point of another VM', async () => {
    const nowhere = join(work, 'restore-nowhere');
    const hashes = [await fileHash(osImg), await fileHash(dataImg)];
    failed(boveda(['restore', 'web', '--json']), 2, 'INVALID_ARGUMENT', /exactly one of --to DIR or --replace/);
    failed(boveda(['restore', 'web', '--to', nowhere, '--replace', '--json']), 2, 'INVALID_ARGUMENT', /exactly one of --to DIR or --replace/);
    const unknown = 'ffffffffffffffff';
    assert.ok(vaultPoints().every((point) => !point.id.startsWith('ffff')));
    failed(boveda(['restore', 'web', '--point', unknown, '--to', nowhere, '--json']), 1, 'POINT_NOT_FOUND', /no recovery point ffffffffffffffff/);
    failed(boveda(['restore', 'web', '--point', 'ffff', '--replace', '--json']), 1, 'POINT_NOT_FOUND', /no recovery point ffff /);
    failed(boveda(['restore', 'web', '--point', 'not-an-id', '--to', nowhere, '--json']), 2, 'INVALID_ARGUMENT', /"not-an-id" is not a recovery point id/);
    const foreign = new RegExp(`recovery point ${firstDbPoint} belongs to VM "db", not "web"`);
    failed(boveda(['restore', 'web', '--point', firstDbPoint, '--to', nowhere, '--json']), 2, 'INVALID_ARGUMENT', foreign);
    failed(boveda(['restore', 'web', '--point', firstDbPoint, '--replace', '--json']), 2, 'INVALID_ARGUMENT', foreign);
    await assert.rejects(stat(nowhere), /ENOENT/);
    assert.deepEqual([await fileHash(osImg), await fileHash(dataImg)], hashes, 'the VM\'s disks are untouched');
  });

  it('refuses an unknown VM (VM_NOT_FOUND) and a VM whose disk is gone (DISK_NOT_FOUND naming it), adding no point', async () => {
    failed(boveda(['backup', 'ghost', '--json']), 1, 'VM_NOT_FOUND', /no VM named "ghost"/);
    failed(boveda(['restore', 'ghost', '--replace', '--json']), 1, 'VM_NOT_FOUND', /no VM named "ghost"/);
    const text = boveda(['backup', 'ghost']);
    assert.equal(text.code, 1);
    assert.match(text.stderr, /"ghost".*\[VM_NOT_FOUND\]\n$/);

    const keep = join(images, 'keep.img');
    const lost = join(images, 'lost.img');
    await writeImage(keep, MiB, 5);
    await writeImage(lost, MiB, 6);
    ok(boveda(['vm', 'add', 'gone', '--disk', keep, '--disk', lost]));
    await rm(lost);
    const count = vaultPoints().length;
    failed(boveda(['backup', 'gone', '--json']), 1, 'DISK_NOT_FOUND', new RegExp(`${lost} does not exist`));
    assert.equal(vaultPoints().length, count);
    assert.deepEqual(pointsOf('gone'), []);
    assert.deepEqual(await locks(), []);
  });

  it('refuses a wrong or missing passphrase with exit 5 and writes nothing to the vault', async () => {
    const listing = await listVault();
    failed(boveda(['backup', 'web', '--json'], { BOVEDA_PASSPHRASE: 'wrong horse' }), 5, 'VAULT_WRONG_KEY', /no key slot/);
    failed(boveda(['backup', 'web', '--json'], { BOVEDA_PASSPHRASE: undefined }), 5, 'VAULT_NO_KEY', /passphrase/);
    failed(boveda(['restore', 'web', '--replace', '--json'], { BOVEDA_PASSPHRASE: 'wrong horse' }), 5, 'VAULT_WRONG_KEY', /no key slot/);
    assert.deepEqual(await listVault(), listing);
  });

  describe('interrupted backups of a large sparse disk', () => {
    let bigImg: string;
    const BIG_SIZE = 192 * MiB;
    const REGIONS = { count: 12, length: 2 * MiB, stride: 16 * MiB };
    let firstBig = '';
    let secondBig = '';

    before(async () => {
      bigImg = join(images, 'big.img');
      await writeSparseImage(bigImg, BIG_SIZE, REGIONS, 31);
      ok(boveda(['vm', 'add', 'big', '--disk', bigImg]));
      firstBig = pointIdFromText(ok(boveda(['backup', 'big'])).stdout);
      bigAt.set(firstBig, await fileHash(bigImg));
    });

    it('Ctrl-C while reading: exit 130, no point, no lock; the next backup is incremental against the last completed point', async () => {
      await writeSparseImage(bigImg, BIG_SIZE, REGIONS, 32);
      const run = start(['backup', 'big', '--json']);
      await whileRunning(run, () => run.stdout().includes('"event":"progress"'), 'the first progress event');
      run.child.kill('SIGINT');
      const result = await run.done;
      assert.equal(result.code, 130, result.stdout + result.stderr);
      assert.ok(jsonLines(result.stdout).every((event) => event.event === 'progress'), result.stdout);
      assert.equal((JSON.parse(result.stderr) as { error: { code: string } }).error.code, 'ABORTED');
      assert.deepEqual(pointsOf('big').map((point) => point.id), [firstBig]);
      assert.deepEqual(await locks(), []);

      const done = completed(boveda(['backup', 'big', '--json']));
      secondBig = String(done.id);
      bigAt.set(secondBig, await fileHash(bigImg));
      const latest = pointsOf('big').at(-1)!;
      assert.equal(latest.id, secondBig);
      assert.equal(latest.type, 'incremental');
      assert.equal(latest.parentId, firstBig);
      assert.equal(latest.disks[0]!.changedBlocks, (REGIONS.count * REGIONS.length) / BLOCK);
    });

    it('kill -9 while reading: every completed point stays listed and restorable, verify passes, the next backup clears the stale lock', async () => {
      const before = vaultPoints().map((point) => point.id);
      await writeSparseImage(bigImg, BIG_SIZE, REGIONS, 33);
      const run = start(['backup', 'big', '--json']);
      await whileRunning(run, () => run.stdout().includes('"event":"progress"'), 'the first progress event');
      run.child.kill('SIGKILL');
      const result = await run.done;
      assert.equal(result.signal, 'SIGKILL');
      assert.equal((await locks()).length, 1, 'the killed backup left its lock behind');
      assert.deepEqual(vaultPoints().map((point) => point.id), before);

      // Same VM, same lock scope: this succeeds only because the dead process's lock is recognised as stale.
      const done = completed(boveda(['backup', 'big', '--json']));
      assert.equal(done.type, 'incremental');
      const listed = vaultPoints();
      assert.deepEqual(listed.map((point) => point.id), [...before, done.id]);
      assert.equal(listed.at(-1)!.parentId, secondBig);
      assert.deepEqual(await locks(), []);
      bigAt.set(String(done.id), await fileHash(bigImg));

      const verify = ok(boveda(['vault', 'verify', '--read-data', '--json']));
      assert.equal((JSON.parse(verify.stdout) as { ok: boolean }).ok, true, verify.stdout);
      for (const [vm, pointId, expected] of [
        ['big', secondBig, [bigAt.get(secondBig)]],
        ['big', firstBig, [bigAt.get(firstBig)]],
        ['web', firstWebPoint, webAt.get(firstWebPoint)],
      ] as const) {
        const dir = join(work, `after-kill-${pointId}`);
        ok(boveda(['restore', vm, '--point', pointId, '--to', dir]));
        const names = vm === 'big' ? ['disk0.img'] : ['disk0.img', 'disk1.img'];
        assert.deepEqual(await Promise.all(names.map((name) => fileHash(join(dir, name)))), expected, `point ${pointId} of ${vm}`);
        await rm(dir, { recursive: true });
      }
    });
  });
});
