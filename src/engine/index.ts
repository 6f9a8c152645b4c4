/**
 * engine: the use cases over the vault and the disk sources.
 * - backupVm: one recovery point of a VM; full first, then incremental by keyed-checksum
 *   comparison with the VM's latest point; scripts, snapshots and consistency recorded in the point.
 *   qcow2 image disks (stopped QEMU VMs) are read through qemu-nbd with offline checkpoint bitmaps
 *   (StoppedQcow2Disk, backup-qemu-image.ts).
 * - backupQemuVm: running QEMU VMs over QMP + NBD; both QEMU paths share qemu-disk.ts (the
 *   change-detection decision, the NBD read).
 * - restoreToDirectory (new sparse raw images, or qcow2 through qemu-img) and restoreInPlace (only
 *   differing blocks written; a qcow2 image restored beside it and renamed over it; refused with
 *   VM_RUNNING while a QEMU VM's monitor answers); restoreAsVm: the images plus a QEMU launch script
 *   and a libvirt domain XML with the point's disk layout (vm-launch.ts generates both).
 * - listVmPoints: the stable JSON shape of `boveda points`.
 * Invariants: a VM has at most one backup or in-place restore at a time (vault lock scope); a failed
 * or cancelled operation leaves no point and no partial restore target.
 */
export * from './backup-vm.js';
export * from './backup-qemu-vm.js';
export * from './expire-points.js';
export * from './list-points.js';
export * from './point-meta.js';
export * from './qemu-img.js';
export * from './restore-as-vm.js';
export * from './qemu-vm-state.js';
export * from './restore-in-place.js';
export * from './restore-to-directory.js';
export * from './run-script.js';
export * from './vm-launch.js';
