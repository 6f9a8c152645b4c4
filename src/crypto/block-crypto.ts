import { open, seal } from './aead.js';
import { BlockCompressor } from './codec.js';
import { hmacSha256, objectKey, type VaultKeys } from './vault-keys.js';

const codecByte = new Uint8Array(1);

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
