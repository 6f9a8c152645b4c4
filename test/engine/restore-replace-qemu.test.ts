import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, chown, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertQemuVmStopped, backupVm, restoreInPlace } from '../../src/engine/index.js';
import type { Vault } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { QemuProcess } from '../sources/qemu/qemu-process.js';
import { BLOCK, createVault, makeWorkDir, rejectsWith } from './helpers.js';

/** `--replace` for QEMU disks: a qcow2 image is replaced whole (restored beside it, renamed over), never written raw; a running VM is refused. */
describe('restore in place of qcow2 disks and running QEMU VMs', () => {
  let work: string;
  let vault: Vault;
  const random = new SeededRandom(505);

  before(async () => {
    work = await makeWorkDir('replace-qemu');
    vault = await createVault(work);
  });
  after(async () => {
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  it('replaces a qcow2 image with the point\'s guest-visible bytes (qemu-img compare), through a new image renamed over it', async () => {
    const raw = join(work, 'disk.raw');
    const content = random.bytes(48 * BLOCK);
    content.fill(0, 10 * BLOCK, 30 * BLOCK);
    await writeFile(raw, content);
    const { point } = await backupVm(vault, { name: 'q', disks: [{ name: 'os', path: raw, role: 'os' }] }, { snapshot: false });
    // The VM's disk now is a qcow2 image holding other data.
    const image = join(work, 'os.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(content.length)]);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 256k', image], { stdio: 'ignore' });
    const [replaced] = await restoreInPlace(vault, point, [{ disk: 'os', path: image }]);
    assert.equal(replaced!.path, image);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', raw, image]); // throws unless identical
    const header = (await readFile(image)).subarray(0, 4);
    assert.deepEqual([...header], [0x51, 0x46, 0x49, 0xfb], 'still a qcow2 image');
    const leftovers = execFileSync('ls', ['-a', work], { encoding: 'utf8' }).split('\n').filter((name) => name.includes('boveda-replace'));
    assert.deepEqual(leftovers, []);
  });

  it('keeps the replaced image\'s mode (and, as root, its owner): QEMU running as another user can still open it', async () => {
    const raw = join(work, 'owned.raw');
    const content = random.bytes(8 * BLOCK);
    await writeFile(raw, content);
    const { point } = await backupVm(vault, { name: 'owned', disks: [{ name: 'os', path: raw, role: 'os' }] }, { snapshot: false });
    const image = join(work, 'owned.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(content.length)]);
    await chmod(image, 0o600);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) await chown(image, 4242, 4343);
    await restoreInPlace(vault, point, [{ disk: 'os', path: image }]);
    execFileSync('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', raw, image]);
    const after = await stat(image);
    assert.equal(after.mode & 0o7777, 0o600);
    if (asRoot) assert.deepEqual([after.uid, after.gid], [4242, 4343]);
  });

  it('without qemu-img, refuses before rewriting any disk, also a raw one listed before the qcow2 one', async () => {
    const raw = join(work, 'pair-os.raw');
    const dataRaw = join(work, 'pair-data.raw');
    await writeFile(raw, random.bytes(4 * BLOCK));
    await writeFile(dataRaw, random.bytes(4 * BLOCK));
    const { point } = await backupVm(vault, { name: 'pair', disks: [{ name: 'os', path: raw, role: 'os' }, { name: 'data', path: dataRaw, role: 'data' }] }, { snapshot: false });
    const changed = random.bytes(4 * BLOCK);
    await writeFile(raw, changed);
    const image = join(work, 'pair-data.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(4 * BLOCK)]);
    const saved = process.env.BOVEDA_QEMU_IMG;
    process.env.BOVEDA_QEMU_IMG = join(work, 'nowhere', 'qemu-img');
    try {
      await rejectsWith(restoreInPlace(vault, point, [{ disk: 'os', path: raw }, { disk: 'data', path: image }]), 'INVALID_ARGUMENT', 'qemu-img');
    } finally {
      if (saved === undefined) delete process.env.BOVEDA_QEMU_IMG;
      else process.env.BOVEDA_QEMU_IMG = saved;
    }
    assert.ok((await readFile(raw)).equals(changed), 'the raw disk was not rewritten');
  });

  it('refuses while the VM runs (VM_RUNNING naming it), allows once QEMU is gone', async () => {
    const qemu = await QemuProcess.start({ diskSizes: [8 * 1024 * 1024] });
    try {
      await rejectsWith(assertQemuVmStopped('web', qemu.backupQmpSocket), 'VM_RUNNING', 'VM web', 'shut it down');
      await qemu.kill();
      await assertQemuVmStopped('web', qemu.backupQmpSocket); // stale socket file, nobody listening
      await assertQemuVmStopped('web', join(work, 'no-such.sock'));
    } finally {
      await qemu.stop();
    }
  });
});
