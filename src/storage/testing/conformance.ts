import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBovedaError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/error-codes.js';
import { SeededRandom } from '../../util/seeded-random.js';
import type { BlobInfo, BlobStore } from '../blob-store.js';

export type MakeStore = () => Promise<{ store: BlobStore; cleanup: () => Promise<void> }>;

const invalidKeys = ['../x', 'a//b', '/abs', '', 'a/./b', 'a/../b', 'a/', 'x y', '..', '.'];

/**
 * Registers node:test cases that check every guarantee of the BlobStore contract
 * (see blob-store.ts) against stores from `makeStore`, a fresh empty one per case.
 */
export function runBlobStoreConformance(name: string, makeStore: MakeStore): void {
  const withStore = async (test: (store: BlobStore) => Promise<void>): Promise<void> => {
    const { store, cleanup } = await makeStore();
    try {
      await test(store);
    } finally {
      await store.close?.();
      await cleanup();
    }
  };
  const random = (seed: number, length: number): Uint8Array => new SeededRandom(seed).bytes(length);

  describe(`BlobStore conformance: ${name}`, () => {
    it('has a location to name in messages', () =>
      withStore(async (store) => {
        assert.equal(typeof store.location, 'string');
        assert.ok(store.location.length > 0);
      }));

    for (const [label, size] of [
      ['an empty object', 0],
      ['a 1-byte object', 1],
      ['a 5 MiB object', 5 * 1024 * 1024],
    ] as const) {
      it(`round-trips ${label} through put, get, stat and list`, () =>
        withStore(async (store) => {
          const data = random(size + 1, size);
          await store.put('objects/round-trip', data);
          assertBytes(await store.get('objects/round-trip'), data);
          assert.deepEqual(await store.stat('objects/round-trip'), { key: 'objects/round-trip', size });
          assert.deepEqual(await collect(store.list('objects/')), [{ key: 'objects/round-trip', size }]);
        }));
    }

    it('accepts top-level and deeply nested keys', () =>
      withStore(async (store) => {
        const keys = ['config', 'a/b/c/d/e/f', 'x.y_z-0/A.B'];
        for (const [index, key] of keys.entries()) await store.put(key, random(index, 10 + index));
        for (const [index, key] of keys.entries()) assertBytes(await store.get(key), random(index, 10 + index));
      }));

    it('is create-only: a second put fails with STORAGE_EXISTS and keeps the original bytes', () =>
      withStore(async (store) => {
        const original = random(1, 1000);
        await store.put('config', original);
        const error = await rejectsWith(store.put('config', random(2, 500)), 'STORAGE_EXISTS');
        assertNames(error, store, 'config');
        await rejectsWith(store.put('config', original), 'STORAGE_EXISTS');
        assertBytes(await store.get('config'), original);
        assert.deepEqual(await store.stat('config'), { key: 'config', size: 1000 });
        assert.equal((await collect(store.list(''))).length, 1);
      }));

    it('reports a missing object as STORAGE_NOT_FOUND (get, getRange) or undefined (stat)', () =>
      withStore(async (store) => {
        assertNames(await rejectsWith(store.get('packs/missing'), 'STORAGE_NOT_FOUND'), store, 'packs/missing');
        assertNames(await rejectsWith(store.getRange('packs/missing', 0, 1), 'STORAGE_NOT_FOUND'), store, 'packs/missing');
        await rejectsWith(store.getRange('packs/missing', 0, 0), 'STORAGE_NOT_FOUND');
        assert.equal(await store.stat('packs/missing'), undefined);
        // A key that is only a "directory" of other keys is not an object either.
        await store.put('packs/aa/1', random(1, 3));
        await rejectsWith(store.get('packs/aa'), 'STORAGE_NOT_FOUND');
        await rejectsWith(store.getRange('packs/aa', 0, 0), 'STORAGE_NOT_FOUND');
        assert.equal(await store.stat('packs/aa'), undefined);
        await rejectsWith(store.get('packs/aa/1/deeper'), 'STORAGE_NOT_FOUND');
        assert.equal(await store.stat('packs/aa/1/deeper'), undefined);
      }));

    it('close (optional) releases what the store holds open, is idempotent, and leaves it usable', () =>
      withStore(async (store) => {
        const data = random(8, 10_000);
        await store.put('packs/closing', data);
        assert.deepEqual(await store.getRange('packs/closing', 10, 20), data.subarray(10, 30));
        await store.close?.();
        await store.close?.();
        assert.deepEqual(await store.getRange('packs/closing', 100, 5), data.subarray(100, 105));
        assert.deepEqual(await store.get('packs/closing'), data);
      }));

    it('getRange returns exactly the requested bytes', () =>
      withStore(async (store) => {
        const data = random(7, 100_000);
        await store.put('packs/range', data);
        for (const [offset, length] of [
          [0, 0],
          [0, 1],
          [0, 100_000],
          [1, 99_999],
          [12_345, 54_321],
          [99_999, 1],
          [100_000, 0],
        ] as const) {
          const bytes = await store.getRange('packs/range', offset, length);
          assertBytes(bytes, data.subarray(offset, offset + length), `range ${offset}+${length}`);
        }
      }));

    it('getRange past the end fails with STORAGE_IO', () =>
      withStore(async (store) => {
        await store.put('packs/short', random(3, 10));
        assertNames(await rejectsWith(store.getRange('packs/short', 5, 6), 'STORAGE_IO'), store, 'packs/short');
        await rejectsWith(store.getRange('packs/short', 0, 11), 'STORAGE_IO');
        await rejectsWith(store.getRange('packs/short', 11, 0), 'STORAGE_IO');
        await rejectsWith(store.getRange('packs/short', 1_000_000, 1), 'STORAGE_IO');
        await store.put('packs/empty', new Uint8Array(0));
        await rejectsWith(store.getRange('packs/empty', 0, 1), 'STORAGE_IO');
        assert.equal((await store.getRange('packs/empty', 0, 0)).length, 0);
      }));

    it('getRange rejects negative or fractional offsets and lengths with INVALID_ARGUMENT', () =>
      withStore(async (store) => {
        await store.put('packs/r', random(3, 10));
        for (const [offset, length] of [
          [-1, 1],
          [0, -1],
          [0.5, 1],
          [0, 1.5],
          [Number.NaN, 1],
          [0, Number.POSITIVE_INFINITY],
        ]) {
          await rejectsWith(store.getRange('packs/r', offset as number, length as number), 'INVALID_ARGUMENT');
        }
      }));

    it('lists by prefix: every matching object once, with its size', () =>
      withStore(async (store) => {
        const objects: Record<string, number> = {
          'packs/aa/1': 1,
          'packs/aa/2': 22,
          'packs/bb/3': 333,
          'packs-x/4': 4,
          'index/5': 5,
          config: 6,
          packs0: 7,
        };
        for (const [key, size] of Object.entries(objects)) await store.put(key, random(size, size));
        const expect = async (prefix: string, keys: string[]): Promise<void> => {
          const listed = await collect(store.list(prefix));
          assert.deepEqual(
            sortByKey(listed),
            keys.sort().map((key) => ({ key, size: objects[key] })),
            `list(${JSON.stringify(prefix)})`,
          );
        };
        await expect('', Object.keys(objects));
        await expect('packs/', ['packs/aa/1', 'packs/aa/2', 'packs/bb/3']);
        await expect('packs', ['packs/aa/1', 'packs/aa/2', 'packs/bb/3', 'packs-x/4', 'packs0']);
        await expect('packs-x/', ['packs-x/4']);
        await expect('packs/aa/', ['packs/aa/1', 'packs/aa/2']);
        await expect('packs/a', ['packs/aa/1', 'packs/aa/2']);
        await expect('packs/aa/1', ['packs/aa/1']);
        await expect('c', ['config']);
        await expect('config', ['config']);
        await expect('config/', []);
        await expect('nothing/', []);
        await expect('packs/zz', []);
        await expect('../', []);
      }));

    it('lists nothing in an empty store', () =>
      withStore(async (store) => {
        assert.deepEqual(await collect(store.list('')), []);
        assert.deepEqual(await collect(store.list('packs/')), []);
      }));

    it('delete removes the object, is idempotent, and lets the key be created again', () =>
      withStore(async (store) => {
        await store.put('index/1', random(1, 10));
        await store.put('index/2', random(2, 10));
        await store.delete('index/1');
        assertNames(await rejectsWith(store.get('index/1'), 'STORAGE_NOT_FOUND'), store, 'index/1');
        await rejectsWith(store.getRange('index/1', 0, 1), 'STORAGE_NOT_FOUND');
        assert.equal(await store.stat('index/1'), undefined);
        assert.deepEqual(await collect(store.list('index/')), [{ key: 'index/2', size: 10 }]);
        await store.delete('index/1');
        await store.delete('never/existed');
        await store.delete('index/2/below-a-file');
        await store.put('index/1', random(3, 4));
        assertBytes(await store.get('index/1'), random(3, 4));
      }));

    it('rejects malformed keys with INVALID_ARGUMENT and writes nothing', () =>
      withStore(async (store) => {
        for (const key of invalidKeys) {
          const label = JSON.stringify(key);
          await rejectsWith(store.put(key, random(1, 4)), 'INVALID_ARGUMENT', `put ${label}`);
          await rejectsWith(store.get(key), 'INVALID_ARGUMENT', `get ${label}`);
          await rejectsWith(store.getRange(key, 0, 1), 'INVALID_ARGUMENT', `getRange ${label}`);
          await rejectsWith(store.stat(key), 'INVALID_ARGUMENT', `stat ${label}`);
          await rejectsWith(store.delete(key), 'INVALID_ARGUMENT', `delete ${label}`);
        }
        assert.deepEqual(await collect(store.list('')), []);
      }));

    it('honours an aborted signal with ABORTED and writes nothing', () =>
      withStore(async (store) => {
        await store.put('kept', random(1, 8));
        const controller = new AbortController();
        controller.abort(new Error('user pressed Ctrl-C'));
        const { signal } = controller;
        await rejectsWith(store.put('packs/cancelled', random(2, 64 * 1024), { signal }), 'ABORTED', 'put');
        await rejectsWith(store.get('kept', { signal }), 'ABORTED', 'get');
        await rejectsWith(store.getRange('kept', 0, 1, { signal }), 'ABORTED', 'getRange');
        await rejectsWith(store.stat('kept', { signal }), 'ABORTED', 'stat');
        await rejectsWith(collect(store.list('', { signal })), 'ABORTED', 'list');
        await rejectsWith(store.delete('kept', { signal }), 'ABORTED', 'delete');
        await rejectsWith(store.sweepPartials(0, { signal }), 'ABORTED', 'sweepPartials');
        assert.equal(await store.stat('packs/cancelled'), undefined);
        assert.deepEqual(await collect(store.list('')), [{ key: 'kept', size: 8 }]);
      }));

    it('makes 50 concurrent puts of distinct keys all visible', () =>
      withStore(async (store) => {
        const keys = Array.from({ length: 50 }, (_, index) => `packs/${(index % 7).toString(16).padStart(2, '0')}/object-${index}`);
        await Promise.all(keys.map((key, index) => store.put(key, random(index, 100 + index))));
        const listed = await collect(store.list('packs/'));
        assert.deepEqual(
          sortByKey(listed),
          sortByKey(keys.map((key, index) => ({ key, size: 100 + index }))),
        );
        for (const [index, key] of keys.entries()) assertBytes(await store.get(key), random(index, 100 + index), key);
      }));

    it('lets exactly one of concurrent puts of the same key win; the others fail with STORAGE_EXISTS', () =>
      withStore(async (store) => {
        const contenders = Array.from({ length: 10 }, (_, index) => random(100 + index, 4096 + index));
        const results = await Promise.allSettled(contenders.map((data) => store.put('packs/contended', data)));
        const winners = results.flatMap((result, index) => (result.status === 'fulfilled' ? [index] : []));
        assert.equal(winners.length, 1, 'exactly one put succeeds');
        for (const result of results) {
          if (result.status === 'rejected') {
            assert.ok(isBovedaError(result.reason, 'STORAGE_EXISTS'), `expected STORAGE_EXISTS, got ${String(result.reason)}`);
          }
        }
        const winner = contenders[winners[0] as number] as Uint8Array;
        assertBytes(await store.get('packs/contended'), winner);
        assert.deepEqual(await collect(store.list('')), [{ key: 'packs/contended', size: winner.length }]);
      }));

    it('does not alias stored bytes to the caller’s buffers', () =>
      withStore(async (store) => {
        const data = random(5, 64);
        const copy = data.slice();
        await store.put('config', data);
        data.fill(0xee);
        assertBytes(await store.get('config'), copy, 'after mutating the buffer given to put');
        const read = await store.get('config');
        read.fill(0xdd);
        assertBytes(await store.get('config'), copy, 'after mutating a buffer get returned');
        const range = await store.getRange('config', 0, 16);
        range.fill(0xcc);
        assertBytes(await store.get('config'), copy, 'after mutating a buffer getRange returned');
      }));

    it('stores a view into a larger buffer as just the viewed bytes', () =>
      withStore(async (store) => {
        const backing = random(9, 1000);
        await store.put('config', backing.subarray(100, 200));
        assertBytes(await store.get('config'), backing.slice(100, 200));
      }));

    it('sweepPartials returns a count and never removes objects', () =>
      withStore(async (store) => {
        assert.equal(typeof (await store.sweepPartials(0)), 'number');
        await store.put('config', random(1, 10));
        const removed = await store.sweepPartials(0);
        assert.ok(Number.isInteger(removed) && removed >= 0);
        assertBytes(await store.get('config'), random(1, 10));
        assert.equal(typeof (await store.sweepPartials(24 * 3600 * 1000)), 'number');
        await rejectsWith(store.sweepPartials(-1), 'INVALID_ARGUMENT');
      }));
  });
}

async function collect(items: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const found: BlobInfo[] = [];
  for await (const item of items) found.push({ key: item.key, size: item.size });
  return found;
}

function sortByKey(items: BlobInfo[]): BlobInfo[] {
  return [...items].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.ok(actual instanceof Uint8Array, `${message ?? 'bytes'}: expected a Uint8Array`);
  assert.equal(actual.length, expected.length, `${message ?? 'bytes'}: length`);
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(
    Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
  );
  assert.ok(same, `${message ?? 'bytes'}: content differs`);
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, what = 'call'): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isBovedaError(error, code), `${what}: expected ${code}, got ${error instanceof Error ? `${error.name} ${(error as { code?: unknown }).code ?? ''}: ${error.message}` : String(error)}`);
    return error;
  }
  assert.fail(`${what}: expected ${code}, but it succeeded`);
}

function assertNames(error: Error, store: BlobStore, key: string): void {
  assert.ok(error.message.includes(key), `message ${JSON.stringify(error.message)} names the key ${key}`);
  assert.ok(error.message.includes(store.location), `message ${JSON.stringify(error.message)} names the store ${store.location}`);
}
