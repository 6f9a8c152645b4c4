import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Paths } from '../../src/format/index.js';
import { measureVaultUsage } from '../../src/repository/accounting.js';
import { writeDisk } from '../../src/repository/disk-writer.js';
import { collectGarbage } from '../../src/repository/gc.js';
import { deletePoint, listPointIds, loadPoints } from '../../src/repository/points.js';
import { Vault } from '../../src/repository/vault.js';
import { VaultReader } from '../../src/repository/vault-reader.js';
import { VaultWriter } from '../../src/repository/vault-writer.js';
import { verifyVault } from '../../src/repository/verify.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { LocalStore } from '../../src/storage/local/local-store.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { FaultyStore } from '../../src/storage/testing/faulty-store.js';
import { ReadOnlyStore } from '../../src/storage/wrappers/read-only-store.js';
import {
  FAST_SCRYPT, KiB, PASSPHRASE, assertRestores, backup, changeBlocks, code, createVault, listKeys, makeDisk, memorySource, snapshot, snapshotDirectory,
} from './helpers.js';

const BS = 4096;

/** Passes everything through, but flips one bit of every range read of a pack (bad RAM, bad cable). */
class FlippingStore implements BlobStore {
  readonly #inner: BlobStore;
  constructor(inner: BlobStore) {
    this.#inner = inner;
  }
  get location(): string {
    return this.#inner.location;
  }
  put(key: string, data: Uint8Array): Promise<void> {
    return this.#inner.put(key, data);
  }
  get(key: string): Promise<Uint8Array> {
    return this.#inner.get(key);
  }
  async getRange(key: string, offset: number, length: number): Promise<Uint8Array> {
    const bytes = await this.#inner.getRange(key, offset, length);
    if (key.startsWith(Paths.packs) && bytes.length > 100) bytes[bytes.length - 50]! ^= 0x04;
    return bytes;
  }
  stat(key: string): ReturnType<BlobStore['stat']> {
    return this.#inner.stat(key);
  }
  list(prefix: string): ReturnType<BlobStore['list']> {
    return this.#inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.#inner.delete(key);
  }
  sweepPartials(olderThanMs: number): Promise<number> {
    return this.#inner.sweepPartials(olderThanMs);
  }
}

describe('storage faults', () => {
  it('full disk during a backup: STORAGE_NO_SPACE, no manifest, earlier points intact, works again once space is freed', async () => {
    const inner = new MemoryStore();
    const store = new FaultyStore(inner);
    const { vault } = await createVault({ store });
    try {
      const v1 = makeDisk(1, 200 * BS + 3, BS, [9]);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1 }]);
      const pointsBefore = await listPointIds(vault);

      const writer = await VaultWriter.open(vault);
      const v2 = makeDisk(2, 800 * BS, BS); // 3.2 MiB of new data
      store.failPutAfterBytes(300 * KiB); // room for lock objects, not for a 1 MiB pack
      try {
        await assert.rejects(async () => {
          const disk = await writeDisk(writer, memorySource('sda', v2));
          await writer.commitPoint({ subject: 'vm', parentId: p1.pointId, disks: [disk] });
        }, code('STORAGE_NO_SPACE', 'packs/'));
        // The session is unusable from here on: nothing it deduplicated against may be missing.
        await assert.rejects(writer.commitPoint({ subject: 'vm', parentId: null, disks: [] }), code('INTERNAL', 'failed earlier'));
      } finally {
        await writer.close();
      }
      assert.ok(store.faultsInjected >= 1);
      assert.deepEqual(await listPointIds(vault), pointsBefore, 'no manifest appeared');
      assert.deepEqual(await listKeys(inner, Paths.locks), [], 'the lock was released');

      // Still full: verify and restore of what exists work (they only write a small lock object).
      const report = await verifyVault(vault, { readData: true });
      assert.equal(report.ok, true, JSON.stringify(report.problems));
      await assertRestores(vault, p1, 'sda', v1);

      store.failPutAfterBytes(undefined);
      const p2 = await backup(vault, 'vm', [{ name: 'sda', data: v2 }], p1);
      await assertRestores(vault, p2, 'sda', v2);
      await assertRestores(vault, p1, 'sda', v1);
      assert.equal((await verifyVault(vault, { readData: true })).ok, true);
      await collectGarbage(vault);
      assert.deepEqual((await verifyVault(vault)).unindexedPacks, []);
    } finally {
      await vault.close();
    }
  });

  it('full disk when the manifest is written: no point, the stored packs are garbage for gc', async () => {
    const store = new FaultyStore(new MemoryStore());
    const { vault } = await createVault({ store });
    try {
      const v1 = makeDisk(3, 100 * BS, BS);
      const p1 = await backup(vault, 'vm', [{ name: 'sda', data: v1 }]);
      store.addRule({ op: 'put', keyPrefix: Paths.points, error: 'no-space' });
      await assert.rejects(backup(vault, 'vm', [{ name: 'sda', data: changeBlocks(v1, BS, [1, 2], 4) }], p1), code('STORAGE_NO_SPACE', Paths.points));
      store.clearRules();
      assert.deepEqual(await listPointIds(vault), [p1.pointId]);
      const usage = await measureVaultUsage(vault);
      assert.ok(usage.unreferencedBlobs >= 2, 'the two new blocks (and their map page) are stored but unreferenced');
      const gc = await collectGarbage(vault);
      assert.equal(gc.blobsRemoved, usage.unreferencedBlobs);
      assert.equal((await verifyVault(vault, { readData: true })).ok, true);
      await assertRestores(vault, p1, 'sda', v1);
    } finally {
      await vault.close();
    }
  });

  it('a read-only store refuses every change with STORAGE_READ_ONLY and nothing changes', async () => {
    const { vault: created, store } = await createVault();
    const data = makeDisk(5, 50 * BS, BS);
    const point = await backup(created, 'vm', [{ name: 'sda', data }]);
    await created.addKeySlot({ kind: 'passphrase', passphrase: 'second' }, 'second', FAST_SCRYPT);
    await created.close();
    const before = await snapshot(store);

    const readOnly = new ReadOnlyStore(store);
    await assert.rejects(createVault({ store: new ReadOnlyStore(new MemoryStore()) }), code('STORAGE_READ_ONLY'));
    const vault = await Vault.open(readOnly, [PASSPHRASE]);
    try {
      await assert.rejects(VaultWriter.open(vault), code('STORAGE_READ_ONLY'));
      await assert.rejects(backup(vault, 'vm', [{ name: 'sda', data }]), code('STORAGE_READ_ONLY'));
      await assert.rejects(deletePoint(vault, point.pointId), code('STORAGE_READ_ONLY'));
      await assert.rejects(collectGarbage(vault), code('STORAGE_READ_ONLY'));
      await assert.rejects(collectGarbage(vault, { dryRun: true }), code('STORAGE_READ_ONLY'));
      await assert.rejects(vault.addKeySlot({ kind: 'passphrase', passphrase: 'third' }, 'third', FAST_SCRYPT), code('STORAGE_READ_ONLY'));
      await assert.rejects(vault.removeKeySlot(vault.openedWithSlot), code('STORAGE_READ_ONLY'));
      assert.deepEqual(await snapshot(store), before);
      // What only reads still works: list, restore, verify, usage.
      assert.deepEqual((await loadPoints(vault)).points.map((p) => p.pointId), [point.pointId]);
      await assertRestores(vault, point, 'sda', data);
      assert.equal((await verifyVault(vault, { readData: true })).ok, true);
      assert.equal((await measureVaultUsage(vault)).liveBlocks, 50);
      assert.deepEqual(await snapshot(store), before);
    } finally {
      await vault.close();
    }
  });

  it('a FaultyStore with read-only rules behaves the same (writes refused, nothing changed)', async () => {
    const inner = new MemoryStore();
    const { vault: created } = await createVault({ store: inner });
    const data = makeDisk(6, 30 * BS, BS);
    const point = await backup(created, 'vm', [{ name: 'sda', data }]);
    await created.close();
    const before = await snapshot(inner);
    const store = new FaultyStore(inner, { rules: [{ op: 'put', error: 'read-only' }, { op: 'delete', error: 'read-only' }] });
    const vault = await Vault.open(store, [PASSPHRASE]);
    try {
      await assert.rejects(backup(vault, 'vm', [{ name: 'sda', data: changeBlocks(data, BS, [0], 1) }], point), code('STORAGE_READ_ONLY'));
      await assert.rejects(deletePoint(vault, point.pointId), code('STORAGE_READ_ONLY'));
      await assert.rejects(collectGarbage(vault), code('STORAGE_READ_ONLY'));
      assert.deepEqual(await snapshot(inner), before);
      await assertRestores(vault, point, 'sda', data);
      assert.deepEqual(await snapshot(inner), before);
    } finally {
      await vault.close();
    }
  });

  it('a vault directory behind a ReadOnlyStore restores and verifies without writing a file (even with a stale lock left in it)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'boveda-ro-'));
    try {
      const { vault: created } = await createVault({ store: new LocalStore(root) });
      const data = makeDisk(7, 70 * BS + 1, BS, [2]);
      const point = await backup(created, 'vm', [{ name: 'sda', data }]);
      await created.close();
      // A backup that crashed before the medium became read-only left its lock behind.
      await new LocalStore(root).put(`${Paths.locks}crashed`, new TextEncoder().encode(JSON.stringify({
        host: hostname(), pid: 2 ** 22 + 12345, mode: 'shared', purpose: 'a backup', createdAt: '2030-01-01T00:00:00Z', refreshedAt: '2030-01-01T00:00:00Z',
      })));
      const files = await snapshotDirectory(root);
      const vault = await Vault.open(new ReadOnlyStore(new LocalStore(root)), [PASSPHRASE]);
      try {
        await assertRestores(vault, point, 'sda', data);
        assert.equal((await verifyVault(vault, { readData: true })).ok, true);
        await assert.rejects(collectGarbage(vault), code('STORAGE_READ_ONLY'));
      } finally {
        await vault.close();
      }
      assert.deepEqual(await snapshotDirectory(root), files);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('a get fault during a restore fails the restore and never yields wrong data', async () => {
    const inner = new MemoryStore();
    const store = new FaultyStore(inner);
    const { vault } = await createVault({ store });
    try {
      const data = makeDisk(8, 600 * BS, BS, [100]);
      const point = await backup(vault, 'vm', [{ name: 'sda', data }]);
      for (const error of ['io', 'not-found'] as const) {
        const rule = store.addRule({ op: 'getRange', keyPrefix: Paths.packs, after: 3, times: 1, error });
        const reader = await VaultReader.open(vault);
        const seen: number[] = [];
        try {
          await assert.rejects(async () => {
            for await (const block of reader.readDisk(reader.disk(point, 'sda'), { batchBlocks: 16 })) {
              const expected = data.subarray(block.index * BS, (block.index + 1) * BS);
              assert.ok(Buffer.compare(block.data, expected) === 0, `block ${block.index} is right`);
              seen.push(block.index);
            }
          }, (thrown: unknown) => {
            assert.ok(thrown instanceof Error);
            assert.ok(!(thrown instanceof assert.AssertionError), `wrong data: ${thrown.message}`);
            assert.match((thrown as { code?: string }).code ?? '', /^VAULT_OBJECT_(CORRUPT|MISSING)$/);
            assert.match(thrown.message, /packs\//);
            return true;
          });
        } finally {
          await reader.close();
          store.clearRules();
        }
        assert.equal(rule.fired, 1);
        assert.ok(seen.length < 599, `${error}: the restore stopped (${seen.length} blocks read)`);
      }
      // Bytes that change in transit are caught too: a store that flips one bit of every range read.
      const flipping = new FlippingStore(inner);
      const view = await Vault.open(flipping, [PASSPHRASE]);
      try {
        await assert.rejects(async () => {
          const reader = await VaultReader.open(view);
          try {
            for await (const block of reader.readDisk(reader.disk(point, 'sda'))) {
              assert.ok(Buffer.compare(block.data, data.subarray(block.index * BS, (block.index + 1) * BS)) === 0);
            }
          } finally {
            await reader.close();
          }
        }, code('VAULT_OBJECT_CORRUPT'));
      } finally {
        await view.close();
      }
      await assertRestores(vault, point, 'sda', data);
    } finally {
      await vault.close();
    }
  });

  it('a failing list or index read stops a backup before anything is stored', async () => {
    const inner = new MemoryStore();
    const store = new FaultyStore(inner);
    const { vault } = await createVault({ store });
    try {
      await backup(vault, 'vm', [{ name: 'sda', data: makeDisk(9, 10 * BS, BS) }]);
      const before = await snapshot(inner);
      store.addRule({ op: 'get', keyPrefix: Paths.index, times: 1, error: 'io' });
      await assert.rejects(VaultWriter.open(vault), code('STORAGE_IO', Paths.index));
      assert.deepEqual(await snapshot(inner), before, 'the lock was taken and released again');
    } finally {
      await vault.close();
    }
  });
});
