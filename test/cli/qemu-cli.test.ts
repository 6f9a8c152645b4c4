// `vm add --qemu-qmp`, `vm show`, `backup [--verify-tracking]` and `points --json` against a real QEMU;
// `vm add --disk img.qcow2` of a stopped VM against real qemu-img / qemu-nbd.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { QmpClient } from '../../src/sources/qemu/qmp/index.js';
import { QemuProcess } from '../sources/qemu/qemu-process.js';
import { CliHarness } from './harness.js';

const MiB = 1024 * 1024;
const run = promisify(execFile);

describe('boveda CLI with a running QEMU VM', () => {
  let work: string;
  let qemu: QemuProcess;
  let qmp: QmpClient;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-qemu-cli-'));
    qemu = await QemuProcess.start({ diskSizes: [8 * MiB, 8 * MiB, 4 * MiB] });
    qmp = await QmpClient.connect(qemu.qmpSocket);
  });
  after(async () => {
    qmp?.close();
    await qemu?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('discovers the disks, shows the VM reachable, backs up full then by bitmap, verify-tracking reports nothing missed', async () => {
    const h = new CliHarness(join(work, 'data'));
    h.ok(['vault', 'init']);
    const added = h.json<{ qemu: { qmpSocket: string }; disks: Array<{ name: string; role: string; path: string; qemu: { qdev: string; node: string } }> }>(
      ['vm', 'add', 'kvm1', '--qemu-qmp', qemu.backupQmpSocket, '--disk-role', 'vdb=data', '--exclude', 'disk2'],
    );
    assert.equal(added.qemu.qmpSocket, qemu.backupQmpSocket);
    assert.deepEqual(added.disks.map((disk) => [disk.role, disk.path, disk.qemu.node]), [
      ['os', qemu.disks[0]!.path, 'disk0'], ['data', qemu.disks[1]!.path, 'disk1'], ['temp', qemu.disks[2]!.path, 'disk2'],
    ]);
    const shown = h.ok(['vm', 'show', 'kvm1']).stdout;
    assert.match(shown, /QEMU VM .*reachable \(prelaunch|paused\)/);

    await qemu.write(qmp, 0, 0, 64 * 1024, 0x51);
    await qemu.write(qmp, 1, MiB, 32 * 1024, 0x52);
    const lastLine = <T>(args: string[]): T => JSON.parse(h.ok([...args, '--json']).stdout.trim().split('\n').at(-1)!) as T;
    const full = lastLine<{ disks: Array<{ name: string; changeDetection: string; bytesRead: number }> }>(['backup', 'kvm1']);
    assert.deepEqual(full.disks.map((disk) => [disk.name, disk.changeDetection]), [['disk0', 'full'], ['disk1', 'full']]);
    await qemu.write(qmp, 1, 2 * MiB, 16 * 1024, 0x53);
    const inc = lastLine<{ disks: Array<{ name: string; changeDetection: string; bytesRead: number; trackingMissedBlocks?: number }> }>(['backup', 'kvm1', '--verify-tracking']);
    assert.deepEqual(inc.disks.map((disk) => [disk.name, disk.changeDetection, disk.trackingMissedBlocks]), [['disk0', 'bitmap', 0], ['disk1', 'bitmap', 0]]);
    const points = h.json<Array<{ disks: Array<{ name: string; changeDetection: string; bytesRead: number }> }>>(['points', 'kvm1']);
    const latest = points.at(-1)!;
    assert.deepEqual(latest.disks.map((disk) => disk.changeDetection), ['bitmap', 'bitmap']);

    qemu.child.kill('SIGSTOP');
    try {
      const unreachable = h.json<{ qemuStatus: { reachable: boolean } }>(['vm', 'show', 'kvm1']);
      assert.equal(unreachable.qemuStatus.reachable, false);
    } finally {
      qemu.child.kill('SIGCONT');
    }
  });
});

describe('boveda CLI with a stopped QEMU VM (qcow2 image disk)', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-qemu-stopped-cli-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('vm add --disk img.qcow2: full then bitmap incremental, points --json says how, restore gives the guest-visible disk; in use → clear error', async () => {
    const image = join(work, 'vm.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(16 * MiB)]);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x61 0 128k', image]);
    const h = new CliHarness(join(work, 'data'));
    h.ok(['vault', 'init']);
    h.ok(['vm', 'add', 'stopped', '--disk', image]);
    const lastLine = <T>(args: string[]): T => JSON.parse(h.ok([...args, '--json']).stdout.trim().split('\n').at(-1)!) as T;
    type Backup = { disks: Array<{ name: string; changeDetection: string; bytesRead: number; trackingMissedBlocks?: number }> };
    const full = lastLine<Backup>(['backup', 'stopped']);
    assert.deepEqual(full.disks.map((disk) => [disk.changeDetection, disk.bytesRead]), [['full', 128 * 1024]]);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 1M 64k', image]);
    const inc = lastLine<Backup>(['backup', 'stopped', '--verify-tracking']);
    assert.deepEqual(inc.disks.map((disk) => [disk.changeDetection, disk.trackingMissedBlocks]), [['bitmap', 0]]);
    const points = h.json<Array<{ disks: Array<{ changeDetection: string; bytesRead: number }> }>>(['points', 'stopped']);
    assert.deepEqual(points.map((point) => point.disks[0]!.changeDetection), ['full', 'bitmap']);

    const dir = join(work, 'restored');
    h.ok(['restore', 'stopped', '--to', dir]);
    const expected = join(work, 'expected.raw');
    await run('qemu-img', ['convert', '-O', 'raw', image, expected]);
    assert.ok((await readFile(join(dir, 'disk0.img'))).equals(await readFile(expected)), 'the restored disk is the guest-visible disk');

    // The same image held by a running QEMU: refused, naming the path and the QMP way.
    const qemu = await QemuProcess.start({ diskSizes: [4 * MiB] });
    try {
      h.ok(['vm', 'add', 'running', '--disk', qemu.disks[0]!.path]);
      const refused = h.run(['backup', 'running', '--json']);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      const error = (JSON.parse(refused.stderr.trim().split('\n').at(-1)!) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, 'DISK_UNREADABLE');
      assert.ok(error.message.includes(qemu.disks[0]!.path) && error.message.includes('--qemu-qmp'), error.message);
    } finally {
      await qemu.stop();
    }
  });
});
