// Backups of STOPPED QEMU VMs whose disks are image files: qcow2 read through qemu-nbd (offline
// checkpoint bitmaps with qemu-img bitmap, -B for incrementals), raw images on the raw path.
// Real qemu-img / qemu-io / qemu-nbd (and a paused TCG qemu-system-x86_64 for the in-use case).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { backupVm, diskMeta, type BackupOptions, type BackupResult, type BackupSubject } from '../../src/engine/index.js';
import type { Vault } from '../../src/repository/index.js';
import { QmpClient, readImageInfo } from '../../src/sources/index.js';
import { QemuProcess } from '../sources/qemu/qemu-process.js';
import { BLOCK, createVault, makeWorkDir, pointCount, rejectsWith, restoredBytes } from './helpers.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SIZE = 32 * MiB;

let work: string;

async function qemuIo(image: string, command: string, format = 'qcow2'): Promise<void> {
  await run('qemu-io', ['-f', format, '-c', command, image]);
}

/** The guest-visible bytes of an image (`qemu-img convert -O raw`). */
async function guestBytes(image: string): Promise<Buffer> {
  const out = join(work, `expected-${Math.random().toString(16).slice(2)}.raw`);
  await run('qemu-img', ['convert', '-O', 'raw', image, out]);
  try {
    return await readFile(out);
  } finally {
    await rm(out, { force: true });
  }
}

/** A qcow2 image with data at a few places (and holes elsewhere). */
async function makeQcow2(name: string, compat = '1.1'): Promise<string> {
  const image = join(work, name);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `compat=${compat}`, image, String(SIZE)]);
  await qemuIo(image, 'write -P 0x11 0 64k');
  await qemuIo(image, 'write -P 0x22 3M 100k');
  await qemuIo(image, 'write -P 0x33 20M 1M');
  return image;
}

function subject(image: string, name = 'stopped1'): BackupSubject {
  return { name, disks: [{ name: 'disk0', path: image, role: 'os' }] };
}

/** qemu-nbd processes serving `image` (scanned in /proc; they must never outlive a backup). */
async function qemuNbdProcesses(image: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      if (cmdline[0]?.endsWith('qemu-nbd') && cmdline.includes(image)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function checkpoints(image: string): Promise<string[]> {
  return (await readImageInfo(image, { shared: true })).bitmaps.map((bitmap) => bitmap.name).filter((name) => name.startsWith('boveda-chk-')).sort();
}

async function assertRestoresGuestView(vault: Vault, result: BackupResult, expected: Buffer): Promise<void> {
  const bytes = await restoredBytes(vault, work, result.point.pointId, 'disk0');
  assert.equal(bytes.length, expected.length);
  assert.ok(Buffer.from(bytes).equals(expected), `point ${result.point.pointId} restores to the guest-visible bytes`);
}

function disk0(result: BackupResult) {
  return { meta: diskMeta(result.point.disks[0]!), stats: result.point.disks[0]!.stats };
}

async function backup(vault: Vault, image: string, options: BackupOptions = {}): Promise<BackupResult> {
  const result = await backupVm(vault, subject(image), options);
  assert.deepEqual(await qemuNbdProcesses(image), [], 'no qemu-nbd left running');
  return result;
}

/** Vaults of this file, closed at the end (their worker threads and cached read handles). */
const vaults: Vault[] = [];
async function newVault(name: string): Promise<Vault> {
  const vault = await createVault(work, name);
  vaults.push(vault);
  return vault;
}

describe('backupVm of a stopped QEMU VM (image files)', () => {
  before(async () => {
    work = await makeWorkDir('qemu-stopped');
  });
  after(async () => {
    for (const vault of vaults.splice(0)) await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  it('qcow2: full backup is the guest-visible disk, then incrementals by the offline bitmap read only the dirty extent', async () => {
    const vault = await newVault('v-bitmap');
    const image = await makeQcow2('vm1.qcow2');
    const full = await backup(vault, image);
    const fullDisk = disk0(full);
    assert.equal(full.point.disks[0]!.sizeBytes, SIZE, 'the virtual size, not the container file size');
    assert.equal(fullDisk.meta.changeDetection, 'full');
    assert.equal(fullDisk.meta.imageFormat, 'qcow2');
    assert.equal(fullDisk.meta.bitmapGranularity, BLOCK);
    assert.deepEqual(full.cleanupProblems, []);
    // Holes were skipped: about 1.2 MiB of data was written.
    assert.ok(fullDisk.stats.bytesRead <= 2 * MiB, `read ${fullDisk.stats.bytesRead}`);
    await assertRestoresGuestView(vault, full, await guestBytes(image));
    const [chk1] = await checkpoints(image);
    assert.equal(fullDisk.meta.checkpoint, chk1);
    const bitmap = (await readImageInfo(image)).bitmaps.find((b) => b.name === chk1)!;
    assert.deepEqual({ enabled: bitmap.enabled, inUse: bitmap.inUse, granularity: bitmap.granularity }, { enabled: true, inUse: false, granularity: BLOCK });

    await qemuIo(image, 'write -P 0xab 1M 64k');
    const inc = await backup(vault, image);
    const incDisk = disk0(inc);
    assert.equal(inc.meta.type, 'incremental');
    assert.equal(incDisk.meta.changeDetection, 'bitmap');
    assert.equal(incDisk.meta.changeDetectionNote, null);
    assert.equal(incDisk.stats.bytesRead, 64 * 1024, 'only the dirty extent was read');
    assert.equal(incDisk.stats.changedBlocks, 4);
    await assertRestoresGuestView(vault, inc, await guestBytes(image));
    // Rotated after the commit: only the new checkpoint is left.
    const after2 = await checkpoints(image);
    assert.deepEqual(after2, [incDisk.meta.checkpoint]);
    assert.notEqual(after2[0], chk1);

    // Nothing written: an incremental reads nothing.
    const idle = await backup(vault, image);
    assert.equal(disk0(idle).meta.changeDetection, 'bitmap');
    assert.equal(disk0(idle).stats.bytesRead, 0);
    await assertRestoresGuestView(vault, idle, await guestBytes(image));

    // --verify-tracking reads everything too and finds nothing missed.
    await qemuIo(image, 'write -P 0xcd 7M 16k');
    const verified = await backup(vault, image, { verifyTracking: true });
    assert.equal(disk0(verified).meta.changeDetection, 'bitmap');
    assert.equal(disk0(verified).meta.trackingMissedBlocks, 0);
    await assertRestoresGuestView(vault, verified, await guestBytes(image));
  });

  it('qcow2: a checkpoint removed by hand → checksum with the reason, then the bitmap path again', async () => {
    const vault = await newVault('v-removed');
    const image = await makeQcow2('vm2.qcow2');
    await backup(vault, image);
    const [chk] = await checkpoints(image);
    await run('qemu-img', ['bitmap', '--remove', image, chk!]);
    await qemuIo(image, 'write -P 0x44 5M 32k');
    const fallback = await backup(vault, image);
    assert.equal(disk0(fallback).meta.changeDetection, 'checksum');
    assert.match(disk0(fallback).meta.changeDetectionNote ?? '', new RegExp(`checkpoint bitmap ${chk} is missing`));
    assert.ok(fallback.meta.warnings.some((warning) => warning.includes('checksum comparison') && warning.includes(chk!)));
    await assertRestoresGuestView(vault, fallback, await guestBytes(image));
    assert.deepEqual(await checkpoints(image), [disk0(fallback).meta.checkpoint]);

    await qemuIo(image, 'write -P 0x55 9M 16k');
    const back = await backup(vault, image);
    assert.equal(disk0(back).meta.changeDetection, 'bitmap');
    assert.equal(disk0(back).stats.bytesRead, 16 * 1024);
    await assertRestoresGuestView(vault, back, await guestBytes(image));
  });

  it('qcow2: a disabled checkpoint → checksum with the reason', async () => {
    const vault = await newVault('v-disabled');
    const image = await makeQcow2('vm3.qcow2');
    await backup(vault, image);
    const [chk] = await checkpoints(image);
    await run('qemu-img', ['bitmap', '--disable', image, chk!]);
    const fallback = await backup(vault, image);
    assert.equal(disk0(fallback).meta.changeDetection, 'checksum');
    assert.match(disk0(fallback).meta.changeDetectionNote ?? '', /is disabled/);
    assert.deepEqual(await checkpoints(image), [disk0(fallback).meta.checkpoint]);
  });

  it('qcow2: QEMU killed (-9) with the image open leaves the checkpoint in-use → checksum "inconsistent", then the bitmap again', async () => {
    const vault = await newVault('v-killed');
    const image = await makeQcow2('vm-killed.qcow2');
    await backup(vault, image);
    const [chk] = await checkpoints(image);
    const qmpSocket = join(work, 'killed-qmp.sock');
    const child = spawn('qemu-system-x86_64', [
      '-machine', 'q35,accel=tcg', '-display', 'none', '-nodefaults', '-m', '64', '-S',
      '-blockdev', `driver=file,filename=${image},node-name=file0`, '-blockdev', 'driver=qcow2,file=file0,node-name=disk0',
      '-device', 'virtio-blk-pci,drive=disk0,id=vda', '-qmp', `unix:${qmpSocket},server=on,wait=off`,
    ], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 15_000;
      while (!existsSync(qmpSocket) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      // Once QMP answers, the machine (and its disks) are initialised.
      const qmp = await QmpClient.connect(qmpSocket);
      await qmp.queryNamedBlockNodes();
      qmp.close();
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const stale = (await readImageInfo(image)).bitmaps.find((bitmap) => bitmap.name === chk)!;
    assert.equal(stale.inUse, true, 'QEMU marked the bitmap in-use and never closed the image');
    const fallback = await backup(vault, image);
    assert.equal(disk0(fallback).meta.changeDetection, 'checksum');
    assert.match(disk0(fallback).meta.changeDetectionNote ?? '', new RegExp(`checkpoint bitmap ${chk} is inconsistent`));
    await assertRestoresGuestView(vault, fallback, await guestBytes(image));
    assert.deepEqual(await checkpoints(image), [disk0(fallback).meta.checkpoint], 'the stale checkpoint was removed');
    await qemuIo(image, 'write -P 0x5a 6M 16k');
    const back = await backup(vault, image);
    assert.equal(disk0(back).meta.changeDetection, 'bitmap');
    assert.equal(disk0(back).stats.bytesRead, 16 * 1024);
    await assertRestoresGuestView(vault, back, await guestBytes(image));
  });

  it('qcow2 v2 (compat=0.10): no checkpoint, checksum comparison with the reason', async () => {
    const vault = await newVault('v-v2');
    const image = await makeQcow2('vm-v2.qcow2', '0.10');
    const full = await backup(vault, image);
    assert.equal(disk0(full).meta.changeDetection, 'full');
    assert.equal(disk0(full).meta.checkpoint, null);
    await assertRestoresGuestView(vault, full, await guestBytes(image));
    await qemuIo(image, 'write -P 0x66 2M 48k');
    const inc = await backup(vault, image);
    assert.equal(disk0(inc).meta.changeDetection, 'checksum');
    assert.match(disk0(inc).meta.changeDetectionNote ?? '', /qcow2 v2 .*cannot hold persistent dirty bitmaps/);
    assert.equal(disk0(inc).stats.changedBlocks, 3);
    await assertRestoresGuestView(vault, inc, await guestBytes(image));
    assert.deepEqual(await checkpoints(image), []);
  });

  it('raw image: the raw path, unchanged (checksum comparison, no qemu-nbd, no imageFormat)', async () => {
    const vault = await newVault('v-raw');
    const image = join(work, 'vm-raw.img');
    await run('qemu-img', ['create', '-q', '-f', 'raw', image, String(8 * MiB)]);
    await qemuIo(image, 'write -P 0x77 1M 64k', 'raw');
    const full = await backup(vault, image);
    assert.equal(disk0(full).meta.changeDetection, 'full');
    assert.equal(disk0(full).meta.imageFormat, undefined);
    assert.equal(disk0(full).meta.checkpoint, undefined);
    await qemuIo(image, 'write -P 0x78 2M 16k', 'raw');
    const inc = await backup(vault, image);
    assert.equal(disk0(inc).meta.changeDetection, 'checksum');
    assert.equal(disk0(inc).stats.bytesRead, 8 * MiB, 'the raw path reads the whole image');
    assert.equal(disk0(inc).stats.changedBlocks, 1);
    await assertRestoresGuestView(vault, inc, await readFile(image));
  });

  it('qcow2 in use by a running QEMU: DISK_UNREADABLE naming the path and --qemu-qmp; no point, no bitmap added', async () => {
    const vault = await newVault('v-inuse');
    const qemu = await QemuProcess.start({ diskSizes: [8 * MiB] });
    try {
      const image = qemu.disks[0]!.path;
      const error = await rejectsWith(backupVm(vault, subject(image)), 'DISK_UNREADABLE', image, '--qemu-qmp', 'in use');
      assert.equal(error.details.inUse, true);
      assert.equal(await pointCount(vault), 0);
      assert.deepEqual(await checkpoints(image), []);
      assert.deepEqual(await qemuNbdProcesses(image), []);
    } finally {
      await qemu.stop();
    }
  });

  it('cancel mid-read: no point, no qemu-nbd left, the old checkpoint intact, the new one removed; the next backup uses the bitmap', async () => {
    const vault = await newVault('v-cancel');
    const image = await makeQcow2('vm-cancel.qcow2');
    await backup(vault, image);
    const old = await checkpoints(image);
    assert.equal(old.length, 1);
    await qemuIo(image, 'write -P 0x99 4M 12M');
    const controller = new AbortController();
    let progressSeen = 0;
    await rejectsWith(backupVm(vault, subject(image), {
      signal: controller.signal,
      onProgress: () => {
        progressSeen++;
        controller.abort();
      },
    }), 'ABORTED');
    assert.ok(progressSeen > 0, 'cancelled while reading');
    assert.equal(await pointCount(vault), 1);
    assert.deepEqual(await qemuNbdProcesses(image), []);
    assert.deepEqual(await checkpoints(image), old);
    const info = await readImageInfo(image);
    assert.deepEqual(info.bitmaps.map((bitmap) => bitmap.name), old, 'no temporary bitmap left either');

    const next = await backup(vault, image);
    assert.equal(disk0(next).meta.changeDetection, 'bitmap');
    assert.equal(disk0(next).stats.bytesRead, 12 * MiB);
    await assertRestoresGuestView(vault, next, await guestBytes(image));
  });
});
