import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DiskReadSource } from '../../src/repository/disk-writer.js';
import { assertRestores, backup, changeBlocks, makeDisk, withVault } from './helpers.js';

const BS = 16 * 1024;

/** A source that records which byte ranges were read. */
function recordingSource(name: string, data: Uint8Array, reads: Array<[number, number]>): DiskReadSource {
  return {
    name, sizeBytes: data.length,
    read: async (offset, length) => {
      reads.push([offset, length]);
      return data.slice(offset, offset + length);
    },
  };
}

describe('writeDisk over ranges (what a dirty bitmap or an allocation map says)', () => {
  it("reads only the dirty ranges, keeps the parent's other blocks, and restores exactly", async () => {
    await withVault({ blockSize: BS }, async (vault) => {
      const v1 = makeDisk(1, 64 * BS, BS, [10, 11, 40]);
      const p1 = await backup(vault, 'vm', [{ name: 'os', data: v1 }]);
      // Blocks 3, 20, 21 rewritten; 11 (zero) gets data; 40 stays zero; block 50 zeroed.
      const v2 = changeBlocks(v1, BS, [3, 20, 21, 11], 2);
      v2.fill(0, 50 * BS, 51 * BS);
      const reads: Array<[number, number]> = [];
      const { VaultWriter, writeDisk } = await import('../../src/repository/index.js');
      const writer = await VaultWriter.open(vault);
      let point;
      try {
        // Bitmap granularity coarser than a block, unaligned and touching ranges: widened and merged.
        const ranges = [{ offset: 3 * BS + 100, length: 10 }, { offset: 11 * BS, length: BS }, { offset: 20 * BS, length: 2 * BS }, { offset: 22 * BS, length: 0 }, { offset: 50 * BS, length: BS }];
        const disk = await writeDisk(writer, recordingSource('os', v2, reads), { parent: p1.disks[0], ranges, outside: 'parent', batchBlocks: 4 });
        point = await writer.commitPoint({ subject: 'vm', parentId: p1.pointId, disks: [disk] });
      } finally {
        await writer.close();
      }
      assert.deepEqual(reads, [[3 * BS, BS], [11 * BS, BS], [20 * BS, 2 * BS], [50 * BS, BS]]);
      const stats = point.disks[0]!.stats;
      assert.equal(stats.bytesRead, 5 * BS);
      assert.equal(stats.changedBlocks, 5, 'blocks 3, 11, 20, 21 rewritten and 50 zeroed');
      assert.equal(stats.zeroBlocks, 3, 'whole-disk zero count: 10, 40 (kept) and 50 (read); 11 is no longer zero');
      await assertRestores(vault, point, 'os', v2);
    });
  });

  it("'zero' outside: holes of an allocation map are zero without being read, also over a parent", async () => {
    await withVault({ blockSize: BS }, async (vault) => {
      const v1 = makeDisk(3, 32 * BS, BS);
      const p1 = await backup(vault, 'vm', [{ name: 'os', data: v1 }]);
      const v2 = v1.slice();
      v2.fill(0, 8 * BS, 24 * BS); // trimmed: a hole now
      const reads: Array<[number, number]> = [];
      const { VaultWriter, writeDisk } = await import('../../src/repository/index.js');
      const writer = await VaultWriter.open(vault);
      let point;
      try {
        const ranges = [{ offset: 0, length: 8 * BS }, { offset: 24 * BS, length: 8 * BS }];
        const disk = await writeDisk(writer, recordingSource('os', v2, reads), { parent: p1.disks[0], ranges, outside: 'zero' });
        point = await writer.commitPoint({ subject: 'vm', parentId: p1.pointId, disks: [disk] });
      } finally {
        await writer.close();
      }
      assert.equal(reads.reduce((sum, [, length]) => sum + length, 0), 16 * BS, 'holes are not read');
      assert.equal(point.disks[0]!.stats.zeroBlocks, 16);
      assert.equal(point.disks[0]!.stats.changedBlocks, 16, 'data that became a hole is a change');
      await assertRestores(vault, point, 'os', v2);
    });
  });

  it('refuses ranges out of order, and parent-relative ranges without a parent or across a resize', async () => {
    await withVault({ blockSize: BS }, async (vault) => {
      const v1 = makeDisk(4, 8 * BS, BS);
      const p1 = await backup(vault, 'vm', [{ name: 'os', data: v1 }]);
      const { VaultWriter, writeDisk } = await import('../../src/repository/index.js');
      const writer = await VaultWriter.open(vault);
      try {
        const source = recordingSource('os', v1, []);
        await assert.rejects(writeDisk(writer, source, { parent: p1.disks[0], ranges: [{ offset: 4 * BS, length: 1 }, { offset: 0, length: 1 }], outside: 'parent' }), /out of order/);
        await assert.rejects(writeDisk(writer, source, { ranges: [], outside: 'parent' }), /need the parent/);
        // outside defaults to 'parent': refused the same way, not a crash at the end.
        await assert.rejects(writeDisk(writer, source, { ranges: [] }), /need the parent/);
        await assert.rejects(writeDisk(writer, recordingSource('os', v1.subarray(0, 4 * BS), []), { parent: p1.disks[0], ranges: [] }), /same size/);
        await assert.rejects(writeDisk(writer, recordingSource('os', v1.subarray(0, 4 * BS), []), { parent: p1.disks[0], ranges: [], outside: 'parent' }), /same size/);
      } finally {
        await writer.close();
      }
    });
  });
});
