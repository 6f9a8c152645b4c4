import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Paths, type ManifestDisk, type PointManifest } from '../../src/format/index.js';
import { writeDisk } from '../../src/repository/disk-writer.js';
import { listPointIds, readPoint } from '../../src/repository/points.js';
import { Vault } from '../../src/repository/vault.js';
import { VaultReader } from '../../src/repository/vault-reader.js';
import { VaultWriter } from '../../src/repository/vault-writer.js';
import { LocalStore } from '../../src/storage/local/local-store.js';
import {
  PASSPHRASE, assertRestores, backup, changeBlocks, code, listKeys, makeDisk, memorySource, readWhole, resize, restore, sameBytes, withVault,
} from './helpers.js';

const BS = 4096;
const ZERO_ROOT = '0'.repeat(64);

describe('VaultWriter and VaultReader', () => {
  it('restores full and incremental points byte-exact (zero blocks, partial last block) and stores only changes', async () => {
    await withVault({}, async (vault, store) => {
      const size = 300 * BS + 1000; // 301 blocks, the last one 1000 bytes: about 1.2 MiB, so several packs
      const zero = [0, 7, 8, 9, 150, 299];
      const v1 = makeDisk(101, size, BS, zero);
      v1.set(v1.subarray(20 * BS, 21 * BS), 30 * BS); // block 30 repeats block 20: stored once
      const p1 = await backup(vault, 'vm-a', [{ name: 'sda', data: v1, options: { batchBlocks: 16, concurrency: 3 } }]);
      const d1 = p1.disks[0]!;
      assert.equal(d1.sizeBytes, size);
      assert.equal(d1.blockSize, BS);
      assert.equal(d1.map.blockCount, 301);
      assert.equal(d1.stats.zeroBlocks, zero.length);
      assert.equal(d1.stats.changedBlocks, 301 - zero.length);
      assert.equal(d1.stats.newBlocks, 301 - zero.length - 1);
      assert.equal(d1.stats.newBytes, (301 - zero.length - 2) * BS + 1000);
      assert.equal(d1.stats.bytesRead, size);
      assert.ok(d1.stats.newStoredBytes > d1.stats.newBytes, 'random data does not compress; sealing adds a little');
      assert.ok((await listKeys(store, Paths.packs)).length >= 2, 'more than one pack of 1 MiB');

      // Change three blocks (one was zero, one is the partial last block), zero one that had data.
      const v2 = changeBlocks(v1, BS, [7, 42, 300], 102);
      v2.fill(0, 100 * BS, 101 * BS);
      const packsBefore = (await listKeys(store, Paths.packs)).length;
      const p2 = await backup(vault, 'vm-a', [{ name: 'sda', data: v2 }], p1);
      const d2 = p2.disks[0]!;
      assert.equal(p2.parentId, p1.pointId);
      assert.equal(d2.stats.changedBlocks, 4);
      assert.equal(d2.stats.newBlocks, 3);
      assert.equal(d2.stats.newBytes, 2 * BS + 1000);
      assert.equal(d2.stats.zeroBlocks, zero.length);
      assert.equal((await listKeys(store, Paths.packs)).length, packsBefore + 1, 'the incremental point fits one new pack');

      // The same data again: nothing new at all.
      const p3 = await backup(vault, 'vm-a', [{ name: 'sda', data: v2 }], p2);
      assert.equal(p3.disks[0]!.stats.changedBlocks, 0);
      assert.equal(p3.disks[0]!.stats.newBlocks, 0);
      assert.equal(p3.disks[0]!.stats.newBytes, 0);
      assert.equal(p3.disks[0]!.map.root, d2.map.root, 'same data, same map root');
      assert.equal((await listKeys(store, Paths.packs)).length, packsBefore + 1, 'no pack for an unchanged point');

      await assertRestores(vault, p1, 'sda', v1);
      await assertRestores(vault, p2, 'sda', v2);
      await assertRestores(vault, p3, 'sda', v2);
      assert.deepEqual(await listPointIds(vault), [p1.pointId, p2.pointId, p3.pointId].sort());
      assert.deepEqual(await readPoint(vault, p2.pointId), p2);
    });
  });

  it('without a parent, an unchanged disk still stores no new blocks (dedup against the whole vault)', async () => {
    await withVault({}, async (vault) => {
      const data = makeDisk(5, 64 * BS, BS);
      await backup(vault, 'vm', [{ name: 'sda', data }]);
      const again = await backup(vault, 'vm', [{ name: 'sda', data }]);
      assert.equal(again.disks[0]!.stats.newBlocks, 0);
      assert.equal(again.disks[0]!.stats.changedBlocks, 64, 'without a parent every non-zero block counts as changed');
    });
  });

  it('deduplicates across disks of a point and across subjects', async () => {
    await withVault({}, async (vault) => {
      const system = makeDisk(201, 64 * BS, BS);
      const data = makeDisk(202, 32 * BS, BS);
      data.set(system.subarray(0, 16 * BS), 0); // the data disk starts with 16 blocks of the system disk
      const a = await backup(vault, 'vm-a', [{ name: 'system', data: system }, { name: 'data', data }]);
      assert.equal(a.disks[0]!.stats.newBlocks, 64);
      assert.equal(a.disks[1]!.stats.newBlocks, 16);
      assert.equal(a.disks[1]!.stats.changedBlocks, 32);

      // Another VM cloned from the same template: system disk mostly equal.
      const clone = changeBlocks(system, BS, [1, 2, 3, 60], 203);
      const b = await backup(vault, 'vm-b', [{ name: 'system', data: clone }]);
      assert.equal(b.subject, 'vm-b');
      assert.equal(b.parentId, null);
      assert.equal(b.disks[0]!.stats.newBlocks, 4);
      assert.equal(b.disks[0]!.stats.newBytes, 4 * BS);

      await assertRestores(vault, a, 'system', system);
      await assertRestores(vault, a, 'data', data);
      await assertRestores(vault, b, 'system', clone);
    });
  });

  it('stores no block and no pack for an all-zero disk', async () => {
    await withVault({}, async (vault, store) => {
      const data = new Uint8Array(100 * BS + 17);
      const point = await backup(vault, 'vm', [{ name: 'sda', data }]);
      const disk = point.disks[0]!;
      assert.equal(disk.stats.zeroBlocks, 101);
      assert.equal(disk.stats.newBlocks, 0);
      assert.equal(disk.stats.changedBlocks, 0);
      assert.equal(disk.map.root, ZERO_ROOT);
      assert.deepEqual(await listKeys(store, Paths.packs), []);
      const reader = await VaultReader.open(vault);
      try {
        const blocks = [];
        for await (const block of reader.readDisk(disk)) blocks.push(block);
        assert.deepEqual(blocks, [], 'nothing to read: a restore target stays sparse');
        assert.ok(sameBytes(await readWhole(reader, point, 'sda'), data));
      } finally {
        await reader.close();
      }
    });
  });

  it('handles a disk that grows and shrinks between points', async () => {
    await withVault({ mapFanout: 16 }, async (vault) => {
      const v1 = makeDisk(301, 20 * BS + 5, BS, [3]);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1 }]);
      // Grows to 45 blocks and a bit: the old partial block 20 becomes a full one with new data after byte 5.
      const v2 = resize(v1, 45 * BS + 100);
      v2.set(makeDisk(302, 25 * BS, BS), 20 * BS + 5);
      const p2 = await backup(vault, 'vm', [{ name: 'sda', data: v2 }], p1);
      assert.equal(p2.disks[0]!.map.blockCount, 46);
      assert.equal(p2.disks[0]!.stats.changedBlocks, 26);
      // Shrinks to 7 blocks exactly.
      const v3 = resize(v2, 7 * BS);
      const p3 = await backup(vault, 'vm', [{ name: 'sda', data: v3 }], p2);
      assert.equal(p3.disks[0]!.map.blockCount, 7);
      assert.equal(p3.disks[0]!.stats.changedBlocks, 0);
      assert.equal(p3.disks[0]!.stats.newBlocks, 0);
      // Grows again into zeros, with one block written far out.
      const v4 = resize(v3, 40 * BS);
      v4.set(makeDisk(304, BS, BS), 33 * BS);
      const p4 = await backup(vault, 'vm', [{ name: 'sda', data: v4 }], p3);
      assert.equal(p4.disks[0]!.stats.changedBlocks, 1);
      assert.equal(p4.disks[0]!.stats.newBlocks, 1);
      assert.equal(p4.disks[0]!.stats.zeroBlocks, 40 - 7 - 1 + 1);

      for (const [point, data] of [[p1, v1], [p2, v2], [p3, v3], [p4, v4]] as const) await assertRestores(vault, point, 'sda', data);
    });
  });

  it('handles an empty disk (0 bytes) as a point of its own and as a parent', async () => {
    await withVault({}, async (vault, store) => {
      const empty = new Uint8Array(0);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: empty }]);
      assert.deepEqual(p1.disks[0]!.map, { root: ZERO_ROOT, depth: 0, fanout: vault.config.mapFanout, blockCount: 0 });
      assert.deepEqual(await listKeys(store, Paths.packs), []);
      await assertRestores(vault, p1, 'sda', empty);

      const grown = makeDisk(401, 3 * BS + 1, BS);
      const p2 = await backup(vault, 'vm', [{ name: 'sda', data: grown }], p1);
      assert.equal(p2.disks[0]!.stats.changedBlocks, 4);
      const p3 = await backup(vault, 'vm', [{ name: 'sda', data: empty }], p2);
      assert.equal(p3.disks[0]!.map.blockCount, 0);
      await assertRestores(vault, p2, 'sda', grown);
      await assertRestores(vault, p3, 'sda', empty);
    });
  });

  it('builds a 3-level map for a disk of more than fanout² blocks (fanout 16)', async () => {
    await withVault({ mapFanout: 16 }, async (vault) => {
      const blocks = 16 * 16 + 44; // 300 blocks: 19 leaves, 2 inner pages, 1 root
      const v1 = makeDisk(501, blocks * BS - 10, BS, [0, 16, 17, 255, 256]);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1, options: { batchBlocks: 5 } }]);
      assert.equal(p1.disks[0]!.map.depth, 3);
      assert.equal(p1.disks[0]!.map.fanout, 16);
      // Changes in the first leaf, across the inner-page boundary and in the last, partial leaf and block.
      const v2 = changeBlocks(v1, BS, [0, 255, 256, 299], 502);
      const p2 = await backup(vault, 'vm', [{ name: 'sda', data: v2 }], p1);
      assert.equal(p2.disks[0]!.stats.changedBlocks, 4);
      await assertRestores(vault, p1, 'sda', v1);
      await assertRestores(vault, p2, 'sda', v2);

      // A disk of exactly fanout² blocks needs only two levels, one more block needs three.
      const twoLevels = await backup(vault, 'other', [{ name: 'sdb', data: makeDisk(503, 256 * BS, BS) }]);
      assert.equal(twoLevels.disks[0]!.map.depth, 2);
      const threeLevels = await backup(vault, 'other', [{ name: 'sdb', data: makeDisk(503, 256 * BS + 1, BS) }]);
      assert.equal(threeLevels.disks[0]!.map.depth, 3);
    });
  });

  it('restores through small read batches and reports progress', async () => {
    await withVault({ blockSize: 16384 }, async (vault) => {
      const data = makeDisk(601, 50 * 16384 + 3, 16384, [10, 11, 12]);
      const progress: number[] = [];
      const writer = await VaultWriter.open(vault);
      let disk: ManifestDisk;
      try {
        disk = await writeDisk(writer, memorySource('sda', data), { batchBlocks: 4, concurrency: 2, onProgress: (p) => progress.push(p.bytesDone) });
        await writer.commitPoint({ subject: 'vm', parentId: null, disks: [disk] });
      } finally {
        await writer.close();
      }
      assert.equal(progress.at(-1), data.length);
      assert.ok(progress.every((value, i) => i === 0 || value > progress[i - 1]!));
      const reader = await VaultReader.open(vault);
      try {
        const out = new Uint8Array(data.length);
        const indexes: number[] = [];
        for await (const block of reader.readDisk(disk, { batchBlocks: 3 })) {
          indexes.push(block.index);
          out.set(block.data, block.index * 16384);
        }
        assert.equal(indexes.length, 51 - 3);
        assert.ok(!indexes.includes(10) && !indexes.includes(12));
        assert.ok(sameBytes(out, data));
      } finally {
        await reader.close();
      }
    });
  });

  it('refuses bad commits, unknown disks and use after close', async () => {
    await withVault({}, async (vault) => {
      const point = await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(701, 2 * BS, BS) }]);
      const writer = await VaultWriter.open(vault);
      try {
        const disk = { ...point.disks[0]!, blockSize: 8192 };
        await assert.rejects(writer.commitPoint({ subject: 'vm', parentId: null, disks: [disk] }), code('INVALID_ARGUMENT', 'block size 8192'));
        await assert.rejects(writer.commitPoint({ subject: 'vm', parentId: null, disks: [], pointId: 'xyz' }), code('INVALID_ARGUMENT', 'xyz'));
      } finally {
        await writer.close();
      }
      await writer.close();
      await assert.rejects(writer.putBlocks([new Uint8Array(BS).fill(1)]), code('INTERNAL', 'closed'));
      await assert.rejects(writer.commitPoint({ subject: 'vm', parentId: null, disks: [] }), code('INTERNAL', 'closed'));
      assert.deepEqual(await listPointIds(vault), [point.pointId]);

      const reader = await VaultReader.open(vault);
      try {
        assert.throws(() => reader.disk(point, 'sdz'), code('DISK_NOT_FOUND', 'sdz', 'sda'));
      } finally {
        await reader.close();
        await reader.close();
      }
      await assert.rejects(readPoint(vault, 'ffffffffffffffff'), code('POINT_NOT_FOUND'));
    });
  });

  it('stops a backup on abort without a point, and a reader abandoned mid-disk closes cleanly', async () => {
    await withVault({}, async (vault, store) => {
      const data = makeDisk(1001, 400 * BS, BS);
      const point = await backup(vault, 'vm', [{ name: 'sda', data }]);
      const controller = new AbortController();
      const writer = await VaultWriter.open(vault);
      try {
        const source = memorySource('sdb', makeDisk(1002, 400 * BS, BS));
        await assert.rejects(writeDisk(writer, source, {
          batchBlocks: 8,
          onProgress: (progress) => {
            if (progress.bytesDone >= 64 * BS) controller.abort();
          },
          signal: controller.signal,
        }), code('ABORTED'));
      } finally {
        await writer.close();
      }
      assert.deepEqual(await listPointIds(vault), [point.pointId]);

      const reader = await VaultReader.open(vault);
      try {
        let count = 0;
        for await (const block of reader.readDisk(reader.disk(point, 'sda'), { batchBlocks: 10 })) {
          assert.ok(sameBytes(block.data, data.subarray(block.index * BS, (block.index + 1) * BS)));
          if (++count === 25) break;
        }
      } finally {
        await reader.close();
      }
      assert.deepEqual(await listKeys(store, Paths.locks), []);
      await assertRestores(vault, point, 'sda', data);
    });
  });

  it('putBlocks reports addresses, what it stored, and deduplicates within one call', async () => {
    await withVault({}, async (vault) => {
      const a = makeDisk(801, BS, BS);
      const b = makeDisk(802, BS, BS);
      const writer = await VaultWriter.open(vault);
      try {
        const first = await writer.putBlocks([a, new Uint8Array(BS), a.slice(), b]);
        assert.deepEqual([...first.stored], [1, 0, 0, 1]);
        assert.equal(first.newBytes, 2 * BS);
        assert.ok(first.addresses.subarray(32, 64).every((byte) => byte === 0), 'the zero block has the zero address');
        assert.ok(sameBytes(first.addresses.subarray(0, 32), first.addresses.subarray(64, 96)));
        const second = await writer.putBlocks([b, a]);
        assert.deepEqual([...second.stored], [0, 0], 'pending blocks are not stored twice');
        assert.equal(second.newBytes, 0);
        await writer.flush();
        const third = await writer.putBlocks([a]);
        assert.deepEqual([...third.stored], [0], 'flushed blocks are found in the index');
        const [read] = await writer.reader.readBlocks([third.addresses]);
        assert.ok(sameBytes(read!, a));
      } finally {
        await writer.close();
      }
    });
  });

  it('backs up and restores on a LocalStore, and a second process view (new Vault) reads it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'boveda-rw-'));
    try {
      const data = makeDisk(901, 200 * 16384 + 77, 16384, [1, 2, 3, 100]);
      const data2 = changeBlocks(data, 16384, [50, 200], 902);
      let points: readonly [PointManifest, PointManifest] | undefined;
      await withVault({ store: new LocalStore(root), blockSize: 16384 }, async (vault) => {
        const p1 = await backup(vault, 'vm', [{ name: 'sda', data }]);
        const p2 = await backup(vault, 'vm', [{ name: 'sda', data: data2 }], p1);
        points = [p1, p2];
        assert.ok((await listKeys(vault.store, Paths.packs)).length >= 3);
        assert.deepEqual(await listKeys(vault.store, Paths.locks), [], 'every lock released');
      });
      const vault = await Vault.open(new LocalStore(root), [PASSPHRASE]);
      try {
        const [p1, p2] = points!;
        assert.ok(sameBytes(await restore(vault, p1, 'sda'), data));
        assert.ok(sameBytes(await restore(vault, p2, 'sda'), data2));
      } finally {
        await vault.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
