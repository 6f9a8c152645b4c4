import { ADDRESS_BYTES, type ManifestDisk } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import { isZero } from './block-map.js';
import type { VaultWriter } from './vault-writer.js';

export interface DiskReadSource {
  name: string;
  sizeBytes: number;
  /** Reads `length` bytes at `offset` (the last block may be shorter than the block size). */
  read?(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Fills `target` from `offset`; preferred: data lands in shared memory the workers read without a copy. */
  readInto?(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void>;
}

export interface WriteDiskOptions {
  /** The same disk in the parent point: unchanged blocks are referenced, and counted as unchanged. */
  parent?: ManifestDisk;
  /** Blocks per batch handed to the workers. */
  batchBlocks?: number;
  /** Batches in flight at once (reading, hashing, sealing overlap). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: { bytesDone: number; bytesTotal: number }) => void;
  meta?: Record<string, unknown>;
}

/**
 * Reads a whole disk and stores it as one disk of the next point: every block is read and hashed,
 * blocks the vault already holds are referenced, the rest stored. Batches are read and processed
 * concurrently but entered into the map in order; memory is bounded by batchBlocks × concurrency.
 */
export async function writeDisk(writer: VaultWriter, source: DiskReadSource, options: WriteDiskOptions = {}): Promise<ManifestDisk> {
  const blockSize = writer.vault.config.blockSize;
  const blockCount = Math.ceil(source.sizeBytes / blockSize);
  const batchBlocks = options.batchBlocks ?? Math.max(1, Math.floor((1024 * 1024) / blockSize));
  // Deep enough that reading, hashing, sealing and pack writes (with their fsyncs) all overlap.
  const concurrency = options.concurrency ?? Math.max(16, writer.vault.pool.threads * 4);
  const builder = writer.mapBuilder(blockCount, options.parent?.map);
  const parentReader = options.parent ? writer.mapReader(options.parent.map) : undefined;
  const stats = { changedBlocks: 0, zeroBlocks: 0, newBlocks: 0, newBytes: 0, newStoredBytes: 0, bytesRead: 0 };

  const batchCount = Math.ceil(blockCount / batchBlocks);
  const processBatch = async (batch: number) => {
    throwIfAborted(options.signal, `backing up disk "${source.name}"`);
    const first = batch * batchBlocks;
    const last = Math.min(blockCount, first + batchBlocks);
    const offset = first * blockSize;
    const length = Math.min(source.sizeBytes, last * blockSize) - offset;
    let data: Uint8Array;
    if (source.readInto) {
      data = writer.vault.pool.acquireStaging(length);
      await source.readInto(offset, data, options.signal);
    } else if (source.read) {
      data = await source.read(offset, length, options.signal);
    } else {
      throw new TypeError(`disk source "${source.name}" has neither read nor readInto`);
    }
    const blocks: Uint8Array[] = [];
    for (let at = 0; at < data.length; at += blockSize) blocks.push(data.subarray(at, Math.min(at + blockSize, data.length)));
    return { first, result: await writer.putBlocks(blocks, options.signal), length };
  };

  // A sliding window of batches in flight; results are consumed strictly in order.
  const inFlight: Array<ReturnType<typeof processBatch>> = [];
  let next = 0;
  let parentLeaf = -1;
  let parentEntries: Uint8Array | undefined;
  let bytesDone = 0;
  while (next < batchCount || inFlight.length > 0) {
    while (next < batchCount && inFlight.length < concurrency) {
      const promise = processBatch(next++);
      promise.catch(() => undefined); // observed below, in order
      inFlight.push(promise);
    }
    const { first, result, length } = await inFlight.shift()!;
    const count = result.addresses.length / ADDRESS_BYTES;
    for (let k = 0; k < count; k++) {
      const index = first + k;
      const address = result.addresses.subarray(k * ADDRESS_BYTES, (k + 1) * ADDRESS_BYTES);
      let parentAddress: Uint8Array | undefined;
      if (parentReader && index < parentReader.root.blockCount) {
        const leaf = Math.floor(index / parentReader.root.fanout);
        if (leaf !== parentLeaf) {
          parentEntries = await parentReader.leafEntries(leaf);
          parentLeaf = leaf;
        }
        const slot = index % parentReader.root.fanout;
        parentAddress = parentEntries!.subarray(slot * ADDRESS_BYTES, (slot + 1) * ADDRESS_BYTES);
      }
      const zero = isZero(address);
      if (zero) stats.zeroBlocks++;
      const changed = parentAddress ? Buffer.compare(parentAddress, address) !== 0 : !zero;
      if (changed) stats.changedBlocks++;
      if (result.stored[k]) stats.newBlocks++;
      await builder.set(index, address);
    }
    stats.newBytes += result.newBytes;
    stats.newStoredBytes += result.newStoredBytes;
    stats.bytesRead += length;
    bytesDone += length;
    options.onProgress?.({ bytesDone, bytesTotal: source.sizeBytes });
  }
  const map = await builder.finish();
  return { name: source.name, sizeBytes: source.sizeBytes, blockSize, map, stats, meta: options.meta ?? {} };
}
