import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BovedaError, describeError } from '../../core/errors.js';

/** Where Linux publishes block devices by "major:minor" (each has a `size` file in 512-byte sectors). */
export const linuxSysBlockDir = '/sys/dev/block';

/** Splits a Linux dev_t (as in stat.rdev) into major and minor numbers (glibc's gnu_dev_major/minor). */
export function deviceNumbers(rdev: bigint | number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  const major = ((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn);
  const minor = ((dev >> 12n) & 0xffffff00n) | (dev & 0xffn);
  return { major: Number(major), minor: Number(minor) };
}

/**
 * The size in bytes of the block device at `path` whose stat.rdev is `rdev`, from
 * <sysBlockDir>/<major>:<minor>/size × 512 (Linux always counts 512-byte sectors there, whatever
 * the device's logical block size). Rejects with DISK_UNREADABLE when the size cannot be found.
 */
export async function blockDeviceSize(path: string, rdev: bigint | number, sysBlockDir = linuxSysBlockDir): Promise<number> {
  const { major, minor } = deviceNumbers(rdev);
  const sizeFile = join(sysBlockDir, `${major}:${minor}`, 'size');
  const unknown = (reason: string, cause?: unknown): BovedaError =>
    new BovedaError('DISK_UNREADABLE', `cannot determine the size of block device ${path} (${major}:${minor}): ${reason}`, {
      cause,
      details: { path, major, minor, sizeFile },
    });
  if (process.platform !== 'linux' && sysBlockDir === linuxSysBlockDir) {
    throw unknown(`block devices are supported on Linux only (this is ${process.platform})`);
  }
  let text: string;
  try {
    text = await readFile(sizeFile, 'utf8');
  } catch (error) {
    throw unknown(`${sizeFile} is not readable (${describeError(error)})`, error);
  }
  if (!/^\s*\d+\s*$/.test(text)) throw unknown(`${sizeFile} holds ${JSON.stringify(text.slice(0, 40))}, not a sector count`);
  const bytes = BigInt(text.trim()) * 512n;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw unknown(`${bytes} bytes is larger than this program can address`);
  return Number(bytes);
}
