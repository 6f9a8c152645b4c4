import { PACK_HEADER_BYTES, packKey, type BlobEntry, type BlobKindId, type IndexedPack } from '../format/index.js';
import type { Vault } from './vault.js';
import { assemblePack, sha256Hex } from './vault-objects.js';

/**
 * Collects sealed blobs into packs of about the vault's pack size and stores each one once, whole
 * (an atomic create-only put), at most `maxInFlight` at a time: add() waits for a free upload slot,
 * which is the backpressure that keeps memory bounded whatever the disk size. onStored runs when a
 * pack is durable; a failed upload fails every later add() and flush().
 */
export class PackWriter {
  readonly #vault: Vault;
  readonly #onStored: (pack: IndexedPack) => void;
  readonly #maxInFlight: number;
  #blobs: Uint8Array[] = [];
  #entries: BlobEntry[] = [];
  #size = PACK_HEADER_BYTES;
  readonly #uploads = new Set<Promise<void>>();
  #failure: unknown;

  constructor(vault: Vault, onStored: (pack: IndexedPack) => void, maxInFlight = 2) {
    this.#vault = vault;
    this.#onStored = onStored;
    this.#maxInFlight = maxInFlight;
  }

  /** Bytes of blobs waiting in the pack being filled. */
  get bufferedBytes(): number {
    return this.#size - PACK_HEADER_BYTES;
  }

  async add(kind: BlobKindId, address: Uint8Array, sealed: Uint8Array, rawLength: number): Promise<void> {
    this.#throwIfFailed();
    this.#entries.push({ kind, address: address.slice(), offset: this.#size, length: sealed.length, rawLength });
    this.#blobs.push(sealed);
    this.#size += sealed.length;
    if (this.#size >= this.#vault.config.packSize) await this.#rotate();
  }

  /** Stores the pack being filled (if any) and waits until every pack is durable. */
  async flush(): Promise<void> {
    if (this.#entries.length > 0) await this.#rotate();
    while (this.#uploads.size > 0) await Promise.race(this.#uploads);
    this.#throwIfFailed();
  }

  async #rotate(): Promise<void> {
    while (this.#uploads.size >= this.#maxInFlight) await Promise.race(this.#uploads);
    this.#throwIfFailed();
    const blobs = this.#blobs;
    const entries = this.#entries;
    this.#blobs = [];
    this.#entries = [];
    this.#size = PACK_HEADER_BYTES;
    const upload = this.#upload(blobs, entries).catch((error: unknown) => {
      this.#failure ??= error;
    });
    const tracked = upload.finally(() => this.#uploads.delete(tracked));
    this.#uploads.add(tracked);
  }

  async #upload(blobs: Uint8Array[], entries: BlobEntry[]): Promise<void> {
    const bytes = assemblePack(this.#vault.keys, blobs, entries);
    const packId = sha256Hex(bytes);
    await this.#vault.store.put(packKey(packId), bytes);
    this.#onStored({ packId, size: bytes.length, entries });
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}
