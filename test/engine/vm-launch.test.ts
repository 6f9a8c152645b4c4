/**
 * The generators of "restore as a new VM": the QEMU launch script (run through a real /bin/sh with
 * a stand-in QEMU that records its argv) and the libvirt domain XML (parsed strictly), with names
 * and paths full of spaces, quotes, commas and XML specials.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  bootOrder, checkNewVmName, libvirtDomainXml, qemuLaunchScript, qemuOptionValue, shellQuote, virtioDiskName, xmlEscape, type NewVmSpec,
} from '../../src/engine/index.js';
import { isBovedaError } from '../../src/core/errors.js';
import { child, childrenNamed, parseXml } from './xml-check.js';

const NASTY = `it's "a" <vm> & co, $(x) \`y\` \\ *`;

function spec(overrides: Partial<NewVmSpec> = {}): NewVmSpec {
  return {
    name: 'web copy', uuid: '5a0b5c2e-1111-4222-8333-944445555666', memoryMiB: 1024, cpus: 3, kvm: 'off',
    disks: [
      { name: 'os', role: 'os', path: `/restore/${NASTY}/os.qcow2`, format: 'qcow2' },
      { name: 'data', role: 'data', path: '/restore/plain/data.img', format: 'raw' },
    ],
    qmpSocket: `/restore/${NASTY}/web copy.qmp.sock`,
    origin: 'Restored by Boveda from recovery point 0123456789abcdef of VM "web" (2030-01-01T00:00:00.000Z).',
    ...overrides,
  };
}

describe('vm-launch generators', () => {
  let work: string;
  let fakeQemu: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-vm-launch-'));
    // A stand-in QEMU: writes every argument it got, NUL-terminated, to $ARGV_OUT.
    fakeQemu = join(work, 'fake qemu');
    await writeFile(fakeQemu, '#!/bin/sh\nfor arg; do printf \'%s\\0\' "$arg"; done > "$ARGV_OUT"\n');
    await chmod(fakeQemu, 0o755);
  });
  after(async () => rm(work, { recursive: true, force: true }));

  /** Runs the script with the stand-in QEMU; returns QEMU's argv. */
  async function argvOf(script: string, args: string[] = [], env: Record<string, string> = {}): Promise<string[]> {
    const path = join(work, 'vm.qemu.sh');
    await writeFile(path, script);
    await chmod(path, 0o755);
    const out = join(work, 'argv');
    await rm(out, { force: true });
    const run = spawnSync(path, args, { encoding: 'utf8', env: { ...process.env, BOVEDA_QEMU_EXTRA: undefined, ...env, BOVEDA_QEMU_SYSTEM: fakeQemu, ARGV_OUT: out } });
    assert.equal(run.status, 0, run.stderr);
    const text = await readFile(out, 'utf8');
    return text.split('\0').slice(0, -1);
  }

  it('names virtio disks as libvirt and Linux do', () => {
    assert.deepEqual([0, 1, 25, 26, 27, 51, 52, 701, 702].map(virtioDiskName), ['vda', 'vdb', 'vdz', 'vdaa', 'vdab', 'vdaz', 'vdba', 'vdzz', 'vdaaa']);
  });

  it('puts os disks first, each group in the point\'s order', () => {
    const disks = [{ name: 'a', role: 'data' }, { name: 'b', role: 'os' }, { name: 'c', role: 'data' }, { name: 'd', role: 'os' }] as const;
    assert.deepEqual(bootOrder(disks).map((disk) => disk.name), ['b', 'd', 'a', 'c']);
  });

  it('shell-quotes words so that /bin/sh gives them back unchanged', () => {
    const words = ['plain', '', 'with space', 'it\'s', '\'\'', '"$HOME"', '`id`', '$(id)', 'a\\b', 'new\nline', '*', 'tab\there', NASTY];
    const script = `printf '%s\\0' ${words.map(shellQuote).join(' ')}`;
    const run = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.stdout.split('\0').slice(0, -1), words);
    assert.equal(qemuOptionValue('a,b,,c'), 'a,,b,,,,c');
  });

  it('escapes XML text and attributes, and refuses characters XML cannot hold', () => {
    const parsed = parseXml(`<r a='${xmlEscape(NASTY)}' b="${xmlEscape('x\ny\tz')}">${xmlEscape(NASTY)}</r>`);
    assert.equal(parsed.attributes.a, NASTY);
    assert.equal(parsed.attributes.b, 'x\ny\tz');
    assert.equal(parsed.text, NASTY);
    assert.throws(() => xmlEscape('bell\u0007'), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'));
  });

  it('accepts names with spaces and quotes, refuses ones that cannot be file names or XML', () => {
    for (const name of ['web', 'web copy', 'it\'s "mine"', 'a&b<c>', 'x'.repeat(64)]) assert.equal(checkNewVmName(name), name);
    for (const name of ['', 'a/b', '.hidden', '-flag', ' lead', 'trail ', 'new\nline', 'x'.repeat(65)]) {
      assert.throws(() => checkNewVmName(name), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'), JSON.stringify(name));
    }
  });

  it('the script runs QEMU with q35, memory, CPUs, one blockdev + virtio-blk per disk in order (the first bootable), a QMP socket, and the extra arguments', async () => {
    const s = spec({ name: NASTY.slice(0, 30).trim() });
    const script = qemuLaunchScript(s);
    assert.ok(script.startsWith('#!/bin/sh\n'));
    assert.equal(spawnSync('/bin/sh', ['-n', '-c', script]).status, 0, 'the script parses');
    const argv = await argvOf(script, ['-S', 'it\'s an arg'], { BOVEDA_QEMU_EXTRA: '-display none' });
    assert.deepEqual(argv, [
      '-name', `guest=${qemuOptionValue(s.name)}`,
      '-machine', 'q35',
      '-m', '1024',
      '-smp', '3',
      '-blockdev', JSON.stringify({ driver: 'qcow2', 'node-name': 'disk0', discard: 'unmap', file: { driver: 'file', 'node-name': 'disk0-file', filename: s.disks[0]!.path, discard: 'unmap' } }),
      '-device', 'virtio-blk-pci,drive=disk0,id=vda,bootindex=1',
      '-blockdev', JSON.stringify({ driver: 'raw', 'node-name': 'disk1', discard: 'unmap', file: { driver: 'file', 'node-name': 'disk1-file', filename: s.disks[1]!.path, discard: 'unmap' } }),
      '-device', 'virtio-blk-pci,drive=disk1,id=vdb',
      '-chardev', `socket,id=boveda-qmp,path=${qemuOptionValue(s.qmpSocket)},server=on,wait=off`,
      '-mon', 'chardev=boveda-qmp,mode=control',
      '-display', 'none',
      '-S', 'it\'s an arg',
    ]);
    // The JSON the shell hands over holds the path exactly.
    assert.equal((JSON.parse(argv[argv.indexOf('-blockdev') + 1]!) as { file: { filename: string } }).file.filename, s.disks[0]!.path);
  });

  it('KVM: on always, off never, auto only when /dev/kvm is usable where the script runs', async () => {
    const on = await argvOf(qemuLaunchScript(spec({ kvm: 'on' })));
    assert.deepEqual(on.slice(4, 7), ['-enable-kvm', '-cpu', 'host']);
    const off = await argvOf(qemuLaunchScript(spec({ kvm: 'off' })));
    assert.ok(!off.includes('-enable-kvm'));
    const auto = qemuLaunchScript(spec({ kvm: 'auto' }));
    assert.match(auto, /if \[ -r \/dev\/kvm \] && \[ -w \/dev\/kvm \]; then accel='-enable-kvm -cpu host'; fi/);
    const usable = spawnSync('/bin/sh', ['-c', '[ -r /dev/kvm ] && [ -w /dev/kvm ]']).status === 0;
    assert.equal((await argvOf(auto)).includes('-enable-kvm'), usable);
  });

  it('comments stay comments: a newline in a name or path cannot inject a command', async () => {
    const script = qemuLaunchScript(spec({ disks: [{ name: 'os', role: 'os', path: '/x\ntouch /tmp/pwned\n/os.img', format: 'raw' }], notes: ['note\nexit 3'] }));
    const argv = await argvOf(script);
    assert.equal((JSON.parse(argv[argv.indexOf('-blockdev') + 1]!) as { file: { filename: string } }).file.filename, '/x\ntouch /tmp/pwned\n/os.img');
    for (const line of script.split('\n')) assert.ok(!line.startsWith('touch') && !line.startsWith('exit'), line);
  });

  it('the libvirt XML is well-formed and lists the disks in order with their types, the first bootable', () => {
    const s = spec({ name: NASTY.slice(0, 30).trim(), notes: ['Temp disk swap was not restored.'] });
    const domain = parseXml(libvirtDomainXml(s, false));
    assert.equal(domain.name, 'domain');
    assert.equal(domain.attributes.type, 'qemu');
    assert.equal(child(domain, 'name').text, s.name);
    assert.equal(child(domain, 'uuid').text, s.uuid);
    assert.match(child(domain, 'description').text, /recovery point 0123456789abcdef of VM "web".*Temp disk swap/);
    assert.deepEqual([child(domain, 'memory').text, child(domain, 'memory').attributes.unit], ['1024', 'MiB']);
    assert.equal(child(domain, 'vcpu').text, '3');
    const type = child(child(domain, 'os'), 'type');
    assert.deepEqual([type.text, type.attributes.machine, type.attributes.arch], ['hvm', 'q35', 'x86_64']);
    assert.equal(childrenNamed(domain, 'cpu').length, 0, 'no host-passthrough without KVM');
    const disks = childrenNamed(child(domain, 'devices'), 'disk');
    assert.deepEqual(disks.map((disk) => ({
      type: disk.attributes.type, device: disk.attributes.device,
      driver: child(disk, 'driver').attributes, source: child(disk, 'source').attributes.file, target: child(disk, 'target').attributes,
      boot: childrenNamed(disk, 'boot').map((boot) => boot.attributes.order),
    })), [
      { type: 'file', device: 'disk', driver: { name: 'qemu', type: 'qcow2', discard: 'unmap' }, source: s.disks[0]!.path, target: { dev: 'vda', bus: 'virtio' }, boot: ['1'] },
      { type: 'file', device: 'disk', driver: { name: 'qemu', type: 'raw', discard: 'unmap' }, source: s.disks[1]!.path, target: { dev: 'vdb', bus: 'virtio' }, boot: [] },
    ]);
    const kvm = parseXml(libvirtDomainXml(spec({ kvm: 'auto' }), true));
    assert.equal(kvm.attributes.type, 'kvm');
    assert.equal(child(kvm, 'cpu').attributes.mode, 'host-passthrough');
    assert.equal(parseXml(libvirtDomainXml(spec({ kvm: 'on' }), false)).attributes.type, 'kvm');
    assert.equal(parseXml(libvirtDomainXml(spec({ kvm: 'off' }), true)).attributes.type, 'qemu');
  });

  it('the XML checker itself rejects what is not well-formed', () => {
    for (const bad of ['<a>', '<a></b>', '<a><b></a></b>', '<a x=1/>', '<a x=\'<\'/>', '<a>&bogus;</a>', '<a>a & b</a>', '<a/><b/>', '<a x=\'1\' x=\'2\'/>']) {
      assert.throws(() => parseXml(bad), Error, bad);
    }
  });

  it('refuses a spec without disks or with bad numbers', () => {
    for (const bad of [spec({ disks: [] }), spec({ memoryMiB: 0 }), spec({ cpus: 0 }), spec({ cpus: 1.5 })]) {
      assert.throws(() => qemuLaunchScript(bad), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'));
      assert.throws(() => libvirtDomainXml(bad, false), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'));
    }
  });
});
