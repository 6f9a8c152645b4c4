// Backups of running QEMU VMs: real qemu-system-x86_64 (paused TCG), fleecing, dirty bitmaps, NBD.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { backupQemuVm, diskMeta, restoreToDirectory, type BackupResult, type BackupSubject, type QemuBackupOptions } from '../../src/engine/index.js';
import type { Vault } from '../../src/repository/index.js';
import { QmpClient } from '../../src/sources/qemu/qmp/index.js';
import { HostGuestAgent, QemuProcess } from '../sources/qemu/qemu-process.js';
import { BLOCK, createVault, makeWorkDir, pointCount, rejectsWith, restoredBytes } from './helpers.js';

const MiB = 1024 * 1024;
const DISK = 8 * MiB;

/** A running VM, the test's own QMP connection, and a model of every disk's bytes. */
class Vm {
  qemu: QemuProcess;
  qmp: QmpClient;
  model: Uint8Array[];
  constructor(qemu: QemuProcess, qmp: QmpClient) {
    this.qemu = qemu;
    this.qmp = qmp;
    this.model = qemu.disks.map((disk) => new Uint8Array(disk.sizeBytes));
  }

  static async start(options: { sizes?: number[]; formats?: Array<'qcow2' | 'raw'>; guestAgentChannel?: boolean } = {}): Promise<Vm> {
    const qemu = await QemuProcess.start({ diskSizes: options.sizes ?? [DISK, DISK], formats: options.formats, guestAgentChannel: options.guestAgentChannel });
    running.add(qemu);
    return new Vm(qemu, await QmpClient.connect(qemu.qmpSocket));
  }

  async write(disk: number, offset: number, length: number, pattern: number): Promise<void> {
    await this.qemu.write(this.qmp, disk, offset, length, pattern);
    this.model[disk]!.fill(pattern, offset, offset + length);
  }

  subject(disks = this.qemu.disks.map((_, i) => i), guestAgentSocket: string | null = null): BackupSubject {
    return {
      name: 'vm1',
      disks: disks.map((i) => {
        const disk = this.qemu.disks[i]!;
        return { name: `disk${i}`, path: disk.path, role: i === 0 ? 'os' as const : 'data' as const, qemu: { qdev: disk.qdev, node: disk.nodeName } };
      }),
      qemu: { qmpSocket: this.qemu.backupQmpSocket, guestAgentSocket },
    };
  }

  /** Everything a backup could leave behind in QEMU. */
  async state(): Promise<{ nodes: string[]; exports: string[]; jobs: string[]; bitmaps: string[] }> {
    const nodes = await this.qmp.queryNamedBlockNodes();
    return {
      nodes: nodes.map((node) => node['node-name']).sort(),
      exports: (await this.qmp.queryBlockExports()).map((exp) => exp.id),
      jobs: (await this.qmp.queryBlockJobs()).map((job) => job.device),
      bitmaps: nodes.flatMap((node) => (node['dirty-bitmaps'] ?? []).map((bitmap) => `${node['node-name']}:${bitmap.name ?? ''}`)).sort(),
    };
  }

  async checkpoints(disk: number): Promise<string[]> {
    const bitmaps = await this.qmp.queryNodeDirtyBitmaps(this.qemu.disks[disk]!.nodeName);
    return bitmaps.map((bitmap) => bitmap.name ?? '').filter((name) => name.startsWith('boveda-chk-'));
  }

  /** kill -9 (default) or a clean quit, then start again on the same images. */
  async restart(clean = false): Promise<void> {
    if (clean) {
      const exited = new Promise((resolve) => this.qemu.child.once('exit', resolve));
      await this.qmp.quit();
      await exited;
    }
    this.qmp.close();
    running.delete(this.qemu);
    this.qemu = await this.qemu.restart();
    running.add(this.qemu);
    this.qmp = await QmpClient.connect(this.qemu.qmpSocket);
  }
}

const running = new Set<QemuProcess>();
let work: string;

async function backup(vault: Vault, subject: BackupSubject, options: QemuBackupOptions = {}): Promise<BackupResult> {
  return backupQemuVm(vault, subject, { guestAgentTimeoutMs: 1500, ...options });
}

async function assertRestores(vault: Vault, result: BackupResult, vm: Vm, model = vm.model): Promise<void> {
  for (const disk of result.point.disks) {
    const index = Number(disk.name.slice(4));
    const bytes = await restoredBytes(vault, work, result.point.pointId, disk.name);
    assert.ok(Buffer.from(bytes).equals(Buffer.from(model[index]!)), `disk ${disk.name} of point ${result.point.pointId} restores to the model`);
  }
}

function detection(result: BackupResult): Record<string, string> {
  return Object.fromEntries(result.point.disks.map((disk) => [disk.name, diskMeta(disk).changeDetection]));
}

/** Vaults of this file, closed at the end (their worker threads and cached read handles). */
const vaults: Vault[] = [];
async function newVault(name: string): Promise<Vault> {
  const vault = await createVault(work, name);
  vaults.push(vault);
  return vault;
}

describe('backupQemuVm (real QEMU)', () => {
  before(async () => {
    work = await makeWorkDir('qemu-backup');
  });
  afterEach(async () => {
    for (const qemu of running) await qemu.stop();
    running.clear();
  });
  after(async () => {
    for (const vault of vaults.splice(0)) await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  it('full, then incremental by bitmap; writes during a backup are not in it but in the next; old checkpoint rotated after commit', async () => {
    const vault = await newVault('v1');
    const vm = await Vm.start();
    await vm.write(0, 0, 64 * 1024, 0x11);
    await vm.write(0, 3 * MiB, 100 * 1024, 0x22);
    await vm.write(1, 5 * MiB, 32 * 1024, 0x33);
    const before = await vm.state();

    const expected = vm.model.map((bytes) => bytes.slice());
    const full = await backup(vault, vm.subject(), {
      afterSnapshot: async () => {
        // After the point in time: must not be in this point, must be in the next.
        await vm.write(0, 0, 16 * 1024, 0x44);
        await vm.write(1, 6 * MiB, 48 * 1024, 0x55);
      },
    });
    assert.deepEqual(detection(full), { disk0: 'full', disk1: 'full' });
    assert.equal(full.meta.type, 'full');
    assert.equal(full.meta.consistency, 'crash');
    assert.deepEqual(full.cleanupProblems, []);
    await assertRestores(vault, full, vm, expected);
    // Holes were skipped: only allocated data was read.
    assert.ok(full.point.disks[0]!.stats.bytesRead <= 256 * 1024, `read ${full.point.disks[0]!.stats.bytesRead}`);
    const after1 = await vm.state();
    assert.deepEqual({ ...after1, bitmaps: [] }, { ...before, bitmaps: [] });
    const chk1 = [await vm.checkpoints(0), await vm.checkpoints(1)];
    assert.equal(chk1[0]!.length, 1);
    assert.equal(chk1[1]!.length, 1);
    assert.equal(diskMeta(full.point.disks[0]!).checkpoint, chk1[0]![0]);
    const granularity = (await vm.qmp.queryNodeDirtyBitmaps('disk0')).find((b) => b.name === chk1[0]![0])!.granularity;
    assert.equal(granularity, BLOCK);

    await vm.write(1, 7 * MiB, 4096, 0x66);
    const inc = await backup(vault, vm.subject());
    assert.deepEqual(detection(inc), { disk0: 'bitmap', disk1: 'bitmap' });
    assert.equal(inc.meta.type, 'incremental');
    await assertRestores(vault, inc, vm);
    // Only the dirty blocks were read: 16 KiB on disk0; 48 KiB + one 16 KiB block on disk1.
    assert.equal(inc.point.disks[0]!.stats.bytesRead, 16 * 1024);
    assert.equal(inc.point.disks[1]!.stats.bytesRead, 64 * 1024);
    const chk2 = [await vm.checkpoints(0), await vm.checkpoints(1)];
    assert.equal(chk2[0]!.length, 1);
    assert.notEqual(chk2[0]![0], chk1[0]![0]);
    assert.equal(chk2[1]!.length, 1);
    const after2 = await vm.state();
    assert.deepEqual({ ...after2, bitmaps: [] }, { ...before, bitmaps: [] });

    // Nothing written: the next incremental reads nothing.
    const idle = await backup(vault, vm.subject());
    assert.deepEqual(detection(idle), { disk0: 'bitmap', disk1: 'bitmap' });
    assert.equal(idle.point.disks[0]!.stats.bytesRead + idle.point.disks[1]!.stats.bytesRead, 0);
    await assertRestores(vault, idle, vm);
    // And as qemu-img sees it: the point restored to qcow2 equals the VM's live images (nothing written since).
    for (const disk of vm.qemu.disks) await vm.qmp.humanMonitorCommand(`qemu-io -d ${disk.qdev} "flush"`);
    const restoredDir = join(work, 'v1-qcow2');
    const restored = await restoreToDirectory(vault, idle.point, restoredDir, { format: 'qcow2' });
    for (const [i, disk] of restored.entries()) {
      execFileSync('qemu-img', ['compare', '-q', '-U', '-f', 'qcow2', '-F', 'qcow2', disk.path, vm.qemu.disks[i]!.path]); // throws unless identical
    }
  });

  it('cancelled mid-read: no point, no QEMU objects left, the old checkpoint intact and used next time', async () => {
    const vault = await newVault('v2');
    const vm = await Vm.start();
    await vm.write(0, 0, 1 * MiB, 0x11);
    await vm.write(1, 0, 1 * MiB, 0x12);
    const first = await backup(vault, vm.subject());
    const before = await vm.state();
    await vm.write(0, 2 * MiB, 64 * 1024, 0x13);
    const controller = new AbortController();
    await rejectsWith(backup(vault, vm.subject(), { signal: controller.signal, afterSnapshot: () => controller.abort() }), 'ABORTED');
    assert.equal(await pointCount(vault), 1);
    assert.deepEqual(await vm.state(), before);
    assert.equal((await vm.checkpoints(0))[0], diskMeta(first.point.disks[0]!).checkpoint);

    // A failure inside QEMU's transaction (a node vanishes) also leaves nothing behind.
    const next = await backup(vault, vm.subject());
    assert.deepEqual(detection(next), { disk0: 'bitmap', disk1: 'bitmap' });
    assert.equal(next.point.disks[0]!.stats.bytesRead, 64 * 1024);
    await assertRestores(vault, next, vm);
  });

  it('checkpoints persist across a clean restart; QEMU killed with -9: inconsistent bitmap → checksum with the reason, then bitmap again', async () => {
    const vault = await newVault('v3');
    const vm = await Vm.start();
    await vm.write(0, 0, 256 * 1024, 0x21);
    await vm.write(1, MiB, 256 * 1024, 0x22);
    await backup(vault, vm.subject());
    await vm.write(0, 5 * MiB, 16 * 1024, 0x20);
    await vm.restart(true);
    const persisted = await backup(vault, vm.subject());
    assert.deepEqual(detection(persisted), { disk0: 'bitmap', disk1: 'bitmap' });
    assert.equal(persisted.point.disks[0]!.stats.bytesRead, 16 * 1024);
    // A checkpoint reaches the qcow2 only when QEMU closes it: store it, then crash.
    await vm.restart(true);
    await vm.write(0, 4 * MiB, 32 * 1024, 0x23);
    // The guest's write must be on the image to survive the crash (qcow2 metadata sits in QEMU's cache).
    for (const disk of vm.qemu.disks) assert.equal(await vm.qmp.humanMonitorCommand(`qemu-io -d ${disk.qdev} "flush"`), '');
    await vm.restart();
    const fallback = await backup(vault, vm.subject());
    assert.deepEqual(detection(fallback), { disk0: 'checksum', disk1: 'checksum' });
    assert.match(diskMeta(fallback.point.disks[0]!).changeDetectionNote ?? '', /inconsistent/);
    assert.ok(fallback.meta.warnings.some((warning) => /disk "disk0": checksum comparison: .*inconsistent/.test(warning)));
    await assertRestores(vault, fallback, vm);
    // The inconsistent bitmap was removed with the rotation: one checkpoint per disk.
    assert.equal((await vm.checkpoints(0)).length, 1);
    await vm.write(1, 2 * MiB, 16 * 1024, 0x24);
    const back = await backup(vault, vm.subject());
    assert.deepEqual(detection(back), { disk0: 'bitmap', disk1: 'bitmap' });
    assert.equal(back.point.disks[1]!.stats.bytesRead, 16 * 1024);
    await assertRestores(vault, back, vm);
  });

  it('a disk added mid-chain is read in full, the others by bitmap; a raw disk is compared by checksum every time', async () => {
    const vault = await newVault('v4');
    const vm = await Vm.start({ sizes: [DISK, DISK, 4 * MiB], formats: ['qcow2', 'qcow2', 'raw'] });
    await vm.write(0, 0, 64 * 1024, 0x31);
    await vm.write(1, 0, 64 * 1024, 0x32);
    await vm.write(2, MiB, 64 * 1024, 0x33);
    const first = await backup(vault, vm.subject([0, 2]));
    assert.deepEqual(detection(first), { disk0: 'full', disk2: 'full' });
    assert.equal(diskMeta(first.point.disks[1]!).checkpoint, null);
    await vm.write(0, MiB, 16 * 1024, 0x34);
    await vm.write(2, 2 * MiB, 16 * 1024, 0x35);
    const second = await backup(vault, vm.subject([0, 1, 2]));
    assert.deepEqual(detection(second), { disk0: 'bitmap', disk1: 'full', disk2: 'checksum' });
    assert.match(diskMeta(second.point.disks[1]!).changeDetectionNote ?? '', /added/);
    assert.match(diskMeta(second.point.disks[2]!).changeDetectionNote ?? '', /raw image cannot hold a persistent dirty bitmap/);
    assert.equal(second.point.disks[2]!.stats.changedBlocks, 1);
    await assertRestores(vault, second, vm);
    const third = await backup(vault, vm.subject([0, 1, 2]));
    assert.deepEqual(detection(third), { disk0: 'bitmap', disk1: 'bitmap', disk2: 'checksum' });
  });

  it('guest agent: none answering and freeze refused → crash-consistent with a warning; --verify-tracking finds what a bitmap missed', async () => {
    const vault = await newVault('v5');
    const vm = await Vm.start({ guestAgentChannel: true, sizes: [DISK] });
    await vm.write(0, 0, 64 * 1024, 0x41);
    const silent = await backup(vault, vm.subject([0], vm.qemu.guestAgentSocket!));
    assert.equal(silent.meta.consistency, 'crash');
    assert.ok(silent.meta.warnings.some((warning) => /no guest agent answering/.test(warning)), silent.meta.warnings.join('\n'));

    const agent = await HostGuestAgent.start();
    try {
      const refused = await backup(vault, vm.subject([0], agent.socketPath));
      assert.equal(refused.meta.consistency, 'crash');
      assert.ok(refused.meta.warnings.some((warning) => /could not freeze/.test(warning)), refused.meta.warnings.join('\n'));
    } finally {
      await agent.stop();
    }

    // Writes the checkpoint bitmap never sees (cleared behind its back): verify-tracking reports them.
    await vm.write(0, 2 * MiB, 32 * 1024, 0x42);
    const checkpoint = (await vm.checkpoints(0))[0]!;
    await vm.qmp.blockDirtyBitmapClear({ node: 'disk0', name: checkpoint });
    await vm.write(0, 3 * MiB, 16 * 1024, 0x43);
    const verified = await backup(vault, vm.subject([0]), { verifyTracking: true });
    assert.equal(diskMeta(verified.point.disks[0]!).changeDetection, 'bitmap');
    assert.equal(diskMeta(verified.point.disks[0]!).trackingMissedBlocks, 2);
    assert.ok(verified.meta.warnings.some((warning) => /missed 2 changed blocks/.test(warning)), verified.meta.warnings.join('\n'));
    await assertRestores(vault, verified, vm);
  });
});
