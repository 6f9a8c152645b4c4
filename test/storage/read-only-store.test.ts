import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBovedaError } from '../../src/core/errors.js';
import type { BlobInfo } from '../../src/storage/blob-store.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { ReadOnlyStore } from '../../src/storage/wrappers/read-only-store.js';

async function collect(items: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const found: BlobInfo[] = [];
  for await (const item of items) found.push(item);
  return found;
}

async function setup(): Promise<{ inner: MemoryStore; store: ReadOnlyStore }> {
  const inner = new MemoryStore();
  await inner.put('config', new Uint8Array([1, 2, 3, 4]));
  await inner.put('packs/aa/1', new Uint8Array([5, 6]));
  return { inner, store: new ReadOnlyStore(inner) };
}

describe('ReadOnlyStore', () => {
  it('passes reads through to the inner store', async () => {
    const { store } = await setup();
    assert.equal(store.location, 'memory');
    assert.deepEqual([...(await store.get('config'))], [1, 2, 3, 4]);
    assert.deepEqual([...(await store.getRange('config', 1, 2))], [2, 3]);
    assert.deepEqual(await store.stat('packs/aa/1'), { key: 'packs/aa/1', size: 2 });
    assert.equal(await store.stat('missing'), undefined);
    assert.deepEqual(await collect(store.list('packs/')), [{ key: 'packs/aa/1', size: 2 }]);
    await assert.rejects(store.get('missing'), (error: unknown) => isBovedaError(error, 'STORAGE_NOT_FOUND'));
  });

  it('refuses put with STORAGE_READ_ONLY naming the key and the store, and writes nothing', async () => {
    const { inner, store } = await setup();
    await assert.rejects(
      store.put('packs/bb/2', new Uint8Array([1])),
      (error: unknown) =>
        isBovedaError(error, 'STORAGE_READ_ONLY') && error.message.includes('packs/bb/2') && error.message.includes('memory'),
    );
    assert.equal(await inner.stat('packs/bb/2'), undefined);
  });

  it('refuses delete with STORAGE_READ_ONLY naming the key, even for missing keys, and deletes nothing', async () => {
    const { inner, store } = await setup();
    for (const key of ['config', 'missing']) {
      await assert.rejects(
        store.delete(key),
        (error: unknown) => isBovedaError(error, 'STORAGE_READ_ONLY') && error.message.includes(`"${key}"`),
      );
    }
    assert.deepEqual(await inner.stat('config'), { key: 'config', size: 4 });
  });

  it('refuses sweepPartials with STORAGE_READ_ONLY', async () => {
    const { store } = await setup();
    await assert.rejects(store.sweepPartials(0), (error: unknown) => isBovedaError(error, 'STORAGE_READ_ONLY'));
  });

  it('still reports malformed keys as INVALID_ARGUMENT', async () => {
    const { store } = await setup();
    await assert.rejects(store.put('../x', new Uint8Array(1)), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'));
    await assert.rejects(store.delete('a//b'), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'));
  });
});
