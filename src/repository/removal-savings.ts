import { BlobKind, type PointManifest } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import type { BlockIndex } from './block-index.js';
import { BlockMapReader } from './block-map.js';
import { BlockReader } from './block-reader.js';
import { loadPoints } from './points.js';
import type { Vault } from './vault.js';
import { VaultIndex } from './vault-index.js';
import { VaultLock } from './vault-lock.js';

/** What removing a set of points frees: the blobs they reference that no remaining point does. */
export interface RemovalSavings {
  /** The ids of the set that exist in the vault (unknown ids are ignored). */
  pointIds: string[];
  /** Distinct data blocks freed and their plaintext size. */
  freedBlocks: number;
  freedBytes: number;
  /** Stored (compressed, encrypted) bytes freed, map pages included. */
  freedStoredBytes: number;
}

/**
 * Blocks shared with a remaining point stay — the seeds' "merge": a point's still-current blocks
 * carry over to the next point, only the ones later overwritten (or referenced by no one else) go.
 * Counted over the whole vault, so a block deduplicated across VMs is never counted as freed.
 */
export async function computeRemovalSavings(
  points: readonly PointManifest[],
  remove: ReadonlySet<string>,
  index: BlockIndex,
  mapReader: (point: PointManifest, disk: number) => BlockMapReader,
  signal?: AbortSignal,
): Promise<RemovalSavings> {
  {
    // 1 = referenced by a kept point; 2 = referenced only by removed ones so far.
    const mark = new Uint8Array(index.size);
    const walk = async (point: PointManifest, visit: (entry: number) => void) => {
      const count = (address: Uint8Array) => {
        const entry = index.entryNumber(address);
        if (entry >= 0) visit(entry);
      };
      for (let d = 0; d < point.disks.length; d++) {
        throwIfAborted(signal, 'measuring what a removal frees');
        await mapReader(point, d).walk((address) => {
          count(address);
          return true;
        }, count);
      }
    };
    const removed = points.filter((point) => remove.has(point.pointId));
    for (const point of points) {
      if (!remove.has(point.pointId)) await walk(point, (entry) => void (mark[entry] = 1));
    }
    for (const point of removed) {
      await walk(point, (entry) => {
        if (mark[entry] === 0) mark[entry] = 2;
      });
    }
    const savings: RemovalSavings = { pointIds: removed.map((point) => point.pointId), freedBlocks: 0, freedBytes: 0, freedStoredBytes: 0 };
    for (let entry = 0; entry < index.size; entry++) {
      if (mark[entry] !== 2) continue;
      const location = index.locationOf(entry);
      savings.freedStoredBytes += location.length;
      if (location.kind === BlobKind.block) {
        savings.freedBlocks++;
        savings.freedBytes += location.rawLength;
      }
    }
    return savings;
  }
}

/** computeRemovalSavings over the vault as it is now (under a shared, read-only lock). */
export async function measureRemovalSavings(vault: Vault, pointIds: Iterable<string>, signal?: AbortSignal): Promise<RemovalSavings> {
  const lock = await VaultLock.acquire(vault.store, { exclusive: false, readOnly: true, purpose: 'measuring a point removal', signal }, vault.clock);
  try {
    const index = await VaultIndex.load(vault, { signal });
    const { points } = await loadPoints(vault, signal);
    const reader = new BlockReader(vault, index.blocks);
    return await computeRemovalSavings(points, new Set(pointIds), index.blocks,
      (point, disk) => new BlockMapReader(point.disks[disk]!.map, (address, level, count) => reader.readPage(address, level, count)), signal);
  } finally {
    await lock.release();
  }
}
