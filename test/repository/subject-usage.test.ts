import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { measureVaultUsageWithPoints } from '../../src/repository/accounting.js';
import { backup, changeBlocks, makeDisk, withVault } from './helpers.js';

const BS = 16 * 1024;

describe('per-VM usage (the stored bytes a VM is billed for)', () => {
  it('counts each block once per VM, shared blocks fully for each VM and in neither one\'s exclusive bytes', async () => {
    await withVault({ blockSize: BS }, async (vault) => {
      const a1 = makeDisk(1, 8 * BS, BS, [7]); // 7 data blocks
      const p1 = await backup(vault, 'a', [{ name: 'os', data: a1 }]);
      await backup(vault, 'a', [{ name: 'os', data: changeBlocks(a1, BS, [0, 1], 2) }], p1); // +2 blocks
      // VM b holds 3 blocks of a's first disk (deduplicated) and 1 of its own.
      const b = new Uint8Array(4 * BS);
      b.set(a1.subarray(2 * BS, 5 * BS));
      b.set(makeDisk(3, BS, BS), 3 * BS);
      await backup(vault, 'b', [{ name: 'os', data: b }]);

      const { usage } = await measureVaultUsageWithPoints(vault, undefined, { subjects: true });
      const [a, bUsage] = usage.subjects!;
      assert.equal(a!.subject, 'a');
      assert.equal(a!.points, 2);
      assert.equal(a!.blocks, 9);
      assert.equal(a!.bytes, 9 * BS);
      assert.equal(bUsage!.subject, 'b');
      assert.equal(bUsage!.blocks, 4);
      // Stored bytes include map pages; exclusive bytes leave out the 3 shared blocks.
      const sharedStored = a!.storedBytes - a!.exclusiveStoredBytes;
      assert.ok(sharedStored > 3 * BS * 0.9 && sharedStored === bUsage!.storedBytes - bUsage!.exclusiveStoredBytes);
      assert.equal(a!.storedBytes + bUsage!.storedBytes - sharedStored, usage.liveStoredBytes, 'the subjects together are the live bytes');
    });
  });
});
