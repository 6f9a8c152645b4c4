/**
 * Crash consistency with real processes and real files: a writer process (test/fixtures/crash-writer.ts)
 * backs up into a LocalStore vault until it is killed with SIGKILL at a seeded random moment; then
 * this process checks that nothing it was told about is lost, nothing half-written is visible,
 * the vault verifies, every point restores bit for bit, and the dead writer's lock is cleared.
 * One vault is reused across all runs, so later runs build on the points (and the debris) of
 * earlier ones; gc runs every GC_EVERY runs and must leave no unindexed pack and no temp file.
 *
 * Environment overrides: BOVEDA_CRASH_RUNS (default 50), BOVEDA_CRASH_SEED, BOVEDA_CRASH_GC_EVERY.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { BlobKind, Paths } from '../../src/format/index.js';
import {
  Vault, VaultLock, VaultReader, collectGarbage, listPointIds, readPoint, verifyVault, type LockRecord,
} from '../../src/repository/index.js';
import { openIndexFile, readPackTrailer, sha256Hex } from '../../src/repository/vault-objects.js';
import { LocalStore } from '../../src/storage/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { envInt } from './env-int.js';

const RUNS = envInt('BOVEDA_CRASH_RUNS', 50);
const SEED = envInt('BOVEDA_CRASH_SEED', 0x0b0ed4);
const GC_EVERY = Math.max(1, envInt('BOVEDA_CRASH_GC_EVERY', 10));
/** Every READ_DATA_EVERY-th run verifies with readData (every stored byte); the others check structure only. */
const READ_DATA_EVERY = 4;
/** Kills timed from the start of the process land anywhere: start-up, lock, pack, index and manifest writes. */
const MIN_DELAY_MS = 50;
const MAX_DELAY_MS = 1500;
/**
 * An index file or manifest put takes a millisecond or two, so a purely time-based kill rarely
 * lands in one. Every third run instead arms the kill on the writer's announcement of its n-th put
 * of a pack, index file or manifest and fires 0–PUT_WINDOW_MS later: inside that put or just after.
 */
const PUT_WINDOW_MS = 2;
const PUT_TARGETS = [
  { prefix: 'packs/', what: 'pack', maxNth: 6 },
  { prefix: 'index/', what: 'index file', maxNth: 4 },
  { prefix: 'points/', what: 'manifest', maxNth: 2 },
] as const;
const WRITER_SCRIPT = fileURLToPath(new URL('../fixtures/crash-writer.js', import.meta.url));
const PASSPHRASE = 'crash test passphrase';
const secret = { kind: 'passphrase', passphrase: PASSPHRASE } as const;

interface PointLine {
  event: 'committing' | 'committed';
  pointId: string;
  sha256: string;
  sizeBytes: number;
}
type WriterLine = PointLine | { event: 'put'; key: string } | { event: 'put-done'; key: string };

type KillPlan =
  | { mode: 'time'; delayMs: number }
  | { mode: 'put'; target: (typeof PUT_TARGETS)[number]; nth: number; delayMs: number };

interface RunResult {
  pid: number;
  lines: PointLine[];
  /** Keys whose put had started but not finished when the writer died. */
  interruptedPuts: string[];
}

/** Starts the writer and kills it with SIGKILL as planned; resolves once it is dead and reaped. */
function runWriter(vaultDir: string, runSeed: number, blockSize: number, plan: KillPlan): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER_SCRIPT, vaultDir, String(runSeed), String(blockSize)], {
      env: { ...process.env, BOVEDA_PASSPHRASE: PASSPHRASE },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: PointLine[] = [];
    const inProgress = new Set<string>();
    let stdout = '';
    let stderr = '';
    let targeted = 0;
    const kill = () => child.kill('SIGKILL');
    // A safety net: whatever the plan, the writer never outlives 10 s.
    const timers = [setTimeout(kill, plan.mode === 'time' ? plan.delayMs : 10_000)];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      let newline: number;
      while ((newline = stdout.indexOf('\n')) >= 0) {
        const line = JSON.parse(stdout.slice(0, newline)) as WriterLine;
        stdout = stdout.slice(newline + 1);
        if (line.event === 'put') {
          inProgress.add(line.key);
          if (plan.mode === 'put' && line.key.startsWith(plan.target.prefix) && ++targeted === plan.nth) {
            if (plan.delayMs === 0) kill();
            else timers.push(setTimeout(kill, plan.delayMs));
          }
        } else if (line.event === 'put-done') {
          inProgress.delete(line.key);
        } else {
          lines.push(line);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      for (const timer of timers) clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`the writer ended by itself (code ${code}, signal ${signal}) instead of being killed:\n${stderr}`));
        return;
      }
      // Lines are written whole (synchronous pipe writes, far below PIPE_BUF): no torn last line.
      assert.equal(stdout, '', 'the writer left a torn line on stdout');
      resolve({ pid: child.pid!, lines, interruptedPuts: [...inProgress].sort() });
    });
  });
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Restores disk0 of each point with one read session; returns point id → SHA-256 of the restored disk. */
async function restoreHashes(vault: Vault, pointIds: Iterable<string>): Promise<Map<string, { sha256: string; sizeBytes: number }>> {
  const result = new Map<string, { sha256: string; sizeBytes: number }>();
  const reader = await VaultReader.open(vault, { purpose: 'a crash-test restore' });
  try {
    for (const pointId of pointIds) {
      const point = await readPoint(vault, pointId);
      const disk = reader.disk(point, 'disk0');
      const out = new Uint8Array(disk.sizeBytes);
      for await (const block of reader.readDisk(disk)) out.set(block.data, block.index * disk.blockSize);
      result.set(pointId, { sha256: sha256(out), sizeBytes: disk.sizeBytes });
    }
  } finally {
    await reader.close();
  }
  return result;
}

async function listKeys(store: LocalStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list(prefix)) keys.push(key);
  return keys.sort();
}

/** What a leftover temp file was going to become, from its first bytes. */
async function classifyPartials(vaultDir: string): Promise<Array<{ name: string; kind: string }>> {
  let names: string[];
  try {
    names = await readdir(join(vaultDir, 'tmp'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const kinds: Array<{ name: string; kind: string }> = [];
  for (const name of names) {
    const handle = await open(join(vaultDir, 'tmp', name), 'r');
    try {
      const head = Buffer.alloc(4);
      const { bytesRead } = await handle.read(head, 0, 4, 0);
      const magic = head.subarray(0, bytesRead).toString('latin1');
      const kind = bytesRead === 0 ? 'empty' : magic === 'BVPK' ? 'pack' : magic === 'BVIX' ? 'index' : magic === 'BVMF' ? 'manifest'
        : magic.startsWith('{') ? 'json (lock, key slot or config)' : `unknown ${JSON.stringify(magic)}`;
      kinds.push({ name, kind });
    } finally {
      await handle.close();
    }
  }
  return kinds;
}

describe('crash consistency: SIGKILL of a writer process at random moments', () => {
  const rng = new SeededRandom(SEED);
  const blockSize = process.env.BOVEDA_CRASH_BLOCK_SIZE ? Number(process.env.BOVEDA_CRASH_BLOCK_SIZE) : rng.int(2) === 0 ? 4096 : 16384;
  let root = '';
  let vaultDir = '';
  let store: LocalStore;
  let vault: Vault | undefined;
  /** Every point the writer announced before committing it, with the SHA-256 of its disk. */
  const intended = new Map<string, { sha256: string; sizeBytes: number }>();
  /** Points the writer reported as committed. They must exist forever after. */
  const reported = new Set<string>();
  /** Points found in the vault and restored correctly (reported or not). */
  const confirmed = new Set<string>();
  /** Temp files of interrupted puts seen so far (they stay until gc sweeps them). */
  const seenPartials = new Set<string>();
  /** Packs already read and checked whole. */
  const checkedPacks = new Set<string>();
  const tally = {
    staleLocksCleared: 0,
    killedBeforeVaultExisted: 0,
    killedInsideCommit: 0,
    committedButUnreported: 0,
    runsWithUnindexedPacks: 0,
    /** Puts that had started and not finished when the writer died, by kind of object. */
    interruptedPuts: new Map<string, number>(),
    /** Temp files left by those puts, by what their first bytes say they were going to be. */
    partials: new Map<string, number>(),
    reportedPoints: 0,
    gcRuns: 0,
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'boveda-crash-'));
    vaultDir = join(root, 'vault');
    store = new LocalStore(vaultDir);
  });

  after(async () => {
    await vault?.close();
    await rm(root, { recursive: true, force: true });
  });

  for (let run = 1; run <= RUNS; run++) {
    let plan: KillPlan;
    if (run % 3 === 0) {
      const target = PUT_TARGETS[rng.int(PUT_TARGETS.length)]!;
      plan = { mode: 'put', target, nth: 1 + rng.int(target.maxNth), delayMs: rng.int(PUT_WINDOW_MS + 1) };
    } else {
      plan = { mode: 'time', delayMs: MIN_DELAY_MS + rng.int(MAX_DELAY_MS - MIN_DELAY_MS + 1) };
    }
    const runSeed = rng.nextUint32();
    const title = plan.mode === 'time' ? `${plan.delayMs} ms after start` : `${plan.delayMs} ms after starting ${plan.target.what} put #${plan.nth}`;

    it(`run ${run}: killed ${title}`, async (t) => {
      const { pid, lines, interruptedPuts } = await runWriter(vaultDir, runSeed, blockSize, plan);
      for (const key of interruptedPuts) {
        const kind = key.startsWith(Paths.packs) ? 'pack' : key.startsWith(Paths.index) ? 'index file' : key.startsWith(Paths.points) ? 'manifest'
          : key.startsWith(Paths.locks) ? 'lock' : key.startsWith(Paths.keys) ? 'key slot' : key;
        tally.interruptedPuts.set(kind, (tally.interruptedPuts.get(kind) ?? 0) + 1);
      }
      const committedNow = lines.filter((line) => line.event === 'committed');
      for (const line of lines) if (line.event === 'committing') intended.set(line.pointId, { sha256: line.sha256, sizeBytes: line.sizeBytes });
      for (const line of committedNow) {
        assert.deepEqual(intended.get(line.pointId), { sha256: line.sha256, sizeBytes: line.sizeBytes });
        reported.add(line.pointId);
      }
      tally.reportedPoints += committedNow.length;
      const last = lines.at(-1);
      if (last?.event === 'committing') tally.killedInsideCommit++;

      // Partial writes are invisible: temp files exist only under tmp/, which list never shows.
      const partials = await classifyPartials(vaultDir);
      const newPartials = partials.filter(({ name }) => !seenPartials.has(name));
      for (const { name, kind } of newPartials) {
        seenPartials.add(name);
        tally.partials.set(kind, (tally.partials.get(kind) ?? 0) + 1);
      }
      const allKeys = await listKeys(store, '');
      assert.deepEqual(allKeys.filter((key) => key === 'tmp' || key.startsWith('tmp/')), []);

      if (!allKeys.includes(Paths.config)) {
        // Killed before the vault existed (init writes the config last): nothing may have been reported.
        assert.equal(reported.size, 0);
        tally.killedBeforeVaultExisted++;
        return;
      }
      vault ??= await Vault.open(store, [secret], { threads: 2 });

      // The dead writer's lock is removed by the next acquisition, here a shared one like any backup's.
      const leftLocks = allKeys.filter((key) => key.startsWith(Paths.locks));
      assert.ok(leftLocks.length <= 1, `the writer left ${leftLocks.length} lock objects`);
      const cleared: Array<{ key: string; record: LockRecord }> = [];
      const lock = await VaultLock.acquire(store, { exclusive: false, purpose: 'a crash-test check', onStaleLock: (record, key) => cleared.push({ key, record }) });
      try {
        assert.deepEqual(cleared.map(({ key }) => key).sort(), leftLocks, 'every lock the dead writer left was cleared as stale');
        for (const { record } of cleared) assert.equal(record.pid, pid);
        assert.equal((await listKeys(store, Paths.locks)).length, 1, 'only the new lock remains');
      } finally {
        await lock.release();
      }
      tally.staleLocksCleared += cleared.length;
      assert.deepEqual(await listKeys(store, Paths.locks), []);

      // Every listed pack is whole: its content hashes to its name and every blob its trailer lists opens.
      for (const key of allKeys.filter((candidate) => candidate.startsWith(Paths.packs))) {
        const packId = key.slice(key.lastIndexOf('/') + 1);
        if (checkedPacks.has(packId)) continue;
        const bytes = await store.get(key);
        assert.equal(sha256Hex(bytes), packId, `pack ${key} is whole`);
        const entries = readPackTrailer(vault.keys, bytes, key);
        for (const kind of [BlobKind.block, BlobKind.page]) {
          const ofKind = entries.filter((entry) => entry.kind === kind);
          if (ofKind.length === 0) continue;
          const addresses = new Uint8Array(ofKind.length * 32);
          ofKind.forEach((entry, i) => addresses.set(entry.address, i * 32));
          const blobs = ofKind.map((entry) => bytes.slice(entry.offset, entry.offset + entry.length));
          const { failed } = await vault.pool.open(kind === BlobKind.block ? 'block' : 'page', addresses, blobs);
          assert.equal(failed.reduce((sum, bad) => sum + bad, 0), 0, `every blob of pack ${key} opens`);
        }
        checkedPacks.add(packId);
      }
      // Every listed index file is whole too (named by its SHA-256, and it opens).
      for (const key of allKeys.filter((candidate) => candidate.startsWith(Paths.index))) {
        const bytes = await store.get(key);
        assert.equal(`${Paths.index}${sha256Hex(bytes)}`, key);
        openIndexFile(vault.keys, bytes, key);
      }

      // Nothing reported is lost; anything else present was announced and is complete.
      const present = new Set(await listPointIds(vault));
      for (const pointId of reported) assert.ok(present.has(pointId), `reported point ${pointId} is listed`);
      const unreported = [...present].filter((pointId) => !reported.has(pointId) && !confirmed.has(pointId));
      for (const pointId of unreported) {
        assert.ok(intended.has(pointId), `point ${pointId} exists although the writer never announced it`);
        tally.committedButUnreported++;
      }

      const readData = run % READ_DATA_EVERY === 0;
      const report = await verifyVault(vault, { readData });
      assert.deepEqual(report.problems, [], `verify (readData: ${readData}) finds no problem`);
      assert.equal(report.ok, true);
      assert.equal(report.points, present.size);
      if (report.unindexedPacks.length > 0) tally.runsWithUnindexedPacks++;

      const toRestore = [...committedNow.map((line) => line.pointId), ...unreported];
      const restored = await restoreHashes(vault, toRestore);
      for (const pointId of toRestore) {
        assert.deepEqual(restored.get(pointId), intended.get(pointId), `point ${pointId} restores to exactly the bytes written`);
        confirmed.add(pointId);
      }

      if (run % GC_EVERY === 0) {
        const partialsBefore = partials.length;
        const gc = await collectGarbage(vault, { partialsOlderThanMs: 0 });
        tally.gcRuns++;
        assert.equal(gc.orphanPacksDeleted, report.unindexedPacks.length, 'gc removes every unindexed pack');
        assert.equal(gc.partialsSwept, partialsBefore, 'gc sweeps every temp file');
        assert.equal(gc.points, present.size);
        assert.deepEqual(await classifyPartials(vaultDir), []);
        const afterGc = await verifyVault(vault, { readData: true });
        assert.deepEqual(afterGc.problems, []);
        assert.deepEqual(afterGc.unindexedPacks, []);
        assert.equal(afterGc.ok, true);
        assert.deepEqual(new Set(await listPointIds(vault)), present);
        const all = await restoreHashes(vault, present);
        for (const pointId of present) assert.deepEqual(all.get(pointId), intended.get(pointId), `point ${pointId} restores after gc`);
        // Packs gc wrote or kept are checked again on the next run.
        checkedPacks.clear();
        t.diagnostic(`gc: ${JSON.stringify(gc)}`);
      }
      t.diagnostic(`${committedNow.length} point(s) reported, ${present.size} in the vault, interrupted puts: ${interruptedPuts.join(', ') || 'none'}, new partial files: ${newPartials.map(({ kind }) => kind).join(', ') || 'none'}, unindexed packs: ${report.unindexedPacks.length}`);
    });
  }

  it('kills landed in every phase of a backup', (t) => {
    t.diagnostic(`block size ${blockSize}, seed ${SEED}: ${JSON.stringify({
      ...tally, interruptedPuts: Object.fromEntries(tally.interruptedPuts), partials: Object.fromEntries(tally.partials),
    })}`);
    if (RUNS < 30) return; // too few runs to expect every phase
    assert.ok(tally.reportedPoints > 0, 'some points were committed');
    assert.ok(tally.killedInsideCommit > 0, 'some kills hit a commit (between announcing and reporting a point)');
    assert.ok(tally.runsWithUnindexedPacks > 0, 'some kills hit after a pack was stored but before it was indexed');
    assert.ok(tally.staleLocksCleared > 0, 'some kills left a lock behind');
    for (const kind of ['pack', 'index file', 'manifest']) {
      assert.ok((tally.interruptedPuts.get(kind) ?? 0) > 0, `some kills hit a ${kind} write`);
    }
  });
});
