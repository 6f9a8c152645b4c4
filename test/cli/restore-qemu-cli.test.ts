/**
 * `boveda restore --format qcow2` and `--as-vm` as a user runs them: real boveda processes, real
 * images, real qemu-img, and the generated script started with the real qemu-system-x86_64
 * (paused, no display), inspected over its QMP socket.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { QmpClient } from '../../src/sources/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { child, childrenNamed, parseXml } from '../engine/xml-check.js';
import { CliHarness, failed, ok } from './harness.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The completed event of a --json restore (the last line; progress lines come before it). */
function completedJson<T>(run: { stdout: string }): T {
  const last = run.stdout.trim().split('\n').at(-1)!;
  const event = JSON.parse(last) as T & { event: string };
  assert.equal(event.event, 'completed', run.stdout);
  return event;
}

function compare(a: string, b: string): void {
  const run = spawnSync('qemu-img', ['compare', a, b], { encoding: 'utf8' });
  assert.equal(run.status, 0, `qemu-img compare ${a} ${b}: ${run.stdout}${run.stderr}`);
}

function info(path: string): { format: string; 'virtual-size': number; 'actual-size': number } {
  return JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', path], { encoding: 'utf8' })) as { format: string; 'virtual-size': number; 'actual-size': number };
}

/** Seeded random 64 KiB chunks every `every` chunks, zeros elsewhere. */
async function writeImage(path: string, size: number, every: number, seed: number): Promise<void> {
  const random = new SeededRandom(seed);
  const image = new Uint8Array(size);
  for (let at = 0, chunk = 0; at < size; at += 64 * KiB, chunk++) if (chunk % every === 0) random.fill(image.subarray(at, Math.min(size, at + 64 * KiB)));
  await writeFile(path, image);
}

describe('boveda restore to qcow2 and as a new VM (CLI, real qemu-img and qemu-system-x86_64)', () => {
  let work: string;
  let cli: CliHarness;
  let os: string;
  let data: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-restore-qemu-'));
    cli = new CliHarness(join(work, 'data'));
    os = join(work, 'os.img');
    data = join(work, 'data.img');
    await writeImage(os, 40 * MiB, 16, 1); // mostly zero
    await writeImage(data, 6 * MiB, 2, 2);
    await writeFile(join(work, 'swap.img'), new Uint8Array(MiB));
    ok(cli.run(['vault', 'init']));
    // data first: the new VM must still boot from the os disk.
    ok(cli.run(['vm', 'add', 'web', '--disk', `${data},role=data,name=data`, '--disk', `${os},role=os,name=os`, '--disk', `${join(work, 'swap.img')},role=temp,name=swap`]));
    ok(cli.run(['backup', 'web']));
  });
  after(async () => rm(work, { recursive: true, force: true }));

  it('--format qcow2 writes images equal to the disks, sparse, and refuses them afterwards without --force', () => {
    const dir = join(work, 'qcow2');
    const run = ok(cli.run(['restore', 'web', '--to', dir, '--format', 'qcow2']));
    assert.match(run.stdout, new RegExp(`os → ${join(dir, 'os.qcow2')}`));
    compare(os, join(dir, 'os.qcow2'));
    compare(data, join(dir, 'data.qcow2'));
    const facts = info(join(dir, 'os.qcow2'));
    assert.equal(facts.format, 'qcow2');
    assert.ok(facts['actual-size'] < facts['virtual-size'] / 8, `sparse: ${facts['actual-size']} of ${facts['virtual-size']}`);
    failed(cli.run(['restore', 'web', '--to', dir, '--format', 'qcow2', '--json']), 1, 'RESTORE_TARGET_EXISTS', new RegExp(`${join(dir, 'data.qcow2')} exists`));
    const forced = completedJson<{ restored: Array<{ disk: string; format: string }> }>(ok(cli.run(['restore', 'web', '--to', dir, '--format', 'qcow2', '--disk', 'os', '--force', '--json'])));
    assert.deepEqual(forced.restored.map((item) => [item.disk, item.format]), [['os', 'qcow2']]);
    compare(os, join(dir, 'os.qcow2'));
  });

  it('vault restore --format qcow2 works from the vault alone', () => {
    const points = JSON.parse(ok(cli.run(['points', 'web', '--json'])).stdout) as Array<{ id: string }>;
    const dir = join(work, 'vault-restore');
    ok(cli.run(['vault', 'restore', points[0]!.id, '--to', dir, '--format', 'qcow2']));
    compare(os, join(dir, 'os.qcow2'));
    compare(data, join(dir, 'data.qcow2'));
  });

  it('a missing qemu-img is a clear INVALID_ARGUMENT; bad flags are refused', () => {
    const dir = join(work, 'refused');
    failed(cli.run(['restore', 'web', '--to', dir, '--format', 'qcow2', '--json'], { BOVEDA_QEMU_IMG: '/nonexistent/qemu-img' }), 2, 'INVALID_ARGUMENT', /qemu-img.*apt install qemu-utils/);
    assert.ok(!existsSync(dir));
    failed(cli.run(['restore', 'web', '--to', dir, '--format', 'vmdk', '--json']), 2, 'INVALID_ARGUMENT', /--format "vmdk": use raw or qcow2/);
    failed(cli.run(['restore', 'web', '--replace', '--format', 'qcow2', '--json']), 2, 'INVALID_ARGUMENT', /--format goes with --to/);
    failed(cli.run(['restore', 'web', '--to', dir, '--memory', '512', '--json']), 2, 'INVALID_ARGUMENT', /go with --as-vm/);
    failed(cli.run(['restore', 'web', '--to', dir, '--as-vm', 'x', '--disk', 'os', '--json']), 2, 'INVALID_ARGUMENT', /every disk/);
    failed(cli.run(['restore', 'web', '--to', dir, '--as-vm', 'x', '--cpus', 'two', '--json']), 2, 'INVALID_ARGUMENT', /--cpus "two"/);
    failed(cli.run(['restore', 'web', '--to', dir, '--as-vm', 'a/b', '--json']), 2, 'INVALID_ARGUMENT', /invalid name for the new VM "a\/b"/);
    assert.ok(!existsSync(dir));
  });

  it('Ctrl-C while qemu-img converts: exit 130, qemu-img killed, no partial file', async () => {
    const dir = join(work, 'cancelled');
    const pidFile = join(work, 'qemu-img.pid');
    const fake = join(work, 'slow-qemu-img');
    await writeFile(fake, `#!/bin/sh\nif [ "$1" = --version ]; then exit 0; fi\nfor last; do :; done\nprintf partial > "$last"\necho $$ > '${pidFile}'\nprintf '    (10.00/100%%)\\r'\nexec sleep 60\n`);
    await chmod(fake, 0o755);
    const run = cli.start(['restore', 'web', '--to', dir, '--format', 'qcow2', '--json'], { BOVEDA_QEMU_IMG: fake });
    const deadline = Date.now() + 30_000;
    // The stand-in writes its pid once it converts (the first disk's data went to the raw image).
    while (!existsSync(pidFile)) {
      assert.ok(Date.now() < deadline, `timed out waiting for the conversion: ${run.stdout()}${run.stderr()}`);
      await sleep(20);
    }
    run.child.kill('SIGINT');
    const result = await run.done;
    assert.equal(result.code, 130, result.stdout + result.stderr);
    assert.deepEqual(await readdir(dir), []);
    const pid = Number(await readFile(pidFile, 'utf8'));
    assert.ok(pid > 1, `the stand-in wrote its pid: ${pid}`);
    // Killed means gone or a zombie not yet reaped (its new parent, init, reaps it when it can).
    const gone = () => {
      try {
        process.kill(pid, 0);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
        throw error;
      }
      try {
        return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return true; // it went away between the two checks
      }
    };
    const killDeadline = Date.now() + 5000;
    while (!gone()) {
      assert.ok(Date.now() < killDeadline, 'qemu-img was killed');
      await sleep(50);
    }
  });

  it('--as-vm writes images, a QEMU script that starts the VM with the disks, and a libvirt XML, with quoted names', async () => {
    const dir = join(work, 'new "vm" dir');
    const name = 'web \'copy\' "2"';
    const run = ok(cli.run(['restore', 'web', '--to', dir, '--as-vm', name, '--memory', '256', '--cpus', '1', '--kvm', 'off']));
    const script = join(dir, `${name}.qemu.sh`);
    const xml = join(dir, `${name}.libvirt.xml`);
    assert.match(run.stdout, /vda os \(os\) → .*os\.qcow2 \(qcow2/);
    assert.match(run.stdout, /vdb data \(data\) → .*data\.qcow2 \(qcow2/);
    assert.ok(run.stdout.includes(`  '${script.replace(/'/g, `'\\''`)}'`), run.stdout);
    assert.match(run.stdout, /virsh define /);
    assert.match(run.stdout, /Temp disk swap was not restored \(temp disks are never backed up\)/);
    compare(os, join(dir, 'os.qcow2'));
    compare(data, join(dir, 'data.qcow2'));

    // The XML: well-formed, the disks in boot order with their types.
    const domain = parseXml(await readFile(xml, 'utf8'));
    assert.equal(child(domain, 'name').text, name);
    assert.equal(child(domain, 'memory').text, '256');
    assert.deepEqual(childrenNamed(child(domain, 'devices'), 'disk').map((disk) => [child(disk, 'source').attributes.file, child(disk, 'driver').attributes.type, child(disk, 'target').attributes.dev]), [
      [join(dir, 'os.qcow2'), 'qcow2', 'vda'], [join(dir, 'data.qcow2'), 'qcow2', 'vdb'],
    ]);

    // The script: QEMU starts (paused, no display) with both disks.
    const qemu = spawn(script, [], { env: { ...process.env, BOVEDA_QEMU_EXTRA: '-S -display none -nodefaults' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    qemu.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
    qemu.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    const exited = new Promise<number | null>((resolve) => qemu.on('close', (code) => resolve(code)));
    try {
      const socket = join(dir, `${name}.qmp.sock`);
      let qmp: QmpClient | undefined;
      const deadline = Date.now() + 20_000;
      while (!qmp) {
        assert.equal(qemu.exitCode, null, `QEMU exited: ${output}`);
        assert.ok(Date.now() < deadline, `QEMU's QMP socket never answered: ${output}`);
        qmp = await QmpClient.connect(socket, { timeoutMs: 2000 }).catch(() => undefined);
        if (!qmp) await sleep(50);
      }
      try {
        assert.equal((await qmp.queryStatus()).status, 'prelaunch');
        const blocks = await qmp.queryBlock();
        assert.deepEqual(blocks.map((block) => [block.qdev, block.inserted?.file, block.inserted?.drv]), [
          ['/machine/peripheral/vda/virtio-backend', join(dir, 'os.qcow2'), 'qcow2'],
          ['/machine/peripheral/vdb/virtio-backend', join(dir, 'data.qcow2'), 'qcow2'],
        ]);
        await qmp.quit();
      } finally {
        qmp.close();
      }
      assert.equal(await exited, 0, output);
    } finally {
      qemu.kill('SIGKILL');
    }

    // Again into the same directory: refused, naming the first existing file; nothing changes.
    failed(cli.run(['restore', 'web', '--to', dir, '--as-vm', name, '--json']), 1, 'RESTORE_TARGET_EXISTS', /os\.qcow2 exists/);
  });

  it('--as-vm --format raw: raw images, the script and XML say raw', async () => {
    const dir = join(work, 'raw-vm');
    const result = completedJson<{ vm: { script: string; libvirtXml: string; disks: Array<{ device: string; path: string; format: string }> } }>(ok(cli.run(['restore', 'web', '--to', dir, '--as-vm', 'rawvm', '--format', 'raw', '--json'])));
    assert.deepEqual(result.vm.disks.map((disk) => [disk.device, disk.path, disk.format]), [['vda', join(dir, 'os.img'), 'raw'], ['vdb', join(dir, 'data.img'), 'raw']]);
    compare(os, join(dir, 'os.img'));
    assert.match(await readFile(result.vm.script, 'utf8'), /"driver":"raw"/);
    const domain = parseXml(await readFile(result.vm.libvirtXml, 'utf8'));
    assert.deepEqual(childrenNamed(child(domain, 'devices'), 'disk').map((disk) => child(disk, 'driver').attributes.type), ['raw', 'raw']);
  });
});
