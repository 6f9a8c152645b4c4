/**
 * Restores to qcow2 through the real qemu-img (equal under `qemu-img compare`, sparse), its
 * failure modes with stand-in qemu-img binaries (missing, failing, hanging until cancelled), and
 * restoreAsVm's files, order and all-or-nothing behaviour.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { backupVm, restoreAsVm, restoreToDirectory, type RestoreProgress } from '../../src/engine/index.js';
import type { PointManifest } from '../../src/format/index.js';
import type { Vault } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { BLOCK, createVault, makeWorkDir, rejectsWith } from './helpers.js';
import { child, childrenNamed, parseXml } from './xml-check.js';

const MiB = 1024 * 1024;

/** `qemu-img compare` exit status (0: identical) and its output. */
function compare(a: string, b: string): { status: number | null; output: string } {
  const run = spawnSync('qemu-img', ['compare', a, b], { encoding: 'utf8' });
  return { status: run.status, output: run.stdout + run.stderr };
}

function info(path: string): { format: string; 'virtual-size': number; 'actual-size': number } {
  return JSON.parse(execFileSync('qemu-img', ['info', '--output=json', path], { encoding: 'utf8' })) as { format: string; 'virtual-size': number; 'actual-size': number };
}

describe('restore to qcow2 and as a new VM (engine, real qemu-img)', () => {
  let work: string;
  let vault: Vault;
  let os: string;
  let data: string;
  let point: PointManifest;
  const OS_SIZE = 48 * MiB + 5 * BLOCK + 300;
  const DATA_SIZE = 8 * MiB;

  before(async () => {
    work = await makeWorkDir('restore-qcow2');
    vault = await createVault(work);
    const random = new SeededRandom(4242);
    // Mostly zero: a few random regions, one of them straddling the unaligned end.
    const osBytes = new Uint8Array(OS_SIZE);
    for (const [at, length] of [[0, 64 * 1024], [3 * MiB + 100, 200 * 1024], [20 * MiB, 1 * MiB], [OS_SIZE - 5000, 5000]] as const) osBytes.set(random.bytes(length), at);
    const dataBytes = random.bytes(DATA_SIZE);
    dataBytes.fill(0, MiB, 5 * MiB);
    os = join(work, 'os.img');
    data = join(work, 'data.img');
    await writeFile(os, osBytes);
    await writeFile(data, dataBytes);
    // The data disk comes first in the VM: the os disk must still boot first in a new VM.
    ({ point } = await backupVm(vault, { name: 'q-vm', disks: [{ name: 'data', path: data, role: 'data' }, { name: 'os', path: os, role: 'os' }] }));
  });
  after(async () => {
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  /** A stand-in qemu-img: `--version` works; `convert` runs `body` (with $last = the target). */
  async function fakeQemuImg(name: string, body: string): Promise<string> {
    const path = join(work, name);
    await writeFile(path, `#!/bin/sh\nif [ "$1" = --version ]; then echo 'qemu-img version 0 (stand-in)'; exit 0; fi\nfor last; do :; done\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  it('writes qcow2 images equal to the disks (qemu-img compare), sparse, with progress for both phases', async () => {
    const dir = join(work, 'qcow2');
    const events: RestoreProgress[] = [];
    const restored = await restoreToDirectory(vault, point, dir, { format: 'qcow2', onProgress: (event) => events.push(event) });
    assert.deepEqual(restored.map((item) => [item.disk, item.path, item.format, item.sizeBytes]), [
      ['data', join(dir, 'data.qcow2'), 'qcow2', DATA_SIZE], ['os', join(dir, 'os.qcow2'), 'qcow2', OS_SIZE],
    ]);
    assert.deepEqual((await readdir(dir)).sort(), ['data.qcow2', 'os.qcow2'], 'no temporary raw image is left');
    for (const [source, item] of [[data, restored[0]!], [os, restored[1]!]] as const) {
      const result = compare(source, item.path);
      assert.equal(result.status, 0, result.output);
      const facts = info(item.path);
      assert.equal(facts.format, 'qcow2');
      // QEMU counts image sizes in 512-byte sectors: an unaligned disk gets a zero tail up to the next one.
      assert.equal(facts['virtual-size'], Math.ceil(item.sizeBytes / 512) * 512);
    }
    const osInfo = info(restored[1]!.path);
    assert.ok(osInfo['actual-size'] < 4 * MiB, `the mostly-zero disk stays sparse: ${osInfo['actual-size']} of ${osInfo['virtual-size']} bytes allocated`);
    for (const disk of ['data', 'os']) {
      const converting = events.filter((event) => event.disk === disk && event.phase === 'convert');
      assert.ok(events.some((event) => event.disk === disk && event.phase === 'write'), `${disk}: write progress`);
      assert.ok(converting.length >= 2, `${disk}: convert progress from qemu-img -p`);
      assert.equal(converting.at(-1)!.bytesDone, converting.at(-1)!.bytesTotal, `${disk}: the conversion reaches 100%`);
    }
  });

  it('refuses an existing qcow2 target before writing anything; force overwrites it', async () => {
    const dir = join(work, 'existing');
    await mkdir(dir);
    await writeFile(join(dir, 'os.qcow2'), 'precious');
    await rejectsWith(restoreToDirectory(vault, point, dir, { format: 'qcow2' }), 'RESTORE_TARGET_EXISTS', join(dir, 'os.qcow2'));
    assert.deepEqual((await readdir(dir)).sort(), ['os.qcow2'], 'the data disk (first) was not restored either');
    assert.equal(await readFile(join(dir, 'os.qcow2'), 'utf8'), 'precious');
    await restoreToDirectory(vault, point, dir, { format: 'qcow2', disks: ['os'], force: true });
    assert.equal(compare(os, join(dir, 'os.qcow2')).status, 0);
  });

  it('a missing qemu-img is INVALID_ARGUMENT naming it and how to install it, before anything is written', async () => {
    const dir = join(work, 'no-qemu-img');
    const error = await rejectsWith(restoreToDirectory(vault, point, dir, { format: 'qcow2', qemuImg: join(work, 'nowhere', 'qemu-img') }), 'INVALID_ARGUMENT', 'qemu-img', 'apt install qemu-utils');
    assert.match(error.message, /nowhere\/qemu-img/);
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  });

  it('a failing qemu-img is STORAGE_IO with its message; nothing is left', async () => {
    const dir = join(work, 'failing');
    const qemuImg = await fakeQemuImg('failing-qemu-img', 'printf junk > "$last"; echo "qemu-img: No space left on device" >&2; exit 1');
    await rejectsWith(restoreToDirectory(vault, point, dir, { format: 'qcow2', qemuImg }), 'STORAGE_IO', 'exit 1', 'No space left on device');
    assert.deepEqual(await readdir(dir), []);
  });

  it('cancel while qemu-img converts: qemu-img is killed, the partial qcow2 and the raw image are removed', async () => {
    const dir = join(work, 'cancel-fake');
    const pidFile = join(work, 'fake.pid');
    // Writes a partial target, reports 10 %, then hangs (exec: the pid is the hanging process's).
    const qemuImg = await fakeQemuImg('hanging-qemu-img', `printf partial > "$last"; echo $$ > '${pidFile}'; printf '    (10.00/100%%)\\r'; exec sleep 60`);
    const controller = new AbortController();
    const running = restoreToDirectory(vault, point, dir, {
      format: 'qcow2', qemuImg, signal: controller.signal,
      onProgress: (event) => {
        if (event.phase === 'convert' && event.bytesDone > 0) controller.abort();
      },
    });
    await rejectsWith(running, 'ABORTED');
    assert.deepEqual(await readdir(dir), [], 'no partial qcow2, no temporary raw image');
    const pid = Number(await readFile(pidFile, 'utf8'));
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the stand-in qemu-img was killed');
  });

  it('cancel during a real conversion leaves nothing either', async () => {
    const dir = join(work, 'cancel-real');
    const controller = new AbortController();
    let converting = 0;
    const running = restoreToDirectory(vault, point, dir, {
      format: 'qcow2', disks: ['os'], signal: controller.signal,
      // The first convert event is ours (before qemu-img starts); the second is qemu-img's own 0 %.
      onProgress: (event) => {
        if (event.phase === 'convert' && ++converting === 2) controller.abort();
      },
    });
    await rejectsWith(running, 'ABORTED');
    assert.ok(converting >= 2);
    await sleep(50);
    assert.deepEqual(await readdir(dir), []);
  });

  it('restoreAsVm: every disk in boot order, an executable QEMU script and a libvirt XML with the same layout', async () => {
    const dir = join(work, 'as vm');
    const vm = await restoreAsVm(vault, point, dir, { name: 'copy "1"', kvm: 'off', memoryMiB: 512, cpus: 1, tempDisks: ['swap'] });
    assert.deepEqual(vm.disks.map((disk) => [disk.device, disk.disk, disk.role, disk.format]), [['vda', 'os', 'os', 'qcow2'], ['vdb', 'data', 'data', 'qcow2']]);
    assert.equal(vm.script, join(dir, 'copy "1".qemu.sh'));
    assert.equal(vm.libvirtXml, join(dir, 'copy "1".libvirt.xml'));
    assert.equal((await stat(vm.script)).mode & 0o777, 0o755);
    assert.equal(compare(os, join(dir, 'os.qcow2')).status, 0);
    assert.equal(compare(data, join(dir, 'data.qcow2')).status, 0);
    const script = await readFile(vm.script, 'utf8');
    assert.match(script, /Temp disk of the original VM not restored \(never backed up\): swap/);
    assert.ok(script.indexOf('os.qcow2') < script.indexOf('data.qcow2'));
    const domain = parseXml(await readFile(vm.libvirtXml, 'utf8'));
    assert.equal(child(domain, 'name').text, 'copy "1"');
    assert.equal(child(domain, 'uuid').text, vm.uuid);
    assert.deepEqual(childrenNamed(child(domain, 'devices'), 'disk').map((disk) => [child(disk, 'source').attributes.file, child(disk, 'driver').attributes.type, child(disk, 'target').attributes.dev]), [
      [join(dir, 'os.qcow2'), 'qcow2', 'vda'], [join(dir, 'data.qcow2'), 'qcow2', 'vdb'],
    ]);
    assert.deepEqual((await readdir(dir)).sort(), ['copy "1".libvirt.xml', 'copy "1".qemu.sh', 'data.qcow2', 'os.qcow2']);
  });

  it('restoreAsVm refuses an existing script before writing any image, and raw works too', async () => {
    const dir = join(work, 'as-vm-existing');
    await mkdir(dir);
    await writeFile(join(dir, 'v.qemu.sh'), 'mine');
    await rejectsWith(restoreAsVm(vault, point, dir, { name: 'v', format: 'raw' }), 'RESTORE_TARGET_EXISTS', join(dir, 'v.qemu.sh'));
    assert.deepEqual(await readdir(dir), ['v.qemu.sh']);
    await rejectsWith(restoreAsVm(vault, point, dir, { name: 'v/w' }), 'INVALID_ARGUMENT', 'v/w');
    const vm = await restoreAsVm(vault, point, dir, { name: 'v', format: 'raw', force: true });
    assert.deepEqual(vm.disks.map((disk) => disk.path), [join(dir, 'os.img'), join(dir, 'data.img')]);
    assert.equal(compare(os, join(dir, 'os.img')).status, 0);
    assert.match(await readFile(join(dir, 'v.qemu.sh'), 'utf8'), /"driver":"raw"/);
  });

  it('restoreAsVm removes every image it wrote when a later disk fails', async () => {
    const dir = join(work, 'as-vm-fails');
    // Converts the first disk (os) for real, fails on the second.
    const counter = join(work, 'count');
    const qemuImg = await fakeQemuImg('second-fails', `if [ -e '${counter}' ]; then echo "qemu-img: I/O error" >&2; exit 1; fi; touch '${counter}'; exec qemu-img "$@"`);
    await rejectsWith(restoreAsVm(vault, point, dir, { name: 'v', qemuImg }), 'STORAGE_IO', 'I/O error');
    assert.deepEqual(await readdir(dir), []);
  });
});
