import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBovedaError } from '../../src/core/errors.js';
import type { BlobInfo } from '../../src/storage/blob-store.js';
import { LocalStore } from '../../src/storage/local/local-store.js';
import { runBlobStoreConformance } from '../../src/storage/testing/conformance.js';
import { SeededRandom } from '../../src/util/seeded-random.js';

runBlobStoreConformance('LocalStore', async () => {
  const root = await mkdtemp(join(tmpdir(), 'boveda-'));
  return { store: new LocalStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

// The fallback for file systems without hard links; its root does not exist yet either.
runBlobStoreConformance('LocalStore (rename fallback, root created on first put)', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'boveda-'));
  return {
    store: new LocalStore(join(parent, 'vault', 'nested'), { publish: 'rename' }),
    cleanup: () => rm(parent, { recursive: true, force: true }),
  };
});

async function collect(items: AsyncIterable<BlobInfo>): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of items) keys.push(item.key);
  return keys.sort();
}

describe('LocalStore on disk', () => {
  let root = '';
  let store: LocalStore;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'boveda-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const fresh = async (name: string): Promise<string> => {
    const dir = join(root, name);
    await mkdir(dir);
    store = new LocalStore(dir);
    return dir;
  };

  it('names its location by the absolute root path', async () => {
    const dir = await fresh('location');
    assert.equal(store.location, dir);
    assert.equal(new LocalStore('relative/vault').location, join(process.cwd(), 'relative/vault'));
  });

  it('publishes exactly the bytes put at <root>/<key>, leaving no temp file', async () => {
    const dir = await fresh('publish');
    const data = new SeededRandom(42).bytes(300_000);
    await store.put('packs/3f/3fa2', data);
    await store.put('config', new Uint8Array([7]));
    assert.ok((await readFile(join(dir, 'packs', '3f', '3fa2'))).equals(data));
    assert.deepEqual([...(await readFile(join(dir, 'config')))], [7]);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
  });

  it('hides a leftover temp file from list and get, and sweepPartials(0) removes it', async () => {
    const dir = await fresh('leftover');
    await store.put('packs/aa/1', new Uint8Array([1, 2, 3]));
    await writeFile(join(dir, 'tmp', 'deadbeef.tmp'), new Uint8Array(100));
    assert.deepEqual(await collect(store.list('')), ['packs/aa/1']);
    assert.deepEqual(await collect(store.list('tmp')), []);
    assert.deepEqual(await collect(store.list('tmp/')), []);
    for (const key of ['tmp/deadbeef.tmp', 'tmp']) {
      await assert.rejects(store.get(key), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT') && error.message.includes('reserved'));
      await assert.rejects(store.put(key, new Uint8Array(1)), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'));
    }
    assert.equal(await store.sweepPartials(0), 1);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    assert.deepEqual(await collect(store.list('')), ['packs/aa/1']);
    assert.equal(await store.sweepPartials(0), 0);
  });

  it('sweepPartials keeps temp files younger than the age and files that are not temp files', async () => {
    const dir = await fresh('sweep-age');
    await mkdir(join(dir, 'tmp'));
    await writeFile(join(dir, 'tmp', 'young.tmp'), 'x');
    await writeFile(join(dir, 'tmp', 'old.tmp'), 'x');
    await writeFile(join(dir, 'tmp', 'notes.txt'), 'x');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(dir, 'tmp', 'old.tmp'), twoHoursAgo, twoHoursAgo);
    await utimes(join(dir, 'tmp', 'notes.txt'), twoHoursAgo, twoHoursAgo);
    assert.equal(await store.sweepPartials(3600_000), 1);
    assert.deepEqual((await readdir(join(dir, 'tmp'))).sort(), ['notes.txt', 'young.tmp']);
  });

  it('sweepPartials of a store that never wrote returns 0', async () => {
    await fresh('sweep-empty');
    assert.equal(await store.sweepPartials(0), 0);
    assert.equal(await new LocalStore(join(root, 'does-not-exist')).sweepPartials(0), 0);
  });

  it('lists only files whose paths are keys (no stray names, symlinks or empty directories)', async () => {
    const dir = await fresh('strays');
    await store.put('packs/aa/1', new Uint8Array(1));
    await writeFile(join(dir, 'packs', 'aa', 'not a key'), 'x');
    await mkdir(join(dir, 'packs', 'empty'));
    await symlink(join(dir, 'packs', 'aa', '1'), join(dir, 'packs', 'aa', 'link'));
    assert.deepEqual(await collect(store.list('')), ['packs/aa/1']);
    assert.equal(await store.stat('packs/empty'), undefined);
  });

  it('lists a missing root as empty', async () => {
    assert.deepEqual(await collect(new LocalStore(join(root, 'missing-root')).list('')), []);
  });

  it('fails a put through a file with STORAGE_IO, leaving nothing behind', async () => {
    const dir = await fresh('through-file');
    await store.put('packs', new Uint8Array([1]));
    await assert.rejects(
      store.put('packs/aa/1', new Uint8Array([2])),
      (error: unknown) => isBovedaError(error, 'STORAGE_IO') && error.message.includes('packs/aa/1') && error.message.includes(dir),
    );
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
    assert.deepEqual(await collect(store.list('')), ['packs']);
  });

  it('reports a directory in the way of a put as STORAGE_EXISTS and keeps the objects below it', async () => {
    const dir = await fresh('directory-in-the-way');
    await store.put('packs/aa/1', new Uint8Array([1]));
    await assert.rejects(store.put('packs/aa', new Uint8Array([2])), (error: unknown) => isBovedaError(error, 'STORAGE_EXISTS'));
    assert.deepEqual(await collect(store.list('')), ['packs/aa/1']);
    assert.deepEqual(await readdir(join(dir, 'tmp')), []);
  });

  it('recovers when directories it created are removed behind its back', async () => {
    const dir = await fresh('removed-dirs');
    await store.put('packs/aa/1', new Uint8Array([1]));
    await rm(join(dir, 'packs'), { recursive: true });
    await rm(join(dir, 'tmp'), { recursive: true });
    await store.put('packs/aa/2', new Uint8Array([2]));
    assert.deepEqual(await collect(store.list('')), ['packs/aa/2']);
  });

  it('delete removes the file from disk', async () => {
    const dir = await fresh('delete');
    await store.put('index/1', new Uint8Array([1]));
    await store.delete('index/1');
    await assert.rejects(stat(join(dir, 'index', '1')), { code: 'ENOENT' });
  });

  it('refuses an empty root path', () => {
    assert.throws(() => new LocalStore(''), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'));
  });
});
