import { mkdir, open, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BovedaError } from '../core/index.js';
import type { PointManifest } from '../repository/index.js';
import { VaultReader, type Vault } from '../repository/index.js';
import type { DiskProgress } from './backup-vm.js';

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

export interface RestoredDisk {
  disk: string;
  path: string;
  sizeBytes: number;
  bytesWritten: number;
}

/**
 * Restores disks of a point to new sparse images `<dir>/<disk>.img`: only non-zero blocks are
 * written. An existing file is refused (RESTORE_TARGET_EXISTS) unless `force`; a failed restore
 * removes its partial file, so a target is either complete or absent.
 */
export async function restoreToDirectory(
  vault: Vault, point: PointManifest, dir: string,
  options: { disks?: string[]; force?: boolean; signal?: AbortSignal; onProgress?: (progress: DiskProgress) => void } = {},
): Promise<RestoredDisk[]> {
  const reader = await VaultReader.open(vault, { purpose: 'a restore', signal: options.signal });
  try {
    const disks = (options.disks ?? point.disks.map((disk) => disk.name)).map((name) => reader.disk(point, name));
    const results: RestoredDisk[] = [];
    await mkdir(resolve(dir), { recursive: true }).catch((error: unknown) => {
      throw new BovedaError('STORAGE_IO', `cannot create restore directory ${resolve(dir)}: ${(error as Error).message}`, { cause: error });
    });
    for (const disk of disks) {
      const path = join(resolve(dir), `${disk.name}.img`);
      if (options.force) await rm(path, { force: true });
      let handle;
      try {
        handle = await open(path, 'wx');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new BovedaError('RESTORE_TARGET_EXISTS', `${path} exists; restore never overwrites without --force`, { cause: error });
        throw new BovedaError('STORAGE_IO', `cannot create ${path}: ${(error as Error).message}`, { cause: error });
      }
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
          const write = handle!.writev(run, runStart * disk.blockSize).then(() => {
            unsynced += bytes;
            if (unsynced >= SYNC_EVERY_BYTES && !syncing) {
              unsynced = 0;
              syncing = handle!.datasync().then(() => {
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
            options.onProgress?.({ disk: disk.name, bytesDone: done, bytesTotal: disk.sizeBytes });
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
        await handle.sync();
        await handle.close();
      } catch (error) {
        await handle.close().catch(() => undefined);
        await rm(path, { force: true });
        throw error;
      }
      results.push({ disk: disk.name, path, sizeBytes: disk.sizeBytes, bytesWritten: done });
    }
    return results;
  } finally {
    await reader.close();
  }
}
