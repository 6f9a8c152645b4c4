import { isAbsolute, normalize } from 'node:path';
import { BovedaError } from '../core/index.js';
import { DISK_ROLES, type DiskInput, type DiskRole, type VmDiskDefinition } from './vm-definition.js';

/**
 * Every rule a VM definition obeys, in one place. The catalog applies them before it writes; the CLI
 * and API call the same functions to refuse bad input early. All failures are INVALID_ARGUMENT and
 * name the offending value — except a disk named for removal that the VM does not have (DISK_NOT_FOUND).
 */

/** VM names: a letter or digit, then up to 63 letters, digits, dots, underscores or dashes. */
export const VM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Disk names follow the same pattern (they become file names on restore: `<disk>.img`). */
export const DISK_NAME_PATTERN = VM_NAME_PATTERN;
export const DEFAULT_SCRIPT_TIMEOUT_SECONDS = 300;
export const MAX_SCRIPT_TIMEOUT_SECONDS = 24 * 60 * 60;
export const MAX_SCRIPT_LENGTH = 4096;
export const MAX_NOTES_LENGTH = 4096;
export const MAX_PATH_LENGTH = 4096;

function invalid(message: string): BovedaError {
  return new BovedaError('INVALID_ARGUMENT', message);
}

export function checkVmName(name: unknown): string {
  if (typeof name !== 'string' || !VM_NAME_PATTERN.test(name)) {
    throw invalid(`invalid VM name ${JSON.stringify(name)}: use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return name;
}

export function checkDiskName(name: unknown): string {
  if (typeof name !== 'string' || !DISK_NAME_PATTERN.test(name)) {
    throw invalid(`invalid disk name ${JSON.stringify(name)}: use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return name;
}

export function isDiskRole(value: unknown): value is DiskRole {
  return typeof value === 'string' && (DISK_ROLES as readonly string[]).includes(value);
}

export function checkDiskRole(value: unknown): DiskRole {
  if (!isDiskRole(value)) throw invalid(`invalid disk role ${JSON.stringify(value)}: use ${DISK_ROLES.join(', ')}`);
  return value;
}

/** Disk paths are stored absolute and normalized ("/a//b/../c" → "/a/c"); symlinks are not resolved. */
export function checkDiskPath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) throw invalid('a disk path is empty');
  if (path.includes('\0')) throw invalid(`disk path ${JSON.stringify(path)} contains a NUL character`);
  if (!isAbsolute(path)) throw invalid(`disk path ${JSON.stringify(path)} is not absolute`);
  if (path.length > MAX_PATH_LENGTH) throw invalid(`disk path ${JSON.stringify(path.slice(0, 40))}… is longer than ${MAX_PATH_LENGTH} characters`);
  return normalize(path);
}

/** A pre or post script: a non-blank shell command line, or null for none. */
export function checkScript(which: 'pre' | 'post', value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== 'string' || value.trim().length === 0) throw invalid(`the ${which}-script is empty (to remove it, clear it instead)`);
  if (value.includes('\0')) throw invalid(`the ${which}-script contains a NUL character`);
  if (value.length > MAX_SCRIPT_LENGTH) throw invalid(`the ${which}-script is longer than ${MAX_SCRIPT_LENGTH} characters`);
  return value;
}

export function checkScriptTimeout(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_SCRIPT_TIMEOUT_SECONDS) {
    throw invalid(`invalid script timeout ${JSON.stringify(value)}: use a whole number of seconds from 1 to ${MAX_SCRIPT_TIMEOUT_SECONDS}`);
  }
  return value;
}

export function checkNotes(value: unknown): string | null {
  if (value === null || value === '') return null;
  if (typeof value !== 'string') throw invalid('notes must be text');
  if (value.length > MAX_NOTES_LENGTH) throw invalid(`notes are longer than ${MAX_NOTES_LENGTH} characters`);
  return value;
}

/**
 * The disk list of a VM after removing `remove` (by name) and then appending `add`, with defaults
 * filled in and every rule checked:
 * - role: "os" for a disk added to a VM that has no disk yet (the first disk), "data" for the others;
 * - name: "disk0", "disk1", … — the lowest "disk<N>" not used by a kept disk or by an explicit name in
 *   `add` (names never derive from file names: those may clash or hold characters a name may not);
 * - names and paths are unique within the VM; the VM keeps at least one disk that is not temp.
 * `vmName` only appears in messages.
 */
export function planDisks(
  vmName: string,
  existing: readonly VmDiskDefinition[],
  add: readonly DiskInput[],
  remove: readonly string[] = [],
): VmDiskDefinition[] {
  const removing = new Set<string>();
  for (const name of remove) {
    if (!existing.some((disk) => disk.name === name)) throw new BovedaError('DISK_NOT_FOUND', `VM ${vmName} has no disk named ${JSON.stringify(name)}`);
    if (removing.has(name)) throw invalid(`disk ${name} of VM ${vmName} is named twice for removal`);
    removing.add(name);
  }
  const disks: VmDiskDefinition[] = existing.filter((disk) => !removing.has(disk.name));
  const checked = add.map((input) => ({
    path: checkDiskPath(input.path),
    role: input.role === undefined ? undefined : checkDiskRole(input.role),
    name: input.name === undefined ? undefined : checkDiskName(input.name),
    qemu: input.qemu ?? null,
  }));
  const taken = new Set([...disks.map((disk) => disk.name), ...checked.flatMap((input) => (input.name === undefined ? [] : [input.name]))]);
  let next = 0;
  const defaultName = () => {
    while (taken.has(`disk${next}`)) next++;
    taken.add(`disk${next}`);
    return `disk${next}`;
  };
  for (const input of checked) {
    const name = input.name ?? defaultName();
    const role = input.role ?? (disks.length === 0 ? 'os' : 'data');
    const sameName = disks.find((disk) => disk.name === name);
    if (sameName) throw invalid(`VM ${vmName} already has a disk named ${name} (${sameName.path})`);
    const samePath = disks.find((disk) => disk.path === input.path);
    if (samePath) throw invalid(`VM ${vmName} already has disk ${input.path} (as ${samePath.name})`);
    disks.push(input.qemu ? { name, path: input.path, role, qemu: input.qemu } : { name, path: input.path, role });
  }
  if (disks.length === 0) throw invalid(`VM ${vmName} needs at least one disk`);
  if (disks.every((disk) => disk.role === 'temp')) throw invalid(`VM ${vmName} needs at least one disk that is not temp (temp disks are never backed up)`);
  return disks;
}
