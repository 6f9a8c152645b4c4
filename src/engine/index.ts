/**
 * engine: the use cases over the vault and the disk sources.
 * - backupVm: one recovery point of a VM; full first, then incremental by keyed-checksum
 *   comparison with the VM's latest point; scripts, snapshots and consistency recorded in the point.
 * - restoreToDirectory (new sparse raw images, or qcow2 through qemu-img) and restoreInPlace (only
 *   differing blocks written); restoreAsVm: the images plus a QEMU launch script and a libvirt
 *   domain XML with the point's disk layout (vm-launch.ts generates both).
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
