import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BovedaError } from '../core/index.js';
import { ADDRESS_BYTES } from '../format/index.js';
import type { BlobKindName, CryptoRequest, CryptoResponse, StagedBlocks, WorkerSetup } from './crypto-protocol.js';

/**
 * Spare buffers kept for reuse. A buffer is only ever spare after having been in use, so this does
 * not raise peak memory; it must exceed what is in use at once (writeDisk: 12 batches per disk,
 * each with an input and an output buffer; several disks run at once), or buffers given back are
 * dropped and new ones allocated, which holds memory until garbage collection.
 */
const MAX_SPARE_STAGING = 64;

const STAGING_GRANULE = 256 * 1024;

function roundUp(value: number, granule: number): number {
  return Math.max(granule, Math.ceil(value / granule) * granule);
}

/** Larger than any block (4 MiB at most) or map page. */
const MAX_RAW_LENGTH_HINT = 8 * 1024 * 1024;

type Pending = { resolve: (response: CryptoResponse) => void; reject: (error: Error) => void };

interface PoolWorker {
  worker: Worker;
  busy: number;
}

/**
 * Worker threads that hash, compress, encrypt and decrypt batches of blocks, one per core by default.
 * Requests go to the least-busy worker; buffers are transferred, so the caller must not reuse the
 * arrays it passed in. close() is idempotent and rejects what is still pending.
 */
export class CryptoPool {
  readonly #workers: PoolWorker[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  readonly #spareStaging: SharedArrayBuffer[] = [];

  constructor(setup: WorkerSetup, threads = availableParallelism()) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(new URL('./crypto-worker.js', import.meta.url), { workerData: setup });
      const entry: PoolWorker = { worker, busy: 0 };
      worker.on('message', (response: CryptoResponse) => {
        entry.busy--;
        // Only a worker with work in flight keeps the process alive.
        if (entry.busy === 0) worker.unref();
        const pending = this.#pending.get(response.id);
        if (!pending) return;
        this.#pending.delete(response.id);
        if (response.op === 'error') pending.reject(new BovedaError('INTERNAL', `crypto worker failed: ${response.message}`));
        else pending.resolve(response);
      });
      worker.on('error', (error) => this.#failAll(error));
      // A worker that dies without an error event (killed, crashed natively) must not leave its
      // requests waiting forever.
      worker.on('exit', (code) => {
        if (!this.#closed) this.#failAll(new BovedaError('INTERNAL', `a crypto worker exited unexpectedly (code ${code})`));
      });
      worker.unref();
      this.#workers.push(entry);
    }
  }

  get threads(): number {
    return this.#workers.length;
  }

  /**
   * Copies blocks once into shared memory, for hash() and seal() to read without more copies.
   * Buffers are reused (fresh shared memory costs page faults on every batch): give each back
   * with release() once no request on it is pending.
   */
  stage(blocks: readonly Uint8Array[]): StagedBlocks {
    const adopted = adoptContiguous(blocks);
    if (adopted) return adopted;
    let total = 0;
    for (const block of blocks) total += block.length;
    const view = this.acquireStaging(total);
    const offsets = new Uint32Array(blocks.length);
    const lengths = new Uint32Array(blocks.length);
    let at = 0;
    blocks.forEach((block, i) => {
      view.set(block, at);
      offsets[i] = at;
      lengths[i] = block.length;
      at += block.length;
    });
    return { data: view.buffer as SharedArrayBuffer, offsets, lengths };
  }

  /**
   * Shared memory to read disk data straight into: blocks that are consecutive views of one such
   * buffer are staged without a copy. Hand it back through release() of the staged batch.
   */
  acquireStaging(byteLength: number): Uint8Array {
    const spareIndex = this.#spareStaging.findIndex((buffer) => buffer.byteLength >= byteLength);
    // Sizes get some slack and are rounded up, so that a batch's input and its sealed output (a
    // little larger) reuse each other's buffers instead of each allocating its own.
    const data = spareIndex >= 0 ? this.#spareStaging.splice(spareIndex, 1)[0]! : new SharedArrayBuffer(roundUp(byteLength + (byteLength >>> 5), STAGING_GRANULE));
    return new Uint8Array(data, 0, byteLength);
  }

  release(staged: StagedBlocks): void {
    this.releaseBuffer(staged.data);
  }

  /** Gives back shared memory from acquireStaging (or a staged batch) once nothing uses it. */
  releaseBuffer(buffer: SharedArrayBuffer): void {
    if (this.#spareStaging.length < MAX_SPARE_STAGING) this.#spareStaging.push(buffer);
  }

  /**
   * Data blocks in one round trip: addresses (zero for all-zero blocks), the blocks whose address
   * equals `parent`'s at the same position (count × 32 bytes) left alone, every other non-zero block
   * sealed into `out` (shared memory with room for each block + SEAL_BLOCK_OVERHEAD).
   */
  async store(staged: StagedBlocks, parent: Uint8Array | undefined, out: SharedArrayBuffer): Promise<{ addresses: Uint8Array; state: Uint8Array; offsets: Uint32Array; lengths: Uint32Array }> {
    const parentCopy = parent ? parent.slice(0, staged.lengths.length * ADDRESS_BYTES).buffer : null;
    const response = await this.#send({ id: 0, op: 'store', staged, parent: parentCopy, out }, parentCopy ? [parentCopy] : []);
    if (response.op !== 'store') throw new BovedaError('INTERNAL', 'crypto worker answered the wrong request');
    return { addresses: new Uint8Array(response.addresses), state: response.state, offsets: response.offsets, lengths: response.lengths };
  }

  /** Addresses of the staged blocks (zero address for all-zero data blocks), 32 bytes each. */
  async hash(kind: BlobKindName, staged: StagedBlocks): Promise<Uint8Array> {
    const response = await this.#send({ id: 0, op: 'hash', kind, staged }, []);
    if (response.op !== 'hash') throw new BovedaError('INTERNAL', 'crypto worker answered the wrong request');
    return new Uint8Array(response.addresses);
  }

  /** Sealed blobs (and the codec chosen for each) of the staged blocks `which`, under their addresses (one per entry of which). */
  async seal(addresses: Uint8Array, staged: StagedBlocks, which: Uint32Array): Promise<{ sealed: Uint8Array[]; codecs: Uint8Array }> {
    const addressCopy = addresses.slice(0, which.length * ADDRESS_BYTES).buffer;
    const response = await this.#send({ id: 0, op: 'seal', addresses: addressCopy, staged, which }, [addressCopy]);
    if (response.op !== 'seal') throw new BovedaError('INTERNAL', 'crypto worker answered the wrong request');
    return { sealed: unpack(response.data, response.lengths), codecs: response.codecs };
  }

  /**
   * Plaintexts of sealed blobs, laid end to end in one buffer; `failed[i]` is 1 where blob i did not
   * authenticate under its address (or, with `verify`, the default, did not hash to it). `rawLengths`
   * (from the index) size the output in one allocation. Callers that read blocks to use them, not
   * to check them, pass verify false: see BlockCrypto.openInto for why the AEAD suffices. With
   * `into` (shared memory of at least the raw lengths' sum) the plaintexts are written there
   * instead of into a new buffer.
   */
  async open(kind: BlobKindName, addresses: Uint8Array, blobs: readonly Uint8Array[], options: { rawLengths?: ArrayLike<number>; verify?: boolean; into?: SharedArrayBuffer } = {}): Promise<{ data: Uint8Array[]; failed: Uint8Array }> {
    const staged = this.stage(blobs);
    try {
      const addressCopy = addresses.slice(0, blobs.length * ADDRESS_BYTES).buffer;
      let capacity = 0;
      // Capped: a wrong size only costs the worker a larger buffer (it grows the output when short).
      if (options.rawLengths) for (let i = 0; i < blobs.length; i++) capacity += Math.min(options.rawLengths[i]!, MAX_RAW_LENGTH_HINT);
      else for (const blob of blobs) capacity += blob.length * 4;
      const response = await this.#send({ id: 0, op: 'open', kind, addresses: addressCopy, staged, capacity, verify: options.verify ?? true, out: options.into ?? null }, [addressCopy]);
      if (response.op !== 'open') throw new BovedaError('INTERNAL', 'crypto worker answered the wrong request');
      return { data: unpack(response.data ?? options.into!, response.lengths), failed: response.failed };
    } finally {
      this.release(staged);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#failAll(new BovedaError('ABORTED', 'crypto pool was closed'));
    await Promise.all(this.#workers.map((entry) => entry.worker.terminate()));
  }

  #send(request: CryptoRequest, transfer: ArrayBuffer[]): Promise<CryptoResponse> {
    if (this.#closed) return Promise.reject(new BovedaError('ABORTED', 'crypto pool is closed'));
    const id = this.#nextId++;
    request.id = id;
    let target = this.#workers[0]!;
    for (const entry of this.#workers) if (entry.busy < target.busy) target = entry;
    target.busy++;
    target.worker.ref();
    return new Promise<CryptoResponse>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      target.worker.postMessage(request, transfer);
    });
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** Blocks laid end to end from the start of one SharedArrayBuffer are already staged. */
function adoptContiguous(blocks: readonly Uint8Array[]): StagedBlocks | undefined {
  if (blocks.length === 0) return undefined;
  const data = blocks[0]!.buffer;
  if (!(data instanceof SharedArrayBuffer)) return undefined;
  const offsets = new Uint32Array(blocks.length);
  const lengths = new Uint32Array(blocks.length);
  let at = 0;
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!;
    if (block.buffer !== data || block.byteOffset !== at) return undefined;
    offsets[i] = at;
    lengths[i] = block.length;
    at += block.length;
  }
  return { data, offsets, lengths };
}

function unpack(data: ArrayBufferLike, lengths: Uint32Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const length of lengths) {
    out.push(new Uint8Array(data, at, length));
    at += length;
  }
  return out;
}
