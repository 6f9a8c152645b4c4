import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { ADDRESS_BYTES, decodeMapPage, type BlockMapRoot, type ManifestDisk } from '../../src/format/index.js';
import { BlockMapBuilder, BlockMapReader, levelCounts } from '../../src/repository/block-map.js';
import { toHex } from '../../src/repository/block-index.js';
import { VaultWriter } from '../../src/repository/vault-writer.js';
import { SeededRandom } from '../../src/util/seeded-random.js';
import { assertRestores, backup, changeBlocks, makeDisk, withVault } from './helpers.js';

/** Pages in memory, addressed by SHA-256, with counters of what was stored and loaded. */
class PageStore {
  readonly pages = new Map<string, Uint8Array>();
  stored = 0;
  loads: string[] = [];

  store = async (page: Uint8Array): Promise<Uint8Array> => {
    const address = new Uint8Array(createHash('sha256').update(page).digest());
    const hex = toHex(address);
    if (!this.pages.has(hex)) {
      this.pages.set(hex, page.slice());
      this.stored++;
    }
    return address;
  };

  load = async (address: Uint8Array, level: number, count: number): Promise<Uint8Array> => {
    const hex = toHex(address);
    this.loads.push(hex);
    const page = this.pages.get(hex);
    if (!page) throw new Error(`page ${hex} missing`);
    const decoded = decodeMapPage(page, hex);
    assert.equal(decoded.level, level, `page ${hex} level`);
    assert.equal(decoded.count, count, `page ${hex} count`);
    return decoded.addresses;
  };

  reader(root: BlockMapRoot): BlockMapReader {
    return new BlockMapReader(root, this.load);
  }
}

/** A fake block address for block content number n (0 = the zero block). */
function addr(n: number): Uint8Array {
  const out = new Uint8Array(ADDRESS_BYTES);
  if (n !== 0) new DataView(out.buffer).setUint32(0, n);
  return out;
}

async function build(pages: PageStore, fanout: number, values: readonly number[], parent?: BlockMapRoot, only?: readonly number[]): Promise<BlockMapRoot> {
  const builder = new BlockMapBuilder({ fanout, blockCount: values.length, store: pages.store, parent: parent ? pages.reader(parent) : undefined });
  for (const index of only ?? values.map((_, i) => i)) await builder.set(index, addr(values[index]!));
  return builder.finish();
}

async function readAll(pages: PageStore, root: BlockMapRoot): Promise<number[]> {
  const reader = pages.reader(root);
  const out: number[] = [];
  for await (const leaf of reader.leaves()) {
    assert.equal(leaf.firstBlock, leaf.page * root.fanout);
    for (let slot = 0; slot < leaf.entries.length / ADDRESS_BYTES; slot++) {
      out.push(new DataView(leaf.entries.buffer, leaf.entries.byteOffset).getUint32(slot * ADDRESS_BYTES));
    }
  }
  return out;
}

function sequence(count: number, first = 1): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

describe('block map', () => {
  it('levelCounts gives pages per level, leaves first', () => {
    assert.deepEqual(levelCounts(0, 16), []);
    assert.deepEqual(levelCounts(1, 16), [1]);
    assert.deepEqual(levelCounts(16, 16), [1]);
    assert.deepEqual(levelCounts(17, 16), [2, 1]);
    assert.deepEqual(levelCounts(256, 16), [16, 1]);
    assert.deepEqual(levelCounts(257, 16), [17, 2, 1]);
    assert.deepEqual(levelCounts(4097, 16), [257, 17, 2, 1]);
  });

  it('builds and reads back maps of many shapes', async () => {
    for (const count of [0, 1, 15, 16, 17, 255, 256, 257, 300, 4097]) {
      const pages = new PageStore();
      const values = sequence(count);
      values.forEach((_, i) => {
        if (i % 7 === 3) values[i] = 0;
      });
      const root = await build(pages, 16, values);
      assert.equal(root.blockCount, count);
      assert.equal(root.depth, levelCounts(count, 16).length);
      assert.deepEqual(await readAll(pages, root), values, `${count} blocks`);
    }
  });

  it('stores no page for all-zero leaves and subtrees', async () => {
    const pages = new PageStore();
    const values = new Array<number>(300).fill(0);
    values[290] = 5;
    const root = await build(pages, 16, values);
    // One leaf, the inner page above it, the root: zero subtrees are zero addresses, not pages.
    assert.equal(pages.stored, 3);
    assert.deepEqual(await readAll(pages, root), values);
    const blocks: number[] = [];
    pages.loads = [];
    await pages.reader(root).walk(() => true, (_address, index) => blocks.push(index));
    assert.deepEqual(blocks, [290]);
    assert.equal(pages.loads.length, 3, 'walk loads only non-zero pages');
  });

  it('with a parent and a sparse set(), inherits every index not set and never reads untouched leaves', async () => {
    const pages = new PageStore();
    const parentValues = sequence(300, 1000);
    const parent = await build(pages, 16, parentValues);
    const storedBefore = pages.stored;

    // The dirty-bitmap path: only the changed indexes are given.
    const changed = [5, 6, 40, 299];
    const values = parentValues.slice();
    for (const index of changed) values[index] = 5000 + index;
    pages.loads = [];
    const root = await build(pages, 16, values, parent, changed);
    const parentLeaves = new Set<string>();
    const parentReader = pages.reader(parent);
    for (let leaf = 0; leaf < parentReader.leafCount; leaf++) parentLeaves.add(toHex(await parentReader.leafAddress(leaf)));
    const leafLoads = pages.loads.filter((hex) => parentLeaves.has(hex));
    // Leaves 0, 2 and 18 hold changes: their parent entries are read to merge; the 16 others are taken by address.
    assert.equal(new Set(leafLoads).size, 3);
    assert.equal(root.depth, 3);
    // New pages: 3 leaves, both inner pages (leaves 0, 2 under the first, 18 under the second), the root.
    assert.equal(pages.stored - storedBefore, 6);
    assert.deepEqual(await readAll(pages, root), values);
    // The parent is untouched.
    assert.deepEqual(await readAll(pages, parent), parentValues);
  });

  it('with a parent and no set() at all, gives the parent root back', async () => {
    const pages = new PageStore();
    const parent = await build(pages, 16, sequence(300));
    const storedBefore = pages.stored;
    const root = await build(pages, 16, sequence(300), parent, []);
    assert.equal(root.root, parent.root);
    assert.equal(pages.stored, storedBefore);
  });

  it('with a parent of another size, inherits the overlap and leaves the rest zero', async () => {
    const pages = new PageStore();
    const parentValues = sequence(40, 100); // 3 leaves, the last with 8 entries
    const parent = await build(pages, 16, parentValues);

    const grown = [...parentValues, ...new Array<number>(30).fill(0)];
    grown[45] = 7;
    assert.deepEqual(await readAll(pages, await build(pages, 16, grown, parent, [45])), grown, 'grow');
    assert.deepEqual(await readAll(pages, await build(pages, 16, grown, parent, [])), [...parentValues, ...new Array<number>(30).fill(0)], 'grow, nothing set');

    const shrunk = parentValues.slice(0, 20);
    shrunk[19] = 9;
    assert.deepEqual(await readAll(pages, await build(pages, 16, shrunk, parent, [19])), shrunk, 'shrink into a leaf');
    const cut = parentValues.slice(0, 32);
    assert.deepEqual(await readAll(pages, await build(pages, 16, cut, parent, [])), cut, 'shrink at a leaf boundary');
  });

  it('refuses out-of-order and out-of-range indexes', async () => {
    const pages = new PageStore();
    const builder = new BlockMapBuilder({ fanout: 16, blockCount: 10, store: pages.store });
    await builder.set(3, addr(1));
    await assert.rejects(builder.set(3, addr(2)), RangeError);
    await assert.rejects(builder.set(2, addr(2)), RangeError);
    await assert.rejects(builder.set(10, addr(2)), RangeError);
    await builder.set(9, addr(3));
    const root = await builder.finish();
    assert.deepEqual(await readAll(pages, root), [0, 0, 0, 1, 0, 0, 0, 0, 0, 3]);
  });

  it('VaultWriter.mapBuilder with a parent: a point from only the dirty blocks restores whole', async () => {
    await withVault({ mapFanout: 16 }, async (vault) => {
      const bs = vault.config.blockSize;
      const v1 = makeDisk(1, 300 * bs + 99, bs, [4, 200]);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1 }]);
      const dirty = [4, 17, 200, 300];
      const v2 = changeBlocks(v1, bs, dirty, 2);
      const writer = await VaultWriter.open(vault);
      let disk: ManifestDisk;
      try {
        const blocks = dirty.map((index) => v2.slice(index * bs, Math.min(v2.length, (index + 1) * bs)));
        const put = await writer.putBlocks(blocks);
        assert.deepEqual([...put.stored], [1, 1, 1, 1]);
        const builder = writer.mapBuilder(p1.disks[0]!.map.blockCount, p1.disks[0]!.map);
        for (let k = 0; k < dirty.length; k++) await builder.set(dirty[k]!, put.addresses.subarray(k * ADDRESS_BYTES, (k + 1) * ADDRESS_BYTES));
        const map = await builder.finish();
        disk = {
          name: 'sda', sizeBytes: v2.length, blockSize: bs, map, meta: { dirtyBitmap: true },
          stats: { changedBlocks: dirty.length, zeroBlocks: 0, newBlocks: put.stored.reduce((a, b) => a + b, 0), newBytes: put.newBytes, newStoredBytes: put.newStoredBytes, bytesRead: put.newBytes },
        };
        await writer.commitPoint({ subject: 'vm', parentId: p1.pointId, disks: [disk] });
      } finally {
        await writer.close();
      }
      // Same map as a full read of the disk would give.
      const p2full = await backup(vault, 'vm', [{ name: 'sda', data: v2 }], p1);
      assert.equal(disk.map.root, p2full.disks[0]!.map.root);
      assert.equal(p2full.disks[0]!.stats.newBlocks, 0);
      await assertRestores(vault, { ...p2full, disks: [disk] }, 'sda', v2);
      await assertRestores(vault, p1, 'sda', v1);
    });
  });

  it('random sparse updates over many generations match a plain array', async () => {
    const pages = new PageStore();
    const random = new SeededRandom(42);
    let values = Array.from({ length: 1000 }, () => (random.int(4) === 0 ? 0 : 1 + random.int(1_000_000)));
    let root = await build(pages, 16, values);
    for (let generation = 0; generation < 20; generation++) {
      const size = Math.max(1, values.length + random.int(201) - 100);
      const next = Array.from({ length: size }, (_, i) => values[i] ?? 0);
      const changed = [...new Set(Array.from({ length: random.int(30) }, () => random.int(size)))].sort((a, b) => a - b);
      for (const index of changed) next[index] = random.int(3) === 0 ? 0 : 1 + random.int(1_000_000);
      root = await build(pages, 16, next, root, changed);
      values = next;
      assert.deepEqual(await readAll(pages, root), values, `generation ${generation}`);
    }
  });
});
