import type { ManifestDisk, PointManifest } from '../repository/index.js';

/**
 * What the engine records in a manifest's `meta` (the vault stores it without reading it). Field
 * names are stable: `boveda points --json`, the API and the catalog rebuild rely on them.
 */
export type PointType = 'full' | 'incremental';
export type Consistency = 'application' | 'file-system' | 'crash';
export type ChangeDetection = 'full' | 'checksum' | 'bitmap';
export type DiskRole = 'os' | 'data' | 'temp';

export interface PointMeta {
  type: PointType;
  consistency: Consistency;
  /** Why the point is not application-consistent, when scripts were configured. */
  consistencyNote: string | null;
  expiresAt: string | null;
  trigger: 'on-demand' | 'scheduled';
  warnings: string[];
  /** Seconds the backup took, reading to commit. */
  durationSeconds: number;
}

export interface DiskMeta {
  role: DiskRole;
  path: string;
  changeDetection: ChangeDetection;
  /** Why changes were found the way they were (e.g. "disk added since the last point"). */
  changeDetectionNote: string | null;
  snapshot: 'reflink' | 'none';
  /**
   * QEMU disks: the persistent dirty bitmap started at this point (the next backup reads what it
   * marks), or null when none was (raw image, a file-backed VM).
   */
  checkpoint?: string | null;
  /** QEMU disks: the block node the disk was read from, and the checkpoint bitmap's granularity. */
  qemuNode?: string;
  bitmapGranularity?: number;
  /**
   * Image files of stopped QEMU VMs: 'qcow2' when the guest-visible disk was read through qemu-nbd
   * (the file itself is a container: restoring in place must write through QEMU, not raw bytes).
   * Absent for raw images and block devices.
   */
  imageFormat?: 'qcow2';
  /** --verify-tracking: changed blocks the dirty bitmap did not mark (0 = tracking was right). */
  trackingMissedBlocks?: number;
}

export function pointMeta(point: PointManifest): PointMeta {
  const meta = point.meta as Partial<PointMeta>;
  return {
    type: meta.type === 'incremental' ? 'incremental' : 'full',
    consistency: meta.consistency === 'application' || meta.consistency === 'file-system' ? meta.consistency : 'crash',
    consistencyNote: typeof meta.consistencyNote === 'string' ? meta.consistencyNote : null,
    expiresAt: typeof meta.expiresAt === 'string' ? meta.expiresAt : null,
    trigger: meta.trigger === 'scheduled' ? 'scheduled' : 'on-demand',
    warnings: Array.isArray(meta.warnings) ? meta.warnings.filter((item): item is string => typeof item === 'string') : [],
    durationSeconds: typeof meta.durationSeconds === 'number' ? meta.durationSeconds : 0,
  };
}

export function diskMeta(disk: ManifestDisk): DiskMeta {
  const meta = disk.meta as Partial<DiskMeta>;
  return {
    role: meta.role === 'data' || meta.role === 'temp' ? meta.role : 'os',
    path: typeof meta.path === 'string' ? meta.path : '',
    changeDetection: meta.changeDetection === 'checksum' || meta.changeDetection === 'bitmap' ? meta.changeDetection : 'full',
    changeDetectionNote: typeof meta.changeDetectionNote === 'string' ? meta.changeDetectionNote : null,
    snapshot: meta.snapshot === 'reflink' ? 'reflink' : 'none',
    ...(typeof meta.checkpoint === 'string' || meta.checkpoint === null ? { checkpoint: meta.checkpoint } : {}),
    ...(typeof meta.qemuNode === 'string' ? { qemuNode: meta.qemuNode } : {}),
    ...(typeof meta.bitmapGranularity === 'number' ? { bitmapGranularity: meta.bitmapGranularity } : {}),
    ...(meta.imageFormat === 'qcow2' ? { imageFormat: meta.imageFormat } : {}),
    ...(typeof meta.trackingMissedBlocks === 'number' ? { trackingMissedBlocks: meta.trackingMissedBlocks } : {}),
  };
}
