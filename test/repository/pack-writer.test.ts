import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/storage/index.js';
import { Vault, VaultWriter, VaultReader, writeDisk } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';

/** Slow pack uploads keep every upload slot busy, so concurrent adds wait on the same full pack. */
class SlowPackStore extends MemoryStore {
  override async put(key: string, data: Uint8Array, options?: { signal?: AbortSignal }): Promise<void> {
    if (key.startsWith('packs/')) await new Promise((resolve) => setTimeout(resolve, 20));
    return super.put(key, data, options);
  }
}

describe('PackWriter under concurrent puts', () => {
  it('closes each full pack exactly once when many putBlocks calls fill it at the same time', async () => {
    const store = new SlowPackStore();
    // 1 MiB packs and 64 KiB random blocks: a pack fills every 16 blocks, and with 32 batches in
    // flight several calls reach the threshold on the same open pack while uploads are pending.
    const vault = await Vault.init(store, { secret: { kind: 'passphrase', passphrase: 'p' }, blockSize: 65536, packSize: 1024 * 1024, scrypt: { N: 1024, r: 8, p: 1 } });
    try {
      const image = new SeededRandom(7).bytes(24 * 1024 * 1024);
      const writer = await VaultWriter.open(vault);
      const disk = await writeDisk(writer, { name: 'd', sizeBytes: image.length, read: async (offset, length) => image.subarray(offset, offset + length) }, { batchBlocks: 2, concurrency: 32 });
      const point = await writer.commitPoint({ subject: 'vm', parentId: null, disks: [disk] });
      await writer.close();
      assert.equal(disk.stats.newBlocks, 384);
      const reader = await VaultReader.open(vault);
      const restored = new Uint8Array(image.length);
      for await (const block of reader.readDisk(point.disks[0]!)) restored.set(block.data, block.index * 65536);
      await reader.close();
      assert.equal(Buffer.compare(restored, image), 0);
    } finally {
      await vault.close();
    }
  });
});
