import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, rm, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BovedaError, describeError } from '../../core/errors.js';
import { errnoOf } from './map-disk-error.js';

/** Makes `target` a copy of `source` that later writes to `source` do not change; must not overwrite `target`. */
export type CloneFile = (source: string, target: string) => Promise<void>;

/**
 * A reflink clone (FICLONE): instant, shares the extents copy-on-write, fails instead of copying
 * when the file system cannot do it. libuv removes a half-created target itself; COPYFILE_EXCL
 * keeps an existing file of the same name untouched.
 */
export const reflinkClone: CloneFile = (source, target) =>
  copyFile(source, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);

/** The part of a clone's name after the image's name: `.<image>.boveda-snap-<16 hex>`. */
export const snapshotCloneMarker = '.boveda-snap-';

/** True for names that openRawDisk gives its clones (for a sweeper of clones left by a killed process). */
export function isSnapshotCloneName(name: string): boolean {
  return name.startsWith('.') && /\.boveda-snap-[0-9a-f]{16}$/.test(name);
}

/** A hidden, random sibling name for a clone of `imagePath` (the image name is shortened to keep it below 255 bytes). */
export function snapshotClonePath(imagePath: string): string {
  let name = basename(imagePath);
  while (Buffer.byteLength(name) > 200) name = name.slice(0, -1);
  return join(dirname(imagePath), `.${name}${snapshotCloneMarker}${randomBytes(8).toString('hex')}`);
}

/** Errors FICLONE gives when the file system (or the pair of mounts) cannot share extents at all. */
const unsupportedErrnos = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOTTY', 'ENOSYS']);

export type SnapshotAttempt = { clonePath: string } | { clonePath: null; note: string };

const readInPlace = 'read in place while the VM may write';

/**
 * Tries to clone the regular file `imagePath` (a real path, not a symbolic link, so the clone lands
 * on the image's own file system) into a hidden sibling. When the file system cannot, or the clone
 * cannot be created for another reason (read-only directory, no space), returns the note to record
 * instead; the caller then reads the image in place.
 */
export async function trySnapshotClone(imagePath: string, cloneFile: CloneFile): Promise<SnapshotAttempt> {
  const clonePath = snapshotClonePath(imagePath);
  const dir = dirname(imagePath);
  try {
    await cloneFile(imagePath, clonePath);
    return { clonePath };
  } catch (error) {
    const errno = errnoOf(error);
    // Never remove a file of that name that someone else made; otherwise the name is ours.
    if (errno !== 'EEXIST') await rm(clonePath, { force: true }).catch(() => undefined);
    if (errno !== undefined && unsupportedErrnos.has(errno)) {
      return {
        clonePath: null,
        note: `no point-in-time snapshot: ${await fileSystemName(dir)} at ${dir} does not support reflink clones (${errno}); ${readInPlace}`,
      };
    }
    return {
      clonePath: null,
      note: `no point-in-time snapshot: could not create a reflink clone in ${dir} (${describeError(error)}); ${readInPlace}`,
    };
  }
}

export function snapshotsOffNote(): string {
  return `no point-in-time snapshot: snapshots were turned off; ${readInPlace}`;
}

export function blockDeviceNote(path: string): string {
  return `no point-in-time snapshot: ${path} is a block device (reflink clones need a regular image file); ${readInPlace}`;
}

/** Deletes a clone; a clone that is already gone is fine. */
export async function removeSnapshotClone(clonePath: string, diskPath: string): Promise<void> {
  try {
    await rm(clonePath, { force: true });
  } catch (error) {
    // No error code fits "cleanup of a snapshot failed" yet; INTERNAL carries the path to delete by hand.
    throw new BovedaError('INTERNAL', `cannot remove the snapshot clone ${clonePath} of disk ${diskPath} (delete it by hand): ${describeError(error)}`, {
      cause: error,
      details: { path: diskPath, clonePath, errno: errnoOf(error) },
    });
  }
}

/** statfs f_type magic numbers (linux/magic.h) of file systems an image may live on. */
const fileSystemMagics: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext2/ext3/ext4'],
  [0x01021994, 'tmpfs'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x2fc12fc1, 'zfs'],
  [0xca451a4e, 'bcachefs'],
  [0xf2f52010, 'f2fs'],
  [0x794c7630, 'overlayfs'],
  [0x6969, 'nfs'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x65735546, 'fuse'],
  [0x00c36400, 'ceph'],
  [0x4d44, 'vfat'],
  [0x2011bab0, 'exfat'],
  [0x5346544e, 'ntfs'],
  [0x3153464a, 'jfs'],
  [0x52654973, 'reiserfs'],
  [0x73717368, 'squashfs'],
]);

/** A readable name of the file system holding `dir` ("ext2/ext3/ext4", "tmpfs", "file system 0x1234"). */
export async function fileSystemName(dir: string): Promise<string> {
  try {
    const type = (await statfs(dir)).type >>> 0;
    return fileSystemMagics.get(type) ?? `file system 0x${type.toString(16)}`;
  } catch {
    return 'the file system';
  }
}
