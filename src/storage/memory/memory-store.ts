import { BovedaError } from '../../core/errors.js';
import { throwIfAborted } from '../../util/abort.js';
import type { BlobInfo, BlobStore, OperationOptions } from '../blob-store.js';
import { assertValidAge, assertValidKey, assertValidRange, rangeBeyondEnd } from '../check-arguments.js';

/**
 * A BlobStore in process memory, for unit tests. It keeps its own copies (on put and on get),
 * so no caller can change stored bytes except through corrupt().
 */
export class MemoryStore implements BlobStore {
  readonly location = 'memory';
  readonly #objects = new Map<string, Uint8Array>();

  async put(key: string, data: Uint8Array, options: OperationOptions = {}): Promise<void> {
    assertValidKey(key, this.location);
    throwIfAborted(options.signal, `put of "${key}" in ${this.location}`);
    // Check and insert with no await between them: that is what makes put create-only.
    if (this.#objects.has(key)) throw this.#exists(key);
    this.#objects.set(key, data.slice());
  }

  async get(key: string, options: OperationOptions = {}): Promise<Uint8Array> {
    return this.#find(key, 'get', options).slice();
  }

  async getRange(key: string, offset: number, length: number, options: OperationOptions = {}): Promise<Uint8Array> {
    assertValidRange(offset, length, this.location, key);
    const bytes = this.#find(key, 'getRange', options);
    if (offset + length > bytes.length) throw rangeBeyondEnd(this.location, key, offset, length, bytes.length);
    return bytes.slice(offset, offset + length);
  }

  async stat(key: string, options: OperationOptions = {}): Promise<BlobInfo | undefined> {
    assertValidKey(key, this.location);
    throwIfAborted(options.signal, `stat of "${key}" in ${this.location}`);
    const bytes = this.#objects.get(key);
    return bytes === undefined ? undefined : { key, size: bytes.length };
  }

  async *list(prefix: string, options: OperationOptions = {}): AsyncIterable<BlobInfo> {
    if (typeof prefix !== 'string') {
      throw new BovedaError('INVALID_ARGUMENT', `list prefix for ${this.location} must be a string, got ${typeof prefix}`);
    }
    throwIfAborted(options.signal, `list of "${prefix}" in ${this.location}`);
    // A snapshot, so that puts and deletes during iteration cannot make a key appear twice.
    const matches: BlobInfo[] = [];
    for (const [key, bytes] of this.#objects) {
      if (key.startsWith(prefix)) matches.push({ key, size: bytes.length });
    }
    yield* matches;
  }

  async delete(key: string, options: OperationOptions = {}): Promise<void> {
    assertValidKey(key, this.location);
    throwIfAborted(options.signal, `delete of "${key}" in ${this.location}`);
    this.#objects.delete(key);
  }

  async sweepPartials(olderThanMs: number, options: OperationOptions = {}): Promise<number> {
    assertValidAge(olderThanMs, this.location);
    throwIfAborted(options.signal, `sweep of partial objects in ${this.location}`);
    // Puts here are instantaneous: there are never partial objects.
    return 0;
  }

  /** For tests of damage detection: replaces the stored bytes of `key` with `mutate(copy)`. */
  corrupt(key: string, mutate: (bytes: Uint8Array) => Uint8Array): void {
    assertValidKey(key, this.location);
    const bytes = this.#objects.get(key);
    if (bytes === undefined) throw this.#notFound(key);
    this.#objects.set(key, mutate(bytes.slice()).slice());
  }

  #find(key: string, op: string, options: OperationOptions): Uint8Array {
    assertValidKey(key, this.location);
    throwIfAborted(options.signal, `${op} of "${key}" in ${this.location}`);
    const bytes = this.#objects.get(key);
    if (bytes === undefined) throw this.#notFound(key);
    return bytes;
  }

  #notFound(key: string): BovedaError {
    return new BovedaError('STORAGE_NOT_FOUND', `object "${key}" not found in ${this.location}`, {
      details: { location: this.location, key },
    });
  }

  #exists(key: string): BovedaError {
    return new BovedaError('STORAGE_EXISTS', `object "${key}" already exists in ${this.location}`, {
      details: { location: this.location, key },
    });
  }
}
