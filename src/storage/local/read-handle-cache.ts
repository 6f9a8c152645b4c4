import * as fs from 'node:fs/promises';

interface Entry {
  opening: Promise<{ handle: fs.FileHandle; size: number; isFile: boolean }>;
  users: number;
  evicted: boolean;
}

/**
 * Open read handles of recently read objects. Vault objects are never modified in place, so a
 * handle and its size stay valid until the object is deleted (delete() evicts; a reader that
 * still holds an unlinked object's handle reads its old, still correct bytes). Saves an open,
 * fstat and close per range read: restores read thousands of ranges from the same packs.
 */
export class ReadHandleCache {
  readonly #entries = new Map<string, Entry>();
  readonly #capacity: number;

  constructor(capacity = 32) {
    this.#capacity = capacity;
  }

  /** Runs `read` with an open handle of `path`; errors of open/fstat reject without caching. */
  async use<T>(path: string, read: (file: { handle: fs.FileHandle; size: number; isFile: boolean }) => Promise<T>): Promise<T> {
    let entry = this.#entries.get(path);
    if (entry) {
      // Most recently used last.
      this.#entries.delete(path);
      this.#entries.set(path, entry);
    } else {
      const opening = (async () => {
        const handle = await fs.open(path, 'r');
        try {
          const stats = await handle.stat();
          return { handle, size: stats.size, isFile: stats.isFile() };
        } catch (error) {
          await handle.close();
          throw error;
        }
      })();
      entry = { opening, users: 0, evicted: false };
      this.#entries.set(path, entry);
      opening.catch(() => {
        if (this.#entries.get(path) === entry) this.#entries.delete(path);
      });
      this.#trim();
    }
    entry.users++;
    try {
      return await read(await entry.opening);
    } finally {
      entry.users--;
      if (entry.evicted && entry.users === 0) await closeQuietly(entry);
    }
  }

  evict(path: string): Promise<void> {
    const entry = this.#entries.get(path);
    if (!entry) return Promise.resolve();
    this.#entries.delete(path);
    entry.evicted = true;
    return entry.users === 0 ? closeQuietly(entry) : Promise.resolve();
  }

  async clear(): Promise<void> {
    await Promise.all([...this.#entries.keys()].map((path) => this.evict(path)));
  }

  #trim(): void {
    while (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next().value as string;
      void this.evict(oldest);
    }
  }
}

async function closeQuietly(entry: Entry): Promise<void> {
  try {
    await (await entry.opening).handle.close();
  } catch {
    // failed to open or already closed: nothing to release
  }
}
