import type { VaultKeys } from '../crypto/index.js';

/**
 * Messages between the main thread and crypto workers. A batch is many blocks in one
 * ArrayBuffer (transferred, not copied) with their lengths, so that per-message overhead is
 * paid once per batch, not per block.
 */
export type BlobKindName = 'block' | 'page';

export interface WorkerSetup {
  keys: VaultKeys;
  compressionLevel: number;
}

/** Blocks copied once into shared memory: hashing and sealing then read them without further copies. */
export interface StagedBlocks {
  data: SharedArrayBuffer;
  offsets: Uint32Array;
  lengths: Uint32Array;
}

/** What 'store' did with each block of a batch. */
export const StoreState = {
  /** All zeros: zero address, nothing sealed. */
  zero: 0,
  /** Same address as the parent point's block at that index: not sealed. */
  same: 1,
  /** Sealed into the output buffer. */
  sealed: 2,
} as const;

export type CryptoRequest =
  | { id: number; op: 'hash'; kind: BlobKindName; staged: StagedBlocks }
  | { id: number; op: 'seal'; addresses: ArrayBuffer; staged: StagedBlocks; which: Uint32Array }
  /**
   * Data blocks in one message: zero check, address, comparison with the parent point's addresses
   * (count × 32 bytes, zeros where there is none), and sealing of every block that differs, written
   * end to end into `out` (room for every block + SEAL_BLOCK_OVERHEAD each).
   */
  | { id: number; op: 'store'; staged: StagedBlocks; parent: ArrayBuffer | null; out: SharedArrayBuffer }
  /**
   * Plaintexts laid end to end in `out` when given and large enough, else in one new buffer of
   * `capacity` bytes. With `verify`, each plaintext
   * is hashed again and compared with its address (vault verify); restores rely on the AEAD alone.
   */
  | { id: number; op: 'open'; kind: BlobKindName; addresses: ArrayBuffer; staged: StagedBlocks; capacity: number; verify: boolean; out: SharedArrayBuffer | null };

export type CryptoResponse =
  | { id: number; op: 'hash'; addresses: ArrayBuffer }
  | { id: number; op: 'seal'; data: ArrayBuffer; lengths: Uint32Array; codecs: Uint8Array }
  | { id: number; op: 'store'; addresses: ArrayBuffer; state: Uint8Array; offsets: Uint32Array; lengths: Uint32Array }
  /** `data` null: the plaintexts are in the request's `out`, from its start. */
  | { id: number; op: 'open'; data: ArrayBuffer | null; lengths: Uint32Array; failed: Uint8Array }
  | { id: number; op: 'error'; message: string };
