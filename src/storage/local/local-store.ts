import { randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BovedaError } from '../../core/errors.js';
import { throwIfAborted } from '../../util/abort.js';
import { isValidKey, type BlobInfo, type BlobStore, type OperationOptions } from '../blob-store.js';
import { assertValidAge, assertValidKey, assertValidRange, rangeBeyondEnd } from '../check-arguments.js';
import { fsyncDirectory } from './fsync-directory.js';
import { errnoOf, mapFsError } from './map-fs-error.js';
import { ReadHandleCache } from './read-handle-cache.js';

/** Directory under the root for puts in progress. Keys whose first segment is this name are refused. */
export const localTmpDirectory = 'tmp';

/** link(2) errors that mean "this file system has no hard links", not "this put failed". */
const linkUnsupported = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS']);

export interface LocalStoreOptions {
  /**
   * How a finished temp file becomes visible under its key. 'link' (the default) uses link(2),
   * which never replaces an existing file, and falls back to 'rename' where hard links are
   * unsupported. 'rename' checks that the name is free, then renames: create-only between puts
   * of this process, but two processes could race. Tests force it to exercise the fallback.
   */
  publish?: 'link' | 'rename';
}

/**
 * A BlobStore in a local directory: key "packs/3f/3fa2" is the file `<root>/packs/3f/3fa2`.
 * A put writes and fsyncs `<root>/tmp/<random>.tmp`, then links it to its final name (which
 * fails if the name exists) and fsyncs the directory, so an object is either absent or whole
 * and durable. sweepPartials removes temp files that crashed puts left behind.
 */
export class LocalStore implements BlobStore {
  readonly location: string;
  readonly #root: string;
  readonly #tmpDir: string;
  readonly #publishMode: 'link' | 'rename';
  /** Directories this process has made sure exist with a synced entry in their parent. */
  readonly #directories = new Map<string, Promise<void>>();
  /** Latest rename-fallback publish per path: they run one after another so the existence check holds. */
  readonly #renames = new Map<string, Promise<void>>();
  /** Objects are immutable, so range reads reuse open handles (evicted on delete). */
  readonly #reads = new ReadHandleCache();

  constructor(root: string, options: LocalStoreOptions = {}) {
    if (typeof root !== 'string' || root === '') {
      throw new BovedaError('INVALID_ARGUMENT', `a local store needs a directory path, got ${JSON.stringify(root)}`);
    }
    this.#root = resolve(root);
    this.location = this.#root;
    this.#tmpDir = join(this.#root, localTmpDirectory);
    this.#publishMode = options.publish ?? 'link';
  }

  /** Closes the cached read handles (a dropped store would otherwise leave them to the garbage collector). */
  async close(): Promise<void> {
    await this.#reads.clear();
  }

  async put(key: string, data: Uint8Array, options: OperationOptions = {}): Promise<void> {
    const path = this.#pathOf(key);
    throwIfAborted(options.signal, `put of "${key}" in ${this.location}`);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#putOnce(key, path, data, options.signal);
        return;
      } catch (error) {
        // A directory removed behind our back leaves the directory cache stale: forget it, try once more.
        if (attempt === 0 && errnoOf(error) === 'ENOENT') {
          this.#directories.clear();
          continue;
        }
        throw mapFsError(error, 'put', this.location, key);
      }
    }
  }

  async get(key: string, options: OperationOptions = {}): Promise<Uint8Array> {
    const path = this.#pathOf(key);
    throwIfAborted(options.signal, `get of "${key}" in ${this.location}`);
    try {
      const buffer = await fs.readFile(path, { signal: options.signal });
      // A plain Uint8Array view (no copy): callers compare and slice bytes, not Buffers.
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    } catch (error) {
      throw mapFsError(error, 'get', this.location, key);
    }
  }

  async getRange(key: string, offset: number, length: number, options: OperationOptions = {}): Promise<Uint8Array> {
    const path = this.#pathOf(key);
    assertValidRange(offset, length, this.location, key);
    throwIfAborted(options.signal, `getRange of "${key}" in ${this.location}`);
    try {
      return await this.#reads.use(path, async ({ handle, size, isFile }) => {
        // Opening a directory for reading succeeds on Linux; it is still not an object.
        if (!isFile) {
          throw new BovedaError('STORAGE_NOT_FOUND', `object "${key}" not found in ${this.location}`, {
            details: { location: this.location, key },
          });
        }
        // Checked before allocating, so a bogus length cannot allocate gigabytes.
        if (offset + length > size) throw rangeBeyondEnd(this.location, key, offset, length, size);
        // Not zero-filled (every byte is read into below, or the call fails): fresh zeroed memory
        // costs page faults on every range a restore reads.
        const bytes = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
        let filled = 0;
        while (filled < length) {
          throwIfAborted(options.signal, `getRange of "${key}" in ${this.location}`);
          const { bytesRead } = await handle.read(bytes, filled, length - filled, offset + filled);
          if (bytesRead === 0) throw rangeBeyondEnd(this.location, key, offset, length, offset + filled);
          filled += bytesRead;
        }
        return bytes;
      });
    } catch (error) {
      throw mapFsError(error, 'getRange', this.location, key);
    }
  }

  async stat(key: string, options: OperationOptions = {}): Promise<BlobInfo | undefined> {
    const path = this.#pathOf(key);
    throwIfAborted(options.signal, `stat of "${key}" in ${this.location}`);
    try {
      const stats = await fs.stat(path);
      return stats.isFile() ? { key, size: stats.size } : undefined;
    } catch (error) {
      const errno = errnoOf(error);
      if (errno === 'ENOENT' || errno === 'ENOTDIR') return undefined;
      throw mapFsError(error, 'stat', this.location, key);
    }
  }

  async *list(prefix: string, options: OperationOptions = {}): AsyncIterable<BlobInfo> {
    if (typeof prefix !== 'string') {
      throw new BovedaError('INVALID_ARGUMENT', `list prefix for ${this.location} must be a string, got ${typeof prefix}`);
    }
    const what = `list of "${prefix}" in ${this.location}`;
    throwIfAborted(options.signal, what);
    // Start at the deepest directory the prefix names. If that part is not a well-formed key, no
    // object can match, and walking it could leave the root ("../").
    const slash = prefix.lastIndexOf('/');
    const start = slash < 0 ? '' : prefix.slice(0, slash);
    if (start !== '' && (!isValidKey(start) || isReserved(start))) return;

    const pending = [start];
    for (let dirKey = pending.pop(); dirKey !== undefined; dirKey = pending.pop()) {
      throwIfAborted(options.signal, what);
      let entries: Dirent[];
      try {
        entries = await fs.readdir(dirKey === '' ? this.#root : this.#pathOfChecked(dirKey), { withFileTypes: true });
      } catch (error) {
        const errno = errnoOf(error);
        // A missing directory (or a file where one was expected) simply holds no objects.
        if (errno === 'ENOENT' || errno === 'ENOTDIR') continue;
        throw mapFsError(error, 'list', this.location, prefix);
      }
      for (const entry of entries) {
        const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
        // Skips tmp/ and stray files whose names are not keys.
        if (!isValidKey(key) || isReserved(key)) continue;
        if (entry.isDirectory()) {
          const asDirectory = `${key}/`;
          if (asDirectory.startsWith(prefix) || prefix.startsWith(asDirectory)) pending.push(key);
        } else if (entry.isFile() && key.startsWith(prefix)) {
          const size = await this.#sizeForList(key, prefix);
          if (size !== undefined) yield { key, size };
        }
      }
    }
  }

  async delete(key: string, options: OperationOptions = {}): Promise<void> {
    const path = this.#pathOf(key);
    throwIfAborted(options.signal, `delete of "${key}" in ${this.location}`);
    await this.#reads.evict(path);
    try {
      try {
        await fs.unlink(path);
      } catch (error) {
        const errno = errnoOf(error);
        // Deleting what is not there succeeds; a directory at that name is not an object either.
        if (errno !== 'ENOENT' && errno !== 'ENOTDIR' && errno !== 'EISDIR') throw error;
      }
      // Synced even when this call removed nothing: a concurrent delete of the key may not have synced yet.
      await fsyncDirectory(dirname(path)).catch((error: unknown) => {
        const errno = errnoOf(error);
        if (errno !== 'ENOENT' && errno !== 'ENOTDIR') throw error;
      });
    } catch (error) {
      throw mapFsError(error, 'delete', this.location, key);
    }
  }

  async sweepPartials(olderThanMs: number, options: OperationOptions = {}): Promise<number> {
    assertValidAge(olderThanMs, this.location);
    const what = `sweep of partial objects in ${this.location}`;
    throwIfAborted(options.signal, what);
    // Whole milliseconds on both sides: file times are finer than Date.now(), and
    // sweepPartials(0) must also take a file written during this very millisecond.
    const cutoff = Date.now() - olderThanMs;
    let names: string[];
    try {
      names = await fs.readdir(this.#tmpDir);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return 0;
      throw mapFsError(error, 'sweepPartials', this.location, `${localTmpDirectory}/`);
    }
    let removed = 0;
    for (const name of names) {
      if (!name.endsWith('.tmp')) continue;
      throwIfAborted(options.signal, what);
      const path = join(this.#tmpDir, name);
      try {
        const stats = await fs.lstat(path);
        if (!stats.isFile() || Math.floor(stats.mtimeMs) > cutoff) continue;
        await fs.unlink(path);
        removed++;
      } catch (error) {
        // Gone meanwhile: its put published it, or another sweep took it.
        if (errnoOf(error) === 'ENOENT') continue;
        throw mapFsError(error, 'sweepPartials', this.location, `${localTmpDirectory}/${name}`);
      }
    }
    return removed;
  }

  async #putOnce(key: string, path: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    const tmp = join(this.#tmpDir, `${randomBytes(16).toString('hex')}.tmp`);
    const parent = dirname(path);
    let published = false;
    try {
      await this.#ensureDirectory(this.#tmpDir);
      await writeDurably(tmp, data, signal);
      // Last chance to cancel: after publishing, the put has happened.
      throwIfAborted(signal, `put of "${key}" in ${this.location}`);
      await this.#ensureDirectory(parent);
      await this.#publish(tmp, path, key);
      published = true;
      await fsyncDirectory(parent);
    } catch (error) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      // A failed put must leave nothing visible, even if only the directory sync failed.
      if (published) await fs.unlink(path).catch(() => undefined);
      throw error;
    }
  }

  async #publish(tmp: string, path: string, key: string): Promise<void> {
    if (this.#publishMode === 'link') {
      try {
        await fs.link(tmp, path);
        // The object now has its own name; the temp name is only a second link. A leftover is swept later.
        await fs.unlink(tmp).catch(() => undefined);
        return;
      } catch (error) {
        if (!linkUnsupported.has(errnoOf(error) ?? '')) throw error;
      }
    }
    await this.#renameIfAbsent(tmp, path, key);
  }

  async #renameIfAbsent(tmp: string, path: string, key: string): Promise<void> {
    const previous = this.#renames.get(path);
    let finish = (): void => undefined;
    const mine = new Promise<void>((resolve) => (finish = resolve));
    this.#renames.set(path, mine);
    try {
      await previous;
      if (await pathExists(path)) {
        throw new BovedaError('STORAGE_EXISTS', `object "${key}" already exists in ${this.location}`, {
          details: { location: this.location, key },
        });
      }
      await fs.rename(tmp, path);
    } finally {
      finish();
      if (this.#renames.get(path) === mine) this.#renames.delete(path);
    }
  }

  /** Creates `dir` (and its parents inside the root) once per process, syncing each new entry. */
  #ensureDirectory(dir: string): Promise<void> {
    let pending = this.#directories.get(dir);
    if (pending === undefined) {
      const created = this.#createDirectory(dir);
      this.#directories.set(dir, created);
      // Forget a failure so that a later put tries again.
      created.catch(() => {
        if (this.#directories.get(dir) === created) this.#directories.delete(dir);
      });
      pending = created;
    }
    return pending;
  }

  async #createDirectory(dir: string): Promise<void> {
    const parent = dirname(dir);
    if (dir === this.#root) await fs.mkdir(parent, { recursive: true });
    else await this.#ensureDirectory(parent);
    try {
      await fs.mkdir(dir);
    } catch (error) {
      if (errnoOf(error) === 'EEXIST') return;
      throw error;
    }
    // A new directory's name is durable only once its parent is synced.
    await fsyncDirectory(parent);
  }

  async #sizeForList(key: string, prefix: string): Promise<number | undefined> {
    try {
      return (await fs.stat(this.#pathOfChecked(key))).size;
    } catch (error) {
      // Deleted between readdir and stat: it is no longer there to list.
      if (errnoOf(error) === 'ENOENT') return undefined;
      throw mapFsError(error, 'list', this.location, prefix);
    }
  }

  #pathOf(key: string): string {
    assertValidKey(key, this.location);
    if (isReserved(key)) {
      throw new BovedaError(
        'INVALID_ARGUMENT',
        `blob key "${key}" is reserved in ${this.location}: "${localTmpDirectory}/" holds puts in progress`,
        { details: { location: this.location, key } },
      );
    }
    return this.#pathOfChecked(key);
  }

  #pathOfChecked(key: string): string {
    return join(this.#root, ...key.split('/'));
  }
}

function isReserved(key: string): boolean {
  return key === localTmpDirectory || key.startsWith(`${localTmpDirectory}/`);
}

async function writeDurably(path: string, data: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
  // 'wx': never write through a name someone else holds.
  const handle = await fs.open(path, 'wx');
  try {
    await handle.writeFile(data, { signal });
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT' || errno === 'ENOTDIR') return false;
    throw error;
  }
}
