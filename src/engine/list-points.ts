import { measureVaultUsageWithPoints, type Vault } from '../repository/index.js';
import { diskMeta, pointMeta, type ChangeDetection, type Consistency, type DiskRole, type PointType } from './point-meta.js';

/** One recovery point as `boveda points --json` prints it; these names are a stable contract. */
export interface PointSummary {
  id: string;
  vm: string;
  createdAt: string;
  expiresAt: string | null;
  type: PointType;
  consistency: Consistency;
  consistencyNote: string | null;
  parentId: string | null;
  trigger: 'on-demand' | 'scheduled';
  warnings: string[];
  durationSeconds: number;
  /** Plaintext size of the blocks this point added to the vault. */
  introducedBytes: number;
  /** Plaintext size of the blocks only this point references (freed if it were deleted). */
  uniqueBytes: number;
  /** The same in stored (compressed, encrypted) bytes, map pages included. */
  introducedStoredBytes: number;
  uniqueStoredBytes: number;
  disks: Array<{
    name: string;
    role: DiskRole;
    sizeBytes: number;
    changedBlocks: number;
    zeroBlocks: number;
    bytesRead: number;
    /** Plaintext and stored bytes of the blocks this disk's backup stored. */
    newBytes: number;
    storedBytes: number;
    changeDetection: ChangeDetection;
    changeDetectionNote: string | null;
    snapshot: 'reflink' | 'none';
  }>;
  /** Names of the disk-encryption secrets stored with the point (values only through secrets restore). */
  secrets: string[];
}

/** Every point of a VM, oldest first, with exact accounting. */
export async function listVmPoints(vault: Vault, vmName: string, signal?: AbortSignal): Promise<PointSummary[]> {
  const { points, usage } = await measureVaultUsageWithPoints(vault, signal);
  const usageById = new Map(usage.points.map((entry) => [entry.pointId, entry]));
  return points.filter((point) => point.subject === vmName).map((point) => {
    const meta = pointMeta(point);
    const counted = usageById.get(point.pointId);
    return {
      id: point.pointId,
      vm: point.subject,
      createdAt: point.createdAt,
      expiresAt: meta.expiresAt,
      type: meta.type,
      consistency: meta.consistency,
      consistencyNote: meta.consistencyNote,
      parentId: point.parentId,
      trigger: meta.trigger,
      warnings: meta.warnings,
      durationSeconds: meta.durationSeconds,
      introducedBytes: counted?.introducedBytes ?? 0,
      uniqueBytes: counted?.uniqueBytes ?? 0,
      introducedStoredBytes: counted?.introducedStoredBytes ?? 0,
      uniqueStoredBytes: counted?.uniqueStoredBytes ?? 0,
      disks: point.disks.map((disk) => {
        const dm = diskMeta(disk);
        return {
          name: disk.name, role: dm.role, sizeBytes: disk.sizeBytes,
          changedBlocks: disk.stats.changedBlocks, zeroBlocks: disk.stats.zeroBlocks, bytesRead: disk.stats.bytesRead,
          newBytes: disk.stats.newBytes, storedBytes: disk.stats.newStoredBytes,
          changeDetection: dm.changeDetection, changeDetectionNote: dm.changeDetectionNote, snapshot: dm.snapshot,
        };
      }),
      secrets: (point.secrets ?? []).map((secret) => secret.name),
    };
  });
}
