import { performance } from 'node:perf_hooks';
import { BovedaError, describeError, isBovedaError } from '../core/index.js';
import { allOrCancel } from '../util/index.js';
import type { ManifestDisk, PointManifest } from '../repository/index.js';
import { VaultWriter, loadPoints, writeDisk, type PointSecretInput, type Vault } from '../repository/index.js';
import { openRawDisk, probeImageFormat, type DiskSource, type OpenDiskOptions } from '../sources/index.js';
import { StoppedQcow2Disk } from './backup-qemu-image.js';
import { commitBackupPoint, withCleanupProblems } from './backup-point.js';
import type { ChangeDetection, Consistency, DiskMeta, DiskRole, PointMeta } from './point-meta.js';
import { detectionWarning } from './qemu-disk.js';
import { runScript } from './run-script.js';

export interface BackupDiskSpec {
  name: string;
  path: string;
  role: DiskRole;
  /** QEMU VMs: how the running VM names the disk (qdev path and/or block node name). */
  qemu?: { qdev: string | null; node: string | null } | null;
}

/** What a backup needs to know of a VM (the catalog's VmDefinition has this shape). */
export interface BackupSubject {
  name: string;
  disks: readonly BackupDiskSpec[];
  preScript?: string | null;
  postScript?: string | null;
  scriptTimeoutSeconds?: number | null;
  /** A running QEMU VM: its QMP socket (a monitor for Boveda) and optional guest-agent socket. */
  qemu?: { qmpSocket: string; guestAgentSocket: string | null } | null;
}

export interface DiskProgress {
  disk: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface BackupOptions {
  /** When the point expires (UTC); null or absent: never. */
  expiresAt?: Date | null;
  trigger?: PointMeta['trigger'];
  /** Try point-in-time reflink clones of image files (default true). */
  snapshot?: boolean;
  /** How long to wait for another backup of the same VM; default: refuse at once. */
  waitMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: DiskProgress) => void;
  /** Injectable for tests; defaults to raw files and block devices (qcow2 image files never go through it). */
  openDisk?: (path: string, options: OpenDiskOptions) => Promise<DiskSource>;
  /** Disks read by dirty bitmap (qcow2 images of stopped VMs, running QEMU VMs): also read every allocated block and report changes the bitmap missed. */
  verifyTracking?: boolean;
  /** The VM's disk-encryption secrets (clear values) to store with the point, sealed under the vault's secrets key. */
  secrets?: readonly PointSecretInput[];
}

/** A disk opened for a backup: a raw image or block device read directly, or a qcow2 image read through qemu-nbd. */
type OpenedDisk = { kind: 'raw'; source: DiskSource } | { kind: 'qcow2'; image: StoppedQcow2Disk };

export interface BackupResult {
  point: PointManifest;
  meta: PointMeta;
  /** Problems cleaning up after the point was committed (e.g. a snapshot clone that could not be removed). */
  cleanupProblems: string[];
}

export const DEFAULT_SCRIPT_TIMEOUT_SECONDS = 300;

/** The scope under which backups and in-place restores of one VM exclude each other. */
export function vmLockScope(vmName: string): string {
  return `VM "${vmName}"`;
}

/**
 * Backs up one VM into one recovery point. The first point of a VM is full; later ones compare
 * every block's keyed checksum with the VM's latest point and store only what differs. A disk that
 * is a qcow2 image file (by its magic) is a stopped QEMU VM's disk: its guest-visible content is read
 * through qemu-nbd, by the previous point's offline checkpoint bitmap when usable (see
 * StoppedQcow2Disk); raw images and block devices are read directly. Order:
 * lock the VM → pre-script → open every disk (snapshot clones where possible) → post-script (at
 * once when every disk has a snapshot, else after reading) → read all disks in parallel → check no
 * disk changed size → commit. Any failure leaves no point and every earlier point intact.
 */
export async function backupVm(vault: Vault, subject: BackupSubject, options: BackupOptions = {}): Promise<BackupResult> {
  const disks = subject.disks.filter((disk) => disk.role !== 'temp');
  if (disks.length === 0) {
    throw new BovedaError('INVALID_ARGUMENT', `VM "${subject.name}" has no disk to back up (temp disks are never backed up)`);
  }
  const started = performance.now();
  let writer: VaultWriter;
  try {
    writer = await VaultWriter.open(vault, { purpose: `a backup of VM "${subject.name}"`, scope: vmLockScope(subject.name), waitMs: options.waitMs, signal: options.signal });
  } catch (error) {
    throw asVmBusy(error, subject.name);
  }
  try {
    // Read under the lock: no other backup of this VM can commit until this one ends.
    const parent = await latestPoint(vault, subject.name, options.signal);
    const warnings: string[] = [];
    const scriptEnv = { BOVEDA_VM: subject.name, BOVEDA_DISKS: disks.map((disk) => disk.path).join('\n') };
    const timeoutSeconds = subject.scriptTimeoutSeconds ?? DEFAULT_SCRIPT_TIMEOUT_SECONDS;

    let preOk = false;
    if (subject.preScript) {
      const result = await runScript(subject.preScript, { timeoutSeconds, env: { ...scriptEnv, BOVEDA_PHASE: 'pre' }, signal: options.signal });
      preOk = result.ok;
      if (!result.ok) warnings.push(`pre-script failed (${result.problem}); fell back to crash-consistent`);
    }
    let postDone = false;
    let postOk = true;
    const runPost = async () => {
      if (postDone || !subject.postScript) return;
      postDone = true;
      const result = await runScript(subject.postScript, { timeoutSeconds, env: { ...scriptEnv, BOVEDA_PHASE: 'post' } });
      postOk = result.ok;
      if (!result.ok) warnings.push(`post-script failed (${result.problem}); the point is crash-consistent`);
    };

    const openDisk = options.openDisk ?? openRawDisk;
    const sources: OpenedDisk[] = [];
    const cleanupProblems: string[] = [];
    let committed = false;
    try {
      try {
        for (const disk of disks) {
          if (await probeImageFormat(disk.path) === 'qcow2') {
            sources.push({ kind: 'qcow2', image: await StoppedQcow2Disk.open(disk, parent, vault.config.blockSize, { signal: options.signal }) });
          } else {
            sources.push({ kind: 'raw', source: await openDisk(disk.path, { snapshot: options.snapshot !== false, signal: options.signal }) });
          }
        }
      } finally {
        // With every disk cloned the VM may resume now; otherwise only after reading.
        if (sources.length < disks.length || sources.every((opened) => opened.kind === 'raw' && opened.source.snapshot === 'reflink')) await runPost();
      }
      const pointTime = vault.clock.now();
      sources.forEach((opened, i) => {
        if (opened.kind === 'raw' && opened.source.snapshot === 'none' && opened.source.snapshotNote) warnings.push(`disk "${disks[i]!.name}": ${opened.source.snapshotNote}`);
        if (opened.kind === 'qcow2') {
          const warning = detectionWarning(disks[i]!.name, opened.image.detection, opened.image.note);
          if (warning) warnings.push(warning);
        }
      });
      let stored: ManifestDisk[];
      try {
        stored = await backupAllDisks(writer, disks, sources, parent, options, warnings);
        for (const opened of sources) if (opened.kind === 'raw') await opened.source.checkUnchangedSize();
      } finally {
        await runPost();
      }
      const consistency: Consistency = subject.preScript && preOk && postOk ? 'application' : 'crash';
      const { point, meta } = await commitBackupPoint(writer, {
        subject: subject.name, parent, disks: stored, pointTime, started, consistency, consistencyNote: consistencyNote(subject, consistency, warnings), warnings, options,
      });
      committed = true;
      return { point, meta, cleanupProblems };
    } catch (error) {
      // qcow2 exports stopped and new checkpoints removed before the error is reported.
      const problems = (await Promise.all(sources.map((opened) => opened.kind === 'qcow2' ? opened.image.finish(false) : []))).flat();
      throw withCleanupProblems(error, problems);
    } finally {
      // A clone left behind keeps growing as the VM writes: never silent. qcow2 images rotate their checkpoints.
      await Promise.all(sources.map(async (opened) => {
        if (opened.kind === 'qcow2') {
          cleanupProblems.push(...await opened.image.finish(committed));
          return;
        }
        await opened.source.close().catch((error: unknown) => {
          cleanupProblems.push(`could not clean up after disk ${opened.source.path}: ${describeError(error)}`);
        });
      }));
    }
  } finally {
    await writer.close();
  }
}

/**
 * All disks in parallel. When one fails the others are cancelled and awaited, so nothing still reads
 * or stores after the sources are closed and the VM's lock is released.
 */
async function backupAllDisks(
  writer: VaultWriter, disks: readonly BackupDiskSpec[], sources: readonly OpenedDisk[], parent: PointManifest | undefined, options: BackupOptions, warnings: string[],
): Promise<ManifestDisk[]> {
  return allOrCancel(disks, options.signal, async (disk, i, signal) => {
    const opened = sources[i]!;
    if (opened.kind === 'qcow2') {
      return opened.image.write(writer, {
        verifyTracking: options.verifyTracking, signal, warnings,
        onProgress: ({ bytesDone, bytesTotal }) => options.onProgress?.({ disk: disk.name, bytesDone, bytesTotal }),
      });
    }
    return backupDisk(writer, disk, opened.source, parent, { ...options, signal });
  });
}

async function backupDisk(writer: VaultWriter, disk: BackupDiskSpec, source: DiskSource, parent: PointManifest | undefined, options: BackupOptions): Promise<ManifestDisk> {
  const parentDisk = parent?.disks.find((candidate) => candidate.name === disk.name);
  const changeDetection: ChangeDetection = parentDisk ? 'checksum' : 'full';
  let changeDetectionNote: string | null = null;
  if (parent && !parentDisk) changeDetectionNote = 'disk added since the last point: backed up in full';
  else if (parentDisk && parentDisk.sizeBytes !== source.sizeBytes) {
    changeDetectionNote = `disk ${source.sizeBytes > parentDisk.sizeBytes ? 'grew' : 'shrank'} from ${parentDisk.sizeBytes} to ${source.sizeBytes} bytes`;
  }
  const meta: DiskMeta = { role: disk.role, path: disk.path, changeDetection, changeDetectionNote, snapshot: source.snapshot };
  return writeDisk(writer, {
    name: disk.name,
    sizeBytes: source.sizeBytes,
    readInto: (offset, target, signal) => source.read(offset, target, signal),
  }, {
    parent: parentDisk,
    signal: options.signal,
    onProgress: ({ bytesDone, bytesTotal }) => options.onProgress?.({ disk: disk.name, bytesDone, bytesTotal }),
    meta: { ...meta },
  });
}

/** Why a point is not application-consistent, in words a user can act on; null when it is. */
function consistencyNote(subject: BackupSubject, consistency: Consistency, warnings: readonly string[]): string | null {
  if (consistency === 'application') return null;
  if (!subject.preScript && !subject.postScript) return 'no pre/post scripts configured; file-system consistency needs a guest agent';
  if (!subject.preScript) return 'only a post-script is configured; application consistency needs a pre-script';
  return warnings.find((warning) => /^(pre|post)-script failed/.test(warning)) ?? null;
}

/** The newest point of a VM, or undefined. */
export async function latestPoint(vault: Vault, vmName: string, signal?: AbortSignal): Promise<PointManifest | undefined> {
  const { points } = await loadPoints(vault, signal);
  return points.filter((point) => point.subject === vmName).at(-1);
}

/** A lock held on the same VM's scope becomes VM_BUSY, naming the holder. */
export function asVmBusy(error: unknown, vmName: string): unknown {
  if (isBovedaError(error, 'VAULT_LOCKED') && error.details.scope === vmLockScope(vmName)) {
    // The lock already words it for its scope: `VM "<name>" is busy: <holder> is running (…)`.
    return new BovedaError('VM_BUSY', error.message, { cause: error, details: error.details });
  }
  return error;
}
