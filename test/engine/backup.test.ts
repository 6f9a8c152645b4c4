import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupVm, diskMeta, listVmPoints, type BackupSubject, type DiskProgress } from '../../src/engine/index.js';
import { measureVaultUsage, readPoint, type Vault } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';
import {
  BLOCK, assertBytesEqual, cloneLeftovers, copyClone, createVault, deferred, instrumentedOpen, makeWorkDir, nonZeroBlocks,
  pointCount, randomDisk, rejectsWith, restoredBytes, rewriteBlock, startHeldBackup, supportsReflink, writeAt,
} from './helpers.js';

/** A fresh work dir and vault per describe block. */
function withVault(prefix: string): { work: () => string; vault: () => Vault } {
  let work: string;
  let vault: Vault;
  before(async () => {
    work = await makeWorkDir(prefix);
    vault = await createVault(work);
  });
  after(async () => {
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });
  return { work: () => work, vault: () => vault };
}

describe('backupVm: full and incremental points', () => {
  const ctx = withVault('backup');
  const random = new SeededRandom(101);

  it('a first point is full, the next ones incremental; only changed blocks are stored, zero blocks never', async () => {
    const vault = ctx.vault();
    const path = join(ctx.work(), 'os.img');
    const zero = [5, 6, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39];
    const state1 = randomDisk(random, 40, { zero });
    await writeFile(path, state1);
    const vm: BackupSubject = { name: 'inc-vm', disks: [{ name: 'os', path, role: 'os' }] };

    const first = await backupVm(vault, vm);
    assert.equal(first.meta.type, 'full');
    assert.equal(first.point.parentId, null);
    const d1 = first.point.disks[0]!;
    assert.equal(d1.sizeBytes, 40 * BLOCK);
    assert.equal(d1.stats.bytesRead, 40 * BLOCK, 'every byte is read');
    assert.equal(d1.stats.zeroBlocks, 12);
    assert.equal(d1.stats.changedBlocks, 28, 'without a parent every non-zero block counts as changed');
    assert.equal(d1.stats.newBlocks, 28);
    assert.equal(d1.stats.newBytes, 28 * BLOCK, 'zero blocks are not stored');
    assert.equal(diskMeta(d1).changeDetection, 'full');
    assert.equal(diskMeta(d1).changeDetectionNote, null);
    assert.equal((await measureVaultUsage(vault)).liveBytes, 28 * BLOCK);

    // Block 1 rewritten, block 5 (was zero) written, block 10 zeroed, block 20 made a copy of block 0.
    await rewriteBlock(path, 1, random);
    await rewriteBlock(path, 5, random);
    await rewriteBlock(path, 10, 'zero');
    await writeAt(path, 20 * BLOCK, state1.subarray(0, BLOCK));
    const state2 = await readFile(path);

    const second = await backupVm(vault, vm);
    assert.equal(second.meta.type, 'incremental');
    assert.equal(second.point.parentId, first.point.pointId);
    const d2 = second.point.disks[0]!;
    assert.equal(d2.stats.bytesRead, 40 * BLOCK, 'an incremental point still reads the whole disk');
    assert.equal(d2.stats.changedBlocks, 4);
    assert.equal(d2.stats.zeroBlocks, 12);
    assert.equal(d2.stats.newBlocks, 2, 'the zeroed block is not stored, the copy of block 0 is deduplicated');
    assert.equal(d2.stats.newBytes, 2 * BLOCK);
    assert.equal(diskMeta(d2).changeDetection, 'checksum');
    assert.equal(diskMeta(d2).changeDetectionNote, null);

    const third = await backupVm(vault, vm);
    assert.equal(third.point.parentId, second.point.pointId);
    assert.equal(third.point.disks[0]!.stats.changedBlocks, 0);
    assert.equal(third.point.disks[0]!.stats.newBytes, 0);
    assert.equal((await measureVaultUsage(vault)).liveBytes, 30 * BLOCK);

    const points = await listVmPoints(vault, 'inc-vm');
    assert.deepEqual(points.map((point) => point.type), ['full', 'incremental', 'incremental']);
    assert.deepEqual(points.map((point) => point.parentId), [null, first.point.pointId, second.point.pointId]);
    assert.deepEqual(points.map((point) => point.disks[0]!.changedBlocks), [28, 4, 0]);
    assert.deepEqual(points.map((point) => point.disks[0]!.newBytes), [28 * BLOCK, 2 * BLOCK, 0]);
    assert.deepEqual(points.map((point) => point.disks[0]!.bytesRead), [40 * BLOCK, 40 * BLOCK, 40 * BLOCK]);
    assert.deepEqual(points.map((point) => point.introducedBytes), [28 * BLOCK, 2 * BLOCK, 0]);
    assert.deepEqual(points.map((point) => point.disks[0]!.changeDetection), ['full', 'checksum', 'checksum']);

    assertBytesEqual(await restoredBytes(vault, ctx.work(), first.point.pointId, 'os'), state1, 'point 1');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), second.point.pointId, 'os'), state2, 'point 2');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), third.point.pointId, 'os'), state2, 'point 3');
  });

  it('never backs up temp disks: they are not in the point, not read, and may even be missing', async () => {
    const vault = ctx.vault();
    const os = join(ctx.work(), 'tmpvm-os.img');
    const scratch = join(ctx.work(), 'tmpvm-scratch.img');
    await writeFile(os, randomDisk(random, 6));
    await writeFile(scratch, randomDisk(random, 9));
    const opened = instrumentedOpen();
    const vm: BackupSubject = {
      name: 'temp-vm',
      disks: [
        { name: 'os', path: os, role: 'os' },
        { name: 'scratch', path: scratch, role: 'temp' },
        { name: 'swap', path: join(ctx.work(), 'no-such-swap.img'), role: 'temp' },
      ],
    };
    const { point } = await backupVm(vault, vm, { openDisk: opened.openDisk });
    assert.deepEqual(point.disks.map((disk) => disk.name), ['os']);
    assert.deepEqual(opened.opened.map((source) => source.path), [os], 'temp disks are not even opened');
    const [summary] = await listVmPoints(vault, 'temp-vm');
    assert.equal(summary!.introducedBytes, 6 * BLOCK);
    assert.deepEqual(summary!.disks.map((disk) => disk.name), ['os']);
  });

  it('refuses a VM whose only disks are temp disks with INVALID_ARGUMENT, writing nothing', async () => {
    const vault = ctx.vault();
    const scratch = join(ctx.work(), 'only-temp.img');
    await writeFile(scratch, randomDisk(random, 2));
    const countBefore = await pointCount(vault);
    await rejectsWith(backupVm(vault, { name: 'only-temp', disks: [{ name: 'scratch', path: scratch, role: 'temp' }] }), 'INVALID_ARGUMENT', 'only-temp', 'temp');
    await rejectsWith(backupVm(vault, { name: 'no-disks', disks: [] }), 'INVALID_ARGUMENT', 'no-disks');
    assert.equal(await pointCount(vault), countBefore);
  });

  it('backs up a disk added to the VM in full inside an incremental point; the other disks by checksum', async () => {
    const vault = ctx.vault();
    const os = join(ctx.work(), 'added-os.img');
    const data = join(ctx.work(), 'added-data.img');
    const osBytes = randomDisk(random, 8, { zero: [2] });
    await writeFile(os, osBytes);
    const vm: BackupSubject = { name: 'added-vm', disks: [{ name: 'os', path: os, role: 'os' }] };
    const first = await backupVm(vault, vm);

    const dataBytes = randomDisk(random, 12, { zero: [0, 11], tail: 777 });
    await writeFile(data, dataBytes);
    const second = await backupVm(vault, { ...vm, disks: [...vm.disks, { name: 'data', path: data, role: 'data' }] });
    assert.equal(second.meta.type, 'incremental');
    assert.equal(second.point.parentId, first.point.pointId);
    const [osDisk, dataDisk] = second.point.disks;
    assert.equal(diskMeta(osDisk!).changeDetection, 'checksum');
    assert.equal(diskMeta(osDisk!).changeDetectionNote, null);
    assert.equal(osDisk!.stats.changedBlocks, 0);
    assert.equal(osDisk!.stats.newBytes, 0);
    assert.equal(diskMeta(dataDisk!).changeDetection, 'full');
    assert.equal(diskMeta(dataDisk!).changeDetectionNote, 'disk added since the last point: backed up in full');
    assert.equal(diskMeta(dataDisk!).role, 'data');
    assert.equal(dataDisk!.sizeBytes, dataBytes.length);
    assert.equal(dataDisk!.stats.bytesRead, dataBytes.length);
    assert.equal(dataDisk!.stats.changedBlocks, nonZeroBlocks(dataBytes));
    assert.equal(dataDisk!.stats.newBytes, 10 * BLOCK + 777);

    const summary = (await listVmPoints(vault, 'added-vm'))[1]!;
    assert.deepEqual(summary.disks.map((disk) => [disk.name, disk.changeDetection, disk.changeDetectionNote]), [
      ['os', 'checksum', null],
      ['data', 'full', 'disk added since the last point: backed up in full'],
    ]);
    assertBytesEqual(await restoredBytes(vault, ctx.work(), second.point.pointId, 'os'), osBytes, 'os disk');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), second.point.pointId, 'data'), dataBytes, 'added disk');
  });

  it('backs up two disks of one VM into one point, reporting progress for each; both restore exactly', async () => {
    const vault = ctx.vault();
    const os = join(ctx.work(), 'two-os.img');
    const data = join(ctx.work(), 'two-data.img');
    // 70 blocks: more than one read batch (64 blocks of 16 KiB).
    const osBytes = randomDisk(random, 20, { zero: [4, 5] });
    const dataBytes = randomDisk(random, 70, { zero: [0, 64, 65], tail: 123 });
    await writeFile(os, osBytes);
    await writeFile(data, dataBytes);
    const progress: DiskProgress[] = [];
    const { point } = await backupVm(vault, {
      name: 'two-disks',
      disks: [{ name: 'os', path: os, role: 'os' }, { name: 'data', path: data, role: 'data' }],
    }, { onProgress: (event) => progress.push(event) });
    assert.deepEqual(point.disks.map((disk) => [disk.name, disk.sizeBytes, diskMeta(disk).role, diskMeta(disk).path]), [
      ['os', osBytes.length, 'os', os],
      ['data', dataBytes.length, 'data', data],
    ]);
    for (const [name, size] of [['os', osBytes.length], ['data', dataBytes.length]] as const) {
      const events = progress.filter((event) => event.disk === name);
      assert.ok(events.length > 0, `progress of disk ${name}`);
      assert.deepEqual(events.at(-1), { disk: name, bytesDone: size, bytesTotal: size });
    }
    assert.equal((await listVmPoints(vault, 'two-disks')).length, 1);
    assertBytesEqual(await restoredBytes(vault, ctx.work(), point.pointId, 'os'), osBytes, 'os disk');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), point.pointId, 'data'), dataBytes, 'data disk');
  });

  it('restores exactly a disk that grew and one that shrank between points', async () => {
    const vault = ctx.vault();
    const grow = join(ctx.work(), 'grow.img');
    const shrink = join(ctx.work(), 'shrink.img');
    const grow1 = randomDisk(random, 10, { zero: [3] });
    const shrink1 = randomDisk(random, 10, { zero: [8] });
    await writeFile(grow, grow1);
    await writeFile(shrink, shrink1);
    const vm: BackupSubject = { name: 'resize-vm', disks: [{ name: 'grow', path: grow, role: 'os' }, { name: 'shrink', path: shrink, role: 'data' }] };
    const first = await backupVm(vault, vm);

    await appendFile(grow, randomDisk(random, 5, { tail: 1000 }));
    await truncate(shrink, 4 * BLOCK + 500);
    const grow2 = await readFile(grow);
    const shrink2 = await readFile(shrink);
    const second = await backupVm(vault, vm);
    const [g, s] = second.point.disks;
    assert.equal(g!.sizeBytes, 15 * BLOCK + 1000);
    assert.equal(s!.sizeBytes, 4 * BLOCK + 500);
    assert.equal(diskMeta(g!).changeDetection, 'checksum');
    assert.equal(diskMeta(g!).changeDetectionNote, `disk grew from ${10 * BLOCK} to ${15 * BLOCK + 1000} bytes`);
    assert.equal(diskMeta(s!).changeDetection, 'checksum');
    assert.equal(diskMeta(s!).changeDetectionNote, `disk shrank from ${10 * BLOCK} to ${4 * BLOCK + 500} bytes`);
    assert.equal(g!.stats.changedBlocks, 6, 'the 6 new blocks');
    assert.equal(g!.stats.newBytes, 5 * BLOCK + 1000);
    assert.equal(s!.stats.changedBlocks, 1, 'the cut last block');
    assert.equal(s!.stats.newBytes, 500);

    // Grown back with zeros: the blocks past the cut are zero now, not the old data.
    await truncate(shrink, 10 * BLOCK);
    const shrink3 = await readFile(shrink);
    const third = await backupVm(vault, vm);
    assert.equal(diskMeta(third.point.disks[1]!).changeDetectionNote, `disk grew from ${4 * BLOCK + 500} to ${10 * BLOCK} bytes`);

    assertBytesEqual(await restoredBytes(vault, ctx.work(), first.point.pointId, 'grow'), grow1, 'grow, point 1');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), first.point.pointId, 'shrink'), shrink1, 'shrink, point 1');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), second.point.pointId, 'grow'), grow2, 'grow, point 2');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), second.point.pointId, 'shrink'), shrink2, 'shrink, point 2');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), third.point.pointId, 'shrink'), shrink3, 'shrink, point 3');
  });
});

describe('backupVm: deduplication across VMs', () => {
  const ctx = withVault('dedup');

  it('stores blocks another VM already stored only once; each VM has its own chain of points', async () => {
    const vault = ctx.vault();
    const random = new SeededRandom(202);
    const a = join(ctx.work(), 'a.img');
    const b = join(ctx.work(), 'b.img');
    const aBytes = randomDisk(random, 30);
    await writeFile(a, aBytes);
    await writeFile(b, aBytes);
    await rewriteBlock(b, 3, random);
    await rewriteBlock(b, 7, random);
    const bBytes = await readFile(b);

    const first = await backupVm(vault, { name: 'vm-a', disks: [{ name: 'os', path: a, role: 'os' }] });
    assert.equal(first.point.disks[0]!.stats.newBytes, 30 * BLOCK);
    const second = await backupVm(vault, { name: 'vm-b', disks: [{ name: 'os', path: b, role: 'os' }] });
    assert.equal(second.meta.type, 'full', "another VM's point is never a parent");
    assert.equal(second.point.parentId, null);
    assert.equal(second.point.disks[0]!.stats.changedBlocks, 30);
    assert.equal(second.point.disks[0]!.stats.newBytes, 2 * BLOCK, 'only the two blocks vm-a does not have');

    const [summaryB] = await listVmPoints(vault, 'vm-b');
    assert.equal(summaryB!.introducedBytes, 2 * BLOCK);
    assert.equal(summaryB!.uniqueBytes, 2 * BLOCK);
    assert.deepEqual((await listVmPoints(vault, 'vm-a')).map((point) => point.id), [first.point.pointId]);
    assert.equal((await measureVaultUsage(vault)).liveBytes, 32 * BLOCK);
    assertBytesEqual(await restoredBytes(vault, ctx.work(), second.point.pointId, 'os'), bBytes, 'vm-b');
    assertBytesEqual(await restoredBytes(vault, ctx.work(), first.point.pointId, 'os'), aBytes, 'vm-a');
  });
});

describe('backupVm: expiry and the points listing', () => {
  const ctx = withVault('expiry');

  it('records expiresAt in ISO UTC, shown by listVmPoints; null when absent', async () => {
    const vault = ctx.vault();
    const path = join(ctx.work(), 'os.img');
    await writeFile(path, randomDisk(new SeededRandom(303), 3));
    const vm: BackupSubject = { name: 'expiry-vm', disks: [{ name: 'os', path, role: 'os' }] };
    const kept = await backupVm(vault, vm);
    const expiring = await backupVm(vault, vm, { expiresAt: new Date('2031-06-15T12:30:00+02:00'), trigger: 'scheduled' });
    assert.equal(kept.meta.expiresAt, null);
    assert.equal(expiring.meta.expiresAt, '2031-06-15T10:30:00.000Z');
    const nullExpiry = await backupVm(vault, vm, { expiresAt: null });
    assert.equal(nullExpiry.meta.expiresAt, null);

    assert.equal((await readPoint(vault, expiring.point.pointId)).meta.expiresAt, '2031-06-15T10:30:00.000Z', 'stored in the manifest');
    const points = await listVmPoints(vault, 'expiry-vm');
    assert.deepEqual(points.map((point) => point.expiresAt), [null, '2031-06-15T10:30:00.000Z', null]);
    assert.deepEqual(points.map((point) => point.trigger), ['on-demand', 'scheduled', 'on-demand']);
    // The stable JSON contract of `boveda points --json`.
    assert.deepEqual(Object.keys(points[1]!).sort(), [
      'consistency', 'consistencyNote', 'createdAt', 'disks', 'durationSeconds', 'expiresAt', 'id', 'introducedBytes',
      'introducedStoredBytes', 'parentId', 'secrets', 'trigger', 'type', 'uniqueBytes', 'uniqueStoredBytes', 'vm', 'warnings',
    ]);
    assert.deepEqual(Object.keys(points[1]!.disks[0]!).sort(), [
      'bytesRead', 'changeDetection', 'changeDetectionNote', 'changedBlocks', 'name', 'newBytes', 'role', 'sizeBytes', 'snapshot',
      'storedBytes', 'zeroBlocks',
    ]);
    assert.equal(points[1]!.id, expiring.point.pointId);
    assert.equal(points[1]!.vm, 'expiry-vm');
    assert.equal(points[1]!.createdAt, expiring.point.createdAt);
    assert.match(points[1]!.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(points[1]!.durationSeconds >= 0);
    assert.deepEqual(await listVmPoints(vault, 'no-such-vm'), []);
  });
});

describe('backupVm: bad input and failures leave no point', () => {
  const ctx = withVault('badinput');
  const random = new SeededRandom(404);

  it('fails with DISK_NOT_FOUND naming a missing disk, writes no point and closes the disks it opened', async () => {
    const vault = ctx.vault();
    const dir = join(ctx.work(), 'missing');
    await mkdir(dir);
    const os = join(dir, 'os.img');
    const missing = join(dir, 'data.img');
    await writeFile(os, randomDisk(random, 4));
    const vm: BackupSubject = { name: 'missing-vm', disks: [{ name: 'os', path: os, role: 'os' }, { name: 'data', path: missing, role: 'data' }] };
    await rejectsWith(backupVm(vault, vm), 'DISK_NOT_FOUND', missing);
    // With snapshot clones: the clone of the disk opened first is removed.
    const opened = instrumentedOpen({ clone: copyClone });
    await rejectsWith(backupVm(vault, vm, { openDisk: opened.openDisk }), 'DISK_NOT_FOUND', missing);
    assert.equal(opened.opened.length, 1);
    assert.equal(opened.opened[0]!.snapshot, 'reflink');
    assert.ok(opened.opened[0]!.closes >= 1, 'the opened disk was closed');
    assert.deepEqual(await cloneLeftovers(dir), []);
    assert.equal(await pointCount(vault), 0);
    assert.deepEqual(await listVmPoints(vault, 'missing-vm'), []);
  });

  it('fails with DISK_UNREADABLE when a disk is a directory', async () => {
    const vault = ctx.vault();
    const dir = join(ctx.work(), 'a-directory.img');
    await mkdir(dir);
    await rejectsWith(backupVm(vault, { name: 'dir-vm', disks: [{ name: 'os', path: dir, role: 'os' }] }), 'DISK_UNREADABLE', dir, 'directory');
    assert.equal(await pointCount(vault), 0);
  });

  it('fails with DISK_SIZE_CHANGED when a disk grows during the backup; the next backup works', async () => {
    const vault = ctx.vault();
    const dir = join(ctx.work(), 'grows');
    await mkdir(dir);
    const path = join(dir, 'os.img');
    const bytes = randomDisk(random, 8);
    await writeFile(path, bytes);
    const vm: BackupSubject = { name: 'grows-vm', disks: [{ name: 'os', path, role: 'os' }] };
    let grown = false;
    const opened = instrumentedOpen({
      afterRead: async () => {
        if (grown) return;
        grown = true;
        await appendFile(path, new Uint8Array(BLOCK));
      },
    });
    const error = await rejectsWith(backupVm(vault, vm, { openDisk: opened.openDisk }), 'DISK_SIZE_CHANGED', path);
    assert.equal(error.details.sizeAtOpen, 8 * BLOCK);
    assert.equal(error.details.sizeNow, 9 * BLOCK);
    assert.ok(opened.opened.every((source) => source.closes >= 1));
    assert.equal(await pointCount(vault), 0);

    const { point, meta } = await backupVm(vault, vm);
    assert.equal(meta.type, 'full', 'the failed backup left no parent');
    assert.equal(point.disks[0]!.sizeBytes, 9 * BLOCK);
  });

  it('fails with DISK_SIZE_CHANGED when a disk shrinks under the reads, also with snapshot clones', async () => {
    const vault = ctx.vault();
    const dir = join(ctx.work(), 'shrinks');
    await mkdir(dir);
    const path = join(dir, 'os.img');
    await writeFile(path, randomDisk(random, 8));
    const vm: BackupSubject = { name: 'shrinks-vm', disks: [{ name: 'os', path, role: 'os' }] };
    const countBefore = await pointCount(vault);
    let cut = false;
    const opened = instrumentedOpen({
      beforeRead: async () => {
        if (cut) return;
        cut = true;
        await truncate(path, BLOCK / 2);
      },
    });
    await rejectsWith(backupVm(vault, vm, { openDisk: opened.openDisk }), 'DISK_SIZE_CHANGED', path, 'shrank');

    // A clone is read instead of the disk: the shrink is found by the final size check.
    await writeFile(path, randomDisk(random, 8));
    cut = false;
    const cloned = instrumentedOpen({
      clone: copyClone,
      beforeRead: async () => {
        if (cut) return;
        cut = true;
        await truncate(path, BLOCK / 2);
      },
    });
    await rejectsWith(backupVm(vault, vm, { openDisk: cloned.openDisk }), 'DISK_SIZE_CHANGED', path, 'changed size during the backup');
    assert.ok(cloned.opened.every((source) => source.closes >= 1));
    assert.deepEqual(await cloneLeftovers(dir), []);
    assert.equal(await pointCount(vault), countBefore);
  });
});

describe('backupVm: concurrency and cancellation', () => {
  const ctx = withVault('concurrency');
  const random = new SeededRandom(505);

  it('refuses a second backup of a running VM with VM_BUSY naming the first; other VMs back up meanwhile', async () => {
    const vault = ctx.vault();
    const busyPath = join(ctx.work(), 'busy.img');
    const otherPath = join(ctx.work(), 'other.img');
    await writeFile(busyPath, randomDisk(random, 4));
    await writeFile(otherPath, randomDisk(random, 4));
    const busy: BackupSubject = { name: 'busy-vm', disks: [{ name: 'os', path: busyPath, role: 'os' }] };
    const { running, release } = await startHeldBackup(vault, busy);
    try {
      const error = await rejectsWith(backupVm(vault, busy), 'VM_BUSY', 'VM "busy-vm" is busy', 'a backup of VM "busy-vm" is running', `pid ${process.pid}`);
      assert.equal(error.exitCode > 0, true);
      const other = await backupVm(vault, { name: 'other-vm', disks: [{ name: 'os', path: otherPath, role: 'os' }] });
      assert.equal(other.point.subject, 'other-vm');
      // With waitMs the next backup waits for the running one and then builds on its point.
      const waiting = backupVm(vault, busy, { waitMs: 20_000 });
      waiting.catch(() => undefined);
      setTimeout(release, 100);
      const first = await running;
      const next = await waiting;
      assert.equal(next.point.parentId, first.point.pointId);
      assert.equal(next.meta.type, 'incremental');
    } finally {
      release();
      await running.catch(() => undefined);
    }
    assert.equal((await listVmPoints(vault, 'busy-vm')).length, 2);
  });

  it('cancels with ABORTED when the signal fires mid-way: no point, no clone left; the next backup builds on the last point', async () => {
    const vault = ctx.vault();
    const dir = join(ctx.work(), 'abort');
    await mkdir(dir);
    const path = join(dir, 'os.img');
    // 300 blocks: several read batches, so the abort lands while reads and stores are under way.
    await writeFile(path, randomDisk(random, 300, { zero: [17] }));
    const vm: BackupSubject = { name: 'abort-vm', disks: [{ name: 'os', path, role: 'os' }] };
    const first = await backupVm(vault, vm);
    const countBefore = await pointCount(vault);
    await rewriteBlock(path, 0, random);
    await rewriteBlock(path, 17, random);
    const current = await rewriteBlock(path, 299, random);

    // The signal fires once the second batch (blocks 64..127) is read; the first batch's read
    // completes only after that, so its blocks reach the write session after the cancellation
    // failed it (which must still be ABORTED, not an internal error).
    const controller = new AbortController();
    const aborted = deferred();
    const opened = instrumentedOpen({
      clone: copyClone,
      afterRead: async (_source, offset) => {
        if (offset === 64 * BLOCK) {
          controller.abort();
          aborted.resolve();
        } else if (offset === 0) {
          await aborted.promise;
          await sleep(50);
        }
      },
    });
    await rejectsWith(backupVm(vault, vm, { openDisk: opened.openDisk, signal: controller.signal }), 'ABORTED');
    assert.equal(await pointCount(vault), countBefore, 'no point was written');
    assert.equal(opened.opened.length, 1);
    assert.ok(opened.opened[0]!.closes >= 1);
    assert.deepEqual(await cloneLeftovers(dir), []);

    const next = await backupVm(vault, vm);
    assert.equal(next.point.parentId, first.point.pointId);
    assert.equal(next.meta.type, 'incremental');
    assert.equal(next.point.disks[0]!.stats.changedBlocks, 3);
    assertBytesEqual(await restoredBytes(vault, ctx.work(), next.point.pointId, 'os'), current, 'the point after the cancelled one');
  });

  it('cancels with ABORTED before starting when the signal already fired', async () => {
    const vault = ctx.vault();
    const path = join(ctx.work(), 'pre-aborted.img');
    await writeFile(path, randomDisk(random, 2));
    const countBefore = await pointCount(vault);
    await rejectsWith(backupVm(vault, { name: 'pre-aborted', disks: [{ name: 'os', path, role: 'os' }] }, { signal: AbortSignal.abort() }), 'ABORTED');
    assert.equal(await pointCount(vault), countBefore);
  });
});

describe('backupVm: snapshots and closing the sources', () => {
  const ctx = withVault('snapshot');
  const random = new SeededRandom(606);

  it('reads in place on this file system without reflink and says so in the point (or uses a reflink clone where it can)', async () => {
    const vault = ctx.vault();
    const dir = join(ctx.work(), 'default');
    await mkdir(dir);
    const path = join(dir, 'os.img');
    await writeFile(path, randomDisk(random, 4));
    const reflink = await supportsReflink(dir);
    const { point, meta } = await backupVm(vault, { name: 'snap-vm', disks: [{ name: 'os', path, role: 'os' }] });
    const [summary] = await listVmPoints(vault, 'snap-vm');
    if (reflink) {
      assert.equal(diskMeta(point.disks[0]!).snapshot, 'reflink');
      assert.deepEqual(meta.warnings, []);
    } else {
      assert.equal(diskMeta(point.disks[0]!).snapshot, 'none');
      assert.equal(summary!.disks[0]!.snapshot, 'none');
      assert.equal(meta.warnings.length, 1);
      const [warning] = meta.warnings;
      assert.ok(warning!.startsWith('disk "os": no point-in-time snapshot:'), warning);
      assert.ok(warning!.includes('does not support reflink clones'), warning);
      assert.ok(warning!.includes('read in place while the VM may write'), warning);
      assert.deepEqual(summary!.warnings, meta.warnings);
    }
    assert.deepEqual(await cloneLeftovers(dir), []);
  });

  it('with snapshot: false reads in place and records why', async () => {
    const vault = ctx.vault();
    const path = join(ctx.work(), 'nosnap.img');
    await writeFile(path, randomDisk(random, 4));
    const { point, meta } = await backupVm(vault, { name: 'nosnap-vm', disks: [{ name: 'os', path, role: 'os' }] }, { snapshot: false });
    assert.equal(diskMeta(point.disks[0]!).snapshot, 'none');
    assert.equal(meta.warnings.length, 1);
    assert.ok(meta.warnings[0]!.startsWith('disk "os": no point-in-time snapshot: snapshots were turned off'), meta.warnings[0]);
    const [summary] = await listVmPoints(vault, 'nosnap-vm');
    assert.equal(summary!.disks[0]!.snapshot, 'none');
    assert.deepEqual(summary!.warnings, meta.warnings);
  });

  it('reads from a snapshot clone when one can be made, records it and removes the clone afterwards', async () => {
    const vault = ctx.vault();
    const dir = join(ctx.work(), 'cloned');
    await mkdir(dir);
    const os = join(dir, 'os.img');
    const data = join(dir, 'data.img');
    const osBytes = randomDisk(random, 6);
    await writeFile(os, osBytes);
    await writeFile(data, randomDisk(random, 3));
    const clonesSeen: number[] = [];
    const opened = instrumentedOpen({
      clone: copyClone,
      beforeRead: async (source) => {
        clonesSeen.push((await cloneLeftovers(dir)).length);
        // The VM keeps writing: the clone still holds the bytes of the moment it was made.
        if (source.path === os) await writeAt(os, 0, random.bytes(BLOCK));
      },
    });
    const { point, meta } = await backupVm(vault, {
      name: 'clone-vm',
      disks: [{ name: 'os', path: os, role: 'os' }, { name: 'data', path: data, role: 'data' }],
    }, { openDisk: opened.openDisk });
    assert.ok(clonesSeen.length > 0 && clonesSeen.every((count) => count === 2), `both clones exist while reading: ${clonesSeen.join(', ')}`);
    assert.deepEqual(point.disks.map((disk) => diskMeta(disk).snapshot), ['reflink', 'reflink']);
    assert.deepEqual(meta.warnings, []);
    assert.deepEqual(opened.opened.map((source) => source.closes >= 1), [true, true]);
    assert.deepEqual(await cloneLeftovers(dir), []);
    assertBytesEqual(await restoredBytes(vault, ctx.work(), point.pointId, 'os'), osBytes, 'the disk as it was when cloned');
  });
});
