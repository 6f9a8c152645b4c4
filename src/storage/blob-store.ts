/**
 * BlobStore: the only way Boveda touches the medium a vault lives on.
 *
 * Keys are relative, slash-separated paths of segments made of [A-Za-z0-9._-]
 * (no empty, "." or ".." segment), e.g. "packs/3f/3fa2…", "config".
 *
 * Guarantees every implementation gives (checked by storage/testing/conformance.ts):
 * - put is atomic and create-only: readers and list() see either no object or the whole object,
 *   never a prefix; an existing key is never overwritten (STORAGE_EXISTS). When put resolves, the
 *   object is durable (survives power loss on a local disk: data and directory entry are synced).
 *   A failed or aborted put leaves no visible object.
 * - Read-after-write: once put resolves, get/stat/list see the object; once delete resolves, they do not.
 * - delete is idempotent: deleting a missing key succeeds.
 * - Stores may keep read handles open between range reads (LocalStore does): an object deleted and
 *   re-created under the same key with other bytes by another process may still be read from its
 *   old copy. Vault keys never change content (packs and index files are named by their hash).
 * - list(prefix) yields every object whose key starts with prefix, each once, in no promised order.
 * Error kinds (BovedaError codes): STORAGE_NOT_FOUND, STORAGE_EXISTS, STORAGE_NO_SPACE,
 * STORAGE_READ_ONLY, STORAGE_IO, ABORTED. Messages name the store and the key.
 */
export interface BlobStore {
  /** Human-readable location, used in messages ("/srv/vault", "memory"). */
  readonly location: string;

  put(key: string, data: Uint8Array, options?: OperationOptions): Promise<void>;
  get(key: string, options?: OperationOptions): Promise<Uint8Array>;
  /** Reads exactly `length` bytes at `offset`; STORAGE_IO if the object is shorter. */
  getRange(key: string, offset: number, length: number, options?: OperationOptions): Promise<Uint8Array>;
  /** Size of the object, or undefined when it does not exist. */
  stat(key: string, options?: OperationOptions): Promise<BlobInfo | undefined>;
  list(prefix: string, options?: OperationOptions): AsyncIterable<BlobInfo>;
  delete(key: string, options?: OperationOptions): Promise<void>;
  /**
   * Removes leftovers of interrupted puts (temporary files) older than `olderThanMs`
   * and returns how many it removed. Stores without such leftovers return 0.
   */
  sweepPartials(olderThanMs: number, options?: OperationOptions): Promise<number>;
  /**
   * Releases what the store keeps open (e.g. cached read handles); idempotent. The store stays
   * usable (it reopens on demand): close is about not leaking file descriptors, not a state.
   */
  close?(): Promise<void>;
}

export interface BlobInfo {
  key: string;
  size: number;
}

export interface OperationOptions {
  signal?: AbortSignal;
}

const segmentPattern = /^[A-Za-z0-9._-]+$/;

/** True when `key` is a well-formed blob key (see BlobStore). */
export function isValidKey(key: string): boolean {
  if (key.length === 0 || key.length > 512) return false;
  return key.split('/').every((segment) => segmentPattern.test(segment) && segment !== '.' && segment !== '..');
}
