import { BovedaError } from '../core/index.js';
import type { StoredJob } from '../catalog/index.js';
import {
  assertQemuVmStopped, checkCpus, checkMemoryMiB, checkNewVmName, latestPoint, restoreAsVm, restoreInPlace, restoreToDirectory,
  type ImageFormat, type KvmMode, type ReplacedDisk, type RestoredDisk, type RestoredVm, type RestoreProgress,
} from '../engine/index.js';
import { readPoint, resolvePointId, type PointManifest, type Vault } from '../repository/index.js';
import type { AppContext } from './app-context.js';
import { runJob, runNewJob, type JobContext, type JobBodyResult, type JobRunOutcome } from './job-runner.js';

/** Where a restore writes: new images in a directory (optionally as a new VM), or the VM's own disks in place. */
export type RestoreTarget =
  | { kind: 'directory'; path: string; format?: ImageFormat; force?: boolean; asVm?: { name: string; memoryMiB?: number; cpus?: number; kvm?: KvmMode } }
  | { kind: 'replace' };

export interface RestoreRequest {
  vmName: string;
  /** Point id or unique prefix; default the VM's latest point. */
  point?: string;
  /** Only these disks (not with asVm). */
  disks?: readonly string[];
  target: RestoreTarget;
}

export interface RestoreJobValue {
  point: PointManifest;
  restored: RestoredDisk[] | undefined;
  replaced: ReplacedDisk[] | undefined;
  newVm?: RestoredVm;
  /** Whether the VM's definition was found, so its temp disks (never in a point) are known. */
  definitionKnown?: boolean;
}

export interface RestoreJobOptions {
  signal?: AbortSignal;
  /** Per track: a disk, or "<disk> (qcow2)" for the conversion. */
  onProgress?: (label: string, bytesDone: number, bytesTotal: number) => void;
  onUpdate?: (job: StoredJob) => void;
}

/** The progress track of a disk: the qemu-img conversion to qcow2 is a track of its own. */
export function progressLabel(progress: RestoreProgress): string {
  return progress.phase === 'convert' ? `${progress.disk} (qcow2)` : progress.disk;
}

/**
 * What a restore needs before its job is queued, checked cheaply (no vault): consistent arguments,
 * the VM's definition for a replace, and no soft-deleted item (its data is restorable only after
 * undelete). Throws the error the caller reports; returns the definition (null when unknown).
 */
export async function checkRestore(app: AppContext, request: RestoreRequest) {
  const { target, vmName } = request;
  if (target.kind === 'directory' && target.asVm !== undefined && request.disks !== undefined) {
    throw new BovedaError('INVALID_ARGUMENT', 'a restore as a new VM restores every disk of the point: leave out the disk list');
  }
  if (target.kind === 'directory' && target.asVm !== undefined) {
    // The new VM's name and size are checked before a job is queued (the job would only fail later).
    const { name, memoryMiB, cpus, kvm } = target.asVm;
    checkNewVmName(name);
    if (memoryMiB !== undefined) checkMemoryMiB(memoryMiB);
    if (cpus !== undefined) checkCpus(cpus);
    if (kvm !== undefined && kvm !== 'auto' && kvm !== 'on' && kvm !== 'off') throw new BovedaError('INVALID_ARGUMENT', `invalid KVM mode ${JSON.stringify(kvm)}: use auto, on or off`);
  }
  // For a replace the VM must be defined (its disk paths).
  const definition = target.kind === 'replace' ? await app.catalog.vms.get(vmName) : await app.catalog.vms.find(vmName);
  const item = await app.catalog.items.find(vmName);
  if (item?.state === 'soft-deleted') {
    throw new BovedaError('INVALID_STATE', `VM ${vmName} is soft-deleted (until ${item.purgeAfter}): "boveda undelete ${vmName}" first, then restore`, { details: { state: item.state } });
  }
  return definition;
}

async function pickPoint(vault: Vault, vmName: string, pointId: string | undefined): Promise<PointManifest> {
  if (pointId) {
    const point = await readPoint(vault, await resolvePointId(vault, pointId));
    if (point.subject !== vmName) throw new BovedaError('INVALID_ARGUMENT', `recovery point ${point.pointId} belongs to VM "${point.subject}", not "${vmName}"`);
    return point;
  }
  const latest = await latestPoint(vault, vmName);
  if (!latest) throw new BovedaError('POINT_NOT_FOUND', `VM "${vmName}" has no recovery points`);
  return latest;
}

/**
 * A restore as a job (`boveda restore`, `POST /api/vms/:name/restores`): checkRestore first (its
 * errors are thrown, no job is created), then the job (given as `queued`, or created here) restores
 * the point. The job's result names the point, mode and disks.
 */
export async function runRestoreJob(app: AppContext, request: RestoreRequest, options: RestoreJobOptions = {}, queued?: StoredJob): Promise<JobRunOutcome<RestoreJobValue>> {
  const definition = await checkRestore(app, request);
  const { vmName, target } = request;
  const body = async (job: JobContext): Promise<JobBodyResult<RestoreJobValue>> => {
    const vault = await app.vault();
    const point = await pickPoint(vault, vmName, request.point);
    const totals = new Map<string, [number, number]>();
    const report = (label: string, bytesDone: number, bytesTotal: number) => {
      options.onProgress?.(label, bytesDone, bytesTotal);
      totals.set(label, [bytesDone, bytesTotal]);
      let done = 0;
      let total = 0;
      for (const [d, t] of totals.values()) {
        done += d;
        total += t;
      }
      job.progress(done, total);
    };
    const onJobProgress = (item: RestoreProgress | { disk: string; bytesDone: number; bytesTotal: number }) => report('phase' in item ? progressLabel(item) : item.disk, item.bytesDone, item.bytesTotal);
    if (target.kind === 'directory' && target.asVm !== undefined) {
      const format = target.format ?? 'qcow2';
      // Temp disks are never in a point: the VM's definition (if it still exists) names them.
      const tempDisks = (definition?.disks ?? []).filter((disk) => disk.role === 'temp').map((disk) => disk.name);
      const newVm = await restoreAsVm(vault, point, target.path, {
        name: target.asVm.name, format, memoryMiB: target.asVm.memoryMiB, cpus: target.asVm.cpus, kvm: target.asVm.kvm,
        force: target.force === true, tempDisks, signal: job.signal, onProgress: onJobProgress,
      });
      return {
        value: { point, restored: newVm.disks, replaced: undefined, newVm, definitionKnown: definition !== null },
        result: { pointId: point.pointId, mode: 'new-vm', directory: newVm.directory, format, name: newVm.name, disks: newVm.disks.map((item) => item.disk), script: newVm.script, libvirtXml: newVm.libvirtXml },
      };
    }
    if (target.kind === 'directory') {
      const format = target.format ?? 'raw';
      // From the vault alone: works for a VM whose definition (or disks) are gone.
      const restored = await restoreToDirectory(vault, point, target.path, { disks: request.disks ? [...request.disks] : undefined, format, force: target.force === true, signal: job.signal, onProgress: onJobProgress });
      return { value: { point, restored, replaced: undefined }, result: { pointId: point.pointId, mode: 'new-images', directory: target.path, format, disks: restored.map((item) => item.disk) } };
    }
    const vm = definition!;
    const names = request.disks ?? point.disks.map((disk) => disk.name);
    const targets = names.map((name) => {
      const current = vm.disks.find((disk) => disk.name === name);
      if (!current) throw new BovedaError('DISK_NOT_FOUND', `VM "${vmName}" has no disk "${name}" to replace (its disks: ${vm.disks.map((disk) => disk.name).join(', ')})`);
      return { disk: name, path: current.path };
    });
    if (vm.qemu) await assertQemuVmStopped(vmName, vm.qemu.qmpSocket, job.signal);
    const replaced = await restoreInPlace(vault, point, targets, { signal: job.signal, onProgress: onJobProgress });
    return { value: { point, restored: undefined, replaced }, result: { pointId: point.pointId, mode: 'replace', disks: replaced.map((item) => item.disk), bytesWritten: replaced.reduce((sum, item) => sum + item.bytesWritten, 0) } };
  };
  const runOptions = { signal: options.signal, onUpdate: options.onUpdate };
  if (queued) return runJob(app.catalog, queued, body, runOptions);
  return runNewJob(app.catalog, { type: 'restore', item: vmName, trigger: 'on-demand' }, body, runOptions);
}
