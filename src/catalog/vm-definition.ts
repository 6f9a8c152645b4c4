/**
 * What the catalog knows about a protected VM. `VmDefinition` is the part the backup engine needs;
 * `VmRecord` adds bookkeeping the catalog keeps. Inputs (`VmInput`, `VmChanges`, `DiskInput`) are
 * what callers give; vm-rules.ts turns them into definitions or refuses them.
 */

/** The disk roles, in a frozen order. Stored as text in vm_disks.role; never rename one. */
export const DISK_ROLES = ['os', 'data', 'temp'] as const;

/**
 * os: the disk the VM boots from; data: any other disk worth keeping; temp: scratch space (swap,
 * caches) that is never backed up and is recreated empty (or left alone) on restore.
 */
export type DiskRole = (typeof DISK_ROLES)[number];

export interface VmDiskDefinition {
  /** Unique within the VM; the disk's identity across recovery points (see vm-rules.ts for defaults). */
  readonly name: string;
  /** Absolute path of a raw image file or a block device, as the user gave it (symlinks are kept). */
  readonly path: string;
  readonly role: DiskRole;
  /** A disk of a QEMU VM: how the running QEMU names it (qdev path and/or block node name). */
  readonly qemu?: QemuDiskIdentity | null;
}

export interface QemuDiskIdentity {
  readonly qdev: string | null;
  readonly node: string | null;
}

/** A running QEMU VM: Boveda's QMP monitor socket and the optional guest-agent socket. */
export interface QemuVmDefinition {
  readonly qmpSocket: string;
  readonly guestAgentSocket: string | null;
}

/** Everything the backup engine needs to back up one VM. */
export interface VmDefinition {
  readonly name: string;
  /** In the VM's disk order (the order they were added). Includes temp disks: filter with disksToBackUp(). */
  readonly disks: readonly VmDiskDefinition[];
  /** Shell command run before the disks are read (e.g. to freeze file systems); null for none. */
  readonly preScript: string | null;
  /** Shell command run after the disks were read, also when the backup failed; null for none. */
  readonly postScript: string | null;
  /** How long each script may run before it is killed and counted as failed. */
  readonly scriptTimeoutSeconds: number;
  /** Set for a running QEMU VM (backed up over QMP + NBD); null for image files and block devices. */
  readonly qemu?: QemuVmDefinition | null;
}

/** A VM as stored in the catalog. */
export interface VmRecord extends VmDefinition {
  /** ISO-8601 UTC. */
  readonly createdAt: string;
  /** ISO-8601 UTC; changes whenever the definition changes. */
  readonly updatedAt: string;
  readonly notes: string | null;
}

/** A disk as given by a caller: role and name are optional (see vm-rules.ts for the defaults). */
export interface DiskInput {
  path: string;
  role?: DiskRole | undefined;
  name?: string | undefined;
  qemu?: QemuDiskIdentity | null | undefined;
}

export interface VmInput {
  name: string;
  /** At least one; at least one disk that is not temp. */
  disks: readonly DiskInput[];
  preScript?: string | null | undefined;
  postScript?: string | null | undefined;
  /** Default DEFAULT_SCRIPT_TIMEOUT_SECONDS. */
  scriptTimeoutSeconds?: number | undefined;
  notes?: string | null | undefined;
  qemu?: QemuVmDefinition | null | undefined;
}

/** A change to a VM: undefined leaves a field as it is, null clears it. Disks are removed first, then added. */
export interface VmChanges {
  preScript?: string | null | undefined;
  postScript?: string | null | undefined;
  scriptTimeoutSeconds?: number | undefined;
  notes?: string | null | undefined;
  /** Names of disks to remove. */
  removeDisks?: readonly string[] | undefined;
  addDisks?: readonly DiskInput[] | undefined;
}

/** The disks a backup reads: every disk except temp ones, in the VM's order. */
export function disksToBackUp(vm: VmDefinition): VmDiskDefinition[] {
  return vm.disks.filter((disk) => disk.role !== 'temp');
}
