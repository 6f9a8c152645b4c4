import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BovedaError } from '../core/index.js';
import type { PointManifest } from '../repository/index.js';
import { VaultReader, type ManifestDisk, type Vault } from '../repository/index.js';
import { throwIfAborted } from '../util/index.js';
import type { DiskProgress } from './backup-vm.js';
import { checkQemuImg, convertImage, qemuImgCommand } from './qemu-img.js';

/**
 * Writes to one file serialize on its inode lock in the kernel: more than a couple in flight only
 * spin on it. Two keep one copying while the next is queued.
 */
const MAX_WRITES_IN_FLIGHT = 2;
/**
 * Written data is flushed to disk in the background every this many bytes, so the final fsync
 * (which still makes the whole image durable before the restore reports success) has little left
 * to write instead of all of it.
 */
const SYNC_EVERY_BYTES = 256 * 1024 * 1024;

export type ImageFormat = 'raw' | 'qcow2';

export interface RestoredDisk {
  disk: string;
  path: string;
  /** The image format written: 'raw' (`<disk>.img`) or 'qcow2' (`<disk>.qcow2`). */
  format: ImageFormat;
  sizeBytes: number;
  /** Bytes of non-zero blocks written (to the raw image, or to the raw image qemu-img converted). */
  bytesWritten: number;
}

/**
 * Progress of one disk: phase 'write' while blocks come from the vault (for qcow2 into a temporary
 * raw image), 'convert' while qemu-img turns that into the qcow2 image (bytesDone is then the
 * converted fraction of the disk's size).
 */
export interface RestoreProgress extends DiskProgress {
  phase: 'write' | 'convert';
}

export interface RestoreToDirectoryOptions {
  disks?: string[];
  force?: boolean;
  /** 'raw' (default): sparse `<disk>.img`; 'qcow2': `<disk>.qcow2` through qemu-img. */
  format?: ImageFormat;
  /** The qemu-img binary (default: BOVEDA_QEMU_IMG, else `qemu-img` on PATH). */
  qemuImg?: string;
  /** More files the caller will write in `dir` (e.g. a VM definition): refused up front like the images. */
  alsoRefuse?: string[];
  /** A failure also removes the images this call completed before it (all or none). */
  removeAllOnFailure?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: RestoreProgress) => void;
}

/** The file a disk is restored to: `<dir>/<disk>.img` (raw) or `<dir>/<disk>.qcow2`. */
export function restoreTargetPath(dir: string, disk: string, format: ImageFormat): string {
  return join(resolve(dir), `${disk}.${format === 'qcow2' ? 'qcow2' : 'img'}`);
}

/** RESTORE_TARGET_EXISTS naming the first of `paths` that exists (any kind of file). */
export async function refuseExistingTargets(paths: string[]): Promise<void> {
  for (const path of paths) {
    const found = await lstat(path).then(() => true, (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw new BovedaError('STORAGE_IO', `cannot check ${path}: ${error.message}`, { cause: error });
    });
    if (found) throw new BovedaError('RESTORE_TARGET_EXISTS', `${path} exists; restore never overwrites without --force`);
  }
}

/**
 * Restores disks of a point to new sparse images in `dir`: only non-zero blocks are written.
 * - raw: `<dir>/<disk>.img`, written directly.
 * - qcow2: `<dir>/<disk>.qcow2`: the blocks go to a hidden sparse raw image
 *   `<dir>/.<disk>.qcow2.boveda-raw-<hex>`, which `qemu-img convert` turns into qcow2 (zero regions
 *   stay unallocated), then the temporary image is removed. QEMU sizes images in 512-byte sectors:
 *   a disk whose size is not a multiple of 512 gets a zero tail up to the next one (real disks
 *   are whole sectors). qemu-img is checked before any data is
 *   read: missing, it is INVALID_ARGUMENT naming it and how to install it.
 * Existing targets are refused (RESTORE_TARGET_EXISTS, before anything is written) unless `force`;
 * a failed or cancelled restore removes its partial files (qemu-img is killed), so a target is
 * either complete or absent.
 */
export async function restoreToDirectory(vault: Vault, point: PointManifest, dir: string, options: RestoreToDirectoryOptions = {}): Promise<RestoredDisk[]> {
  const format = options.format ?? 'raw';
  if (format !== 'raw' && format !== 'qcow2') throw new BovedaError('INVALID_ARGUMENT', `unknown image format ${JSON.stringify(format)}: use raw or qcow2`);
  const qemuImg = qemuImgCommand(options.qemuImg);
  if (format === 'qcow2') await checkQemuImg(qemuImg, options.signal);
  const reader = await VaultReader.open(vault, { purpose: 'a restore', signal: options.signal });
  try {
    const disks = (options.disks ?? point.disks.map((disk) => disk.name)).map((name) => reader.disk(point, name));
    const results: RestoredDisk[] = [];
    if (!options.force) await refuseExistingTargets([...disks.map((disk) => restoreTargetPath(dir, disk.name, format)), ...(options.alsoRefuse ?? [])]);
    await mkdir(resolve(dir), { recursive: true }).catch((error: unknown) => {
      throw new BovedaError('STORAGE_IO', `cannot create restore directory ${resolve(dir)}: ${(error as Error).message}`, { cause: error });
    });
    try {
      for (const disk of disks) results.push(await restoreDisk(reader, disk, dir, format, qemuImg, options));
    } catch (error) {
      if (options.removeAllOnFailure) for (const done of results) await rm(done.path, { force: true });
      throw error;
    }
    return results;
  } finally {
    await reader.close();
  }
}

/**
 * Restores one disk to `<dir>/<disk>.img` or `.qcow2` with an open reader (the directory exists;
 * for qcow2 the caller has checked qemu-img). What restoreToDirectory does per disk, for callers
 * that already hold a reader (restoreInPlace).
 */
export async function restoreDisk(reader: VaultReader, disk: ManifestDisk, dir: string, format: ImageFormat, qemuImg: string, options: RestoreToDirectoryOptions): Promise<RestoredDisk> {
    throwIfAborted(options.signal, 'the restore');
    const path = restoreTargetPath(dir, disk.name, format);
    if (options.force) await rm(path, { force: true });
    // Claims the name: a file that appeared since the check is still never overwritten.
    const handle = await createExclusive(path);
    if (format === 'raw') {
      const bytesWritten = await writeSparseImage(reader, disk, path, handle, true, options);
      return { disk: disk.name, path, format, sizeBytes: disk.sizeBytes, bytesWritten };
    }
    await handle.close();
    const temp = join(resolve(dir), `.${disk.name}.qcow2.boveda-raw-${randomBytes(8).toString('hex')}`);
    try {
      const bytesWritten = await writeSparseImage(reader, disk, temp, await createExclusive(temp), false, options);
      throwIfAborted(options.signal, 'the restore');
      options.onProgress?.({ disk: disk.name, phase: 'convert', bytesDone: 0, bytesTotal: disk.sizeBytes });
      await convertImage(qemuImg, temp, path, 'qcow2', {
        signal: options.signal,
        onFraction: (fraction) => options.onProgress?.({ disk: disk.name, phase: 'convert', bytesDone: Math.round(fraction * disk.sizeBytes), bytesTotal: disk.sizeBytes }),
      });
      const converted = await open(path, 'r+');
      try {
        await converted.sync();
      } finally {
        await converted.close();
      }
      throwIfAborted(options.signal, 'the restore');
      return { disk: disk.name, path, format, sizeBytes: disk.sizeBytes, bytesWritten };
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    } finally {
      await rm(temp, { force: true });
    }
}

async function createExclusive(path: string) {
  try {
    return await open(path, 'wx');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new BovedaError('RESTORE_TARGET_EXISTS', `${path} exists; restore never overwrites without --force`, { cause: error });
    throw new BovedaError('STORAGE_IO', `cannot create ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Writes the disk's non-zero blocks to the freshly created `handle` (truncated to the disk's size
 * first, so zero blocks stay holes); fsyncs when `durable`. On failure the file is closed and
 * removed. Returns the bytes written.
 */
async function writeSparseImage(
  reader: VaultReader, disk: ManifestDisk, path: string, handle: Awaited<ReturnType<typeof open>>, durable: boolean,
  options: { signal?: AbortSignal; onProgress?: (progress: RestoreProgress) => void },
): Promise<number> {
  let done = 0;
  try {
    await handle.truncate(disk.sizeBytes);
    // Runs of consecutive blocks go out in one writev (one system call per run, not per block),
    // several at a time, so writing overlaps with fetching and decrypting the next blocks.
    let run: Uint8Array[] = [];
    let runStart = 0;
    let runNext = -1;
    const writes = new Set<Promise<void>>();
    let writeFailure: unknown;
    let unsynced = 0;
    let syncing: Promise<void> | undefined;
    let batchWrites: Array<Promise<void>> = [];
    const flush = async () => {
      if (run.length === 0) return;
      let bytes = 0;
      for (const part of run) bytes += part.length;
      const write = handle.writev(run, runStart * disk.blockSize).then(() => {
        unsynced += bytes;
        if (unsynced >= SYNC_EVERY_BYTES && !syncing) {
          unsynced = 0;
          syncing = handle.datasync().then(() => {
            syncing = undefined;
          }, (error: unknown) => {
            writeFailure ??= error;
            syncing = undefined;
          });
        }
      }, (error: unknown) => {
        writeFailure ??= error;
      });
      run = [];
      batchWrites.push(write);
      writes.add(write);
      void write.finally(() => writes.delete(write));
      while (writes.size >= MAX_WRITES_IN_FLIGHT) await Promise.race(writes);
      if (writeFailure !== undefined) throw writeFailure;
    };
    // Batches come in reused shared memory: a run never spans two batches, and a batch's memory
    // goes back once the writes of its blocks have ended.
    for await (const batch of reader.readDiskBatches(disk, { signal: options.signal })) {
      for (const block of batch.blocks) {
        if (block.index !== runNext || run.length >= 256) {
          await flush();
          runStart = block.index;
        }
        run.push(block.data);
        runNext = block.index + 1;
        done += block.data.length;
        options.onProgress?.({ disk: disk.name, phase: 'write', bytesDone: done, bytesTotal: disk.sizeBytes });
      }
      await flush();
      runNext = -1;
      const issued = batchWrites;
      batchWrites = [];
      void Promise.allSettled(issued).then(() => batch.release());
    }
    await flush();
    await Promise.all(writes);
    await syncing;
    if (writeFailure !== undefined) throw writeFailure;
    if (durable) await handle.sync();
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(path, { force: true });
    throw error;
  }
  return done;
}
