import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlobKind, Paths, packKey, type PointManifest } from '../../src/format/index.js';
import { loadPoints, deletePoint } from '../../src/repository/points.js';
import type { Vault } from '../../src/repository/vault.js';
import { VaultIndex } from '../../src/repository/vault-index.js';
import { VaultReader } from '../../src/repository/vault-reader.js';
import { VaultWriter } from '../../src/repository/vault-writer.js';
import { openIndexFile } from '../../src/repository/vault-objects.js';
import { verifyVault, type VerifyReport } from '../../src/repository/verify.js';
import type { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { backup, changeBlocks, code, listKeys, makeDisk, restore, withVault } from './helpers.js';

const BS = 4096;

interface Fixture {
  vault: Vault;
  store: MemoryStore;
  /** a1 full, a2 incremental on a1 (subject A); b1 full of other data (subject B). */
  a1: PointManifest;
  a2: PointManifest;
  b1: PointManifest;
  data: { a1: Uint8Array; a2: Uint8Array; b1: Uint8Array };
}

async function withFixture(body: (fixture: Fixture) => Promise<void>): Promise<void> {
  await withVault({}, async (vault, store) => {
    const a1Data = makeDisk(1, 400 * BS + 10, BS, [5, 6]);
    const a2Data = changeBlocks(a1Data, BS, [10, 399], 2);
    const b1Data = makeDisk(3, 100 * BS, BS);
    const a1 = await backup(vault, 'A', [{ name: 'sda', data: a1Data }]);
    const a2 = await backup(vault, 'A', [{ name: 'sda', data: a2Data }], a1);
    const b1 = await backup(vault, 'B', [{ name: 'sda', data: b1Data }]);
    await body({ vault, store: store as MemoryStore, a1, a2, b1, data: { a1: a1Data, a2: a2Data, b1: b1Data } });
  });
}

/** Addresses (hex) of every page and block each point references. */
async function referencesByPoint(vault: Vault): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  const reader = await VaultReader.open(vault);
  try {
    const { points } = await loadPoints(vault);
    for (const point of points) {
      const seen = new Set<string>();
      const add = (address: Uint8Array) => {
        seen.add(Buffer.from(address).toString('hex'));
        return true;
      };
      for (const disk of point.disks) await reader.mapReader(disk).walk(add, add);
      out.set(point.pointId, seen);
    }
  } finally {
    await reader.close();
  }
  return out;
}

/** Points that reference at least one blob of the pack. */
async function pointsUsingPack(vault: Vault, packId: string): Promise<string[]> {
  const index = await VaultIndex.load(vault);
  const references = await referencesByPoint(vault);
  return [...references].filter(([, addresses]) => [...addresses].some((hex) => index.blocks.get(Buffer.from(hex, 'hex'))?.packId === packId)).map(([id]) => id).sort();
}

function problemFor(report: VerifyReport, object: string) {
  const problem = report.problems.find((candidate) => candidate.object === object);
  assert.ok(problem, `a problem names ${object}; got ${JSON.stringify(report.problems)}`);
  return problem;
}

function allAffected(report: VerifyReport): string[] {
  return [...new Set(report.problems.flatMap((problem) => problem.affectedPoints))].sort();
}

describe('verifyVault', () => {
  it('finds nothing wrong in a clean vault, with and without reading the data', async () => {
    await withFixture(async ({ vault, store }) => {
      const quick = await verifyVault(vault);
      assert.equal(quick.ok, true);
      assert.deepEqual(quick.problems, []);
      assert.deepEqual(quick.unindexedPacks, []);
      assert.equal(quick.points, 3);
      assert.equal(quick.readData, false);
      assert.equal(quick.bytesChecked, 0);
      const packs = await listKeys(store, Paths.packs);
      assert.equal(quick.packs, packs.length);
      assert.ok(packs.length >= 3);

      const phases = new Set<string>();
      const full = await verifyVault(vault, { readData: true, onProgress: (progress) => phases.add(progress.phase) });
      assert.equal(full.ok, true, JSON.stringify(full.problems));
      assert.equal(full.readData, true);
      const index = await VaultIndex.load(vault);
      assert.equal(full.blobsChecked, index.blocks.size);
      let packBytes = 0;
      for await (const { size } of store.list(Paths.packs)) packBytes += size;
      assert.equal(full.bytesChecked, packBytes);
      assert.deepEqual([...phases].sort(), ['points', 'read-data']);
      assert.deepEqual(await listKeys(store, Paths.locks), [], 'verify released its lock');
    });
  });

  it('names a missing pack and every point that needs it', async () => {
    await withFixture(async ({ vault, store, a1, a2, b1 }) => {
      const index = await VaultIndex.load(vault);
      const firstBlock = (await referencesByPoint(vault)).get(a1.pointId)!;
      const packId = [...index.blocks.entries()].find(([address, location]) => location.kind === BlobKind.block && firstBlock.has(Buffer.from(address).toString('hex')))![1].packId;
      const expected = await pointsUsingPack(vault, packId);
      assert.ok(expected.includes(a1.pointId) && expected.includes(a2.pointId), 'a2 shares most blocks of a1');
      assert.ok(!expected.includes(b1.pointId));
      await store.delete(packKey(packId));

      for (const readData of [false, true]) {
        const report = await verifyVault(vault, { readData });
        assert.equal(report.ok, false);
        const problem = problemFor(report, packKey(packId));
        assert.match(problem.problem, /missing/);
        assert.deepEqual(problem.affectedPoints, expected);
        assert.deepEqual(allAffected(report), expected);
      }
      await assert.rejects(restore(vault, a1, 'sda'), code('VAULT_OBJECT_MISSING', packKey(packId)));
    });
  });

  it('names a pack with a changed byte (readData) and the points that use the damaged block', async () => {
    await withFixture(async ({ vault, store, a1, a2, b1, data }) => {
      // Damage the block that only a2 has (block 10 changed in a2).
      const index = await VaultIndex.load(vault);
      const references = await referencesByPoint(vault);
      const onlyA2 = [...references.get(a2.pointId)!].filter((hex) => !references.get(a1.pointId)!.has(hex) && index.blocks.get(Buffer.from(hex, 'hex'))!.kind === BlobKind.block);
      assert.equal(onlyA2.length, 2);
      const location = index.blocks.get(Buffer.from(onlyA2[0]!, 'hex'))!;
      const key = packKey(location.packId);
      store.corrupt(key, (bytes) => {
        bytes[location.offset + 20]! ^= 0x01;
        return bytes;
      });

      const quick = await verifyVault(vault);
      assert.equal(quick.ok, true, 'same size, structure intact: only reading the data can tell');
      const full = await verifyVault(vault, { readData: true });
      assert.equal(full.ok, false);
      const problem = problemFor(full, key);
      assert.match(problem.problem, /SHA-256|does not authenticate/);
      assert.deepEqual(problem.affectedPoints, [a2.pointId]);
      assert.deepEqual(allAffected(full), [a2.pointId]);

      // A restore of the damaged point fails, never yields wrong data; the others are fine.
      await assert.rejects(restore(vault, a2, 'sda'), code('VAULT_OBJECT_CORRUPT', key));
      assert.ok(Buffer.compare(await restore(vault, a1, 'sda'), data.a1) === 0);
      assert.ok(Buffer.compare(await restore(vault, b1, 'sda'), data.b1) === 0);
    });
  });

  it('names a pack whose trailer or header was damaged, and a truncated pack', async () => {
    await withFixture(async ({ vault, store, b1 }) => {
      const index = await VaultIndex.load(vault);
      const packsOfB1 = new Set([...(await referencesByPoint(vault)).get(b1.pointId)!].map((hex) => index.blocks.get(Buffer.from(hex, 'hex'))!.packId));
      const [first, second] = [...packsOfB1];
      assert.ok(first);
      store.corrupt(packKey(first), (bytes) => {
        bytes[bytes.length - 30]! ^= 0xff; // inside the sealed trailer
        bytes[1]! ^= 0xff; // the magic
        return bytes;
      });
      const report = await verifyVault(vault, { readData: true });
      const problem = problemFor(report, packKey(first));
      assert.deepEqual(problem.affectedPoints, [], 'every blob still authenticates: no point is hurt');
      assert.equal(report.ok, false);

      if (second) {
        store.corrupt(packKey(second), (bytes) => bytes.subarray(0, bytes.length - 100));
        const truncated = await verifyVault(vault);
        assert.match(problemFor(truncated, packKey(second)).problem, /bytes, the index says/);
        assert.ok(problemFor(truncated, packKey(second)).affectedPoints.includes(b1.pointId));
      }
    });
  });

  it('reports a manifest that vanished without deletePoint, and none for a deleted point', async () => {
    await withFixture(async ({ vault, store, a2, b1 }) => {
      await deletePoint(vault, b1.pointId);
      assert.equal((await verifyVault(vault)).ok, true, 'a deliberate deletion is not damage');

      await store.delete(`${Paths.points}${a2.pointId}`);
      const report = await verifyVault(vault);
      assert.equal(report.ok, false);
      const problem = problemFor(report, `${Paths.points}${a2.pointId}`);
      assert.match(problem.problem, /manifest is missing/);
      assert.deepEqual(problem.affectedPoints, [a2.pointId]);
      assert.deepEqual(allAffected(report), [a2.pointId]);
      assert.equal(report.points, 1);
    });
  });

  it('reports a damaged manifest', async () => {
    await withFixture(async ({ vault, store, a1 }) => {
      store.corrupt(`${Paths.points}${a1.pointId}`, (bytes) => {
        bytes[bytes.length - 1]! ^= 0x40;
        return bytes;
      });
      const report = await verifyVault(vault);
      const problem = problemFor(report, `${Paths.points}${a1.pointId}`);
      assert.match(problem.problem, /does not authenticate/);
      assert.deepEqual(problem.affectedPoints, [a1.pointId]);
      assert.equal(report.points, 3);
    });
  });

  it('names the points that need the blocks of a deleted index file', async () => {
    await withFixture(async ({ vault, store, a1, a2, b1 }) => {
      // The first index file of a1's write lists its packs.
      const files = await listKeys(store, Paths.index);
      const index = await VaultIndex.load(vault);
      const a1Pack = index.blocks.get(Buffer.from([...(await referencesByPoint(vault)).get(a1.pointId)!][0]!, 'hex'))!.packId;
      let victim: string | undefined;
      for (const file of files) {
        if (openIndexFile(vault.keys, await store.get(file), file).packs.some((pack) => pack.packId === a1Pack)) victim = file;
      }
      assert.ok(victim);
      await store.delete(victim);

      const after = await VaultIndex.load(vault);
      const report = await verifyVault(vault);
      assert.equal(report.ok, false);
      const affected = allAffected(report);
      assert.ok(affected.includes(a1.pointId), JSON.stringify(report.problems));
      assert.ok(affected.includes(a2.pointId), 'a2 inherits blocks of a1');
      assert.ok(!affected.includes(b1.pointId), 'b1 shares nothing with A');
      for (const pointId of affected) {
        const problem = problemFor(report, `${Paths.points}${pointId}`);
        assert.deepEqual(problem.affectedPoints, [pointId]);
      }
      assert.ok(report.unindexedPacks.includes(packKey(a1Pack)), 'its packs are still there, just not indexed');
      assert.ok(!after.packSizes.has(a1Pack));
    });
  });

  it('blames a damaged index file for the points whose blocks it held', async () => {
    await withFixture(async ({ vault, store, a1, a2, b1 }) => {
      const files = await listKeys(store, Paths.index);
      const withPacks: string[] = [];
      for (const file of files) if (openIndexFile(vault.keys, await store.get(file), file).packs.length > 0) withPacks.push(file);
      // Damage the index file that lists the pack of b1's first block.
      let victim: string | undefined;
      const index = await VaultIndex.load(vault);
      const b1Address = [...(await referencesByPoint(vault)).get(b1.pointId)!][0]!;
      const b1Pack = index.blocks.get(Buffer.from(b1Address, 'hex'))!.packId;
      for (const file of withPacks) {
        if (openIndexFile(vault.keys, await store.get(file), file).packs.some((pack) => pack.packId === b1Pack)) victim = file;
      }
      assert.ok(victim);
      store.corrupt(victim, (bytes) => {
        bytes[bytes.length - 5]! ^= 0x10;
        return bytes;
      });
      const report = await verifyVault(vault);
      const problem = problemFor(report, victim);
      assert.deepEqual(problem.affectedPoints, [b1.pointId]);
      assert.ok(!allAffected(report).includes(a1.pointId) && !allAffected(report).includes(a2.pointId));
    });
  });

  it('lists packs no index knows (an interrupted write) without calling the vault damaged', async () => {
    await withFixture(async ({ vault, store }) => {
      const before = new Set(await listKeys(store, Paths.packs));
      const writer = await VaultWriter.open(vault);
      try {
        // More than a pack's worth: the first pack is stored, and the writer "crashes" before indexing it.
        const blocks = Array.from({ length: 300 }, (_, i) => makeDisk(1000 + i, BS, BS));
        await writer.putBlocks(blocks);
      } finally {
        await writer.close();
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      const orphans = (await listKeys(store, Paths.packs)).filter((key) => !before.has(key));
      assert.ok(orphans.length >= 1);
      const report = await verifyVault(vault, { readData: true });
      assert.equal(report.ok, true);
      assert.deepEqual(report.unindexedPacks.sort(), orphans);
    });
  });
});
