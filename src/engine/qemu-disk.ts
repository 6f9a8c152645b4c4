import type { ManifestDisk } from '../repository/index.js';
import { writeDisk, type DiskRange, type VaultWriter } from '../repository/index.js';
import type { NbdClient } from '../sources/index.js';
import { diskMeta, type ChangeDetection, type DiskMeta } from './point-meta.js';

/**
 * What the running-VM path (QMP) and the stopped-VM path (qemu-img / qemu-nbd) share: how a QEMU
 * disk's changes are found, and how it is read over NBD.
 */

/** Names of the checkpoint bitmaps Boveda starts (one per disk, rotated after each point). */
export const CHECKPOINT_PREFIX = 'boveda-chk-';
/** Every QEMU object a backup creates carries this prefix (bitmaps, nodes, jobs, exports). */
export const QEMU_OBJECT_PREFIX = 'boveda-';

/** A checkpoint bitmap as found on the disk now (from QMP, or from `qemu-img info` offline). */
export interface CheckpointBitmapState {
  name: string;
  granularity: number;
  /** QEMU was killed while it held the image: only removal works. */
  inconsistent: boolean;
  busy: boolean;
  recording: boolean;
  persistent: boolean;
}

export interface ChangeDetectionDecision {
  detection: ChangeDetection;
  note: string | null;
  /** The previous point's checkpoint when it is usable (detection 'bitmap'). */
  previous: CheckpointBitmapState | null;
}

/**
 * How one disk's changes are found: 'full' without a parent disk, 'bitmap' when the previous point's
 * checkpoint bitmap is on the disk and usable, else 'checksum' with the reason.
 * `noBitmapReason`: why this disk can hold no persistent bitmap at all (raw image, qcow2 v2), or null.
 */
export function decideChangeDetection(input: {
  hasParent: boolean;
  parentDisk: ManifestDisk | undefined;
  sizeBytes: number;
  noBitmapReason: string | null;
  bitmaps: readonly CheckpointBitmapState[];
}): ChangeDetectionDecision {
  const { parentDisk, sizeBytes } = input;
  const checksum = (note: string): ChangeDetectionDecision => ({ detection: 'checksum', note, previous: null });
  if (!input.hasParent) return { detection: 'full', note: 'first backup of the VM', previous: null };
  if (!parentDisk) return { detection: 'full', note: 'disk added since the last point: backed up in full', previous: null };
  if (parentDisk.sizeBytes !== sizeBytes) {
    return checksum(`disk ${sizeBytes > parentDisk.sizeBytes ? 'grew' : 'shrank'} from ${parentDisk.sizeBytes} to ${sizeBytes} bytes`);
  }
  if (input.noBitmapReason !== null) return checksum(input.noBitmapReason);
  const previousName = diskMeta(parentDisk).checkpoint ?? null;
  if (previousName === null) return checksum('the previous point started no checkpoint bitmap on this disk');
  const previous = input.bitmaps.find((bitmap) => bitmap.name === previousName);
  if (!previous) return checksum(`checkpoint bitmap ${previousName} is missing (QEMU restarted without it, or it was removed)`);
  if (previous.inconsistent) return checksum(`checkpoint bitmap ${previousName} is inconsistent (QEMU did not shut down cleanly)`);
  if (previous.busy) return checksum(`checkpoint bitmap ${previousName} is in use by another operation`);
  if (!previous.recording) return checksum(`checkpoint bitmap ${previousName} is disabled (not recording)`);
  if (!previous.persistent) return checksum(`checkpoint bitmap ${previousName} is not persistent`);
  return { detection: 'bitmap', note: null, previous };
}

/** The checkpoint bitmap granularity for a vault: ≤ its block size, so a dirty granule never spans more than the blocks it touches. */
export function checkpointGranularity(blockSize: number): number {
  return Math.min(blockSize, 1 << 30);
}

export interface NbdDiskRead {
  name: string;
  sizeBytes: number;
  parentDisk: ManifestDisk | undefined;
  detection: ChangeDetection;
  /** The dirty-bitmap context's bitmap name on the export (detection 'bitmap'). */
  dirtyBitmap: string | null;
  meta: DiskMeta;
  verifyTracking?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: { bytesDone: number; bytesTotal: number }) => void;
  warnings: string[];
}

/**
 * Stores one disk read over an NBD export: by the dirty bitmap (only dirty extents read, the rest
 * kept from the parent), else every allocated non-zero extent (holes read as zeros, compared with the
 * parent by checksum). With verifyTracking, a bitmap read is checked by a second full read.
 */
export async function writeNbdDisk(writer: VaultWriter, nbd: NbdClient, disk: NbdDiskRead): Promise<ManifestDisk> {
  const { meta, signal } = disk;
  const source = {
    name: disk.name,
    sizeBytes: disk.sizeBytes,
    readInto: (offset: number, target: Uint8Array, readSignal?: AbortSignal) => nbd.readInto(offset, target, { signal: readSignal }),
  };
  const allocated = async function* (): AsyncGenerator<DiskRange> {
    for await (const extent of nbd.allocationExtents(0, disk.sizeBytes, { signal })) {
      if (!extent.zero) yield { offset: extent.offset, length: extent.length };
    }
  };
  if (disk.detection !== 'bitmap') {
    return writeDisk(writer, source, { parent: disk.parentDisk, ranges: allocated(), outside: 'zero', signal, onProgress: disk.onProgress, meta: { ...meta } });
  }
  const dirty = nbd.dirtyExtents(0, disk.sizeBytes, disk.dirtyBitmap!, { signal });
  const byBitmap = await writeDisk(writer, source, { parent: disk.parentDisk, ranges: dirty, outside: 'parent', signal, onProgress: disk.onProgress, meta: { ...meta } });
  if (!disk.verifyTracking) return byBitmap;
  // Everything again, compared with what the bitmap produced: any changed block is one it missed.
  // (The bitmap pass's map pages must be readable first: flush them into the vault's index.)
  await writer.flush();
  const verified = await writeDisk(writer, source, { parent: byBitmap, ranges: allocated(), outside: 'zero', signal, meta: {} });
  const missed = verified.stats.changedBlocks;
  if (missed > 0) disk.warnings.push(`disk "${disk.name}": the dirty bitmap missed ${missed} changed block${missed === 1 ? '' : 's'} (the point holds them: it was verified by a full read)`);
  // The verified map is the truth; stats describe the bitmap pass plus the extra read.
  return {
    ...byBitmap,
    map: verified.map,
    stats: { ...byBitmap.stats, bytesRead: byBitmap.stats.bytesRead + verified.stats.bytesRead, changedBlocks: byBitmap.stats.changedBlocks + missed },
    meta: { ...meta, trackingMissedBlocks: missed },
  };
}

/** The warning a disk's fallback adds to the point (none for 'full'). */
export function detectionWarning(diskName: string, detection: ChangeDetection, note: string | null): string | null {
  if (!note || detection === 'full') return null;
  return `disk "${diskName}": ${detection === 'bitmap' ? '' : 'checksum comparison: '}${note}`;
}
