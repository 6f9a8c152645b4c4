import { BovedaError } from '../core/index.js';
import { ADDRESS_BYTES, BlobKind, decodeMapPage, packKey, FormatError } from '../format/index.js';
import type { BlockIndex, BlobLocation } from './block-index.js';
import { toHex } from './block-index.js';
import type { Vault } from './vault.js';

/** Reads are grouped per pack; ranges closer than this are fetched in one request. */
const COALESCE_GAP = 64 * 1024;
const PAGE_CACHE_ENTRIES = 256;

/**
 * Reads blocks and map pages back: finds them in the index, fetches the sealed bytes (adjacent
 * blobs of one pack in one range read), decrypts and checks them. Wrong data is never returned:
 * a blob that does not authenticate under its address is VAULT_OBJECT_CORRUPT, one that is not in
 * the index or whose pack is gone is VAULT_OBJECT_MISSING, each naming the block and the pack.
 */
export class BlockReader {
  readonly #vault: Vault;
  readonly #index: BlockIndex;
  readonly #pageCache = new Map<string, Uint8Array>();

  constructor(vault: Vault, index: BlockIndex) {
    this.#vault = vault;
    this.#index = index;
  }

  locate(address: Uint8Array, what: string): BlobLocation {
    const location = this.#index.get(address);
    if (!location) {
      throw new BovedaError('VAULT_OBJECT_MISSING', `${what} ${toHex(address)} is not in the vault index (lost index file or pack?)`, { details: { address: toHex(address) } });
    }
    return location;
  }

  /**
   * Plaintext of data blocks, in the order asked (views of one buffer per call). Each blob must
   * authenticate under its address; its plaintext is not hashed again (BlockCrypto.openInto says
   * why that is redundant; vault verify still does it). With `into`, the plaintexts go into the
   * shared memory it returns for their total size (when large enough) instead of a new buffer.
   */
  async readBlocks(addresses: readonly Uint8Array[], signal?: AbortSignal, into?: (byteLength: number) => SharedArrayBuffer): Promise<Uint8Array[]> {
    const locations = addresses.map((address) => this.locate(address, 'block'));
    const sealed = await this.#fetch(locations, signal);
    const joined = new Uint8Array(addresses.length * ADDRESS_BYTES);
    addresses.forEach((address, i) => joined.set(address, i * ADDRESS_BYTES));
    let total = 0;
    const rawLengths = locations.map((location) => {
      total += location.rawLength;
      return location.rawLength;
    });
    const { data, failed } = await this.#vault.pool.open('block', joined, sealed, { rawLengths, verify: false, into: into?.(total) });
    failed.forEach((bad, i) => {
      if (bad) throw corruptBlob('block', addresses[i]!, locations[i]!);
    });
    return data;
  }

  /** The addresses listed by a map page (count × 32 bytes), checked against the expected level. */
  async readPage(address: Uint8Array, level: number, expectedCount: number): Promise<Uint8Array> {
    const hex = toHex(address);
    let page = this.#pageCache.get(hex);
    if (!page) {
      const location = this.locate(address, 'map page');
      if (location.kind !== BlobKind.page) throw corruptBlob('map page', address, location, 'it is indexed as a data block');
      const [sealed] = await this.#fetch([location]);
      const plain = this.#vault.pageCrypto.open(address, sealed!, 'page');
      if (!plain) throw corruptBlob('map page', address, location);
      page = plain;
      if (this.#pageCache.size >= PAGE_CACHE_ENTRIES) this.#pageCache.delete(this.#pageCache.keys().next().value!);
      this.#pageCache.set(hex, page);
    }
    try {
      const decoded = decodeMapPage(page, `map page ${hex}`);
      if (decoded.level !== level || decoded.count !== expectedCount) {
        throw new FormatError(`map page ${hex} is level ${decoded.level} with ${decoded.count} entries, expected level ${level} with ${expectedCount}`);
      }
      return decoded.addresses;
    } catch (error) {
      throw new BovedaError('VAULT_OBJECT_CORRUPT', (error as Error).message, { cause: error, details: { address: hex } });
    }
  }

  async #fetch(locations: readonly BlobLocation[], signal?: AbortSignal): Promise<Uint8Array[]> {
    const out: Uint8Array[] = new Array(locations.length);
    const byPack = new Map<string, number[]>();
    locations.forEach((location, i) => {
      const list = byPack.get(location.packId) ?? [];
      list.push(i);
      byPack.set(location.packId, list);
    });
    await Promise.all([...byPack].map(async ([packId, indexes]) => {
      indexes.sort((a, b) => locations[a]!.offset - locations[b]!.offset);
      let start = 0;
      while (start < indexes.length) {
        let end = start + 1;
        let rangeEnd = locations[indexes[start]!]!.offset + locations[indexes[start]!]!.length;
        while (end < indexes.length && locations[indexes[end]!]!.offset <= rangeEnd + COALESCE_GAP) {
          rangeEnd = Math.max(rangeEnd, locations[indexes[end]!]!.offset + locations[indexes[end]!]!.length);
          end++;
        }
        const rangeStart = locations[indexes[start]!]!.offset;
        let bytes: Uint8Array;
        try {
          bytes = await this.#vault.store.getRange(packKey(packId), rangeStart, rangeEnd - rangeStart, { signal });
        } catch (error) {
          if (error instanceof BovedaError && (error.code === 'STORAGE_NOT_FOUND' || error.code === 'STORAGE_IO')) {
            throw new BovedaError(
              error.code === 'STORAGE_NOT_FOUND' ? 'VAULT_OBJECT_MISSING' : 'VAULT_OBJECT_CORRUPT',
              `pack ${packKey(packId)} cannot be read (${error.message})`, { cause: error, details: { pack: packId } },
            );
          }
          throw error;
        }
        for (let k = start; k < end; k++) {
          const location = locations[indexes[k]!]!;
          out[indexes[k]!] = bytes.subarray(location.offset - rangeStart, location.offset - rangeStart + location.length);
        }
        start = end;
      }
    }));
    return out;
  }
}

function corruptBlob(what: string, address: Uint8Array, location: BlobLocation, problem = 'it does not authenticate'): BovedaError {
  return new BovedaError(
    'VAULT_OBJECT_CORRUPT',
    `${what} ${toHex(address)} in pack ${packKey(location.packId)} at offset ${location.offset} is damaged: ${problem}`,
    { details: { address: toHex(address), pack: location.packId } },
  );
}
