import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADDRESS_BYTES, Paths, type PointManifest } from '../../src/format/index.js';
import { measureVaultUsage, type PointUsage, type VaultUsageReport } from '../../src/repository/accounting.js';
import { collectGarbage } from '../../src/repository/gc.js';
import { deletePoint } from '../../src/repository/points.js';
import type { Vault } from '../../src/repository/vault.js';
import { VaultIndex } from '../../src/repository/vault-index.js';
import { VaultReader } from '../../src/repository/vault-reader.js';
import { VaultWriter } from '../../src/repository/vault-writer.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { assertRestores, backup, changeBlocks, makeDisk, withVault } from './helpers.js';

const BS = 16 * 1024;

function usageOf(report: VaultUsageReport, point: PointManifest): PointUsage {
  const usage = report.points.find((candidate) => candidate.pointId === point.pointId);
  assert.ok(usage, `usage of point ${point.pointId}`);
  return usage;
}

function blocksOf(usage: PointUsage): { referenced: number; introduced: number; unique: number } {
  assert.equal(usage.referencedBytes, usage.referencedBlocks * BS);
  assert.equal(usage.introducedBytes, usage.introducedBlocks * BS);
  assert.equal(usage.uniqueBytes, usage.uniqueBlocks * BS);
  assert.equal(usage.missingReferences, 0);
  return { referenced: usage.referencedBlocks, introduced: usage.introducedBlocks, unique: usage.uniqueBlocks };
}

/** Sealed length of the block at `index` of the disk of `point`, from the index. */
async function storedLength(vault: Vault, point: PointManifest, index: number): Promise<number> {
  const reader = await VaultReader.open(vault);
  try {
    const entries = await reader.mapReader(point.disks[0]!).leafEntries(0);
    const location = reader.index.blocks.get(entries.subarray(index * ADDRESS_BYTES, (index + 1) * ADDRESS_BYTES));
    assert.ok(location);
    return location.length;
  } finally {
    await reader.close();
  }
}

async function packSizes(store: BlobStore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const { key, size } of store.list(Paths.packs)) out.set(key, size);
  return out;
}

describe('usage accounting', () => {
  it('follows the four-block example: introduced, unique and live bytes, then deletion and gc', async () => {
    await withVault({ blockSize: BS }, async (vault, store) => {
      // A disk of four 16 KiB blocks (indexes 0-3, "block 1" to "block 4" of the example).
      const empty = new Uint8Array(4 * BS);
      const v1 = changeBlocks(empty, BS, [0, 1], 1); // D1, D2
      const p1 = await backup(vault, 'V1', [{ name: 'data', data: v1 }]);
      const v2 = changeBlocks(v1, BS, [2], 2); // D3
      const p2 = await backup(vault, 'V1', [{ name: 'data', data: v2 }], p1);
      const v3 = changeBlocks(v2, BS, [1, 2], 3); // D2', D3'
      const p3 = await backup(vault, 'V1', [{ name: 'data', data: v3 }], p2);
      assert.deepEqual([p1, p2, p3].map((point) => point.disks[0]!.stats.newBlocks), [2, 1, 2]);

      const all = await measureVaultUsage(vault);
      assert.deepEqual(all.points.map((usage) => usage.pointId), [p1.pointId, p2.pointId, p3.pointId], 'oldest first');
      // p1 = D1 + D2; p2 = D1 + D2 + D3 and adds D3; p3 = D1 + D2' + D3' and adds D2', D3'.
      assert.deepEqual(blocksOf(usageOf(all, p1)), { referenced: 2, introduced: 2, unique: 0 });
      assert.deepEqual(blocksOf(usageOf(all, p2)), { referenced: 3, introduced: 1, unique: 1 });
      assert.deepEqual(blocksOf(usageOf(all, p3)), { referenced: 3, introduced: 2, unique: 2 });
      // The storage cost is the sum of the blocks of all points: 5 blocks.
      assert.equal(all.liveBlocks, 5);
      assert.equal(all.liveBytes, 5 * BS);
      assert.equal(all.unreferencedBlobs, 0);
      assert.equal(all.unreferencedStoredBytes, 0);
      // Stored bytes: every indexed blob is live and introduced by exactly one point.
      const index = await VaultIndex.load(vault);
      let indexed = 0;
      for (const [, location] of index.blocks.entries()) indexed += location.length;
      assert.equal(all.liveStoredBytes, indexed);
      assert.equal(all.points.reduce((sum, usage) => sum + usage.introducedStoredBytes, 0), indexed);
      for (const usage of all.points) assert.ok(usage.introducedStoredBytes > usage.introducedBytes, 'random blocks do not compress, and each point adds its map page');
      // Sizes of the objects on the store.
      const packs = await packSizes(store);
      assert.equal(all.packCount, packs.size);
      assert.equal(all.packBytes, [...packs.values()].reduce((a, b) => a + b, 0));
      assert.ok(all.indexBytes > 0 && all.manifestBytes > 0);
      assert.ok(all.totalStoredBytes > all.packBytes + all.indexBytes + all.manifestBytes, 'config and key slot counted too');

      // Point 1 expires: point 2 now introduces the blocks it carried over (D1, D2) besides D3.
      await deletePoint(vault, p1.pointId);
      const afterDelete = await measureVaultUsage(vault);
      assert.deepEqual(afterDelete.points.map((usage) => usage.pointId), [p2.pointId, p3.pointId]);
      assert.deepEqual(blocksOf(usageOf(afterDelete, p2)), { referenced: 3, introduced: 3, unique: 2 });
      assert.deepEqual(blocksOf(usageOf(afterDelete, p3)), { referenced: 3, introduced: 2, unique: 2 });
      assert.equal(afterDelete.liveBlocks, 5);
      assert.equal(afterDelete.liveBytes, 5 * BS);
      // Point 2 still needs D1 and D2: only point 1's own map page became garbage.
      assert.equal(afterDelete.unreferencedBlobs, 1);
      const page1 = all.liveStoredBytes - afterDelete.liveStoredBytes;
      assert.equal(afterDelete.unreferencedStoredBytes, page1);
      assert.ok(page1 > 0 && page1 < 1024);

      const gc1 = await collectGarbage(vault);
      assert.equal(gc1.blobsRemoved, afterDelete.unreferencedBlobs);
      assert.equal(gc1.packsDeleted, 0, "point 1's pack still holds D1 and D2");
      assert.equal(gc1.packsRepacked, 0);
      assert.equal(gc1.bytesFreed, 0, 'a page dropped from a mostly live pack frees no disk space');
      assert.equal(gc1.tombstonesCleared, 1);
      assert.deepEqual(await packSizes(store), packs);
      const afterGc1 = await measureVaultUsage(vault);
      assert.equal(afterGc1.unreferencedBlobs, 0);
      assert.equal(afterGc1.liveStoredBytes, afterDelete.liveStoredBytes);
      assert.deepEqual(afterGc1.points, afterDelete.points);

      // Point 2 expires too: D2 and D3 as first written are now only in deleted points.
      const lengthD1 = await storedLength(vault, p3, 0);
      const lengthD2 = await storedLength(vault, p2, 1);
      const lengthD3 = await storedLength(vault, p2, 2);
      await deletePoint(vault, p2.pointId);
      const afterDelete2 = await measureVaultUsage(vault);
      assert.deepEqual(blocksOf(usageOf(afterDelete2, p3)), { referenced: 3, introduced: 3, unique: 3 });
      assert.equal(afterDelete2.liveBlocks, 3);
      assert.equal(afterDelete2.unreferencedBlobs, 3, 'D2, D3 and the map page of point 2');
      const page2 = afterDelete2.unreferencedStoredBytes - lengthD2 - lengthD3;
      assert.ok(page2 > 0 && page2 < 1024);

      const before = await packSizes(store);
      const gc2 = await collectGarbage(vault);
      const after = await packSizes(store);
      assert.equal(gc2.blobsRemoved, afterDelete2.unreferencedBlobs);
      assert.equal(gc2.packsDeleted, 1, "point 2's pack (D3 and its page) is all garbage");
      assert.equal(gc2.packsRepacked, 1, "point 1's pack keeps only D1: rewritten");
      assert.equal(gc2.packsWritten, 1);
      const written = [...after].filter(([key]) => !before.has(key));
      assert.equal(written.length, 1);
      const [, newPackSize] = written[0]!;
      // bytesFreed counts whole deleted packs and the dead part of repacked ones; the new pack
      // costs its framing on top of the moved blob.
      const sum = (sizes: Map<string, number>) => [...sizes.values()].reduce((a, b) => a + b, 0);
      assert.equal(sum(before) - sum(after), gc2.bytesFreed - (newPackSize - lengthD1));
      assert.ok(gc2.bytesFreed >= afterDelete2.unreferencedStoredBytes);
      const afterGc2 = await measureVaultUsage(vault);
      assert.equal(afterGc2.unreferencedBlobs, 0);
      assert.equal(afterGc2.unreferencedStoredBytes, 0);
      assert.equal(afterGc2.liveStoredBytes, afterDelete2.liveStoredBytes, 'live blobs move verbatim');
      assert.equal(afterGc2.packBytes, sum(after));
      assert.deepEqual(afterGc2.points, afterDelete2.points);
      await assertRestores(vault, p3, 'data', v3);
    });
  });

  it('counts a block that appears at several offsets or in several disks once per point', async () => {
    await withVault({ blockSize: BS }, async (vault) => {
      const block = makeDisk(9, BS, BS);
      const disk = new Uint8Array(6 * BS);
      for (const index of [0, 2, 5]) disk.set(block, index * BS);
      const point = await backup(vault, 'vm', [{ name: 'a', data: disk }, { name: 'b', data: block }]);
      const usage = await measureVaultUsage(vault);
      assert.deepEqual(blocksOf(usageOf(usage, point)), { referenced: 1, introduced: 1, unique: 1 });
      assert.equal(usage.liveBytes, BS);
    });
  });

  it('reports blocks of an uncommitted write as unreferenced, and an empty vault as empty', async () => {
    await withVault({ blockSize: BS }, async (vault) => {
      const empty = await measureVaultUsage(vault);
      assert.deepEqual(empty.points, []);
      assert.equal(empty.liveBlocks, 0);
      assert.equal(empty.packCount, 0);
      const writer = await VaultWriter.open(vault);
      try {
        await writer.putBlocks([makeDisk(1, BS, BS), makeDisk(2, BS, BS)]);
        await writer.flush();
      } finally {
        await writer.close();
      }
      const usage = await measureVaultUsage(vault);
      assert.equal(usage.unreferencedBlobs, 2);
      assert.ok(usage.unreferencedStoredBytes > 2 * BS);
      assert.equal(usage.liveBlocks, 0);
    });
  });
});
