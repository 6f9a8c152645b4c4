import { open } from 'node:fs/promises';

/**
 * Flushes a directory's entries to disk, so that files created, renamed or removed in it
 * survive power loss (fsync of the file alone does not persist its name).
 */
export async function fsyncDirectory(path: string): Promise<void> {
  // Windows cannot open a directory for fsync; NTFS journals metadata itself.
  if (process.platform === 'win32') return;
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems (certain network and FUSE mounts) refuse fsync on directories;
    // there is nothing more we can do there, and failing every put would make them unusable.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
  } finally {
    await handle.close();
  }
}
