import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join, relative } from 'node:path';

/**
 * A deterministic sample of real files from /usr, used as realistic content for bench data
 * (the compressible corpus, the reference disk image).
 *
 * Eligible: regular files readable by everyone (mode o+r) in directories everyone may enter,
 * found without following symbolic links, under `root` minus `exclude` (/usr/local by default:
 * it is site-specific, not Debian-managed). The decision does not depend on who runs the bench.
 *
 * Selected: eligible files taken in order of SHA-256 of their path relative to root, skipping any
 * that would overshoot the budget, until the budget is reached. Ordering by path hash samples the
 * whole tree evenly (binaries, libraries, Python, docs, locales ...) instead of exhausting the
 * first directories alphabetically, and whether a given file is picked depends only on its path
 * and the files ahead of it in hash order: two Debian machines with the same packages get the same
 * selection. The result is returned sorted by path (code-unit order, i.e. bytewise for ASCII).
 */
export interface UsrFile {
  /** Absolute path on this machine. */
  path: string;
  /** Path relative to the root, '/'-separated. */
  relative: string;
  size: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
}

export interface UsrSelectionOptions {
  root?: string;
  exclude?: readonly string[];
  /** Total bytes to select. */
  budgetBytes: number;
  /** Extra filter on relative paths (e.g. to skip already-compressed formats). */
  accept?: (file: UsrFile) => boolean;
}

export const DEFAULT_USR_ROOT = '/usr';
export const DEFAULT_USR_EXCLUDE = ['/usr/local'] as const;

export async function listEligibleFiles(root = DEFAULT_USR_ROOT, exclude: readonly string[] = DEFAULT_USR_EXCLUDE): Promise<UsrFile[]> {
  const files: UsrFile[] = [];
  const excluded = new Set(exclude);
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return; // unreadable directory: nothing in it is eligible
    }
    entries.sort((a, b) => compare(a.name, b.name));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (excluded.has(path)) continue;
      if (entry.isDirectory()) {
        const info = await fs.lstat(path).catch(() => undefined);
        if (info && (info.mode & 0o005) === 0o005) await walk(path);
      } else if (entry.isFile()) {
        const info = await fs.lstat(path).catch(() => undefined);
        if (info && info.isFile() && (info.mode & 0o004) !== 0) {
          files.push({ path, relative: relative(root, path), size: info.size, mode: info.mode & 0o7777 });
        }
      }
    }
  };
  await walk(root);
  return files;
}

export async function selectUsrFiles(options: UsrSelectionOptions): Promise<UsrFile[]> {
  const eligible = await listEligibleFiles(options.root, options.exclude);
  const keyed = eligible
    .filter((file) => options.accept?.(file) ?? true)
    .map((file) => ({ file, key: createHash('sha256').update(file.relative).digest('hex') }))
    .sort((a, b) => compare(a.key, b.key));
  const selected: UsrFile[] = [];
  let total = 0;
  for (const { file } of keyed) {
    if (total >= options.budgetBytes) break;
    if (total + file.size > options.budgetBytes) continue;
    selected.push(file);
    total += file.size;
  }
  return selected.sort((a, b) => compare(a.relative, b.relative));
}

/** SHA-256 over "relative-path<TAB>size<TAB>mode\n" lines: equal digests mean equal selections. */
export function selectionDigest(files: readonly UsrFile[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(`${file.relative}\t${file.size}\t${file.mode.toString(8)}\n`);
  return hash.digest('hex');
}

export function totalSize(files: readonly UsrFile[]): number {
  return files.reduce((sum, file) => sum + file.size, 0);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
