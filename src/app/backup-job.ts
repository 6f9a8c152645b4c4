import { BovedaError } from '../core/index.js';
import type { StoredJob } from '../catalog/index.js';
import type { PointManifest } from '../repository/index.js';
import { backupQemuVm, backupVm, type BackupResult, type DiskProgress, diskMeta } from '../engine/index.js';
import type { AppContext } from './app-context.js';
import { runJob, runNewJob, type JobRunOutcome } from './job-runner.js';
import { pointRecord } from './point-records.js';
import { vmSecretsForBackup } from './secret-service.js';
import { recordUsageQuietly } from './usage-history.js';

export interface BackupJobOptions {
  trigger: 'on-demand' | 'scheduled';
  expiresAt?: Date | null;
  snapshot?: boolean;
  /** QEMU VMs (running, or qcow2 images of stopped ones): also read everything and report changed blocks the dirty bitmap missed. */
  verifyTracking?: boolean;
  waitMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: DiskProgress) => void;
  onUpdate?: (job: StoredJob) => void;
}

/**
 * One backup of a VM as a job (on demand, or the scheduled job a slot claim queued): the VM is
 * looked up when the job runs, so a VM removed since it was protected fails the job with
 * VM_NOT_FOUND (and nothing else happens: the slot stays claimed, no retries). On success the point
 * is mirrored into the catalog and the item's billing starts with its first successful backup. The
 * job's result names the point and its expiry (UTC).
 */
export async function runBackupJob(app: AppContext, vmName: string, options: BackupJobOptions, queued?: StoredJob): Promise<JobRunOutcome<BackupResult>> {
  const body = async (context: Parameters<Parameters<typeof runJob<BackupResult>>[2]>[0]) => {
    const vm = await app.catalog.vms.find(vmName);
    if (!vm) throw new BovedaError('VM_NOT_FOUND', `no VM named "${vmName}" (removed, or never added: see "boveda vm list"); its recovery points are kept`);
    const vault = await app.vault();
    // The VM's secrets as they are now go into this point; later changes never touch it.
    const secrets = await vmSecretsForBackup(app, vault, vmName);
    const done = new Map<string, DiskProgress>();
    // Running QEMU VMs through QMP; the rest (raw images, block devices, qcow2 images of stopped VMs) directly.
    const backup = vm.qemu ? backupQemuVm : backupVm;
    const outcome = await backup(vault, vm, {
      verifyTracking: options.verifyTracking, secrets,
      trigger: options.trigger, expiresAt: options.expiresAt ?? null, snapshot: options.snapshot, waitMs: options.waitMs, signal: context.signal,
      onProgress: (progress) => {
        done.set(progress.disk, progress);
        let bytesDone = 0;
        let bytesTotal = 0;
        for (const disk of done.values()) {
          bytesDone += disk.bytesDone;
          bytesTotal += disk.bytesTotal;
        }
        context.progress(bytesDone, bytesTotal);
        options.onProgress?.(progress);
      },
    });
    await app.catalog.points.upsert(pointRecord(outcome.point));
    if (await app.catalog.items.find(vmName)) await app.catalog.items.markFirstBackup(vmName, outcome.point.createdAt);
    await recordUsageQuietly(app);
    return {
      value: outcome,
      warnings: [...outcome.meta.warnings, ...outcome.cleanupProblems],
      result: {
        pointId: outcome.point.pointId, createdAt: outcome.point.createdAt, expiresAt: outcome.meta.expiresAt,
        type: outcome.meta.type, consistency: outcome.meta.consistency,
        disks: outcome.point.disks.map((disk) => {
          const meta = diskMeta(disk);
          return {
            name: disk.name, changeDetection: meta.changeDetection, changeDetectionNote: meta.changeDetectionNote, bytesRead: disk.stats.bytesRead,
            ...(meta.trackingMissedBlocks === undefined ? {} : { trackingMissedBlocks: meta.trackingMissedBlocks }),
          };
        }),
        // With verifyTracking, of disks read by a dirty bitmap: the changed blocks the bitmaps missed (the CLI exits 3 when > 0).
        ...(outcome.point.disks.some((disk) => diskMeta(disk).trackingMissedBlocks !== undefined) ? { trackingMissedBlocks: trackingMissedBlocks(outcome.point) } : {}),
      },
    };
  };
  const runOptions = { signal: options.signal, onUpdate: options.onUpdate };
  if (queued) return runJob(app.catalog, queued, body, runOptions);
  // Waiting for a running backup happens on the vault's VM lock; without a wait, refuse at once (VM_BUSY naming the job).
  const exclusiveWith = options.waitMs ? [] : ['backup' as const];
  return runNewJob(app.catalog, { type: 'backup', item: vmName, trigger: options.trigger, exclusiveWith }, body, runOptions);
}

/** The changed blocks `verifyTracking` found the dirty bitmaps missed, summed over the point's disks. */
export function trackingMissedBlocks(point: PointManifest): number {
  return point.disks.reduce((sum, disk) => sum + (diskMeta(disk).trackingMissedBlocks ?? 0), 0);
}
