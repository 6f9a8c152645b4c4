import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBovedaError } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { runBlobStoreConformance } from '../../src/storage/testing/conformance.js';

runBlobStoreConformance('MemoryStore', async () => ({ store: new MemoryStore(), cleanup: async () => {} }));

describe('MemoryStore', () => {
  it('is located at "memory"', () => {
    assert.equal(new MemoryStore().location, 'memory');
  });

  it('corrupt() replaces the stored bytes without aliasing the mutator’s buffers', async () => {
    const store = new MemoryStore();
    await store.put('packs/aa/1', new Uint8Array([1, 2, 3]));
    let given: Uint8Array | undefined;
    store.corrupt('packs/aa/1', (bytes) => {
      given = bytes;
      bytes[0] = 9;
      return bytes.subarray(0, 2);
    });
    assert.deepEqual([...(await store.get('packs/aa/1'))], [9, 2]);
    assert.deepEqual(await store.stat('packs/aa/1'), { key: 'packs/aa/1', size: 2 });
    (given as Uint8Array)[1] = 7;
    assert.deepEqual([...(await store.get('packs/aa/1'))], [9, 2]);
  });

  it('corrupt() of a missing key fails with STORAGE_NOT_FOUND naming the key', () => {
    const store = new MemoryStore();
    assert.throws(
      () => store.corrupt('packs/none', (bytes) => bytes),
      (error: unknown) => isBovedaError(error, 'STORAGE_NOT_FOUND') && error.message.includes('packs/none'),
    );
  });

  it('list() iterates a snapshot: objects put during iteration do not appear twice', async () => {
    const store = new MemoryStore();
    await store.put('a/1', new Uint8Array(1));
    await store.put('a/2', new Uint8Array(1));
    const seen: string[] = [];
    for await (const { key } of store.list('a/')) {
      seen.push(key);
      await store.put(`a/${seen.length + 10}`, new Uint8Array(1));
    }
    assert.deepEqual(seen.sort(), ['a/1', 'a/2']);
  });
});
