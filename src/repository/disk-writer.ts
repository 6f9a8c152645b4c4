import { ADDRESS_BYTES, type ManifestDisk } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import { isZero } from './block-map.js';
import { StoreState } from './crypto-protocol.js';
import type { VaultWriter } from './vault-writer.js';

export interface DiskReadSource {
  name: string;
  sizeBytes: number;
  /** Reads `length` bytes at `offset` (the last block may be shorter than the block size). */
  read?(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** Fills `target` from `offset`; preferred: data lands in shared memory the workers read without a copy. */
  readInto?(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void>;
}

/** A byte range of a disk (from a dirty bitmap or an allocation map). */
export interface DiskRange {
  offset: number;
  length: number;
}

export interface WriteDiskOptions {
  /** The same disk in the parent point: unchanged blocks are referenced, and counted as unchanged. */
  parent?: ManifestDisk;
  /**
   * Read only these ranges (ascending, may touch or overlap; widened to whole blocks). What the rest
   * of the disk is comes from `outside`: 'parent' — unchanged since the parent point (a dirty bitmap
   * said so: its addresses are kept without reading); 'zero' — reads as zeros (holes of an
   * allocation map). Default: the whole disk is read.
   */
  ranges?: Iterable<DiskRange> | AsyncIterable<DiskRange>;
  /** Default 'parent' (only used with `ranges`). */
  outside?: 'parent' | 'zero';
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
  const outside = options.outside ?? 'parent';
  if (options.ranges && outside === 'parent') {
    if (!options.parent) throw new TypeError(`disk "${source.name}": ranges relative to a parent need the parent disk`);
    if (options.parent.sizeBytes !== source.sizeBytes) {
      throw new TypeError(`disk "${source.name}": ranges relative to the parent need the same size (${options.parent.sizeBytes} then, ${source.sizeBytes} now)`);
    }
  }
  const blockSize = writer.vault.config.blockSize;
  const blockCount = Math.ceil(source.sizeBytes / blockSize);
  const batchBlocks = options.batchBlocks ?? Math.max(1, Math.floor((1024 * 1024) / blockSize));
  // Deep enough that reading, hashing and sealing overlap and every worker has a batch queued
  // behind the one it works on; each batch in flight holds its data and its sealed output
  // (about 2 × batch size) in shared memory, so more only adds peak memory.
  const concurrency = options.concurrency ?? Math.max(12, writer.vault.pool.threads * 4);
  const builder = writer.mapBuilder(blockCount, options.parent?.map);
  const parentReader = options.parent ? writer.mapReader(options.parent.map) : undefined;
  const stats = { changedBlocks: 0, zeroBlocks: 0, newBlocks: 0, newBytes: 0, newStoredBytes: 0, bytesRead: 0 };

  const pool = writer.vault.pool;

  // The parent's addresses of the blocks of a batch (zeros past its end), for the workers to compare
  // with; the leaves of the batches in flight are kept, each read once.
  const parentLeaves = new Map<number, Promise<Uint8Array>>();
  const parentLeaf = (leaf: number): Promise<Uint8Array> => {
    let entries = parentLeaves.get(leaf);
    if (!entries) {
      entries = parentReader!.leafEntries(leaf);
      entries.catch(() => undefined); // observed by whoever asked
      parentLeaves.set(leaf, entries);
      if (parentLeaves.size > 4) parentLeaves.delete(parentLeaves.keys().next().value!);
    }
    return entries;
  };
  const parentAddresses = async (first: number, last: number): Promise<Uint8Array | undefined> => {
    if (!parentReader) return undefined;
    const out = new Uint8Array((last - first) * ADDRESS_BYTES);
    const fanout = parentReader.root.fanout;
    const end = Math.min(last, parentReader.root.blockCount);
    for (let index = first; index < end;) {
      const leaf = Math.floor(index / fanout);
      const entries = await parentLeaf(leaf);
      const slot = index % fanout;
      const n = Math.min(end - index, fanout - slot, entries.length / ADDRESS_BYTES - slot);
      if (n <= 0) break;
      out.set(entries.subarray(slot * ADDRESS_BYTES, (slot + n) * ADDRESS_BYTES), (index - first) * ADDRESS_BYTES);
      index += n;
    }
    return out;
  };

  const batches = options.ranges ? rangeBatches(options.ranges, blockSize, blockCount, batchBlocks) : wholeDiskBatches(blockCount, batchBlocks);
  const processBatch = async ({ first, last }: BlockRun) => {
    throwIfAborted(options.signal, `backing up disk "${source.name}"`);
    const offset = first * blockSize;
    const length = Math.min(source.sizeBytes, last * blockSize) - offset;
    const parent = parentAddresses(first, last);
    parent.catch(() => undefined); // observed below
    let data: Uint8Array;
    let staging: Uint8Array | undefined;
    try {
      if (source.readInto) {
        data = staging = pool.acquireStaging(length);
        await source.readInto(offset, data, options.signal);
      } else if (source.read) {
        data = await source.read(offset, length, options.signal);
      } else {
        throw new TypeError(`disk source "${source.name}" has neither read nor readInto`);
      }
      const parentSlice = await parent;
      return { first, parent: parentSlice, result: await writer.putBatch(data, blockSize, parentSlice, options.signal), length };
    } finally {
      if (staging) pool.releaseBuffer(staging.buffer as SharedArrayBuffer);
    }
  };

  // Blocks not read: kept from the parent ('parent') or zero ('zero'). Both count in the whole-disk
  // zero count (the protected size uses it); zeroing counts as a change where the parent had data.
  const skip = async (first: number, last: number) => {
    if (first >= last) return;
    if (outside === 'zero') {
      for (let at = first; at < last; at += ZERO_RUN_BLOCKS) {
        const end = Math.min(last, at + ZERO_RUN_BLOCKS);
        const parent = await parentAddresses(at, end);
        for (let k = 0; parent && k < end - at; k++) if (!isZero(parent.subarray(k * ADDRESS_BYTES, (k + 1) * ADDRESS_BYTES))) stats.changedBlocks++;
        await builder.setRun(at, new Uint8Array((end - at) * ADDRESS_BYTES));
      }
      stats.zeroBlocks += last - first;
    }
    // Else unchanged: the parent's zero blocks there stay zero (counted from the parent's total at the end).
  };
  let zeroInParentRead = 0;

  // A sliding window of batches in flight; results are consumed strictly in order.
  const inFlight: Array<ReturnType<typeof processBatch>> = [];
  const pending = batches[Symbol.asyncIterator]();
  let exhausted = false;
  let bytesDone = 0;
  let nextIndex = 0;
  while (!exhausted || inFlight.length > 0) {
    while (!exhausted && inFlight.length < concurrency) {
      const item = await pending.next();
      if (item.done) {
        exhausted = true;
        break;
      }
      const promise = processBatch(item.value);
      promise.catch(() => undefined); // observed below, in order
      inFlight.push(promise);
    }
    if (inFlight.length === 0) break;
    const { first, parent, result, length } = await inFlight.shift()!;
    if (options.ranges) await skip(nextIndex, first);
    nextIndex = first + result.state.length;
    if (options.ranges && outside === 'parent' && parent) {
      for (let k = 0; k < result.state.length; k++) if (isZero(parent.subarray(k * ADDRESS_BYTES, (k + 1) * ADDRESS_BYTES))) zeroInParentRead++;
    }
    const { state, stored } = result;
    const count = state.length;
    for (let k = 0; k < count; k++) {
      if (stored[k]) stats.newBlocks++;
      if (state[k] === StoreState.sealed) {
        stats.changedBlocks++; // differs from the parent's block (or there is none)
      } else if (state[k] === StoreState.zero) {
        stats.zeroBlocks++;
        // Changed when the parent had data there.
        if (parent && !isZero(parent.subarray(k * ADDRESS_BYTES, (k + 1) * ADDRESS_BYTES))) stats.changedBlocks++;
      }
    }
    await builder.setRun(first, result.addresses);
    stats.newBytes += result.newBytes;
    stats.newStoredBytes += result.newStoredBytes;
    stats.bytesRead += length;
    bytesDone += length;
    options.onProgress?.({ bytesDone, bytesTotal: source.sizeBytes });
  }
  if (options.ranges) {
    await skip(nextIndex, blockCount);
    // Blocks kept from the parent are zero exactly where they were zero in the parent.
    if (outside === 'parent') stats.zeroBlocks += options.parent!.stats.zeroBlocks - zeroInParentRead;
  }
  const map = await builder.finish();
  return { name: source.name, sizeBytes: source.sizeBytes, blockSize, map, stats, meta: options.meta ?? {} };
}

/** Consecutive blocks [first, last) handled as one batch. */
interface BlockRun {
  first: number;
  last: number;
}

/** Runs of at most this many blocks of zero addresses are written at once for a hole. */
const ZERO_RUN_BLOCKS = 4096;

async function* wholeDiskBatches(blockCount: number, batchBlocks: number): AsyncGenerator<BlockRun> {
  for (let first = 0; first < blockCount; first += batchBlocks) yield { first, last: Math.min(blockCount, first + batchBlocks) };
}

/**
 * Batches covering `ranges` widened to whole blocks, in ascending order, merged where they touch or
 * overlap, clipped to the disk; INVALID ranges (negative, unordered) are a caller's bug: TypeError.
 */
async function* rangeBatches(
  ranges: Iterable<DiskRange> | AsyncIterable<DiskRange>, blockSize: number, blockCount: number, batchBlocks: number,
): AsyncGenerator<BlockRun> {
  let runFirst = -1;
  let runLast = -1;
  let previousOffset = -1;
  const emit = function* (first: number, last: number): Generator<BlockRun> {
    for (let at = first; at < last; at += batchBlocks) yield { first: at, last: Math.min(last, at + batchBlocks) };
  };
  for await (const range of ranges) {
    if (!(range.offset >= 0 && range.length >= 0 && Number.isSafeInteger(range.offset) && Number.isSafeInteger(range.length))) {
      throw new TypeError(`invalid disk range ${JSON.stringify(range)}`);
    }
    if (range.offset < previousOffset) throw new TypeError(`disk ranges out of order: ${range.offset} after ${previousOffset}`);
    previousOffset = range.offset;
    if (range.length === 0) continue;
    const first = Math.floor(range.offset / blockSize);
    const last = Math.min(blockCount, Math.ceil((range.offset + range.length) / blockSize));
    if (first >= last) continue;
    if (runLast >= first) {
      runLast = Math.max(runLast, last);
      continue;
    }
    if (runFirst >= 0) yield* emit(runFirst, runLast);
    runFirst = first;
    runLast = last;
  }
  if (runFirst >= 0) yield* emit(runFirst, runLast);
}
