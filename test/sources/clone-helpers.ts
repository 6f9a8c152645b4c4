import { constants } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { reflinkClone, type CloneFile } from '../../src/sources/raw/snapshot-clone.js';

/** A clone by plain copy: lets the snapshot path run (snapshot 'reflink') where the file system has no reflink. */
export const copyClone: CloneFile = (source, target) => copyFile(source, target, constants.COPYFILE_EXCL);

/** Whether `dir` can hold reflink clones (a real FICLONE, tried on a scratch file). */
export async function supportsReflink(dir: string): Promise<boolean> {
  let scratch: string;
  try {
    scratch = await mkdtemp(join(dir, '.boveda-reflink-probe-'));
  } catch {
    return false;
  }
  try {
    await writeFile(join(scratch, 'a'), new Uint8Array(4096).fill(1));
    await reflinkClone(join(scratch, 'a'), join(scratch, 'b'));
    return true;
  } catch {
    return false;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
