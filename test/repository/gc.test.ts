import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Paths, type ManifestDisk, type PointManifest } from '../../src/format/index.js';
import { writeDisk } from '../../src/repository/disk-writer.js';
import { collectGarbage, type GcReport } from '../../src/repository/gc.js';
import { deletePoint, listPointIds, listTombstones } from '../../src/repository/points.js';
import { VaultWriter } from '../../src/repository/vault-writer.js';
import { verifyVault } from '../../src/repository/verify.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { LocalStore } from '../../src/storage/local/local-store.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { FaultyStore } from '../../src/storage/testing/faulty-store.js';
import {
  assertRestores, backup, changeBlocks, code, listKeys, makeDisk, memorySource, snapshot, withVault,
} from './helpers.js';

const BS = 4096;

async function packSizes(store: BlobStore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const { key, size } of store.list(Paths.packs)) out.set(key, size);
  return out;
}

function counts(report: GcReport) {
  const { packsDeleted, packsRepacked, orphanPacksDeleted, blobsRemoved, bytesFreed } = report;
  return { packsDeleted, packsRepacked, orphanPacksDeleted, blobsRemoved, bytesFreed };
}

describe('collectGarbage', () => {
  it('deletes the packs only a deleted point used, and keeps everything the others need', async () => {
    await withVault({}, async (vault, store) => {
      const a = makeDisk(1, 300 * BS, BS);
      const b = makeDisk(2, 400 * BS, BS); // nothing in common with a
      const pa = await backup(vault, 'A', [{ name: 'sda', data: a }]);
      const packsOfA = await packSizes(store);
      const pb = await backup(vault, 'B', [{ name: 'sda', data: b }]);
      const packsOfB = [...(await packSizes(store))].filter(([key]) => !packsOfA.has(key));
      assert.ok(packsOfB.length >= 2);

      await deletePoint(vault, pb.pointId);
      assert.deepEqual(await listPointIds(vault), [pa.pointId]);
      assert.deepEqual([...await listTombstones(vault)], [pb.pointId]);
      const report = await collectGarbage(vault);
      assert.equal(report.dryRun, false);
      assert.equal(report.points, 1);
      assert.equal(report.packsDeleted, packsOfB.length);
      assert.equal(report.packsRepacked, 0);
      assert.equal(report.orphanPacksDeleted, 0);
      assert.equal(report.bytesFreed, packsOfB.reduce((sum, [, size]) => sum + size, 0));
      assert.equal(report.tombstonesCleared, 1);
      assert.equal(report.indexFilesAfter, 1);
      assert.ok(report.indexFilesBefore >= 4);
      assert.deepEqual(await packSizes(store), packsOfA);
      assert.deepEqual([...await listTombstones(vault)], []);
      assert.deepEqual(await listKeys(store, Paths.locks), []);
      await assertRestores(vault, pa, 'sda', a);
      const verified = await verifyVault(vault, { readData: true });
      assert.equal(verified.ok, true, JSON.stringify(verified.problems));

      // A second run finds nothing to do and changes nothing.
      const before = await snapshot(store);
      const again = await collectGarbage(vault);
      assert.deepEqual(counts(again), { packsDeleted: 0, packsRepacked: 0, orphanPacksDeleted: 0, blobsRemoved: 0, bytesFreed: 0 });
      assert.deepEqual(await snapshot(store), before);
    });
  });

  it('repacks sparse packs and every remaining point still restores', async () => {
    await withVault({}, async (vault, store) => {
      const v1 = makeDisk(10, 500 * BS, BS, [7]);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1 }]);
      const packsOfP1 = await packSizes(store);
      assert.ok(packsOfP1.size >= 2);
      // p2 rewrites 80% of the disk: once p1 is gone, p1's packs are mostly garbage.
      const rewritten = Array.from({ length: 500 }, (_, i) => i).filter((i) => i % 5 !== 0);
      const v2 = changeBlocks(v1, BS, rewritten, 11);
      const p2 = await backup(vault, 'vm', [{ name: 'sda', data: v2 }], p1);
      const v3 = changeBlocks(v2, BS, [1, 2, 3], 12);
      const p3 = await backup(vault, 'vm', [{ name: 'sda', data: v3 }], p2);
      await deletePoint(vault, p1.pointId);

      // repackBelow 0: sparse packs are left alone.
      const lazy = await collectGarbage(vault, { repackBelow: 0 });
      assert.equal(lazy.packsRepacked, 0);
      assert.equal(lazy.packsDeleted, 0, 'every pack of p1 still holds some live blocks');
      assert.ok(lazy.blobsRemoved >= rewritten.length);
      assert.equal(lazy.bytesFreed, 0);

      const report = await collectGarbage(vault, { repackBelow: 0.5 });
      assert.equal(report.packsRepacked, packsOfP1.size);
      assert.ok(report.packsWritten >= 1);
      assert.equal(report.blobsRemoved, 0, 'already dropped from the index by the first run');
      const after = await packSizes(store);
      for (const key of packsOfP1.keys()) assert.ok(!after.has(key), `${key} was rewritten`);
      assert.ok(report.bytesFreed > 0.5 * [...packsOfP1.values()].reduce((a, b) => a + b, 0));

      await assertRestores(vault, p2, 'sda', v2);
      await assertRestores(vault, p3, 'sda', v3);
      const verified = await verifyVault(vault, { readData: true });
      assert.equal(verified.ok, true, JSON.stringify(verified.problems));
      assert.deepEqual(verified.unindexedPacks, []);
    });
  });

  it('a dry run reports what a real run then does, and changes nothing', async () => {
    await withVault({}, async (vault, store) => {
      const v1 = makeDisk(20, 300 * BS, BS);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1 }]);
      await backup(vault, 'vm', [{ name: 'sda', data: changeBlocks(v1, BS, Array.from({ length: 200 }, (_, i) => i), 21) }], p1);
      await backup(vault, 'other', [{ name: 'sda', data: makeDisk(22, 50 * BS, BS) }]);
      await deletePoint(vault, p1.pointId);
      const before = await snapshot(store);
      const dry = await collectGarbage(vault, { dryRun: true });
      assert.equal(dry.dryRun, true);
      assert.equal(dry.packsWritten, 0);
      assert.equal(dry.tombstonesCleared, 0);
      assert.deepEqual(await snapshot(store), before);
      assert.ok(dry.blobsRemoved > 0 && dry.bytesFreed > 0);
      const real = await collectGarbage(vault);
      assert.deepEqual(counts(real), counts(dry));
    });
  });

  it('removes what an interrupted writer left (flushed but uncommitted, or never indexed); earlier points restore', async () => {
    const inner = new MemoryStore();
    const store = new FaultyStore(inner);
    await withVault({ store }, async (vault) => {
      const v1 = makeDisk(30, 100 * BS, BS);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1 }]);
      const kept = await snapshot(inner);

      // 1. Blocks stored and flushed (packs + index file), then the session ends without a commit.
      const writer = await VaultWriter.open(vault);
      try {
        await writer.putBlocks(Array.from({ length: 300 }, (_, i) => makeDisk(1000 + i, BS, BS)));
        await writer.putBlocks([v1.slice(0, BS)]); // a block p1 has: deduplicated, not stored again
        await writer.flush();
      } finally {
        await writer.close();
      }
      // 2. Packs stored but the index file write fails (a crash between the two).
      const rule = store.addRule({ op: 'put', keyPrefix: Paths.index, error: 'io' });
      const crashed = await VaultWriter.open(vault);
      try {
        await writeDisk(crashed, memorySource('sdb', makeDisk(31, 100 * BS, BS)));
        await assert.rejects(crashed.commitPoint({ subject: 'vm', parentId: null, disks: [] }), code('STORAGE_IO'));
      } finally {
        await crashed.close();
      }
      assert.equal(rule.fired, 1);
      store.clearRules();
      assert.deepEqual(await listPointIds(vault), [p1.pointId]);
      const unindexed = (await verifyVault(vault)).unindexedPacks;
      assert.equal(unindexed.length, 1);

      const report = await collectGarbage(vault);
      assert.equal(report.orphanPacksDeleted, 1);
      assert.equal(report.packsDeleted, 2, 'the two flushed-but-uncommitted packs (300 blocks of 4 KiB, 1 MiB packs)');
      assert.equal(report.blobsRemoved, 300, 'the 300 uncommitted blocks; the block p1 has was never stored twice');
      // Back to exactly p1's objects (its index files merged into one).
      const now = await snapshot(inner);
      for (const key of kept.keys()) if (!key.startsWith(Paths.index)) assert.equal(now.get(key), kept.get(key), key);
      assert.deepEqual([...now.keys()].filter((key) => !kept.has(key) && !key.startsWith(Paths.index)), []);
      await assertRestores(vault, p1, 'sda', v1);
      const verified = await verifyVault(vault, { readData: true });
      assert.equal(verified.ok, true);
      assert.deepEqual(verified.unindexedPacks, []);
    });
  });

  it('refuses with VAULT_DAMAGED when a manifest or an index file is unreadable, or a recorded manifest is gone', async () => {
    for (const damage of ['manifest', 'index', 'lost manifest'] as const) {
      await withVault({}, async (vault, store) => {
        const p1 = await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(40, 50 * BS, BS) }]);
        const p2 = await backup(vault, 'other', [{ name: 'sda', data: makeDisk(41, 50 * BS, BS) }]);
        await deletePoint(vault, p2.pointId); // gc would have work to do
        const memory = store as MemoryStore;
        if (damage === 'manifest') {
          memory.corrupt(`${Paths.points}${p1.pointId}`, (bytes) => bytes.subarray(0, bytes.length - 1));
        } else if (damage === 'index') {
          memory.corrupt((await listKeys(store, Paths.index))[0]!, (bytes) => bytes.subarray(0, 10));
        } else {
          await store.delete(`${Paths.points}${p1.pointId}`);
        }
        const before = await snapshot(store);
        await assert.rejects(collectGarbage(vault), code('VAULT_DAMAGED', 'verify'));
        await assert.rejects(collectGarbage(vault, { dryRun: true }), code('VAULT_DAMAGED'));
        assert.deepEqual(await snapshot(store), before, `${damage}: nothing deleted`);
      });
    }
  });

  it('refuses with VAULT_LOCKED while a backup that deduplicated against a deleted point runs; keeps its blocks after', async () => {
    await withVault({}, async (vault, store) => {
      const data = makeDisk(50, 200 * BS + 5, BS, [3]);
      const a = await backup(vault, 'vm', [{ name: 'sda', data }]);
      await deletePoint(vault, a.pointId);
      const packsOfA = await packSizes(store);

      const writer = await VaultWriter.open(vault, { purpose: 'backup of vm' });
      let b: PointManifest;
      try {
        const put = await writer.putBlocks([data.slice(0, BS), data.slice(BS, 2 * BS)]);
        assert.deepEqual([...put.stored], [0, 0], "deduplicated against the deleted point's blocks");
        await assert.rejects(collectGarbage(vault), code('VAULT_LOCKED', 'backup of vm', `pid ${process.pid}`, 'garbage collection'));
        const disk: ManifestDisk = await writeDisk(writer, memorySource('sda', data));
        assert.equal(disk.stats.newBlocks, 0);
        await assert.rejects(collectGarbage(vault, { dryRun: true }), code('VAULT_LOCKED'));
        // The point is committed while the lock is still held; gc may run only afterwards.
        b = await writer.commitPoint({ subject: 'vm', parentId: null, disks: [disk] });
      } finally {
        await writer.close();
      }
      const report = await collectGarbage(vault);
      assert.deepEqual(counts(report), { packsDeleted: 0, packsRepacked: 0, orphanPacksDeleted: 0, blobsRemoved: 0, bytesFreed: 0 });
      assert.equal(report.tombstonesCleared, 1);
      assert.deepEqual(await packSizes(store), packsOfA);
      await assertRestores(vault, b, 'sda', data);
    });
  });

  it('two concurrent writers that stored the same blocks: both points restore, gc drops the second copy', async () => {
    await withVault({}, async (vault, store) => {
      const data = makeDisk(70, 40 * BS + 9, BS);
      const first = await VaultWriter.open(vault);
      const second = await VaultWriter.open(vault);
      let a: PointManifest;
      let b: PointManifest;
      try {
        // Both loaded the index before either stored anything: neither can deduplicate against the other.
        const diskA = await writeDisk(first, memorySource('sda', data));
        const diskB = await writeDisk(second, memorySource('sda', data));
        assert.equal(diskA.stats.newBlocks, 41);
        assert.equal(diskB.stats.newBlocks, 41);
        a = await first.commitPoint({ subject: 'vm-a', parentId: null, disks: [diskA] });
        b = await second.commitPoint({ subject: 'vm-b', parentId: null, disks: [diskB] });
      } finally {
        await first.close();
        await second.close();
      }
      assert.equal((await packSizes(store)).size, 2);
      await assertRestores(vault, a, 'sda', data);
      await assertRestores(vault, b, 'sda', data);
      const report = await collectGarbage(vault);
      assert.equal(report.blobsRemoved, 42, '41 blocks and the map page, stored twice');
      assert.equal(report.packsDeleted, 1, 'the later copy is all duplicates');
      assert.equal((await packSizes(store)).size, 1);
      await assertRestores(vault, a, 'sda', data);
      await assertRestores(vault, b, 'sda', data);
      assert.equal((await verifyVault(vault, { readData: true })).ok, true);
    });
  });

  it('waits for a lock holder when asked to', async () => {
    await withVault({}, async (vault) => {
      const writer = await VaultWriter.open(vault);
      const closing = new Promise((resolve) => setTimeout(resolve, 150)).then(() => writer.close());
      const report = await collectGarbage(vault, { waitMs: 10_000 });
      await closing;
      assert.equal(report.packsDeleted, 0);
    });
  });

  it('sweeps old temporary files of interrupted puts on a LocalStore', async () => {
    const root = await mkdtemp(join(tmpdir(), 'boveda-gc-'));
    try {
      await withVault({ store: new LocalStore(root) }, async (vault) => {
        const data = makeDisk(60, 20 * BS, BS);
        const point = await backup(vault, 'vm', [{ name: 'sda', data }]);
        await mkdir(join(root, 'tmp'), { recursive: true });
        const old = join(root, 'tmp', 'crashed-put.tmp');
        await writeFile(old, 'partial');
        const hourAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
        await utimes(old, hourAgo, hourAgo);
        await writeFile(join(root, 'tmp', 'fresh-put.tmp'), 'in progress');
        const report = await collectGarbage(vault);
        assert.equal(report.partialsSwept, 1);
        await assertRestores(vault, point, 'sda', data);
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
