import { access, constants, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  Catalog, checkVmName, planDisks,
  type CatalogOptions, type DiskInput, type DiskRole, type VmChanges, type VmDiskDefinition, type VmInput, type VmRecord,
} from '../catalog/index.js';
import { BovedaError, isBovedaError } from '../core/index.js';
import { diskSize, QmpClient, type BlockDeviceNode } from '../sources/index.js';
import { catalogFile, ensureDataDir } from './data-dir.js';

/** A disk of a VM as it is on this machine now (for `vm show`). */
export interface DiskStatus extends VmDiskDefinition {
  /** False for temp disks: they are never backed up. */
  backedUp: boolean;
  exists: boolean;
  /** null when the path does not exist. */
  kind: 'file' | 'block-device' | 'other' | null;
  /** Current size; null when it cannot be found. */
  sizeBytes: number | null;
  readable: boolean;
  /** What would make a backup of this disk fail now, or null. */
  problem: string | null;
}

export interface VmStatus {
  vm: VmRecord;
  disks: DiskStatus[];
  /** QEMU VMs: whether Boveda's QMP socket answers now, and QEMU's run state. */
  qemu?: { reachable: boolean; status: string | null; problem: string | null };
}

/** `vm add NAME --qemu-qmp SOCKET`: disks are discovered over QMP. */
export interface QemuVmInput {
  name: string;
  qmpSocket: string;
  guestAgentSocket?: string | null;
  /** Role by qdev path, device id (e.g. "vda"), or node name. */
  roles?: ReadonlyMap<string, DiskRole>;
  /** Disks never backed up (stored as temp), by the same keys. */
  exclude?: readonly string[];
  preScript?: string | null;
  postScript?: string | null;
  scriptTimeoutSeconds?: number;
  notes?: string | null;
  timeoutMs?: number;
}

/** Whether a QEMU device is the one `key` names: qdev path, -device id, node name or legacy drive name. */
function deviceMatches(key: string, device: BlockDeviceNode): boolean {
  return key === device.qdev || key === device.nodeName || (device.device !== '' && key === device.device)
    || (device.qdev !== undefined && /^\/machine\/peripheral\/([^/]+)\//.exec(device.qdev)?.[1] === key);
}

/**
 * The VM use cases over the catalog of a data directory. Disk paths are resolved against the
 * current directory and stored absolute (symlinks kept). A disk being added must exist
 * (DISK_NOT_FOUND) and be a regular file or a block device (DISK_UNREADABLE), and must not be the
 * same file or device as another disk of the VM under another path (INVALID_ARGUMENT); every
 * message names the path. Disks already defined are not re-checked: one may be missing for a while
 * (a detached volume) and `describeVm` says so.
 */
export class VmService {
  readonly catalog: Catalog;

  constructor(catalog: Catalog) {
    this.catalog = catalog;
  }

  /** Opens the catalog of `dataDir`, creating the directory (0700) and the database on first use. */
  static async open(dataDir: string, options: CatalogOptions = {}): Promise<VmService> {
    const dir = await ensureDataDir(dataDir);
    return new VmService(await Catalog.open(catalogFile(dir), options));
  }

  async addVm(input: VmInput): Promise<VmRecord> {
    const name = checkVmName(input.name);
    const disks = input.disks.map(absoluteDisk);
    // Cheap checks first: a taken name or a malformed disk list fails before any file is touched.
    if (await this.catalog.vms.find(name)) throw new BovedaError('VM_EXISTS', `VM ${name} already exists`);
    await checkNewDisks(planDisks(name, [], disks), []);
    return this.catalog.vms.add({ ...input, name, disks });
  }

  /**
   * Defines a running QEMU VM: its disks are the block devices QMP reports (image file, qdev path,
   * node name). Roles: the first disk os, the others data, unless `roles` says otherwise; `exclude`d
   * disks are temp (never backed up). QEMU_UNREACHABLE when the socket does not answer.
   */
  async addQemuVm(input: QemuVmInput): Promise<VmRecord> {
    const name = checkVmName(input.name);
    if (await this.catalog.vms.find(name)) throw new BovedaError('VM_EXISTS', `VM ${name} already exists`);
    const qmpSocket = resolve(input.qmpSocket);
    const qmp = await QmpClient.connect(qmpSocket, { timeoutMs: input.timeoutMs ?? 10_000 });
    let devices: BlockDeviceNode[];
    try {
      devices = await qmp.blockDeviceNodes();
    } finally {
      qmp.close();
    }
    const describe = (device: BlockDeviceNode) => device.qdev ?? device.nodeName;
    for (const key of [...(input.roles?.keys() ?? []), ...(input.exclude ?? [])]) {
      if (!devices.some((device) => deviceMatches(key, device))) {
        throw new BovedaError('INVALID_ARGUMENT', `VM ${name} has no disk "${key}" (QEMU reports: ${devices.map(describe).join(', ') || 'no disks'})`);
      }
    }
    if (devices.length === 0) throw new BovedaError('INVALID_ARGUMENT', `QEMU at ${qmpSocket} reports no disks`);
    const disks: DiskInput[] = devices.map((device, index) => {
      const excluded = (input.exclude ?? []).some((key) => deviceMatches(key, device));
      const role = [...(input.roles ?? new Map<string, DiskRole>())].find(([key]) => deviceMatches(key, device))?.[1];
      return {
        path: device.file,
        role: excluded ? 'temp' : role ?? (index === 0 ? 'os' : 'data'),
        qemu: { qdev: device.qdev ?? null, node: device.nodeName },
      };
    });
    return this.catalog.vms.add({
      name, disks, preScript: input.preScript, postScript: input.postScript, scriptTimeoutSeconds: input.scriptTimeoutSeconds, notes: input.notes,
      qemu: { qmpSocket, guestAgentSocket: input.guestAgentSocket ? resolve(input.guestAgentSocket) : null },
    });
  }

  /** Every VM, ordered by name. */
  async listVms(): Promise<VmRecord[]> {
    return this.catalog.vms.list();
  }

  /** VM_NOT_FOUND when there is none. */
  async getVm(name: string): Promise<VmRecord> {
    return this.catalog.vms.get(name);
  }

  /** The VM with each disk's current state on this machine. */
  async describeVm(name: string): Promise<VmStatus> {
    const vm = await this.catalog.vms.get(name);
    const disks = await Promise.all(vm.disks.map(diskStatus));
    if (!vm.qemu) return { vm, disks };
    try {
      const qmp = await QmpClient.connect(vm.qemu.qmpSocket, { timeoutMs: 3000 });
      try {
        const status = await qmp.queryStatus({ timeoutMs: 3000 });
        return { vm, disks, qemu: { reachable: true, status: status.status, problem: null } };
      } finally {
        qmp.close();
      }
    } catch (error) {
      return { vm, disks, qemu: { reachable: false, status: null, problem: error instanceof Error ? error.message : String(error) } };
    }
  }

  /** Removes the definition only: the VM's recovery points stay in the vault. */
  async removeVm(name: string): Promise<VmRecord> {
    return this.catalog.vms.remove(name);
  }

  /** Changes scripts, timeout, notes; removes disks (by name), then adds disks (checked like addVm's). */
  async updateVm(name: string, changes: VmChanges): Promise<VmRecord> {
    const addDisks = (changes.addDisks ?? []).map(absoluteDisk);
    if (addDisks.length > 0) {
      const vm = await this.catalog.vms.get(name);
      // Malformed specs and name clashes fail before any file is touched; kept disks are the same objects.
      const planned = planDisks(vm.name, vm.disks, addDisks, changes.removeDisks ?? []);
      const kept = vm.disks.filter((disk) => planned.includes(disk));
      await checkNewDisks(planned.filter((disk) => !kept.includes(disk)), kept);
    }
    return this.catalog.vms.update(name, { ...changes, addDisks });
  }

  /** Idempotent. */
  async close(): Promise<void> {
    await this.catalog.close();
  }
}

/** Runs `body` with the VM service of `dataDir` and always closes it. */
export async function withVmService<T>(dataDir: string, body: (service: VmService) => Promise<T>, options: CatalogOptions = {}): Promise<T> {
  const service = await VmService.open(dataDir, options);
  try {
    return await body(service);
  } finally {
    await service.close();
  }
}

function absoluteDisk(disk: DiskInput): DiskInput {
  // An empty path stays empty so the catalog's rules refuse it (resolve('') would be the current directory).
  return { ...disk, path: disk.path === '' ? '' : resolve(disk.path) };
}

/** A file's or device's identity, so two paths to the same disk (a symlink, a bind mount) are caught. */
async function identity(path: string): Promise<string | null> {
  try {
    const info = await stat(path, { bigint: true });
    return info.isBlockDevice() ? `block ${info.rdev}` : `file ${info.dev}:${info.ino}`;
  } catch {
    return null;
  }
}

async function checkNewDisks(added: readonly VmDiskDefinition[], kept: readonly VmDiskDefinition[]): Promise<void> {
  const seen = new Map<string, string>();
  for (const disk of kept) {
    const id = await identity(disk.path);
    if (id !== null) seen.set(id, disk.path);
  }
  for (const disk of added) {
    // DISK_NOT_FOUND when missing, DISK_UNREADABLE when not a regular file or block device.
    await diskSize(disk.path);
    const id = await identity(disk.path);
    const other = id === null ? undefined : seen.get(id);
    if (other !== undefined) throw new BovedaError('INVALID_ARGUMENT', `disk ${disk.path} is the same file or device as ${other}`);
    if (id !== null) seen.set(id, disk.path);
  }
}

async function diskStatus(disk: VmDiskDefinition): Promise<DiskStatus> {
  const status: DiskStatus = { ...disk, backedUp: disk.role !== 'temp', exists: false, kind: null, sizeBytes: null, readable: false, problem: null };
  try {
    const info = await stat(disk.path);
    status.exists = true;
    status.kind = info.isFile() ? 'file' : info.isBlockDevice() ? 'block-device' : 'other';
  } catch (error) {
    status.exists = (error as NodeJS.ErrnoException).code !== 'ENOENT' && (error as NodeJS.ErrnoException).code !== 'ENOTDIR';
  }
  try {
    status.sizeBytes = await diskSize(disk.path);
    await access(disk.path, constants.R_OK);
    status.readable = true;
  } catch (error) {
    status.problem = isBovedaError(error) ? error.message : `cannot read disk ${disk.path}: ${(error as Error).message}`;
  }
  return status;
}
