import { createHash, type Hash } from 'node:crypto';
import { encodePackHeader, packKey, type BlobEntry, type BlobKindId, type IndexedPack } from '../format/index.js';
import type { Vault } from './vault.js';
import { packTail } from './vault-objects.js';

interface OpenPack {
  bytes: Uint8Array;
  size: number;
  hash: Hash;
  entries: BlobEntry[];
}

/**
 * Collects sealed blobs into packs of about the vault's pack size and stores each one once, whole
 * (an atomic create-only put), at most `maxInFlight` at a time: add() waits for a free upload slot,
 * which is the backpressure that keeps memory bounded whatever the disk size. Blobs are copied into
 * reused pack buffers and hashed as they arrive (a pack's name is its SHA-256). onStored runs when
 * a pack is durable; a failed upload fails every later add() and flush().
 */
export class PackWriter {
  readonly #vault: Vault;
  readonly #onStored: (pack: IndexedPack) => void;
  readonly #maxInFlight: number;
  readonly #spare: Uint8Array[] = [];
  #open: OpenPack | undefined;
  /** The open pack is full and waits for an upload slot: adds wait too, rather than grow it. */
  #rotating: Promise<void> | undefined;
  readonly #uploads = new Set<Promise<void>>();
  #failure: unknown;

  // Two uploads in flight overlap one fsync with filling the next pack; every extra one is a pack
  // buffer (packSize bytes) of peak memory.
  constructor(vault: Vault, onStored: (pack: IndexedPack) => void, maxInFlight = 2) {
    this.#vault = vault;
    this.#onStored = onStored;
    this.#maxInFlight = maxInFlight;
  }

  async add(kind: BlobKindId, address: Uint8Array, sealed: Uint8Array, rawLength: number): Promise<void> {
    this.#throwIfFailed();
    while (this.#rotating) {
      await this.#rotating;
      this.#throwIfFailed();
    }
    const pack = (this.#open ??= this.#newPack());
    this.#append(pack, sealed);
    pack.entries.push({ kind, address: address.slice(), offset: pack.size - sealed.length, length: sealed.length, rawLength });
    if (pack.size >= this.#vault.config.packSize) await this.#close(pack);
  }

  /** Stores the pack being filled (if any) and waits until every pack is durable. */
  async flush(): Promise<void> {
    while (this.#rotating) await this.#rotating;
    if (this.#open && this.#open.entries.length > 0) await this.#close(this.#open);
    while (this.#uploads.size > 0) await Promise.race(this.#uploads);
    this.#throwIfFailed();
  }

  #newPack(): OpenPack {
    const bytes = this.#spare.pop() ?? new Uint8Array(this.#vault.config.packSize + this.#vault.config.blockSize + 64 * 1024);
    const header = encodePackHeader();
    bytes.set(header, 0);
    return { bytes, size: header.length, hash: createHash('sha256').update(header), entries: [] };
  }

  #append(pack: OpenPack, data: Uint8Array): void {
    if (pack.size + data.length > pack.bytes.length) {
      const grown = new Uint8Array(Math.max(pack.bytes.length * 2, pack.size + data.length));
      grown.set(pack.bytes.subarray(0, pack.size));
      pack.bytes = grown;
    }
    pack.bytes.set(data, pack.size);
    pack.size += data.length;
    pack.hash.update(data);
  }

  /**
   * Closes `pack` once an upload slot is free. Until then every other add() waits (several putBlocks
   * run at once): appending to a full pack would only grow its buffer, which is peak memory.
   */
  async #close(pack: OpenPack): Promise<void> {
    const rotating = this.#rotate(pack);
    const tracked = rotating.finally(() => {
      if (this.#rotating === tracked) this.#rotating = undefined;
    });
    tracked.catch(() => undefined); // the caller below observes it; waiters re-check #failure
    this.#rotating = tracked;
    await tracked;
  }

  /** Closes `pack` and starts its upload once a slot is free (a no-op when it is no longer the open pack). */
  async #rotate(pack: OpenPack): Promise<void> {
    while (this.#uploads.size >= this.#maxInFlight) await Promise.race(this.#uploads);
    this.#throwIfFailed();
    if (this.#open !== pack) return;
    this.#open = undefined;
    const upload = this.#upload(pack).catch((error: unknown) => {
      this.#failure ??= error;
    });
    const tracked = upload.finally(() => this.#uploads.delete(tracked));
    this.#uploads.add(tracked);
  }

  async #upload(pack: OpenPack): Promise<void> {
    this.#append(pack, packTail(this.#vault.keys, pack.entries));
    const packId = pack.hash.digest('hex');
    await this.#vault.store.put(packKey(packId), pack.bytes.subarray(0, pack.size));
    // The store has the bytes (durably, or copied): the buffer can take the next pack.
    // At most one spare: with the open pack and the uploads, packSize × (maxInFlight + 1) at peak.
    if (this.#spare.length < 1) this.#spare.push(pack.bytes);
    this.#onStored({ packId, size: pack.size, entries: pack.entries });
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}
