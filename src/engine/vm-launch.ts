import { BovedaError } from '../core/index.js';
import type { DiskRole } from './point-meta.js';
import type { ImageFormat } from './restore-to-directory.js';

/**
 * What "restore as a new VM" writes next to the images: a shell script with a ready
 * qemu-system-x86_64 command line and a libvirt domain XML, both with the point's disk layout.
 * Pure text generation; restore-as-vm.ts writes the files.
 */

export type KvmMode = 'auto' | 'on' | 'off';

export interface NewVmDisk {
  /** The disk's name in the recovery point. */
  name: string;
  role: DiskRole;
  /** Absolute path of the restored image. */
  path: string;
  format: ImageFormat;
}

export interface NewVmSpec {
  name: string;
  uuid: string;
  memoryMiB: number;
  cpus: number;
  /** auto: the script uses KVM when /dev/kvm is usable where it runs; on: always; off: never (TCG). */
  kvm: KvmMode;
  /** In boot order (see bootOrder): the first one boots. */
  disks: NewVmDisk[];
  /** Absolute path of the QMP monitor socket the script opens. */
  qmpSocket: string;
  /** One line on where the VM comes from (recovery point, VM, time). */
  origin: string;
  /** More lines for the reader (e.g. temp disks that were not restored). */
  notes?: string[];
}

export const DEFAULT_MEMORY_MIB = 2048;
export const DEFAULT_CPUS = 2;
const MAX_MEMORY_MIB = 16 * 1024 * 1024;
const MAX_CPUS = 1024;

/**
 * A new VM's name becomes file names (`NAME.qemu.sh`), QEMU's -name and libvirt's <name>: 1 to 64
 * printable characters, spaces and quotes allowed, no "/" and no control characters, not starting
 * with "." or "-" and not starting or ending with a space.
 */
export function checkNewVmName(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > 64 || /[/\u0000-\u001f\u007f]/u.test(name) || /^[.-]/.test(name) || name.trim() !== name) {
    throw new BovedaError('INVALID_ARGUMENT', `invalid name for the new VM ${JSON.stringify(name)}: use 1 to 64 printable characters without "/", not starting with "." or "-" nor starting or ending with a space`);
  }
  return name;
}

export function checkMemoryMiB(value: number): number {
  if (!Number.isInteger(value) || value < 16 || value > MAX_MEMORY_MIB) throw new BovedaError('INVALID_ARGUMENT', `invalid memory ${value}: give whole MiB from 16 to ${MAX_MEMORY_MIB}`);
  return value;
}

export function checkCpus(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_CPUS) throw new BovedaError('INVALID_ARGUMENT', `invalid CPU count ${value}: give 1 to ${MAX_CPUS}`);
  return value;
}

/** Disks in boot order: os disks first, then the others, each group in the point's order. */
export function bootOrder<T extends { role: DiskRole }>(disks: readonly T[]): T[] {
  return [...disks.filter((disk) => disk.role === 'os'), ...disks.filter((disk) => disk.role !== 'os')];
}

/** virtio disk names as libvirt and Linux count them: vda … vdz, vdaa, vdab, … */
export function virtioDiskName(index: number): string {
  let name = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(97 + ((n - 1) % 26)) + name;
  return `vd${name}`;
}

/** One POSIX shell word: single quotes, each ' written as '\''. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./=:,@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A value inside a QEMU `key=value,…` option: commas are doubled. */
export function qemuOptionValue(value: string): string {
  return value.replace(/,/g, ',,');
}

/** Text for XML content and single- or double-quoted attributes; refuses characters XML 1.0 cannot hold. */
export function xmlEscape(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/u.test(value)) {
    throw new BovedaError('INVALID_ARGUMENT', `${JSON.stringify(value)} holds control characters an XML file cannot hold`);
  }
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

/** A line of a shell comment: control characters (a newline would end the comment) become "?". */
function commentText(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u001f\u007f]/g, '?');
}

function checkSpec(spec: NewVmSpec): void {
  checkNewVmName(spec.name);
  checkMemoryMiB(spec.memoryMiB);
  checkCpus(spec.cpus);
  if (spec.disks.length === 0) throw new BovedaError('INVALID_ARGUMENT', `the new VM ${JSON.stringify(spec.name)} has no disk`);
}

/** The -blockdev JSON of disk `index` (JSON: no QEMU option escaping of the path is needed). */
function blockdev(disk: NewVmDisk, index: number): string {
  return JSON.stringify({
    driver: disk.format, 'node-name': `disk${index}`, discard: 'unmap',
    file: { driver: 'file', 'node-name': `disk${index}-file`, filename: disk.path, discard: 'unmap' },
  });
}

/**
 * An executable POSIX shell script that starts the VM with qemu-system-x86_64 (q35, virtio-blk
 * disks in boot order, the first one bootable, a QMP socket). Arguments to the script and the
 * white-space separated words of BOVEDA_QEMU_EXTRA are appended to QEMU's command line (e.g.
 * `-S -display none`); BOVEDA_QEMU_SYSTEM names another QEMU binary.
 */
export function qemuLaunchScript(spec: NewVmSpec): string {
  checkSpec(spec);
  const lines = [
    '#!/bin/sh',
    `# Starts the VM ${commentText(JSON.stringify(spec.name))} with QEMU. Written by "boveda restore --as-vm".`,
    `# ${commentText(spec.origin)}`,
    '# Disks, in boot order:',
    ...spec.disks.map((disk, index) => `#   ${virtioDiskName(index)}: ${commentText(disk.name)} (${disk.role}, ${disk.format}) ${commentText(disk.path)}`),
    ...(spec.notes ?? []).map((note) => `# ${commentText(note)}`),
    `# QMP monitor: ${commentText(spec.qmpSocket)}`,
    '# Arguments to this script, and the words of BOVEDA_QEMU_EXTRA, are added to QEMU\'s command line,',
    '# e.g. BOVEDA_QEMU_EXTRA=\'-S -display none\' to start it paused without a window.',
    '# BOVEDA_QEMU_SYSTEM names another QEMU binary.',
    'set -eu',
    'set -f',
    'qemu=${BOVEDA_QEMU_SYSTEM:-qemu-system-x86_64}',
  ];
  if (spec.kvm === 'auto') {
    lines.push('accel=', 'if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then accel=\'-enable-kvm -cpu host\'; fi');
  } else {
    lines.push(spec.kvm === 'on' ? 'accel=\'-enable-kvm -cpu host\'' : 'accel=');
  }
  const args: string[] = [
    `-name ${shellQuote(`guest=${qemuOptionValue(spec.name)}`)}`,
    '-machine q35',
    '$accel',
    `-m ${spec.memoryMiB}`,
    `-smp ${spec.cpus}`,
  ];
  spec.disks.forEach((disk, index) => {
    args.push(`-blockdev ${shellQuote(blockdev(disk, index))}`);
    args.push(`-device virtio-blk-pci,drive=disk${index},id=${virtioDiskName(index)}${index === 0 ? ',bootindex=1' : ''}`);
  });
  args.push(`-chardev ${shellQuote(`socket,id=boveda-qmp,path=${qemuOptionValue(spec.qmpSocket)},server=on,wait=off`)}`);
  args.push('-mon chardev=boveda-qmp,mode=control');
  args.push('${BOVEDA_QEMU_EXTRA:-} "$@"');
  lines.push(`exec "$qemu" \\`, ...args.map((arg, index) => `  ${arg}${index < args.length - 1 ? ' \\' : ''}`));
  return `${lines.join('\n')}\n`;
}

/**
 * A libvirt domain (`virsh define FILE`): name, a new UUID, memory, vCPUs, q35 hvm, one virtio
 * file disk per restored image in boot order (the first with boot order 1), a serial console.
 * Domain type 'kvm' when `kvmAvailable` (or kvm 'on'), else 'qemu'. No network interface: add one.
 */
export function libvirtDomainXml(spec: NewVmSpec, kvmAvailable: boolean): string {
  checkSpec(spec);
  const kvm = spec.kvm === 'on' || (spec.kvm === 'auto' && kvmAvailable);
  const description = [spec.origin, ...(spec.notes ?? [])].join(' ');
  const lines = [
    `<domain type='${kvm ? 'kvm' : 'qemu'}'>`,
    `  <name>${xmlEscape(spec.name)}</name>`,
    `  <uuid>${xmlEscape(spec.uuid)}</uuid>`,
    `  <description>${xmlEscape(description)}</description>`,
    `  <memory unit='MiB'>${spec.memoryMiB}</memory>`,
    `  <currentMemory unit='MiB'>${spec.memoryMiB}</currentMemory>`,
    `  <vcpu placement='static'>${spec.cpus}</vcpu>`,
    '  <os>',
    '    <type arch=\'x86_64\' machine=\'q35\'>hvm</type>',
    '  </os>',
    '  <features>',
    '    <acpi/>',
    '    <apic/>',
    '  </features>',
    ...(kvm ? ['  <cpu mode=\'host-passthrough\'/>'] : []),
    '  <devices>',
  ];
  spec.disks.forEach((disk, index) => {
    lines.push(
      '    <disk type=\'file\' device=\'disk\'>',
      `      <driver name='qemu' type='${disk.format}' discard='unmap'/>`,
      `      <source file='${xmlEscape(disk.path)}'/>`,
      `      <target dev='${virtioDiskName(index)}' bus='virtio'/>`,
      ...(index === 0 ? ['      <boot order=\'1\'/>'] : []),
      '    </disk>',
    );
  });
  lines.push(
    '    <serial type=\'pty\'/>',
    '    <console type=\'pty\'/>',
    '  </devices>',
    '</domain>',
  );
  return `${lines.join('\n')}\n`;
}
