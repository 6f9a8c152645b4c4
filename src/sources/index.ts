/**
 * sources: where a disk's bytes come from during a backup. Depends on core and util only.
 *
 * Concepts
 * - DiskSource (disk-source.ts): an open disk of fixed size (sizeBytes, taken at open) that
 *   fills buffers from offsets, reports how it reads (snapshot 'reflink': a point-in-time clone;
 *   'none': in place while the VM may write, with snapshotNote saying why, for the point's
 *   warnings), checks at the end whether the disk was resized, and closes.
 * - raw/ (openRawDisk): regular image files and block devices. An image is cloned with a reflink
 *   into a hidden sibling `.<image>.boveda-snap-<16 hex>` when the file system can (btrfs, xfs
 *   with reflink, bcachefs, …); otherwise it is read in place. Block devices are read in place;
 *   their size comes from /sys/dev/block/<major>:<minor>/size (Linux).
 * - qemu/nbd (NbdClient): an NBD client — structured replies, base:allocation and dirty-bitmap block
 *   status, pipelined reads — to read QEMU exports; qemu/qmp (QmpClient, GuestAgentClient): the QMP
 *   monitor and guest-agent clients that drive snapshots, bitmaps and file-system freezes.
 * - qemu/image: image files of stopped QEMU VMs — the qcow2 magic probe (no qemu-img needed for
 *   raw files), `qemu-img info` / `qemu-img bitmap` (offline persistent bitmaps; a lock held by a
 *   running QEMU is DISK_UNREADABLE saying to use --qemu-qmp), and read-only `qemu-nbd` exports
 *   (optionally with a dirty bitmap, -B) stopped by pid.
 * - testing/ (runDiskSourceConformance): the node:test suite every implementation runs.
 *
 * Invariants
 * - open() fails with DISK_NOT_FOUND (path missing) or DISK_UNREADABLE (permissions, I/O, not a
 *   regular file or block device, size unknown); every message names the disk's path.
 * - read() fills the whole target or rejects; never partial data. A short read is
 *   DISK_SIZE_CHANGED (the disk shrank; the message names both sizes) or DISK_UNREADABLE (I/O
 *   error, with its cause). Ranges outside [0, sizeBytes] are INVALID_ARGUMENT. An aborted signal
 *   is ABORTED, checked before every read call.
 * - Reads may run concurrently. close() is idempotent, lets reads in flight finish, refuses later ones, and removes what
 *   open() created (the clone), also after failures; an open() that fails or is aborted halfway
 *   leaves nothing behind.
 * - checkUnchangedSize() looks at the original disk, never at the clone.
 * - Sources only read: nothing here writes to a disk or a device.
 */
export * from './disk-source.js';
export { openRawDisk, diskSize, type RawDiskHooks } from './raw/raw-disk-source.js';
export { isSnapshotCloneName } from './raw/snapshot-clone.js';
export * from './qemu/nbd/index.js';
export * from './qemu/qmp/index.js';
export {
  probeImageFormat, readImageInfo, changeImageBitmap, startQemuNbd, imageInUseError,
  type ImageInfo, type ImageBitmap, type ImageBitmapChange, type QemuNbdExport,
} from './qemu/image/qemu-image.js';
