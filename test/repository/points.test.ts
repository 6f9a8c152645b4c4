import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Paths } from '../../src/format/index.js';
import { deletePoint, listPointIds, listTombstones, loadPoints, readPoint, resolvePointId } from '../../src/repository/points.js';
import { VaultWriter } from '../../src/repository/vault-writer.js';
import { verifyVault } from '../../src/repository/verify.js';
import type { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { backup, code, listKeys, makeDisk, snapshot, withVault } from './helpers.js';

const BS = 4096;

describe('recovery points', () => {
  it('lists, reads and orders points; ignores keys that are not point ids', async () => {
    await withVault({}, async (vault, store) => {
      const writer = await VaultWriter.open(vault);
      try {
        // Committed out of id order, with explicit times.
        await writer.commitPoint({ subject: 'b', parentId: null, disks: [], pointId: 'ffff000000000001', createdAt: new Date('2030-01-01T00:00:00Z') });
        await writer.commitPoint({ subject: 'a', parentId: null, disks: [], pointId: '0000000000000002', createdAt: new Date('2030-01-02T00:00:00Z'), meta: { kind: 'manual' } });
      } finally {
        await writer.close();
      }
      await store.put(`${Paths.points}not-a-point`, new Uint8Array(1));
      await store.put(`${Paths.points}ABCDEF0000000000`, new Uint8Array(1));
      assert.deepEqual(await listPointIds(vault), ['0000000000000002', 'ffff000000000001']);
      const { points, damaged } = await loadPoints(vault);
      assert.deepEqual(points.map((point) => point.pointId), ['ffff000000000001', '0000000000000002'], 'oldest first');
      assert.deepEqual(damaged, []);
      const read = await readPoint(vault, '0000000000000002');
      assert.equal(read.subject, 'a');
      assert.deepEqual(read.meta, { kind: 'manual' });
      assert.equal(read.createdAt, '2030-01-02T00:00:00.000Z');
    });
  });

  it('resolves id prefixes like git', async () => {
    await withVault({}, async (vault) => {
      const writer = await VaultWriter.open(vault);
      try {
        for (const pointId of ['abcd000000000001', 'abcd000000000002', 'abce000000000003']) {
          await writer.commitPoint({ subject: 'vm', parentId: null, disks: [], pointId });
        }
      } finally {
        await writer.close();
      }
      assert.equal(await resolvePointId(vault, 'abce'), 'abce000000000003');
      assert.equal(await resolvePointId(vault, 'abcd000000000002'), 'abcd000000000002');
      await assert.rejects(resolvePointId(vault, 'abcd'), code('POINT_AMBIGUOUS', 'abcd000000000001', 'abcd000000000002'));
      await assert.rejects(resolvePointId(vault, '1234'), code('POINT_NOT_FOUND', '1234'));
      for (const bad of ['abc', 'ABCD', 'abcd0000000000012', 'xyz1']) {
        await assert.rejects(resolvePointId(vault, bad), code('INVALID_ARGUMENT'), bad);
      }
    });
  });

  it('refuses a manifest stored under another point id', async () => {
    await withVault({}, async (vault, store) => {
      const point = await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(1, 3 * BS, BS) }]);
      const moved = '1111222233334444';
      await store.put(`${Paths.points}${moved}`, await store.get(`${Paths.points}${point.pointId}`));
      await assert.rejects(readPoint(vault, moved), code('VAULT_OBJECT_CORRUPT', moved));
      const { points, damaged } = await loadPoints(vault);
      assert.deepEqual(points.map((p) => p.pointId), [point.pointId]);
      assert.deepEqual(damaged.map((entry) => [entry.pointId, entry.key]), [[moved, `${Paths.points}${moved}`]]);
    });
  });

  it('deletes a point with a tombstone first; an unknown point is POINT_NOT_FOUND with nothing written', async () => {
    await withVault({}, async (vault, store) => {
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(2, 3 * BS, BS) }]);
      const p2 = await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(3, 3 * BS, BS) }], p1);

      const before = await snapshot(store);
      await assert.rejects(deletePoint(vault, 'aaaaaaaaaaaaaaaa'), code('POINT_NOT_FOUND', 'aaaaaaaaaaaaaaaa'));
      assert.deepEqual(await snapshot(store), before);

      await deletePoint(vault, p1.pointId);
      assert.deepEqual(await listPointIds(vault), [p2.pointId]);
      assert.deepEqual([...await listTombstones(vault)], [p1.pointId]);
      const tombstone = JSON.parse(new TextDecoder().decode(await store.get(`${Paths.deleted}${p1.pointId}`))) as { deletedAt: string };
      assert.ok(!Number.isNaN(Date.parse(tombstone.deletedAt)));
      await assert.rejects(readPoint(vault, p1.pointId), code('POINT_NOT_FOUND'));
      await assert.rejects(deletePoint(vault, p1.pointId), code('POINT_NOT_FOUND'));
      assert.deepEqual(await listKeys(store, Paths.locks), []);
      // A point whose parent was deleted still stands on its own.
      assert.equal((await verifyVault(vault)).ok, true);
    });
  });

  it('finishes a deletion that was interrupted after the tombstone', async () => {
    await withVault({}, async (vault, store) => {
      const point = await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(4, 3 * BS, BS) }]);
      await store.put(`${Paths.deleted}${point.pointId}`, new TextEncoder().encode('{"deletedAt":"2030-01-01T00:00:00Z"}'));
      assert.deepEqual(await listPointIds(vault), [point.pointId], 'the manifest still makes the point exist');
      await deletePoint(vault, point.pointId);
      assert.deepEqual(await listPointIds(vault), []);
      assert.equal((await verifyVault(vault)).ok, true);
    });
  });

  it('loadPoints reports damaged manifests instead of failing', async () => {
    await withVault({}, async (vault, store) => {
      const good = await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(5, 2 * BS, BS) }]);
      const bad = await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(6, 2 * BS, BS) }]);
      (store as MemoryStore).corrupt(`${Paths.points}${bad.pointId}`, (bytes) => bytes.subarray(0, 8));
      const { points, damaged } = await loadPoints(vault);
      assert.deepEqual(points.map((point) => point.pointId), [good.pointId]);
      assert.equal(damaged.length, 1);
      assert.equal(damaged[0]!.pointId, bad.pointId);
      assert.equal(damaged[0]!.error.code, 'VAULT_OBJECT_CORRUPT');
    });
  });
});
