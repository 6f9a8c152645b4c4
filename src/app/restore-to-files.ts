import { mkdir, open, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BovedaError } from '../core/index.js';
import type { PointManifest } from '../format/index.js';
import { VaultReader, type Vault } from '../repository/index.js';

export interface RestoreProgress {
  disk: string;
  bytesDone: number;
  bytesTotal: number;
}

/**
 * Restores disks of a point to new sparse image files `<dir>/<disk>.img`: only non-zero blocks are
 * written. Existing files are never overwritten; a failed restore removes its partial file.
 */
export async function restorePointToDirectory(
  vault: Vault, point: PointManifest, dir: string,
  options: { disks?: string[]; signal?: AbortSignal; onProgress?: (progress: RestoreProgress) => void } = {},
): Promise<Array<{ disk: string; path: string; sizeBytes: number }>> {
  const reader = await VaultReader.open(vault, { purpose: 'a restore', signal: options.signal });
  try {
    const disks = (options.disks ?? point.disks.map((disk) => disk.name)).map((name) => reader.disk(point, name));
    const results: Array<{ disk: string; path: string; sizeBytes: number }> = [];
    await mkdir(resolve(dir), { recursive: true }).catch((error: unknown) => {
      throw new BovedaError('STORAGE_IO', `cannot create restore directory ${resolve(dir)}: ${(error as Error).message}`, { cause: error });
    });
    for (const disk of disks) {
      const path = join(resolve(dir), `${disk.name}.img`);
      let handle;
      try {
        handle = await open(path, 'wx');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new BovedaError(code === 'EEXIST' ? 'INVALID_ARGUMENT' : 'STORAGE_IO', `cannot create ${path}: ${code === 'EEXIST' ? 'the file exists (restore never overwrites)' : (error as Error).message}`, { cause: error });
      }
      try {
        await handle.truncate(disk.sizeBytes);
        let done = 0;
        for await (const block of reader.readDisk(disk, { signal: options.signal })) {
          await handle.write(block.data, 0, block.data.length, block.index * disk.blockSize);
          done += block.data.length;
          options.onProgress?.({ disk: disk.name, bytesDone: done, bytesTotal: disk.sizeBytes });
        }
        await handle.sync();
        await handle.close();
      } catch (error) {
        await handle.close().catch(() => undefined);
        await rm(path, { force: true });
        throw error;
      }
      results.push({ disk: disk.name, path, sizeBytes: disk.sizeBytes });
    }
    return results;
  } finally {
    await reader.close();
  }
}
