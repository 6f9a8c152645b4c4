/**
 * DiskSource: where a disk's bytes come from during a backup (raw image file, block device; later
 * QEMU over NBD). Rules every implementation keeps (checked by sources/testing/conformance.ts):
 * - open() fails with DISK_NOT_FOUND when the path does not exist, DISK_UNREADABLE when it exists
 *   but cannot be opened or is neither a regular file nor a block device; messages name the path.
 * - sizeBytes is fixed at open. read(offset, target) fills `target` completely from `offset`
 *   (target.length ≤ sizeBytes − offset) or rejects: a short read is DISK_SIZE_CHANGED (the disk
 *   shrank) or DISK_UNREADABLE (I/O error), never partial data.
 * - reads may run concurrently; close() is idempotent and removes anything open() created
 *   (e.g. a snapshot clone), also after a failed backup.
 * - checkUnchangedSize() rejects with DISK_SIZE_CHANGED when the underlying disk's size differs
 *   from sizeBytes (called at the end of a backup).
 */
export interface DiskSource {
  readonly path: string;
  readonly sizeBytes: number;
  /** How the bytes are read: from a point-in-time clone, or in place while the VM may write. */
  readonly snapshot: 'reflink' | 'none';
  /** Why there is no snapshot (file system without reflink, block device), for the point's warnings. */
  readonly snapshotNote: string | null;
  read(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void>;
  checkUnchangedSize(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDiskOptions {
  /** Try a reflink clone first so the VM can keep writing (default true). */
  snapshot?: boolean;
  signal?: AbortSignal;
}
