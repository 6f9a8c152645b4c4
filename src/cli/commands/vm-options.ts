import type { Command } from 'commander';
import {
  checkDiskName, checkScriptTimeout, isDiskRole, resolveDataDir, withVmService,
  type DiskInput, type VmRecord, type VmService,
} from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import type { CliIo } from '../io.js';

/** What every `vm` command takes. */
export interface VmCommandOptions {
  dataDir?: string;
  json?: boolean;
}

export const DISK_SPEC_SYNTAX = 'PATH[,role=os|data|temp][,name=NAME]';

export function addVmOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'Boveda\'s data directory, holding the catalog (default: $BOVEDA_DATA, else $XDG_DATA_HOME/boveda or ~/.local/share/boveda)')
    .option('--json', 'print machine-readable JSON');
}

/** Runs `body` with the VM service of the chosen data directory, closing it afterwards. */
export async function withVms<T>(options: VmCommandOptions, io: CliIo, body: (service: VmService) => Promise<T>): Promise<T> {
  return withVmService(resolveDataDir(options.dataDir, io.env), body);
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Parses `PATH[,role=os|data|temp][,name=NAME]` (paths with commas cannot be given this way).
 * INVALID_ARGUMENT naming the whole spec for an empty path, an unknown or repeated key, an empty
 * value, a bad role or a bad disk name. The path is returned as given (the app makes it absolute).
 */
export function parseDiskSpec(spec: string, option = '--disk'): DiskInput {
  const bad = (why: string) => new BovedaError('INVALID_ARGUMENT', `invalid ${option} "${spec}": ${why} (expected ${DISK_SPEC_SYNTAX})`);
  const [path = '', ...parts] = spec.split(',');
  if (path.trim() === '') throw bad('the path is empty');
  const disk: DiskInput = { path };
  const seen = new Set<string>();
  for (const part of parts) {
    const equals = part.indexOf('=');
    const key = equals < 0 ? part : part.slice(0, equals);
    const value = equals < 0 ? '' : part.slice(equals + 1);
    if (key !== 'role' && key !== 'name') throw bad(`unknown key "${key}"`);
    if (seen.has(key)) throw bad(`${key} is given twice`);
    seen.add(key);
    if (value === '') throw bad(`${key} has no value`);
    if (key === 'role') {
      if (!isDiskRole(value)) throw bad(`role "${value}" is not os, data or temp`);
      disk.role = value;
    } else {
      try {
        disk.name = checkDiskName(value);
      } catch {
        throw bad(`disk name "${value}" must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
      }
    }
  }
  return disk;
}

export function parseScriptTimeout(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new BovedaError('INVALID_ARGUMENT', `--script-timeout "${text}" is not a whole number of seconds`);
  return checkScriptTimeout(Number(text.trim()));
}

/** The stable JSON shape of a VM (`vm add|set|list --json`). */
export function vmJson(vm: VmRecord) {
  return {
    name: vm.name,
    disks: vm.disks.map((disk) => ({ name: disk.name, path: disk.path, role: disk.role, ...(disk.qemu ? { qemu: disk.qemu } : {}) })),
    qemu: vm.qemu ?? null,
    preScript: vm.preScript,
    postScript: vm.postScript,
    scriptTimeoutSeconds: vm.scriptTimeoutSeconds,
    notes: vm.notes,
    createdAt: vm.createdAt,
    updatedAt: vm.updatedAt,
  };
}

/** One line per disk: "  disk0  os    /var/lib/vms/web.img". */
export function diskLines(vm: VmRecord): string[] {
  const width = Math.max(...vm.disks.map((disk) => disk.name.length));
  return vm.disks.map((disk) => `  ${disk.name.padEnd(width)}  ${disk.role.padEnd(4)}  ${disk.path}${disk.qemu ? `  [${disk.qemu.qdev ?? disk.qemu.node}]` : ''}${disk.role === 'temp' ? '  (never backed up)' : ''}`);
}
