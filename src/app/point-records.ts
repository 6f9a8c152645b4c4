import type { RecoveryPointRecord } from '../catalog/index.js';
import { diskMeta, pointMeta } from '../engine/index.js';
import type { ManifestDisk, PointManifest, PointUsage } from '../repository/index.js';

/**
 * Used bytes of a backed-up disk: its non-zero blocks (the last one counted at its real length).
 * Zero blocks are what a sparse or trimmed disk does not use: the seeds' "protected instance size".
 */
export function diskUsedBytes(disk: ManifestDisk): number {
  const blocks = disk.map.blockCount - disk.stats.zeroBlocks;
  return Math.min(disk.sizeBytes, blocks * disk.blockSize);
}

/** The protected instance size of a point: used bytes of its disks (temp disks are never in a point). */
export function pointProtectedBytes(point: PointManifest): number {
  return point.disks.filter((disk) => diskMeta(disk).role !== 'temp').reduce((sum, disk) => sum + diskUsedBytes(disk), 0);
}

/** The catalog's mirror row of a vault point; usage fields null unless an accounting pass measured them. */
export function pointRecord(point: PointManifest, usage?: PointUsage): RecoveryPointRecord {
  const meta = pointMeta(point);
  return {
    id: point.pointId,
    vmName: point.subject,
    createdAt: point.createdAt,
    parentId: point.parentId,
    type: meta.type,
    trigger: meta.trigger,
    consistency: meta.consistency,
    expiresAt: meta.expiresAt,
    logicalBytes: point.disks.reduce((sum, disk) => sum + disk.sizeBytes, 0),
    protectedBytes: pointProtectedBytes(point),
    referencedBytes: usage?.referencedBytes ?? null,
    introducedBytes: usage?.introducedBytes ?? null,
    uniqueBytes: usage?.uniqueBytes ?? null,
    introducedStoredBytes: usage?.introducedStoredBytes ?? null,
    uniqueStoredBytes: usage?.uniqueStoredBytes ?? null,
    meta: {
      consistencyNote: meta.consistencyNote,
      warnings: meta.warnings,
      durationSeconds: meta.durationSeconds,
      disks: point.disks.map((disk) => ({ name: disk.name, sizeBytes: disk.sizeBytes, usedBytes: diskUsedBytes(disk), ...diskMeta(disk), stats: disk.stats })),
    },
  };
}
