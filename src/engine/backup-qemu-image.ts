import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BovedaError, describeError, isBovedaError } from '../core/index.js';
import { throwIfAborted } from '../util/index.js';
import type { ManifestDisk, PointManifest, VaultWriter } from '../repository/index.js';
import {
  NbdClient, CONTEXT_BASE_ALLOCATION, DIRTY_BITMAP_PREFIX, changeImageBitmap, readImageInfo, startQemuNbd,
  type ImageInfo, type QemuNbdExport,
} from '../sources/index.js';
import type { BackupDiskSpec } from './backup-vm.js';
import { withCleanupProblems } from './backup-point.js';
import type { ChangeDetection, DiskMeta } from './point-meta.js';
import { CHECKPOINT_PREFIX, QEMU_OBJECT_PREFIX, checkpointGranularity, decideChangeDetection, writeNbdDisk } from './qemu-disk.js';

/**
 * A qcow2 image of a stopped QEMU VM, prepared for one backup: the image's lock checked (a running
 * QEMU holds it: DISK_UNREADABLE, use --qemu-qmp), the change detection decided as on the running
 * path, a new checkpoint bitmap added offline (`qemu-img bitmap --add`, enabled, so writes after
 * this point are tracked when the VM next runs), and a read-only qemu-nbd export of the
 * guest-visible disk (with the previous checkpoint for a bitmap incremental). finish() stops
 * qemu-nbd and rotates: after a commit the older checkpoints are removed, after a failure the new
 * one is (the old one is kept).
 */
export class StoppedQcow2Disk {
  readonly spec: BackupDiskSpec;
  readonly sizeBytes: number;
  readonly detection: ChangeDetection;
  readonly note: string | null;
  /** The checkpoint this backup starts, or null (qcow2 v2). */
  readonly checkpoint: string | null;
  readonly granularity: number | null;
  readonly parentDisk: ManifestDisk | undefined;
  /** The bitmap the export carries (detection 'bitmap'). */
  #exportBitmap: string | null = null;
  #tempBitmap: string | null = null;
  #checkpointAdded = false;
  #workDir: string | undefined;
  #server: QemuNbdExport | undefined;
  #nbd: NbdClient | undefined;
  #finished = false;

  private constructor(spec: BackupDiskSpec, info: ImageInfo, parentDisk: ManifestDisk | undefined, decision: { detection: ChangeDetection; note: string | null }, checkpoint: string | null, granularity: number | null) {
    this.spec = spec;
    this.sizeBytes = info.virtualSize;
    this.parentDisk = parentDisk;
    this.detection = decision.detection;
    this.note = decision.note;
    this.checkpoint = checkpoint;
    this.granularity = granularity;
  }

  static async open(spec: BackupDiskSpec, parent: PointManifest | undefined, blockSize: number, options: { signal?: AbortSignal } = {}): Promise<StoppedQcow2Disk> {
    const { signal } = options;
    // Without -U: fails while a running QEMU holds the image's lock.
    const info = await readImageInfo(spec.path, { signal });
    if (info.format !== 'qcow2') {
      throw new BovedaError('DISK_UNREADABLE', `disk ${spec.path} starts like a qcow2 image but qemu-img reads it as ${info.format}`, { details: { path: spec.path } });
    }
    const parentDisk = parent?.disks.find((disk) => disk.name === spec.name);
    const v2 = info.compat === '0.10';
    const decision = decideChangeDetection({
      hasParent: !!parent, parentDisk, sizeBytes: info.virtualSize,
      noBitmapReason: v2 ? 'a qcow2 v2 image (compat=0.10) cannot hold persistent dirty bitmaps' : null,
      bitmaps: info.bitmaps.map((bitmap) => ({
        name: bitmap.name, granularity: bitmap.granularity,
        // Offline, 'in-use' means QEMU was killed while it had the image open.
        inconsistent: bitmap.inUse, busy: false, recording: bitmap.enabled, persistent: true,
      })),
    });
    const tag = randomBytes(4).toString('hex');
    const checkpoint = v2 ? null : `${CHECKPOINT_PREFIX}${tag}`;
    const disk = new StoppedQcow2Disk(spec, info, parentDisk, decision, checkpoint, v2 ? null : checkpointGranularity(blockSize));
    try {
      disk.#workDir = await mkdtemp(join(tmpdir(), 'boveda-qcow2-'));
      if (checkpoint) {
        // Before reading: whatever the VM writes once it runs again is in the next incremental.
        // Never killed halfway (no signal): a qemu-img interrupted while writing metadata is worse than a late cancel.
        throwIfAborted(signal, `adding a checkpoint bitmap to disk ${spec.path}`);
        await changeImageBitmap(spec.path, { op: 'add', name: checkpoint, granularity: disk.granularity! });
        disk.#checkpointAdded = true;
      }
      const exportName = `${QEMU_OBJECT_PREFIX}${tag}`;
      if (decision.previous) {
        const previous = decision.previous;
        try {
          disk.#server = await startQemuNbd(spec.path, { format: 'qcow2', workDir: disk.#workDir, name: exportName, bitmap: previous.name, signal });
          disk.#exportBitmap = previous.name;
        } catch (error) {
          // Some QEMU versions refuse to export an enabled bitmap: export a disabled copy instead.
          if (!isBovedaError(error, 'DISK_UNREADABLE') || !/enabled|incompatible|busy|read.?only/i.test(error.message)) throw error;
          const temp = `${QEMU_OBJECT_PREFIX}${tag}-tmp`;
          throwIfAborted(signal, `exporting disk ${spec.path}`);
          await changeImageBitmap(spec.path, { op: 'add', name: temp, granularity: previous.granularity, disabled: true });
          disk.#tempBitmap = temp;
          await changeImageBitmap(spec.path, { op: 'merge', name: temp, from: previous.name });
          disk.#server = await startQemuNbd(spec.path, { format: 'qcow2', workDir: disk.#workDir, name: exportName, bitmap: temp, signal });
          disk.#exportBitmap = temp;
        }
      } else {
        disk.#server = await startQemuNbd(spec.path, { format: 'qcow2', workDir: disk.#workDir, name: exportName, signal });
      }
      const contexts = [CONTEXT_BASE_ALLOCATION, ...(disk.#exportBitmap ? [DIRTY_BITMAP_PREFIX + disk.#exportBitmap] : [])];
      disk.#nbd = await NbdClient.connect({ socketPath: disk.#server.socketPath }, { exportName, metaContexts: contexts, signal });
      if (disk.#nbd.size !== disk.sizeBytes) {
        throw new BovedaError('DISK_SIZE_CHANGED', `disk ${spec.path}: qemu-img reported ${disk.sizeBytes} bytes, its export has ${disk.#nbd.size}`, { details: { path: spec.path } });
      }
      return disk;
    } catch (error) {
      throw withCleanupProblems(error, await disk.finish(false));
    }
  }

  /** Reads the guest-visible disk into the point being written. */
  async write(writer: VaultWriter, options: { verifyTracking?: boolean; signal?: AbortSignal; onProgress?: (progress: { bytesDone: number; bytesTotal: number }) => void; warnings: string[] }): Promise<ManifestDisk> {
    if (!this.#nbd || this.#finished) throw new BovedaError('INTERNAL', `disk ${this.spec.path} is not open`);
    const meta: DiskMeta = {
      role: this.spec.role, path: this.spec.path, changeDetection: this.detection, changeDetectionNote: this.note, snapshot: 'none',
      checkpoint: this.checkpoint, imageFormat: 'qcow2', ...(this.granularity ? { bitmapGranularity: this.granularity } : {}),
    };
    return writeNbdDisk(writer, this.#nbd, {
      name: this.spec.name, sizeBytes: this.sizeBytes, parentDisk: this.parentDisk, detection: this.detection,
      dirtyBitmap: this.#exportBitmap, meta, verifyTracking: options.verifyTracking, signal: options.signal,
      onProgress: options.onProgress, warnings: options.warnings,
    });
  }

  /**
   * Stops the export and rotates the checkpoints (idempotent): committed → every other Boveda
   * checkpoint on the image is removed; not committed → the new checkpoint is removed, the old kept.
   * Returns the problems met (each step is tried on its own).
   */
  async finish(committed: boolean): Promise<string[]> {
    if (this.#finished) return [];
    this.#finished = true;
    const problems: string[] = [];
    const path = this.spec.path;
    const attempt = async (what: string, step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (error) {
        problems.push(`disk ${path}: could not ${what}: ${describeError(error)}`);
      }
    };
    const nbd = this.#nbd;
    if (nbd) await nbd.disconnect().catch(() => nbd.close());
    // qemu-nbd holds the image: it must be gone before the bitmaps can change.
    if (this.#server) await attempt(`stop qemu-nbd (pid ${this.#server.pid})`, () => this.#server!.stop());
    if (this.#tempBitmap) await attempt(`remove the temporary bitmap ${this.#tempBitmap}`, () => changeImageBitmap(path, { op: 'remove', name: this.#tempBitmap! }));
    if (this.#checkpointAdded && !committed) await attempt(`remove the new checkpoint bitmap ${this.checkpoint}`, () => changeImageBitmap(path, { op: 'remove', name: this.checkpoint! }));
    if (committed) {
      await attempt('remove the previous checkpoint bitmaps', async () => {
        const info = await readImageInfo(path);
        for (const bitmap of info.bitmaps) {
          if (bitmap.name.startsWith(CHECKPOINT_PREFIX) && bitmap.name !== this.checkpoint) await changeImageBitmap(path, { op: 'remove', name: bitmap.name });
        }
      });
    }
    if (this.#workDir) await attempt(`remove ${this.#workDir}`, () => rm(this.#workDir!, { recursive: true, force: true }));
    return problems;
  }
}
