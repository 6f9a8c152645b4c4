import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlobKind, Paths } from '../../src/format/index.js';
import type { Vault } from '../../src/repository/vault.js';
import { VaultIndex } from '../../src/repository/vault-index.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { backup, changeBlocks, makeDisk, withVault } from './helpers.js';

const BS = 4096;
const FANOUT = 16;

async function objects(store: BlobStore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const { key, size } of store.list('')) if (!key.startsWith(Paths.locks)) out.set(key, size);
  return out;
}

async function blobKinds(vault: Vault): Promise<Map<string, number>> {
  const index = await VaultIndex.load(vault);
  const out = new Map<string, number>();
  for (const [address, location] of index.blocks.entries()) out.set(Buffer.from(address).toString('hex'), location.kind);
  return out;
}

interface Cost {
  depth: number;
  newObjects: string[];
  newBytes: number;
  newBlocks: number;
  newPages: number;
}

/** Full point of a disk of `blocks` blocks, then an incremental one with one changed block: what the second cost. */
async function incrementalCost(blocks: number, changed: number): Promise<Cost> {
  return withVault({ mapFanout: FANOUT }, async (vault, store) => {
    const v1 = makeDisk(blocks, blocks * BS, BS);
    const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1 }]);
    const beforeObjects = await objects(store);
    const beforeBlobs = await blobKinds(vault);

    const p2 = await backup(vault, 'vm', [{ name: 'sda', data: changeBlocks(v1, BS, [changed], 7) }], p1);
    assert.equal(p2.disks[0]!.stats.changedBlocks, 1);
    assert.equal(p2.disks[0]!.stats.newBlocks, 1);

    const afterObjects = await objects(store);
    for (const key of beforeObjects.keys()) assert.ok(afterObjects.has(key), `${key} is still there: objects are never rewritten`);
    const newObjects = [...afterObjects.keys()].filter((key) => !beforeObjects.has(key));
    const newBytes = newObjects.reduce((sum, key) => sum + afterObjects.get(key)!, 0);
    const afterBlobs = await blobKinds(vault);
    const added = [...afterBlobs].filter(([address]) => !beforeBlobs.has(address)).map(([, kind]) => kind);
    return {
      depth: p2.disks[0]!.map.depth,
      newObjects,
      newBytes,
      newBlocks: added.filter((kind) => kind === BlobKind.block).length,
      newPages: added.filter((kind) => kind === BlobKind.page).length,
    };
  });
}

describe('cost of an incremental point', () => {
  it('follows the changed blocks, not the disk size', async () => {
    const small = await incrementalCost(300, 150);
    const large = await incrementalCost(4000, 2000);
    for (const cost of [small, large]) {
      assert.equal(cost.depth, 3);
      // One block and the pages on its path (leaf, inner page, root), nothing else.
      assert.equal(cost.newBlocks, 1);
      assert.equal(cost.newPages, cost.depth);
      const kinds = cost.newObjects.map((key) => key.slice(0, key.indexOf('/') + 1)).sort();
      assert.deepEqual(kinds.filter((kind) => kind === Paths.packs), [Paths.packs], 'one pack');
      assert.deepEqual(kinds.filter((kind) => kind === Paths.points), [Paths.points], 'one manifest');
      const indexFiles = kinds.filter((kind) => kind === Paths.index).length;
      assert.ok(indexFiles >= 1 && indexFiles <= 2, `${indexFiles} index files`);
      assert.equal(cost.newObjects.length, 2 + indexFiles);
      // Bytes: the block (random, so incompressible) + depth full pages + framing of pack, index files and manifest.
      const pageBytes = 8 + FANOUT * 32;
      const bound = BS + cost.depth * pageBytes + 4096;
      assert.ok(cost.newBytes <= bound, `${cost.newBytes} bytes written, bound ${bound}`);
      assert.ok(cost.newBytes >= BS, 'the changed block is in there');
    }
    // 13 times the disk, about the same cost: only the root page (2 vs 16 entries) and number widths differ.
    assert.ok(Math.abs(large.newBytes - small.newBytes) <= FANOUT * 32 + 256, `${small.newBytes} vs ${large.newBytes} bytes`);
  });
});
