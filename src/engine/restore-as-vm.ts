import { constants } from 'node:fs';
import { access, link, open, rename, rm } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { BovedaError } from '../core/index.js';
import type { PointManifest, Vault } from '../repository/index.js';
import { throwIfAborted } from '../util/index.js';
import { diskMeta, type DiskRole } from './point-meta.js';
import { restoreToDirectory, type ImageFormat, type RestoredDisk, type RestoreProgress } from './restore-to-directory.js';
import {
  DEFAULT_CPUS, DEFAULT_MEMORY_MIB, bootOrder, checkCpus, checkMemoryMiB, checkNewVmName, libvirtDomainXml, qemuLaunchScript, virtioDiskName,
  type KvmMode, type NewVmSpec,
} from './vm-launch.js';

export interface RestoreAsVmOptions {
  /** The new VM's name: file names, QEMU's -name, libvirt's <name> (see checkNewVmName). */
  name: string;
  /** Image format (default qcow2). */
  format?: ImageFormat;
  memoryMiB?: number;
  cpus?: number;
  kvm?: KvmMode;
  force?: boolean;
  /** Temp disks of the original VM (never backed up): named in the output files as to be recreated. */
  tempDisks?: string[];
  qemuImg?: string;
  signal?: AbortSignal;
  onProgress?: (progress: RestoreProgress) => void;
}

export interface NewVmRestoredDisk extends RestoredDisk {
  role: DiskRole;
  /** The guest's virtio name: vda, vdb, … in boot order. */
  device: string;
}

export interface RestoredVm {
  name: string;
  uuid: string;
  directory: string;
  disks: NewVmRestoredDisk[];
  /** `<dir>/<name>.qemu.sh`: executable, starts the VM with qemu-system-x86_64. */
  script: string;
  /** `<dir>/<name>.libvirt.xml`: `virsh define` it. */
  libvirtXml: string;
  qmpSocket: string;
  memoryMiB: number;
  cpus: number;
  kvm: KvmMode;
  tempDisks: string[];
}

/**
 * "Restore as a new VM": every disk of the point (temp disks are never in a point) restored to
 * `<dir>/<disk>.qcow2` (or .img), plus `<dir>/<name>.qemu.sh` and `<dir>/<name>.libvirt.xml` with
 * the same disk layout: os disks first (the first one boots), then the others, in the point's order.
 * All targets are refused up front when one exists (unless force); a failure or cancel removes
 * everything this call wrote.
 */
export async function restoreAsVm(vault: Vault, point: PointManifest, dir: string, options: RestoreAsVmOptions): Promise<RestoredVm> {
  const name = checkNewVmName(options.name);
  const memoryMiB = checkMemoryMiB(options.memoryMiB ?? DEFAULT_MEMORY_MIB);
  const cpus = checkCpus(options.cpus ?? DEFAULT_CPUS);
  const kvm = options.kvm ?? 'auto';
  if (kvm !== 'auto' && kvm !== 'on' && kvm !== 'off') throw new BovedaError('INVALID_ARGUMENT', `invalid KVM mode ${JSON.stringify(kvm)}: use auto, on or off`);
  const format = options.format ?? 'qcow2';
  const directory = resolve(dir);
  const ordered = bootOrder(point.disks.map((disk) => ({ name: disk.name, role: diskMeta(disk).role })).filter((disk) => disk.role !== 'temp'));
  if (ordered.length === 0) throw new BovedaError('INVALID_ARGUMENT', `recovery point ${point.pointId} has no disk to restore`);
  const script = join(directory, `${name}.qemu.sh`);
  const libvirtXml = join(directory, `${name}.libvirt.xml`);
  const qmpSocket = join(directory, `${name}.qmp.sock`);
  const tempDisks = options.tempDisks ?? [];

  const restored = await restoreToDirectory(vault, point, directory, {
    disks: ordered.map((disk) => disk.name), format, force: options.force, alsoRefuse: [script, libvirtXml], removeAllOnFailure: true,
    qemuImg: options.qemuImg, signal: options.signal, onProgress: options.onProgress,
  });
  const written: string[] = [];
  try {
    const disks = restored.map((item, index) => ({ ...item, role: ordered[index]!.role, device: virtioDiskName(index) }));
    const uuid = randomUUID();
    const notes = tempDisks.length === 0 ? [] : [
      `Temp disk${tempDisks.length === 1 ? '' : 's'} of the original VM not restored (never backed up): ${tempDisks.join(', ')}; if the VM needs ${tempDisks.length === 1 ? 'it' : 'them'}, create ${tempDisks.length === 1 ? 'it' : 'them'} empty (qemu-img create -f qcow2 FILE SIZE) and add ${tempDisks.length === 1 ? 'it' : 'them'}.`,
    ];
    const spec: NewVmSpec = {
      name, uuid, memoryMiB, cpus, kvm, qmpSocket, notes,
      disks: disks.map((disk) => ({ name: disk.disk, role: disk.role, path: disk.path, format: disk.format })),
      origin: `Restored by Boveda from recovery point ${point.pointId} of VM "${point.subject}" (${point.createdAt}).`,
    };
    const kvmAvailable = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false);
    throwIfAborted(options.signal, 'the restore');
    await writeNewFile(script, qemuLaunchScript(spec), 0o755, options.force === true, written);
    await writeNewFile(libvirtXml, libvirtDomainXml(spec, kvmAvailable), 0o644, options.force === true, written);
    return { name, uuid, directory, disks, script, libvirtXml, qmpSocket, memoryMiB, cpus, kvm, tempDisks };
  } catch (error) {
    for (const path of [...written, ...restored.map((item) => item.path)]) await rm(path, { force: true });
    throw error;
  }
}

/** Writes a file durably through a temporary sibling renamed into place (never over a file unless `force`). */
async function writeNewFile(path: string, text: string, mode: number, force: boolean, written: string[]): Promise<void> {
  const temp = `${path}.boveda-tmp-${randomBytes(6).toString('hex')}`;
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(text);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (!force) {
      // link() fails when the target exists: no window in which a file appearing is overwritten.
      await link(temp, path);
      await rm(temp, { force: true });
    } else {
      await rename(temp, path);
    }
    written.push(path);
  } catch (error) {
    await rm(temp, { force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new BovedaError('RESTORE_TARGET_EXISTS', `${path} exists; restore never overwrites without --force`, { cause: error });
    if (error instanceof BovedaError) throw error;
    throw new BovedaError('STORAGE_IO', `cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}
