import { SEAL_OVERHEAD, open, seal, sealInto } from './aead.js';
import { BlockCompressor } from './codec.js';
import { hmacSha256, objectKey, type VaultKeys } from './vault-keys.js';

const codecByte = new Uint8Array(1);

/** Most bytes sealInto adds to a block: the codec byte and the AEAD nonce and tag. */
export const SEAL_BLOCK_OVERHEAD = 1 + SEAL_OVERHEAD;

/**
 * What happens to one block or map page between plaintext and stored bytes, on one thread:
 * address = keyed hash; stored = AES-256-GCM(key derived from the address, codec ‖ data, aad = address).
 * Deriving the key from the address means a blob moved under another address cannot decrypt,
 * and keeps the number of messages per key tiny (a nonce collision would need two writes of one address).
 */
export class BlockCrypto {
  readonly #keys: VaultKeys;
  readonly #compressor: BlockCompressor;

  constructor(keys: VaultKeys, compressionLevel: number) {
    this.#keys = keys;
    this.#compressor = new BlockCompressor(compressionLevel);
  }

  blockAddress(data: Uint8Array): Uint8Array {
    return hmacSha256(this.#keys.blockId, data);
  }

  pageAddress(page: Uint8Array): Uint8Array {
    return hmacSha256(this.#keys.pageId, page);
  }

  /** Returns the sealed bytes and the codec that was chosen. */
  seal(address: Uint8Array, data: Uint8Array): { sealed: Uint8Array; codec: number } {
    const { codec, bytes } = this.#compressor.compress(data);
    codecByte[0] = codec;
    return { sealed: seal(objectKey(this.#keys, address), address, codecByte, bytes), codec };
  }

  /**
   * seal() written into `out` at `at`; returns the sealed length. `out` must have room for
   * data.length + SEAL_BLOCK_OVERHEAD bytes there (the codec byte and the AEAD framing).
   */
  sealInto(address: Uint8Array, data: Uint8Array, out: Uint8Array, at: number): { length: number; codec: number } {
    const { codec, bytes } = this.#compressor.compressScratch(data);
    codecByte[0] = codec;
    const length = sealInto(objectKey(this.#keys, address), address, out.subarray(at, at + 1 + bytes.length + SEAL_OVERHEAD), codecByte, bytes);
    return { length, codec };
  }

  /**
   * Decrypts and decompresses into the memory `reserve(size)` returns for the plaintext's size;
   * returns that size, or -1 when the stored bytes do not authenticate under this address or do not decode.
   *
   * Unlike open(), the plaintext is not hashed again to compare with the address. That check is
   * redundant for a blob that authenticates: the AES-GCM key is derived from the address and the
   * address is the additional data, so only a holder of the vault keys sealing under this very
   * address can have produced it, and every writer seals a block under the keyed hash of its own
   * plaintext. What the re-hash would still catch is a writer that sealed the wrong data under an
   * address (a Boveda bug, not damage or tampering): `vault verify --read-data` keeps checking that
   * through open(), restores do not pay for it on every block.
   */
  openInto(address: Uint8Array, sealed: Uint8Array, reserve: (size: number) => Uint8Array): number {
    const plain = open(objectKey(this.#keys, address), address, sealed);
    if (!plain || plain.length < 1) return -1;
    try {
      return this.#compressor.decompressInto(plain[0]!, plain.subarray(1), reserve);
    } catch {
      return -1;
    }
  }

  /** True when `data` has this address (the check open() makes after decrypting). */
  matches(kind: 'block' | 'page', address: Uint8Array, data: Uint8Array): boolean {
    const check = kind === 'block' ? this.blockAddress(data) : this.pageAddress(data);
    return Buffer.compare(check, address) === 0;
  }

  /**
   * Decrypts and decompresses; returns undefined when the stored bytes do not authenticate
   * under this address or do not decode to data with this address.
   */
  open(address: Uint8Array, sealed: Uint8Array, kind: 'block' | 'page'): Uint8Array | undefined {
    const plain = open(objectKey(this.#keys, address), address, sealed);
    if (!plain || plain.length < 1) return undefined;
    let data: Uint8Array;
    try {
      data = this.#compressor.decompress(plain[0]!, plain.subarray(1));
    } catch {
      return undefined;
    }
    const check = kind === 'block' ? this.blockAddress(data) : this.pageAddress(data);
    return Buffer.compare(check, address) === 0 ? data : undefined;
  }
}
