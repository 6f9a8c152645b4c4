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

export type CryptoRequest =
  | { id: number; op: 'hash'; kind: BlobKindName; staged: StagedBlocks }
  | { id: number; op: 'seal'; addresses: ArrayBuffer; staged: StagedBlocks; which: Uint32Array }
  | { id: number; op: 'open'; kind: BlobKindName; addresses: ArrayBuffer; staged: StagedBlocks };

export type CryptoResponse =
  | { id: number; op: 'hash'; addresses: ArrayBuffer }
  | { id: number; op: 'seal'; data: ArrayBuffer; lengths: Uint32Array; codecs: Uint8Array }
  | { id: number; op: 'open'; data: ArrayBuffer; lengths: Uint32Array; failed: Uint8Array }
  | { id: number; op: 'error'; message: string };
