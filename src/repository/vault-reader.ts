import { BovedaError } from '../core/index.js';
import { ADDRESS_BYTES, type ManifestDisk, type PointManifest } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import { BlockMapReader, isZero } from './block-map.js';
import { BlockReader } from './block-reader.js';
import type { Vault } from './vault.js';
import { VaultIndex } from './vault-index.js';
import { VaultLock } from './vault-lock.js';

export interface DiskBlock {
  index: number;
  data: Uint8Array;
}

/** Consecutive non-zero blocks of a disk (in index order) and how to give their memory back. */
export interface DiskBatch {
  blocks: DiskBlock[];
  release(): void;
}

/**
 * A read session: a shared lock (gc cannot remove packs while it reads) and the loaded index.
 * readDisk yields the non-zero blocks of a disk in index order; all-zero blocks are skipped, so a
 * restore target stays sparse.
 */
export class VaultReader {
  readonly vault: Vault;
  readonly index: VaultIndex;
  readonly reader: BlockReader;
  readonly #lock: VaultLock;

  private constructor(vault: Vault, lock: VaultLock, index: VaultIndex) {
    this.vault = vault;
    this.#lock = lock;
    this.index = index;
    this.reader = new BlockReader(vault, index.blocks);
  }

  static async open(vault: Vault, options: { purpose?: string; waitMs?: number; signal?: AbortSignal; scope?: string } = {}): Promise<VaultReader> {
    const lock = await VaultLock.acquire(vault.store, { exclusive: false, readOnly: options.scope === undefined, purpose: options.purpose ?? 'a restore', waitMs: options.waitMs, signal: options.signal, scope: options.scope }, vault.clock);
    try {
      return new VaultReader(vault, lock, await VaultIndex.load(vault, { signal: options.signal }));
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  mapReader(disk: ManifestDisk): BlockMapReader {
    return new BlockMapReader(disk.map, (address, level, count) => this.reader.readPage(address, level, count));
  }

  disk(point: PointManifest, name: string): ManifestDisk {
    const disk = point.disks.find((candidate) => candidate.name === name);
    if (!disk) {
      throw new BovedaError('DISK_NOT_FOUND', `recovery point ${point.pointId} has no disk "${name}" (it has: ${point.disks.map((d) => d.name).join(', ') || 'none'})`);
    }
    return disk;
  }

  async *readDisk(disk: ManifestDisk, options: { signal?: AbortSignal; batchBlocks?: number; readAhead?: number } = {}): AsyncIterableIterator<DiskBlock> {
    for await (const batch of this.#batches(disk, options, false)) yield* batch.blocks;
  }

  /**
   * readDisk by batches whose block data sit in shared memory reused from batch to batch: call
   * release() once nothing uses the batch's data any more (a batch never released only costs an
   * allocation later). For restores, which hand the data to writes and drop it.
   */
  readDiskBatches(disk: ManifestDisk, options: { signal?: AbortSignal; batchBlocks?: number; readAhead?: number } = {}): AsyncIterableIterator<DiskBatch> {
    return this.#batches(disk, options, true);
  }

  async *#batches(disk: ManifestDisk, options: { signal?: AbortSignal; batchBlocks?: number; readAhead?: number }, pooled: boolean): AsyncIterableIterator<DiskBatch> {
    const map = this.mapReader(disk);
    // 4 MiB batches: per batch there is a worker message, a few pack reads and (for a restore) a
    // write, so larger batches mean fewer wake-ups of the worker and I/O threads.
    const batchBlocks = options.batchBlocks ?? Math.max(1, Math.floor((4 * 1024 * 1024) / disk.blockSize));
    // Several batches are fetched and decrypted ahead, so every worker has work while the caller
    // writes; the window bounds memory (readAhead × batch size).
    const readAhead = options.readAhead ?? Math.max(4, this.vault.pool.threads * 2);
    const pool = this.vault.pool;
    let pending: Array<{ index: number; address: Uint8Array }> = [];
    const ahead: Array<Promise<DiskBatch>> = [];
    const fetch = async (batch: Array<{ index: number; address: Uint8Array }>): Promise<DiskBatch> => {
      let staging: SharedArrayBuffer | undefined;
      const into = pooled ? (byteLength: number) => (staging = pool.acquireStaging(byteLength).buffer as SharedArrayBuffer) : undefined;
      const data = await this.reader.readBlocks(batch.map((item) => item.address), options.signal, into);
      let released = false;
      const release = () => {
        if (released || !staging) return;
        released = true;
        pool.releaseBuffer(staging);
      };
      // Blocks that did not land in the staging buffer (it was too small) hold no reference to it.
      return { blocks: data.map((bytes, i) => ({ index: batch[i]!.index, data: bytes })), release };
    };
    const launch = (batch: Array<{ index: number; address: Uint8Array }>) => {
      const next = fetch(batch);
      next.catch(() => undefined); // observed in order below
      ahead.push(next);
    };
    for await (const leaf of map.leaves()) {
      throwIfAborted(options.signal, 'reading a disk from the vault');
      const count = leaf.entries.length / ADDRESS_BYTES;
      for (let slot = 0; slot < count; slot++) {
        const address = leaf.entries.subarray(slot * ADDRESS_BYTES, (slot + 1) * ADDRESS_BYTES);
        if (isZero(address)) continue;
        // A view, not a copy: leaf entries are never modified (a copy per block is an ArrayBuffer
        // per block for the garbage collector).
        pending.push({ index: leaf.firstBlock + slot, address });
        if (pending.length >= batchBlocks) {
          launch(pending);
          pending = [];
          if (ahead.length > readAhead) yield await ahead.shift()!;
        }
      }
    }
    if (pending.length > 0) launch(pending);
    while (ahead.length > 0) yield await ahead.shift()!;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    await this.#lock.release();
  }
}
