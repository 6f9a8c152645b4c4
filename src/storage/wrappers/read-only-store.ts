import { BovedaError } from '../../core/errors.js';
import type { BlobInfo, BlobStore, OperationOptions } from '../blob-store.js';
import { assertValidAge, assertValidKey } from '../check-arguments.js';

/**
 * Passes reads through to another store and refuses every write with STORAGE_READ_ONLY, so that
 * commands which must not change a vault (verify, restore, list) cannot, whatever their bugs.
 */
export class ReadOnlyStore implements BlobStore {
  readonly #inner: BlobStore;

  constructor(inner: BlobStore) {
    this.#inner = inner;
  }

  get location(): string {
    return this.#inner.location;
  }

  async put(key: string, _data: Uint8Array, _options?: OperationOptions): Promise<void> {
    assertValidKey(key, this.location);
    throw this.#refuse(`write "${key}"`, key);
  }

  get(key: string, options?: OperationOptions): Promise<Uint8Array> {
    return this.#inner.get(key, options);
  }

  getRange(key: string, offset: number, length: number, options?: OperationOptions): Promise<Uint8Array> {
    return this.#inner.getRange(key, offset, length, options);
  }

  stat(key: string, options?: OperationOptions): Promise<BlobInfo | undefined> {
    return this.#inner.stat(key, options);
  }

  list(prefix: string, options?: OperationOptions): AsyncIterable<BlobInfo> {
    return this.#inner.list(prefix, options);
  }

  async delete(key: string, _options?: OperationOptions): Promise<void> {
    assertValidKey(key, this.location);
    throw this.#refuse(`delete "${key}"`, key);
  }

  async sweepPartials(olderThanMs: number, _options?: OperationOptions): Promise<number> {
    assertValidAge(olderThanMs, this.location);
    throw this.#refuse('sweep partial objects', undefined);
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  #refuse(action: string, key: string | undefined): BovedaError {
    return new BovedaError('STORAGE_READ_ONLY', `cannot ${action} in ${this.location}: the store is opened read-only`, {
      details: { location: this.location, key },
    });
  }
}
