import { Compressor, Decompressor } from 'zstd-napi';

/**
 * Compression codecs with frozen ids: the first plaintext byte of every sealed block says which one
 * was used. Ids are never reused for another meaning.
 */
export const Codec = { none: 0, zstd: 1 } as const;
export type CodecId = (typeof Codec)[keyof typeof Codec];

/**
 * Compresses with zstd and keeps the result only when it saves at least 1/32 of the size
 * (below that, decompression cost buys nothing). One instance per thread: contexts are reused.
 */
export class BlockCompressor {
  readonly #compressor = new Compressor();
  readonly #decompressor = new Decompressor();

  constructor(level: number) {
    this.#compressor.setParameters({ compressionLevel: level });
  }

  compress(data: Uint8Array): { codec: CodecId; bytes: Uint8Array } {
    const compressed = this.#compressor.compress(data);
    if (compressed.length <= data.length - (data.length >>> 5) - 1) {
      return { codec: Codec.zstd, bytes: compressed };
    }
    return { codec: Codec.none, bytes: data };
  }

  /** Undoes compress; throws when the codec is unknown or the data does not decode. */
  decompress(codec: number, bytes: Uint8Array): Uint8Array {
    if (codec === Codec.none) return bytes;
    if (codec === Codec.zstd) return this.#decompressor.decompress(bytes);
    throw new Error(`unknown codec id ${codec}`);
  }
}
