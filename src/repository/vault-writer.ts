import { randomBytes } from 'node:crypto';
import { BovedaError, isBovedaError } from '../core/index.js';
import {
  ADDRESS_BYTES, BlobKind, POINT_ID_PATTERN, Paths, type BlockMapRoot, type IndexedPack, type ManifestDisk, type PointManifest,
} from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import { BlockMapBuilder, BlockMapReader, isZero } from './block-map.js';
import { toHex } from './block-index.js';
import { BlockReader } from './block-reader.js';
import { SEAL_BLOCK_OVERHEAD } from '../crypto/index.js';
import { StoreState, type StagedBlocks } from './crypto-protocol.js';
import { PackWriter } from './pack-writer.js';
import type { Vault } from './vault.js';
import { VaultIndex } from './vault-index.js';
import { VaultLock } from './vault-lock.js';
import { sealIndexFile, sealManifest, sha256Hex } from './vault-objects.js';
import { pointSecretsKey, sealPointSecrets, type PointSecretInput } from './vault-secrets.js';

export interface PutBlocksResult {
  /** count × 32 bytes; the zero address for all-zero blocks. */
  addresses: Uint8Array;
  /** 1 where the block was stored by this call (new to the vault). */
  stored: Uint8Array;
  /** Plaintext and sealed bytes of the blocks this call stored. */
  newBytes: number;
  newStoredBytes: number;
}

export interface PutBatchResult extends PutBlocksResult {
  /** Per block: StoreState.zero, .same (the parent's address at that index) or .sealed. */
  state: Uint8Array;
}

export interface CommitInput {
  subject: string;
  parentId: string | null;
  disks: ManifestDisk[];
  meta?: Record<string, unknown>;
  createdAt?: Date;
  pointId?: string;
  /** Disk-encryption secrets stored with the point (sealed under the vault's KEK); none when absent or empty. */
  secrets?: readonly PointSecretInput[];
}

/** Index files are written at least every this many packs, so a crash loses little indexing work. */
const PACKS_PER_INDEX_FILE = 64;

/**
 * A write session on a vault: holds a shared lock (so gc cannot remove a block this session has
 * deduplicated against) and stores blocks, map pages, index files and finally manifests, in that
 * order, each object durable before anything that refers to it is written. A point exists only
 * once its manifest is stored; whatever an interrupted session stored before is garbage for gc.
 */
export class VaultWriter {
  readonly vault: Vault;
  readonly index: VaultIndex;
  readonly reader: BlockReader;
  readonly #lock: VaultLock;
  readonly #packs: PackWriter;
  /** Addresses sealed or being sealed by this session but not yet in a durable, indexed pack. */
  readonly #pending = new Set<string>();
  #unindexed: IndexedPack[] = [];
  #indexChain: Promise<void> = Promise.resolve();
  #closed = false;
  /** Set when a put failed: blocks other calls deduplicated against may be missing, so nothing may be committed. */
  #failure: unknown;

  private constructor(vault: Vault, lock: VaultLock, index: VaultIndex) {
    this.vault = vault;
    this.#lock = lock;
    this.index = index;
    this.reader = new BlockReader(vault, index.blocks);
    this.#packs = new PackWriter(vault, (pack) => this.#onPackStored(pack));
  }

  static async open(vault: Vault, options: { purpose?: string; waitMs?: number; signal?: AbortSignal; scope?: string } = {}): Promise<VaultWriter> {
    const lock = await VaultLock.acquire(vault.store, { exclusive: false, purpose: options.purpose ?? 'a backup', waitMs: options.waitMs, signal: options.signal, scope: options.scope }, vault.clock);
    try {
      // Loaded under the lock: no gc can run from here on, so every block seen here stays.
      const index = await VaultIndex.load(vault, { signal: options.signal });
      return new VaultWriter(vault, lock, index);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** Hashes the blocks, stores the ones the vault does not hold yet, and returns their addresses. */
  async putBlocks(blocks: readonly Uint8Array[], signal?: AbortSignal): Promise<PutBlocksResult> {
    this.#checkOpen();
    try {
      return await this.#putBlocks(blocks, signal);
    } catch (error) {
      this.#failure ??= error;
      throw error;
    }
  }

  async #putBlocks(blocks: readonly Uint8Array[], signal?: AbortSignal): Promise<PutBlocksResult> {
    throwIfAborted(signal, 'storing blocks');
    const staged = this.vault.pool.stage(blocks);
    try {
      return await this.#hashAndStore(blocks, staged, signal);
    } finally {
      this.vault.pool.release(staged);
    }
  }

  async #hashAndStore(blocks: readonly Uint8Array[], staged: StagedBlocks, signal: AbortSignal | undefined): Promise<PutBlocksResult> {
    const addresses = await this.vault.pool.hash('block', staged);
    const stored = new Uint8Array(blocks.length);
    const toSeal: number[] = [];
    for (let i = 0; i < blocks.length; i++) {
      const address = addresses.subarray(i * ADDRESS_BYTES, (i + 1) * ADDRESS_BYTES);
      if (isZero(address)) continue;
      const hex = toHex(address);
      if (this.#pending.has(hex) || this.index.blocks.has(address)) continue;
      this.#pending.add(hex);
      toSeal.push(i);
    }
    const { newBytes, newStoredBytes } = await this.#sealAndStore(addresses, staged, toSeal, stored, signal);
    return { addresses, stored, newBytes, newStoredBytes };
  }

  /**
   * Seals the blocks `toSeal` (indexes into `staged`, their addresses in `addresses`) on a worker and
   * adds them to packs, marking them in `stored`. Returns the plain and sealed bytes they add.
   */
  async #sealAndStore(addresses: Uint8Array, staged: StagedBlocks, toSeal: readonly number[], stored: Uint8Array, signal: AbortSignal | undefined): Promise<{ newBytes: number; newStoredBytes: number }> {
    let newBytes = 0;
    let newStoredBytes = 0;
    if (toSeal.length > 0) {
      const sealAddresses = new Uint8Array(toSeal.length * ADDRESS_BYTES);
      toSeal.forEach((i, k) => sealAddresses.set(addresses.subarray(i * ADDRESS_BYTES, (i + 1) * ADDRESS_BYTES), k * ADDRESS_BYTES));
      const { sealed } = await this.vault.pool.seal(sealAddresses, staged, Uint32Array.from(toSeal));
      throwIfAborted(signal, 'storing blocks');
      for (let k = 0; k < toSeal.length; k++) {
        const i = toSeal[k]!;
        const length = staged.lengths[i]!;
        await this.#packs.add(BlobKind.block, sealAddresses.subarray(k * ADDRESS_BYTES, (k + 1) * ADDRESS_BYTES), sealed[k]!, length);
        stored[i] = 1;
        newBytes += length;
        newStoredBytes += sealed[k]!.length;
      }
    }
    return { newBytes, newStoredBytes };
  }

  /**
   * putBlocks for consecutive blocks of `blockSize` bytes laid end to end in `data`, which should be
   * shared memory from the pool's acquireStaging (else it is copied there); the caller keeps it and
   * releases it. One worker round trip: blocks whose address equals `parent`'s at the same position
   * (count × 32 bytes, zeros where there is none) are not sealed, every other non-zero block is
   * sealed at once and stored unless the vault holds it already.
   */
  async putBatch(data: Uint8Array, blockSize: number, parent: Uint8Array | undefined, signal?: AbortSignal): Promise<PutBatchResult> {
    this.#checkOpen();
    try {
      return await this.#putBatch(data, blockSize, parent, signal);
    } catch (error) {
      this.#failure ??= error;
      throw error;
    }
  }

  async #putBatch(data: Uint8Array, blockSize: number, parent: Uint8Array | undefined, signal: AbortSignal | undefined): Promise<PutBatchResult> {
    throwIfAborted(signal, 'storing blocks');
    const pool = this.vault.pool;
    const count = Math.ceil(data.length / blockSize);
    let input = data;
    if (!(data.buffer instanceof SharedArrayBuffer) || data.byteOffset !== 0) {
      input = pool.acquireStaging(data.length);
      input.set(data);
    }
    const offsets = new Uint32Array(count);
    const lengths = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      offsets[i] = i * blockSize;
      lengths[i] = Math.min(blockSize, data.length - i * blockSize);
    }
    const staged: StagedBlocks = { data: input.buffer as SharedArrayBuffer, offsets, lengths };
    const out = pool.acquireStaging(data.length + count * SEAL_BLOCK_OVERHEAD);
    try {
      const { addresses, state, offsets: sealedAt, lengths: sealedLengths } = await pool.store(staged, parent, out.buffer as SharedArrayBuffer);
      throwIfAborted(signal, 'storing blocks');
      const stored = new Uint8Array(count);
      let newBytes = 0;
      let newStoredBytes = 0;
      let missing: number[] | undefined;
      for (let i = 0; i < count; i++) {
        if (state[i] === StoreState.zero) continue;
        const address = addresses.subarray(i * ADDRESS_BYTES, (i + 1) * ADDRESS_BYTES);
        if (state[i] === StoreState.same) {
          // The parent's block: indexed, unless the vault lost it (then it is stored again below).
          if (!this.index.blocks.has(address) && !this.#pending.has(toHex(address))) (missing ??= []).push(i);
          continue;
        }
        const hex = toHex(address);
        if (this.#pending.has(hex) || this.index.blocks.has(address)) continue; // sealed for nothing: already stored
        this.#pending.add(hex);
        const sealed = out.subarray(sealedAt[i]!, sealedAt[i]! + sealedLengths[i]!);
        await this.#packs.add(BlobKind.block, address, sealed, lengths[i]!);
        stored[i] = 1;
        newBytes += lengths[i]!;
        newStoredBytes += sealed.length;
      }
      if (missing) {
        const toSeal = missing.filter((i) => {
          const hex = toHex(addresses.subarray(i * ADDRESS_BYTES, (i + 1) * ADDRESS_BYTES));
          if (this.#pending.has(hex)) return false;
          this.#pending.add(hex);
          return true;
        });
        const restored = await this.#sealAndStore(addresses, staged, toSeal, stored, signal);
        newBytes += restored.newBytes;
        newStoredBytes += restored.newStoredBytes;
      }
      return { addresses, stored, state, newBytes, newStoredBytes };
    } finally {
      pool.releaseBuffer(out.buffer as SharedArrayBuffer);
      if (input !== data) pool.releaseBuffer(input.buffer as SharedArrayBuffer);
    }
  }

  /** A builder for the block map of one disk of the next point; `parent` is the same disk in the parent point. */
  mapBuilder(blockCount: number, parent?: BlockMapRoot): BlockMapBuilder {
    return new BlockMapBuilder({
      fanout: this.vault.config.mapFanout,
      blockCount,
      store: (page) => this.#putPage(page),
      parent: parent ? this.mapReader(parent) : undefined,
    });
  }

  mapReader(root: BlockMapRoot): BlockMapReader {
    return new BlockMapReader(root, (address, level, count) => this.reader.readPage(address, level, count));
  }

  /** Makes every stored block durable and indexed, then writes the manifest: from then on the point exists. */
  async commitPoint(input: CommitInput, signal?: AbortSignal): Promise<PointManifest> {
    this.#checkOpen();
    throwIfAborted(signal, 'committing the recovery point');
    await this.flush();
    const pointId = input.pointId ?? randomBytes(8).toString('hex');
    if (!POINT_ID_PATTERN.test(pointId)) throw new BovedaError('INVALID_ARGUMENT', `point id "${pointId}" must be 16 hex digits`);
    for (const disk of input.disks) {
      if (disk.blockSize !== this.vault.config.blockSize) {
        throw new BovedaError('INVALID_ARGUMENT', `disk "${disk.name}" has block size ${disk.blockSize}, the vault's is ${this.vault.config.blockSize}`);
      }
    }
    const manifest: PointManifest = {
      version: 1,
      pointId,
      subject: input.subject,
      createdAt: (input.createdAt ?? this.vault.clock.now()).toISOString(),
      parentId: input.parentId,
      disks: input.disks,
      meta: input.meta ?? {},
    };
    if (input.secrets && input.secrets.length > 0) {
      // Stored before the manifest that lists them: a point never names a secrets object that is not durable.
      const { bytes, listed } = sealPointSecrets(this.vault, await this.vault.secretsKey(), input.subject, pointId, input.secrets);
      throwIfAborted(signal, 'committing the recovery point');
      await this.vault.store.put(pointSecretsKey(pointId), bytes);
      manifest.secrets = listed;
    }
    throwIfAborted(signal, 'committing the recovery point');
    await this.vault.store.put(`${Paths.points}${pointId}`, sealManifest(this.vault.keys, manifest));
    // Recorded only after the manifest is durable: a crash before this loses the record, never
    // produces a record without a manifest (which verify would report as a lost point).
    await this.#writeIndexFile([pointId]);
    return manifest;
  }

  /** Stores the pack being filled and an index file for every pack not yet indexed. */
  async flush(): Promise<void> {
    await this.#packs.flush();
    await this.#writeIndexFile();
  }

  /** Releases the lock. Blocks stored without a committed point stay as garbage until gc. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock.release();
  }

  async #putPage(page: Uint8Array): Promise<Uint8Array> {
    const crypto = this.vault.pageCrypto;
    const address = crypto.pageAddress(page);
    const hex = toHex(address);
    if (this.#pending.has(hex) || this.index.blocks.has(address)) return address;
    this.#pending.add(hex);
    await this.#packs.add(BlobKind.page, address, crypto.seal(address, page).sealed, page.length);
    return address;
  }

  #onPackStored(pack: IndexedPack): void {
    this.index.addPack(pack);
    for (const entry of pack.entries) this.#pending.delete(toHex(entry.address));
    this.#unindexed.push(pack);
    if (this.#unindexed.length >= PACKS_PER_INDEX_FILE) {
      void this.#writeIndexFile().catch(() => {
        // Retried by the next flush: the packs stay in #unindexed until an index file holds them.
      });
    }
  }

  /**
   * Index files are written one at a time, in order: a flush that follows a background write waits
   * for it, so nothing that refers to a pack (a manifest) is stored before the pack is indexed.
   */
  #writeIndexFile(points: string[] = []): Promise<void> {
    const run = this.#indexChain.then(() => this.#storeIndexFile(points));
    this.#indexChain = run.catch(() => undefined);
    return run;
  }

  async #storeIndexFile(points: string[]): Promise<void> {
    if (this.#unindexed.length === 0 && points.length === 0) return;
    const packs = this.#unindexed;
    this.#unindexed = [];
    try {
      const bytes = sealIndexFile(this.vault.keys, { packs, points });
      await this.vault.store.put(`${Paths.index}${sha256Hex(bytes)}`, bytes);
    } catch (error) {
      this.#unindexed.unshift(...packs);
      throw error;
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new BovedaError('INTERNAL', 'the vault write session is closed');
    if (this.#failure !== undefined) {
      // A session stopped by a cancellation stays cancelled: concurrent and later calls say ABORTED, not INTERNAL.
      const cancelled = isBovedaError(this.#failure, 'ABORTED');
      throw new BovedaError(cancelled ? 'ABORTED' : 'INTERNAL', `the vault write session ${cancelled ? 'was cancelled' : 'failed earlier'} and cannot commit: ${(this.#failure as Error).message ?? this.#failure}`, { cause: this.#failure });
    }
  }
}

