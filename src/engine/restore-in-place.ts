import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BovedaError, describeError } from '../core/index.js';
import { ADDRESS_BYTES, VaultReader, isZero, type ManifestDisk, type PointManifest, type Vault } from '../repository/index.js';
import { probeImageFormat } from '../sources/index.js';
import { throwIfAborted } from '../util/index.js';
import { asVmBusy, vmLockScope, type DiskProgress } from './backup-vm.js';
import { checkQemuImg, qemuImgCommand } from './qemu-img.js';
import { restoreDisk } from './restore-to-directory.js';

/**
 * A qcow2 disk cannot be rewritten block by block from outside QEMU: the point is restored into a
 * new qcow2 next to it (same file system) and renamed over it, so the disk is either the old image
 * or the whole restored one. Bitmaps of the old image are gone with it: the next backup of the
 * disk falls back to checksum comparison, and says so. The new image gets the old one's mode and
 * owner before the rename (QEMU often runs as another user, e.g. libvirt-qemu with 0600 images);
 * when the owner cannot be given to it (not root), the restore fails with DISK_UNREADABLE naming
 * the image and its owner, and the old image is left as it was.
 */
async function replaceQcow2(reader: VaultReader, disk: ManifestDisk, path: string, qemuImg: string, options: { signal?: AbortSignal; onProgress?: (progress: DiskProgress) => void }): Promise<ReplacedDisk> {
  const original = await stat(path);
  const scratch = join(dirname(path), `.${basename(path)}.boveda-replace-${randomBytes(6).toString('hex')}`);
  await mkdir(scratch, { mode: 0o700 });
  try {
    const restored = await restoreDisk(reader, disk, scratch, 'qcow2', qemuImg, { signal: options.signal, onProgress: options.onProgress });
    const created = await stat(restored.path);
    if (created.uid !== original.uid || created.gid !== original.gid) {
      await chown(restored.path, original.uid, original.gid).catch((error: unknown) => {
        throw new BovedaError('DISK_UNREADABLE', `cannot give the restored image of ${path} its owner (uid ${original.uid}, gid ${original.gid}): ${describeError(error)}; run the restore as root or as that user`, { cause: error, details: { path } });
      });
    }
    // After chown, which may clear set-id bits.
    await chmod(restored.path, original.mode & 0o7777);
    await rename(restored.path, path);
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return { disk: disk.name, path, blocksChecked: disk.map.blockCount, blocksWritten: disk.map.blockCount - disk.stats.zeroBlocks, bytesWritten: restored.bytesWritten };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

export interface ReplaceTarget {
  /** Disk of the point to restore. */
  disk: string;
  /** The VM's current disk (image file or block device) to rewrite. */
  path: string;
}

export interface ReplacedDisk {
  disk: string;
  path: string;
  blocksChecked: number;
  blocksWritten: number;
  bytesWritten: number;
}

const BATCH_BLOCKS = 64;

/**
 * Rewrites a VM's own disks in place to the state of a point, writing only the blocks that differ:
 * each current block is hashed with the vault's keyed hash and compared with the point's address,
 * so when little changed, little is written. Image files are truncated or extended to the point's
 * size; a block device must be at least as large. Holds the VM's lock: no backup of it meanwhile.
 */
export async function restoreInPlace(
  vault: Vault, point: PointManifest, targets: readonly ReplaceTarget[],
  options: { signal?: AbortSignal; onProgress?: (progress: DiskProgress) => void } = {},
): Promise<ReplacedDisk[]> {
  let reader: VaultReader;
  try {
    reader = await VaultReader.open(vault, { purpose: `an in-place restore of VM "${point.subject}"`, scope: vmLockScope(point.subject), signal: options.signal });
  } catch (error) {
    throw asVmBusy(error, point.subject);
  }
  try {
    const disks = targets.map((target) => reader.disk(point, target.disk));
    // Only an image file holding qcow2 is replaced whole; a block device is always rewritten block by block.
    const qcow2 = await Promise.all(targets.map(async (target) => await probeImageFormat(target.path) === 'qcow2'));
    // Before any disk is touched: a missing qemu-img must not leave the VM with some disks restored.
    const qemuImg = qemuImgCommand();
    if (qcow2.includes(true)) await checkQemuImg(qemuImg, options.signal);
    const results: ReplacedDisk[] = [];
    for (const [i, target] of targets.entries()) {
      results.push(qcow2[i] ? await replaceQcow2(reader, disks[i]!, target.path, qemuImg, options) : await replaceDisk(reader, disks[i]!, target.path, options));
    }
    return results;
  } finally {
    await reader.close();
  }
}

async function replaceDisk(reader: VaultReader, disk: ManifestDisk, path: string, options: { signal?: AbortSignal; onProgress?: (progress: DiskProgress) => void }): Promise<ReplacedDisk> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new BovedaError('DISK_NOT_FOUND', `disk "${disk.name}" cannot be replaced: ${path} does not exist`, { cause: error });
  }
  const isDevice = info.isBlockDevice();
  if (!isDevice && !info.isFile()) throw new BovedaError('DISK_UNREADABLE', `${path} is not a regular file or block device`);
  const handle = await open(path, 'r+').catch((error: unknown) => {
    throw new BovedaError('DISK_UNREADABLE', `cannot open ${path} for writing: ${(error as Error).message}`, { cause: error });
  });
  const result: ReplacedDisk = { disk: disk.name, path, blocksChecked: 0, blocksWritten: 0, bytesWritten: 0 };
  try {
    const currentSize = isDevice ? Number.MAX_SAFE_INTEGER : info.size;
    if (isDevice) {
      // Block devices cannot be resized; reading past the end fails, so check the size first.
      const probe = new Uint8Array(1);
      if (disk.sizeBytes > 0 && (await handle.read(probe, 0, 1, disk.sizeBytes - 1)).bytesRead !== 1) {
        throw new BovedaError('INVALID_ARGUMENT', `block device ${path} is smaller than disk "${disk.name}" (${disk.sizeBytes} bytes)`);
      }
    }
    const blockSize = disk.blockSize;
    const map = reader.mapReader(disk);
    const pool = reader.vault.pool;
    for await (const leaf of map.leaves()) {
      const count = leaf.entries.length / ADDRESS_BYTES;
      for (let start = 0; start < count; start += BATCH_BLOCKS) {
        throwIfAborted(options.signal, `restoring disk "${disk.name}" in place`);
        const end = Math.min(count, start + BATCH_BLOCKS);
        const firstBlock = leaf.firstBlock + start;
        const offset = firstBlock * blockSize;
        const length = Math.min(disk.sizeBytes, (leaf.firstBlock + end) * blockSize) - offset;
        // Read straight into shared staging memory: hashed by the workers without another copy.
        const current = pool.acquireStaging(length);
        const readable = Math.max(0, Math.min(length, currentSize - offset));
        if (readable > 0) await readFully(handle, current.subarray(0, readable), offset, path);
        current.fill(0, readable); // past the current end of a shorter file the disk reads as zeros
        const blocks: Uint8Array[] = [];
        for (let at = 0; at < length; at += blockSize) blocks.push(current.subarray(at, Math.min(at + blockSize, length)));
        const staged = pool.stage(blocks);
        let currentAddresses: Uint8Array;
        try {
          currentAddresses = await pool.hash('block', staged);
        } finally {
          pool.release(staged);
        }
        const fetch: Array<{ index: number; address: Uint8Array }> = [];
        for (let k = 0; k < blocks.length; k++) {
          const wanted = leaf.entries.subarray((start + k) * ADDRESS_BYTES, (start + k + 1) * ADDRESS_BYTES);
          const have = currentAddresses.subarray(k * ADDRESS_BYTES, (k + 1) * ADDRESS_BYTES);
          result.blocksChecked++;
          if (Buffer.compare(wanted, have) === 0) continue;
          if (isZero(wanted)) {
            await handle.write(new Uint8Array(blocks[k]!.length), 0, blocks[k]!.length, offset + k * blockSize);
            result.blocksWritten++;
            result.bytesWritten += blocks[k]!.length;
          } else {
            fetch.push({ index: k, address: wanted.slice() });
          }
        }
        if (fetch.length > 0) {
          const data = await reader.reader.readBlocks(fetch.map((item) => item.address), options.signal);
          for (let i = 0; i < fetch.length; i++) {
            await handle.write(data[i]!, 0, data[i]!.length, offset + fetch[i]!.index * blockSize);
            result.blocksWritten++;
            result.bytesWritten += data[i]!.length;
          }
        }
        options.onProgress?.({ disk: disk.name, bytesDone: offset + length, bytesTotal: disk.sizeBytes });
      }
    }
    if (!isDevice && info.size !== disk.sizeBytes) await handle.truncate(disk.sizeBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return result;
}

async function readFully(handle: FileHandle, target: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) throw new BovedaError('DISK_SIZE_CHANGED', `${path} ended at ${position + done} bytes while being restored`);
    done += bytesRead;
  }
}
