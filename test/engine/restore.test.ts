import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupVm, restoreInPlace, restoreToDirectory, type BackupSubject } from '../../src/engine/index.js';
import type { PointManifest } from '../../src/format/index.js';
import type { Vault } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';
import {
  BLOCK, assertBytesEqual, createVault, differingBlocks, makeWorkDir, randomDisk, rejectsWith, rewriteBlock, startHeldBackup, writeAt,
} from './helpers.js';

describe('restoreToDirectory', () => {
  let work: string;
  let vault: Vault;
  const random = new SeededRandom(808);
  let os: string;
  let data: string;
  let osBytes: Uint8Array;
  let dataBytes: Uint8Array;
  let point: PointManifest;

  before(async () => {
    work = await makeWorkDir('restore-dir');
    vault = await createVault(work);
    os = join(work, 'os.img');
    data = join(work, 'data.img');
    // 64 blocks and a partial one, of which only 3 blocks and the tail hold data.
    osBytes = new Uint8Array(64 * BLOCK + 300);
    for (const index of [2, 40, 63]) osBytes.set(random.bytes(BLOCK), index * BLOCK);
    osBytes.set(random.bytes(300), 64 * BLOCK);
    dataBytes = randomDisk(random, 5, { zero: [1] });
    await writeFile(os, osBytes);
    await writeFile(data, dataBytes);
    ({ point } = await backupVm(vault, { name: 'dir-vm', disks: [{ name: 'os', path: os, role: 'os' }, { name: 'data', path: data, role: 'data' }] }));
    // The VM runs on: the disks no longer hold the point's bytes.
    await rewriteBlock(os, 2, random);
    await rewriteBlock(data, 1, random);
  });
  after(async () => {
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  it('writes sparse images equal to the disks at backup time', async () => {
    const dir = join(work, 'sparse');
    const restored = await restoreToDirectory(vault, point, dir);
    assert.deepEqual(restored, [
      { disk: 'os', path: join(dir, 'os.img'), format: 'raw', sizeBytes: osBytes.length, bytesWritten: 3 * BLOCK + 300 },
      { disk: 'data', path: join(dir, 'data.img'), format: 'raw', sizeBytes: dataBytes.length, bytesWritten: 4 * BLOCK },
    ]);
    assertBytesEqual(await readFile(join(dir, 'os.img')), osBytes, 'os image');
    assertBytesEqual(await readFile(join(dir, 'data.img')), dataBytes, 'data image');
    const info = await stat(join(dir, 'os.img'));
    assert.equal(info.size, osBytes.length);
    assert.ok(info.blocks * 512 <= 4 * BLOCK + 64 * 1024, `only the non-zero blocks are allocated: ${info.blocks * 512} of ${info.size} bytes`);
  });

  it('restores only the disks asked for, and refuses a disk the point does not have', async () => {
    const dir = join(work, 'one-disk');
    const restored = await restoreToDirectory(vault, point, dir, { disks: ['data'] });
    assert.deepEqual(restored.map((disk) => disk.disk), ['data']);
    assertBytesEqual(await readFile(join(dir, 'data.img')), dataBytes, 'data image');
    await assert.rejects(stat(join(dir, 'os.img')), { code: 'ENOENT' });
    await rejectsWith(restoreToDirectory(vault, point, join(work, 'unknown-disk'), { disks: ['swap'] }), 'DISK_NOT_FOUND', '"swap"', point.pointId);
  });

  it('refuses an existing target with RESTORE_TARGET_EXISTS, leaving it untouched; with force it is overwritten', async () => {
    const dir = join(work, 'existing');
    await mkdir(dir);
    const target = join(dir, 'os.img');
    const precious = random.bytes(100 * BLOCK);
    await writeFile(target, precious);
    await rejectsWith(restoreToDirectory(vault, point, dir, { disks: ['os'] }), 'RESTORE_TARGET_EXISTS', target);
    assertBytesEqual(await readFile(target), precious, 'the existing file');

    const [restored] = await restoreToDirectory(vault, point, dir, { disks: ['os'], force: true });
    assert.equal(restored!.path, target);
    assertBytesEqual(await readFile(target), osBytes, 'the overwritten file (longer before)');
  });

  it("restores a point of a VM whose disk file was deleted (but not in place)", async () => {
    const gone = join(work, 'gone.img');
    const goneBytes = randomDisk(random, 7, { zero: [0, 6], tail: 99 });
    await writeFile(gone, goneBytes);
    const { point: gonePoint } = await backupVm(vault, { name: 'gone-vm', disks: [{ name: 'os', path: gone, role: 'os' }] });
    await unlink(gone);
    const dir = join(work, 'gone-restore');
    const [restored] = await restoreToDirectory(vault, gonePoint, dir);
    assertBytesEqual(await readFile(restored!.path), goneBytes, 'the deleted disk');
    await rejectsWith(restoreInPlace(vault, gonePoint, [{ disk: 'os', path: gone }]), 'DISK_NOT_FOUND', gone);
  });
});

describe('restoreInPlace', () => {
  let work: string;
  let vault: Vault;
  const random = new SeededRandom(909);

  before(async () => {
    work = await makeWorkDir('restore-in-place');
    vault = await createVault(work);
  });
  after(async () => {
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  /** A new VM with one disk of `blocks` blocks (plus `tail` bytes), backed up once. */
  async function backedUp(name: string, blocks: number, options: { zero?: number[]; tail?: number } = {}): Promise<{ path: string; bytes: Uint8Array; point: PointManifest; vm: BackupSubject }> {
    const path = join(work, `${name}.img`);
    const bytes = randomDisk(random, blocks, options);
    await writeFile(path, bytes);
    const vm: BackupSubject = { name, disks: [{ name: 'os', path, role: 'os' }] };
    const { point } = await backupVm(vault, vm);
    return { path, bytes, point, vm };
  }

  it('writes only the blocks that changed since the point', async () => {
    const { path, bytes, point } = await backedUp('few-vm', 40, { zero: [8, 9] });
    const inode = (await stat(path)).ino;
    await rewriteBlock(path, 3, random);
    await rewriteBlock(path, 17, random);
    await writeAt(path, 39 * BLOCK + 5, Uint8Array.of(1, 2, 3));
    const result = await restoreInPlace(vault, point, [{ disk: 'os', path }]);
    assert.deepEqual(result, [{ disk: 'os', path, blocksChecked: 40, blocksWritten: 3, bytesWritten: 3 * BLOCK }]);
    assertBytesEqual(await readFile(path), bytes, 'the disk after the restore');
    assert.equal((await stat(path)).ino, inode, 'the same file was rewritten, not replaced');

    const again = await restoreInPlace(vault, point, [{ disk: 'os', path }]);
    assert.equal(again[0]!.blocksWritten, 0, 'nothing differs any more');
    assert.equal(again[0]!.bytesWritten, 0);
  });

  it('zeroes blocks that are zero in the point but not on the disk', async () => {
    const { path, bytes, point } = await backedUp('zeroed-vm', 12, { zero: [0, 5, 6, 11] });
    await rewriteBlock(path, 5, random);
    await rewriteBlock(path, 6, random);
    await rewriteBlock(path, 11, random);
    await rewriteBlock(path, 2, 'zero');
    const result = await restoreInPlace(vault, point, [{ disk: 'os', path }]);
    assert.equal(result[0]!.blocksWritten, 4);
    assert.equal(result[0]!.bytesWritten, 4 * BLOCK);
    assertBytesEqual(await readFile(path), bytes, 'the disk after the restore');
  });

  it('truncates a disk file that grew since the point back to its size', async () => {
    const { path, bytes, point } = await backedUp('grew-vm', 10, { tail: 700 });
    await appendFile(path, random.bytes(5 * BLOCK));
    await rewriteBlock(path, 1, random);
    const result = await restoreInPlace(vault, point, [{ disk: 'os', path }]);
    // Block 10 is the partial last one: its 700 bytes are unchanged, what was appended after them is cut off.
    assert.equal(result[0]!.blocksChecked, 11);
    assert.deepEqual([result[0]!.blocksWritten, result[0]!.bytesWritten], [1, BLOCK]);
    assert.equal((await stat(path)).size, bytes.length);
    assertBytesEqual(await readFile(path), bytes, 'the disk after the restore');
  });

  it('extends a disk file that shrank since the point and writes the data past the cut', async () => {
    const { path, bytes, point } = await backedUp('shrank-vm', 30, { zero: [25, 26] });
    await truncate(path, 20 * BLOCK + 100);
    const expected = differingBlocks(await readFile(path), bytes);
    // The cut block 20 and blocks 21..29 except the zero ones 25 and 26.
    assert.deepEqual(expected, [20, 21, 22, 23, 24, 27, 28, 29]);
    const result = await restoreInPlace(vault, point, [{ disk: 'os', path }]);
    assert.equal(result[0]!.blocksWritten, expected.length);
    assert.equal(result[0]!.bytesWritten, expected.length * BLOCK);
    assertBytesEqual(await readFile(path), bytes, 'the disk after the restore');
  });

  it('rewrites a short last block and several disks of one point', async () => {
    const os = join(work, 'multi-os.img');
    const data = join(work, 'multi-data.img');
    const osBytes = randomDisk(random, 6, { tail: 300 });
    const dataBytes = randomDisk(random, 70, { zero: [64, 65, 66] });
    await writeFile(os, osBytes);
    await writeFile(data, dataBytes);
    const { point } = await backupVm(vault, { name: 'multi-vm', disks: [{ name: 'os', path: os, role: 'os' }, { name: 'data', path: data, role: 'data' }] });
    await writeAt(os, 6 * BLOCK + 10, Uint8Array.of(9));
    await rewriteBlock(data, 0, random);
    await rewriteBlock(data, 65, random);
    await rewriteBlock(data, 69, random);
    const result = await restoreInPlace(vault, point, [{ disk: 'os', path: os }, { disk: 'data', path: data }]);
    assert.deepEqual(result.map((disk) => [disk.disk, disk.blocksChecked, disk.blocksWritten, disk.bytesWritten]), [
      ['os', 7, 1, 300],
      ['data', 70, 3, 3 * BLOCK],
    ]);
    assertBytesEqual(await readFile(os), osBytes, 'os disk');
    assertBytesEqual(await readFile(data), dataBytes, 'data disk');
  });

  it('restores an older point over a disk that has moved on by several points', async () => {
    const { path, bytes, point, vm } = await backedUp('older-vm', 16);
    await rewriteBlock(path, 4, random);
    await backupVm(vault, vm);
    await rewriteBlock(path, 4, random);
    await rewriteBlock(path, 9, random);
    await backupVm(vault, vm);
    const result = await restoreInPlace(vault, point, [{ disk: 'os', path }]);
    assert.equal(result[0]!.blocksWritten, 2);
    assertBytesEqual(await readFile(path), bytes, 'the disk as of the first point');
  });

  it('refuses with VM_BUSY while a backup of the same VM runs, without touching the disk', async () => {
    const { path, point, vm } = await backedUp('busy-restore-vm', 4);
    const changed = await rewriteBlock(path, 0, random);
    const { running, release } = await startHeldBackup(vault, vm);
    try {
      await rejectsWith(restoreInPlace(vault, point, [{ disk: 'os', path }]), 'VM_BUSY', 'VM "busy-restore-vm" is busy', 'a backup of VM "busy-restore-vm"');
      assertBytesEqual(await readFile(path), changed, 'the disk was not touched');
      // Another VM's disk can be restored meanwhile.
      const other = await backedUp('other-restore-vm', 2);
      await rewriteBlock(other.path, 1, random);
      const [done] = await restoreInPlace(vault, other.point, [{ disk: 'os', path: other.path }]);
      assert.equal(done!.blocksWritten, 1);
    } finally {
      release();
      await running.catch(() => undefined);
    }
    await running;
    const [result] = await restoreInPlace(vault, point, [{ disk: 'os', path }]);
    assert.equal(result!.blocksWritten, 1, 'once the backup is done the restore runs');
  });

  it('refuses a target that is not a regular file or block device', async () => {
    const { point } = await backedUp('dir-target-vm', 2);
    const dir = join(work, 'a-directory');
    await mkdir(dir);
    await rejectsWith(restoreInPlace(vault, point, [{ disk: 'os', path: dir }]), 'DISK_UNREADABLE', dir);
  });
});
