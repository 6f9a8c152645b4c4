import { Compressor, Decompressor } from 'zstd-napi';
import binding from 'zstd-napi/binding.js';

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
  /** The same context as #compressor (its parameters), used to compress into a reused buffer. */
  readonly #cctx: binding.CCtx;
  readonly #dctx = new binding.DCtx();
  #scratch = new Uint8Array(0);

  constructor(level: number) {
    this.#compressor.setParameters({ compressionLevel: level });
    this.#cctx = (this.#compressor as unknown as { cctx: binding.CCtx }).cctx;
  }

  compress(data: Uint8Array): { codec: CodecId; bytes: Uint8Array } {
    const compressed = this.#compressor.compress(data);
    if (compressed.length <= data.length - (data.length >>> 5) - 1) {
      return { codec: Codec.zstd, bytes: compressed };
    }
    return { codec: Codec.none, bytes: data };
  }

  /**
   * compress() without allocating: the same bytes (same context, same parameters), written into a
   * scratch buffer that the next call overwrites, so use the result before compressing again.
   */
  compressScratch(data: Uint8Array): { codec: CodecId; bytes: Uint8Array } {
    const bound = binding.compressBound(data.length);
    if (this.#scratch.length < bound) this.#scratch = new Uint8Array(bound);
    const length = this.#cctx.compress2(this.#scratch, data);
    if (length <= data.length - (data.length >>> 5) - 1) {
      return { codec: Codec.zstd, bytes: this.#scratch.subarray(0, length) };
    }
    return { codec: Codec.none, bytes: data };
  }

  /** Undoes compress; throws when the codec is unknown or the data does not decode. */
  decompress(codec: number, bytes: Uint8Array): Uint8Array {
    if (codec === Codec.none) return bytes;
    if (codec === Codec.zstd) return this.#decompressor.decompress(bytes);
    throw new Error(`unknown codec id ${codec}`);
  }

  /**
   * decompress() into memory the caller provides: `reserve(size)` is asked for exactly the
   * plaintext's size and returns where to write it. A single frame that declares its size (what
   * compress writes) decodes in place; anything else goes through decompress() and is copied.
   * Returns the size written.
   */
  decompressInto(codec: number, bytes: Uint8Array, reserve: (size: number) => Uint8Array): number {
    if (codec === Codec.zstd) {
      let size: number | null;
      try {
        size = binding.getFrameContentSize(bytes);
        if (size !== null && binding.findFrameCompressedSize(bytes) !== bytes.length) size = null;
      } catch {
        size = null;
      }
      if (size !== null) {
        const written = this.#dctx.decompress(reserve(size), bytes);
        if (written !== size) throw new Error(`zstd frame declared ${size} bytes but held ${written}`);
        return written;
      }
    }
    const data = this.decompress(codec, bytes);
    reserve(data.length).set(data);
    return data.length;
  }
}
