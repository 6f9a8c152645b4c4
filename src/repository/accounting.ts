import { BlobKind, type PointManifest } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import type { BlockIndex } from './block-index.js';
import { BlockMapReader } from './block-map.js';
import { BlockReader } from './block-reader.js';
import { loadPoints } from './points.js';
import { computeSubjectUsage, type SubjectUsage } from './subject-usage.js';
import type { Vault } from './vault.js';
import { VaultIndex } from './vault-index.js';
import { VaultLock } from './vault-lock.js';

export interface PointUsage {
  pointId: string;
  subject: string;
  createdAt: string;
  /** Distinct non-zero blocks the point references, and their plaintext size. */
  referencedBlocks: number;
  referencedBytes: number;
  /** Blocks no earlier point (in creation order, across the whole vault) references: what this point added. */
  introducedBlocks: number;
  introducedBytes: number;
  /** Blocks no other point references: what deleting this point would free. */
  uniqueBlocks: number;
  uniqueBytes: number;
  /** The same two measures in stored (compressed, encrypted) bytes, map pages included. */
  introducedStoredBytes: number;
  uniqueStoredBytes: number;
  /** References that are not in the index (damage; verify names it). */
  missingReferences: number;
}

export interface VaultUsage {
  points: PointUsage[];
  /** Distinct blocks referenced by at least one point, plaintext and stored. */
  liveBlocks: number;
  liveBytes: number;
  liveStoredBytes: number;
  /** Indexed blobs no point references (freed by the next gc). */
  unreferencedBlobs: number;
  unreferencedStoredBytes: number;
}

/**
 * Exact accounting from the manifests and the index: every point's map is walked once, each
 * distinct block counted once per point (a block at many offsets is stored once). Side tables are
 * typed arrays over the index's entry numbers, so memory follows the vault's block count.
 */
export async function computeUsage(
  points: readonly PointManifest[],
  index: BlockIndex,
  mapReader: (point: PointManifest, disk: number) => BlockMapReader,
  signal?: AbortSignal,
): Promise<VaultUsage> {
  const ordered = [...points].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.pointId.localeCompare(b.pointId));
  const firstPoint = new Int32Array(index.size).fill(-1);
  const lastSeen = new Int32Array(index.size).fill(-1);
  const refCount = new Int32Array(index.size);
  const usage: PointUsage[] = ordered.map((point) => ({
    pointId: point.pointId, subject: point.subject, createdAt: point.createdAt,
    referencedBlocks: 0, referencedBytes: 0, introducedBlocks: 0, introducedBytes: 0, uniqueBlocks: 0, uniqueBytes: 0,
    introducedStoredBytes: 0, uniqueStoredBytes: 0, missingReferences: 0,
  }));

  for (let p = 0; p < ordered.length; p++) {
    throwIfAborted(signal, 'computing vault usage');
    const point = ordered[p]!;
    const count = (address: Uint8Array) => {
      const entry = index.entryNumber(address);
      if (entry < 0) {
        usage[p]!.missingReferences++;
        return;
      }
      if (lastSeen[entry] === p) return;
      lastSeen[entry] = p;
      refCount[entry]!++;
      if (firstPoint[entry] === -1) firstPoint[entry] = p;
      const location = index.locationOf(entry);
      if (location.kind === BlobKind.block) {
        usage[p]!.referencedBlocks++;
        usage[p]!.referencedBytes += location.rawLength;
      }
    };
    for (let d = 0; d < point.disks.length; d++) {
      await mapReader(point, d).walk((address) => {
        count(address);
        return true;
      }, count);
    }
  }

  const total: VaultUsage = { points: usage, liveBlocks: 0, liveBytes: 0, liveStoredBytes: 0, unreferencedBlobs: 0, unreferencedStoredBytes: 0 };
  for (let entry = 0; entry < index.size; entry++) {
    const location = index.locationOf(entry);
    if (refCount[entry] === 0) {
      total.unreferencedBlobs++;
      total.unreferencedStoredBytes += location.length;
      continue;
    }
    const owner = usage[firstPoint[entry]!]!;
    const isBlock = location.kind === BlobKind.block;
    total.liveStoredBytes += location.length;
    owner.introducedStoredBytes += location.length;
    if (isBlock) {
      total.liveBlocks++;
      total.liveBytes += location.rawLength;
      owner.introducedBlocks++;
      owner.introducedBytes += location.rawLength;
    }
    if (refCount[entry] === 1) {
      owner.uniqueStoredBytes += location.length;
      if (isBlock) {
        owner.uniqueBlocks++;
        owner.uniqueBytes += location.rawLength;
      }
    }
  }
  return total;
}

export interface VaultUsageReport extends VaultUsage {
  /** Every object of the vault on its storage: config, key slots, packs, index files, manifests. */
  totalStoredBytes: number;
  packBytes: number;
  packCount: number;
  indexBytes: number;
  manifestBytes: number;
  /** Per subject (VM), when asked for with `{ subjects: true }`. */
  subjects?: SubjectUsage[];
}

/** Loads the index and every manifest (under a shared lock) and computes the usage report. */
export async function measureVaultUsage(vault: Vault, signal?: AbortSignal): Promise<VaultUsageReport> {
  return (await measureVaultUsageWithPoints(vault, signal)).usage;
}

/** measureVaultUsage, also handing back the manifests it read, for callers that list points with their usage. */
export async function measureVaultUsageWithPoints(
  vault: Vault, signal?: AbortSignal, options: { subjects?: boolean } = {},
): Promise<{ usage: VaultUsageReport; points: PointManifest[] }> {
  const lock = await VaultLock.acquire(vault.store, { exclusive: false, readOnly: true, purpose: 'usage accounting', signal }, vault.clock);
  try {
    const index = await VaultIndex.load(vault, { signal });
    const { points } = await loadPoints(vault, signal);
    const reader = new BlockReader(vault, index.blocks);
    const mapReader = (point: PointManifest, disk: number) => new BlockMapReader(point.disks[disk]!.map, (address, level, count) => reader.readPage(address, level, count));
    const usage: VaultUsage & { subjects?: SubjectUsage[] } = await computeUsage(points, index.blocks, mapReader, signal);
    if (options.subjects) usage.subjects = await computeSubjectUsage(points, index.blocks, mapReader, signal);
    const sizes = { totalStoredBytes: 0, packBytes: 0, packCount: 0, indexBytes: 0, manifestBytes: 0 };
    for await (const { key, size } of vault.store.list('', { signal })) {
      if (key.startsWith('locks/')) continue;
      sizes.totalStoredBytes += size;
      if (key.startsWith('packs/')) {
        sizes.packBytes += size;
        sizes.packCount++;
      } else if (key.startsWith('index/')) sizes.indexBytes += size;
      else if (key.startsWith('points/')) sizes.manifestBytes += size;
    }
    return { usage: { ...usage, ...sizes }, points };
  } finally {
    await lock.release();
  }
}
