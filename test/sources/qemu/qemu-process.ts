// Test helpers: a paused TCG QEMU VM (notes §7) and the real qemu-ga run on the host with the
// freeze commands blocked (notes §5). Both live in a temp dir and are killed by their owners'
// `after` hooks.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { QmpClient } from '../../../src/sources/qemu/qmp/index.js';

const run = promisify(execFile);

export interface QemuDisk {
  /** qcow2 format node the device reads ("disk0", "disk1", …). */
  nodeName: string;
  /** file protocol node under it. */
  fileNodeName: string;
  path: string;
  /** -device id ("vda", "vdb", …). */
  deviceId: string;
  /** QOM path for HMP qemu-io. */
  qdev: string;
  sizeBytes: number;
}

export interface QemuProcessOptions {
  /** Sizes of the qcow2 disks (default one of 64 MiB). */
  diskSizes?: number[];
  /** Adds a virtio-serial port for a guest agent (nothing answers inside: the VM is paused). */
  guestAgentChannel?: boolean;
  /** Image format per disk (default qcow2 for all). */
  formats?: Array<'qcow2' | 'raw'>;
}

async function waitForPath(path: string, child: ChildProcess, what: string, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!existsSync(path)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited before creating ${path}: ${stderr()}`);
    }
    if (Date.now() > deadline) throw new Error(`${what} did not create ${path} within 15 s: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

/** A paused (-S), 128 MiB, TCG q35 VM with qcow2 disks on virtio-blk and a QMP socket. */
export class QemuProcess {
  readonly dir: string;
  readonly qmpSocket: string;
  readonly guestAgentSocket: string | undefined;
  readonly disks: QemuDisk[];
  readonly child: ChildProcess;
  /** A second QMP monitor (notes §3), for the code under test while the test holds qmpSocket. */
  readonly backupQmpSocket: string;
  readonly args: string[];
  #stderr = '';

  private constructor(dir: string, disks: QemuDisk[], guestAgentSocket: string | undefined, child: ChildProcess, args: string[]) {
    this.dir = dir;
    this.args = args;
    this.qmpSocket = join(dir, 'qmp.sock');
    this.backupQmpSocket = join(dir, 'qmp-backup.sock');
    this.guestAgentSocket = guestAgentSocket;
    this.disks = disks;
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.#stderr = (this.#stderr + text).slice(-4000);
    });
  }

  get stderr(): string {
    return this.#stderr;
  }

  static async start(options: QemuProcessOptions = {}): Promise<QemuProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'boveda-qemu-'));
    const sizes = options.diskSizes ?? [64 * 1024 * 1024];
    const disks: QemuDisk[] = sizes.map((sizeBytes, index) => {
      const deviceId = `vd${String.fromCharCode(97 + index)}`;
      return {
        nodeName: `disk${index}`,
        fileNodeName: `file${index}`,
        path: join(dir, `disk${index}.qcow2`),
        deviceId,
        qdev: `/machine/peripheral/${deviceId}/virtio-backend`,
        sizeBytes,
      };
    });
    const args = ['-machine', 'q35,accel=tcg', '-display', 'none', '-nodefaults', '-m', '128', '-S'];
    for (const [index, disk] of disks.entries()) {
      const format = options.formats?.[index] ?? 'qcow2';
      if (format === 'raw') disk.path = disk.path.replace(/\.qcow2$/, '.raw');
      await run('qemu-img', ['create', '-q', '-f', format, disk.path, String(disk.sizeBytes)]);
      args.push(
        '-blockdev', `driver=file,filename=${disk.path},node-name=${disk.fileNodeName}`,
        '-blockdev', `driver=${format},file=${disk.fileNodeName},node-name=${disk.nodeName}`,
        '-device', `virtio-blk-pci,drive=${disk.nodeName},id=${disk.deviceId}`,
      );
    }
    const qmpSocket = join(dir, 'qmp.sock');
    args.push('-qmp', `unix:${qmpSocket},server=on,wait=off`);
    args.push('-chardev', `socket,id=qmp-backup,path=${join(dir, 'qmp-backup.sock')},server=on,wait=off`, '-mon', 'chardev=qmp-backup,mode=control');
    let guestAgentSocket: string | undefined;
    if (options.guestAgentChannel === true) {
      guestAgentSocket = join(dir, 'qga.sock');
      args.push(
        '-chardev', `socket,path=${guestAgentSocket},server=on,wait=off,id=qga0`,
        '-device', 'virtio-serial-pci',
        '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
      );
    }
    return QemuProcess.#launch(dir, disks, guestAgentSocket, args);
  }

  static async #launch(dir: string, disks: QemuDisk[], guestAgentSocket: string | undefined, args: string[]): Promise<QemuProcess> {
    const qmpSocket = join(dir, 'qmp.sock');
    await rm(qmpSocket, { force: true });
    await rm(join(dir, 'qmp-backup.sock'), { force: true });
    if (guestAgentSocket !== undefined) await rm(guestAgentSocket, { force: true });
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const qemu = new QemuProcess(dir, disks, guestAgentSocket, child, args);
    try {
      await waitForPath(qmpSocket, child, 'qemu-system-x86_64', () => qemu.stderr);
      await waitForPath(qemu.backupQmpSocket, child, 'qemu-system-x86_64', () => qemu.stderr);
      if (guestAgentSocket !== undefined) await waitForPath(guestAgentSocket, child, 'qemu-system-x86_64', () => qemu.stderr);
    } catch (error) {
      await qemu.stop();
      throw error;
    }
    return qemu;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** kill -9 (or another signal) and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await stopChild(this.child, signal);
  }

  /** Starts QEMU again on the same images (after kill()); the old object must not be used any more. */
  async restart(): Promise<QemuProcess> {
    await this.kill();
    return QemuProcess.#launch(this.dir, this.disks, this.guestAgentSocket, this.args);
  }

  /** Kills QEMU (if alive) and removes the temp dir; safe to call twice. */
  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Writes through HMP qemu-io (as the guest would): `write -P pattern offset length`. QEMU 7.2
   * prints qemu-io's report ("wrote …") on its own stdout, not into the reply: success is "".
   */
  async write(qmp: QmpClient, diskIndex: number, offset: number, length: number, pattern = 0xab): Promise<void> {
    const disk = this.disks[diskIndex];
    assert.ok(disk, `no disk ${diskIndex}`);
    const output = await qmp.humanMonitorCommand(`qemu-io -d ${disk.qdev} "write -P ${pattern} ${offset} ${length}"`);
    assert.equal(output, '', `qemu-io write failed: ${output}`);
  }
}

/** The guest agent commands that must never run on the host. */
export const hostBlockedCommands = ['guest-fsfreeze-freeze', 'guest-fsfreeze-freeze-list', 'guest-fsfreeze-thaw'] as const;

/** The real qemu-ga listening on a unix socket on the host, with the freeze commands blocked. */
export class HostGuestAgent {
  readonly dir: string;
  readonly socketPath: string;
  readonly child: ChildProcess;

  private constructor(dir: string, child: ChildProcess) {
    this.dir = dir;
    this.socketPath = join(dir, 'qga.sock');
    this.child = child;
  }

  static async start(): Promise<HostGuestAgent> {
    const dir = await mkdtemp(join(tmpdir(), 'boveda-qga-'));
    const blocked = hostBlockedCommands.join(',');
    const args = ['-m', 'unix-listen', '-p', join(dir, 'qga.sock'), '-f', join(dir, 'qga.pid'), '-t', dir, '-b', blocked];
    // never freeze the host: refuse to start without the block list
    const blockIndex = args.indexOf('-b');
    assert.ok(blockIndex >= 0, 'qemu-ga must run with -b on the host');
    for (const command of hostBlockedCommands) assert.ok(args[blockIndex + 1]!.split(',').includes(command), `${command} must be blocked`);
    let stderr = '';
    const child = spawn('/usr/sbin/qemu-ga', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      stderr = (stderr + text).slice(-4000);
    });
    const agent = new HostGuestAgent(dir, child);
    try {
      await waitForPath(agent.socketPath, child, 'qemu-ga', () => stderr);
    } catch (error) {
      await agent.stop();
      throw error;
    }
    return agent;
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 'SIGTERM');
    await rm(this.dir, { recursive: true, force: true });
  }
}
