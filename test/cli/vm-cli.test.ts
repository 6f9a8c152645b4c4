import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

const bin = join(process.cwd(), 'dist/src/cli/main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `boveda` as a real process; the caller's BOVEDA_* and XDG settings never leak in. */
function boveda(args: string[], options: { env?: Record<string, string | undefined>; cwd?: string } = {}): Run {
  const result = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    cwd: options.cwd,
    env: { ...process.env, BOVEDA_DATA: undefined, BOVEDA_VAULT: undefined, XDG_DATA_HOME: undefined, ...options.env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function json(run: Run): unknown {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** Asserts a failed run: exit status, error code and message in the --json error on stderr. */
function failed(run: Run, exit: number, code: string, message: RegExp): void {
  assert.equal(run.code, exit, `expected exit ${exit}, got ${run.code}: ${run.stdout}${run.stderr}`);
  const error = (JSON.parse(run.stderr) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
}

/** A readable block device to define a disk on (it is only stat'ed, never written), or null. */
async function findBlockDevice(): Promise<string | null> {
  const names = await readdir('/dev').catch(() => [] as string[]);
  for (const name of names.filter((entry) => /^(loop\d+|nbd\d+|ram\d+|zram\d+|vd[a-z]|sd[a-z]|nvme\d+n\d+)$/.test(entry)).sort()) {
    const path = join('/dev', name);
    try {
      if ((await stat(path)).isBlockDevice()) {
        await access(path, constants.R_OK);
        return path;
      }
    } catch {
      // not usable: try the next one
    }
  }
  return null;
}

const blockDevice = await findBlockDevice();

describe('boveda vm (CLI, real processes, files and data directory)', () => {
  let work: string;
  let data: string;
  let images: string;
  const env = () => ({ BOVEDA_DATA: data });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-vm-cli-'));
    data = join(work, 'data');
    images = join(work, 'images');
    await mkdir(images);
    await writeFile(join(images, 'web-os.img'), Buffer.alloc(64 * 1024, 1));
    await truncate(join(images, 'web-data.img'), 3 * 1024 * 1024).catch(async () => {
      await writeFile(join(images, 'web-data.img'), '');
      await truncate(join(images, 'web-data.img'), 3 * 1024 * 1024);
    });
    await writeFile(join(images, 'web-swap.img'), Buffer.alloc(4096));
    await writeFile(join(images, 'db.img'), Buffer.alloc(8192));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('adds a VM (relative paths stored absolute), creating the data directory 0700 with catalog.db', async () => {
    const added = json(boveda([
      'vm', 'add', 'web', '--json',
      '--disk', 'images/web-os.img', '--disk', `${images}/web-data.img,name=data`, '--disk', 'images/web-swap.img,role=temp,name=swap',
      '--pre-script', 'echo freeze', '--post-script', 'echo thaw', '--script-timeout', '45', '--notes', 'front end',
    ], { env: env(), cwd: work })) as Record<string, unknown>;
    assert.deepEqual(added.disks, [
      { name: 'disk0', path: join(images, 'web-os.img'), role: 'os' },
      { name: 'data', path: join(images, 'web-data.img'), role: 'data' },
      { name: 'swap', path: join(images, 'web-swap.img'), role: 'temp' },
    ]);
    assert.equal(added.preScript, 'echo freeze');
    assert.equal(added.postScript, 'echo thaw');
    assert.equal(added.scriptTimeoutSeconds, 45);
    assert.equal(added.notes, 'front end');
    assert.equal((await stat(data)).mode & 0o777, 0o700);
    assert.ok((await stat(join(data, 'catalog.db'))).isFile());
  });

  it('prints text: add, list and show', () => {
    const add = boveda(['vm', 'add', 'db', '--disk', join(images, 'db.img')], { env: env() });
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /Added VM db with 1 disk:\n {2}disk0 +os +\S+db\.img/);
    const list = boveda(['vm', 'list', '--data-dir', data]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME +CREATED \(UTC\) +SCRIPTS +DISKS\ndb +\S+ +- +disk0 \(os\)\nweb +\S+ +pre\+post +disk0 \(os\), data \(data\), swap \(temp\)\n$/);
    const show = boveda(['vm', 'show', 'web'], { env: env() });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /pre-script +echo freeze/);
    assert.match(show.stdout, /script timeout +45 s/);
    assert.match(show.stdout, /data +data +3 MiB +ok +\S+web-data\.img/);
    assert.match(show.stdout, /swap +temp +4 KiB +ok +\S+web-swap\.img +\(never backed up\)/);
  });

  it('lists and shows as JSON: sizes, roles, and whether each disk exists now', async () => {
    const listed = json(boveda(['vm', 'list', '--json'], { env: env() })) as { vms: { name: string }[] };
    assert.deepEqual(listed.vms.map((vm) => vm.name), ['db', 'web']);
    const shown = json(boveda(['vm', 'show', 'web', '--json'], { env: env() })) as { disks: Record<string, unknown>[] };
    assert.deepEqual(shown.disks.map((disk) => [disk.name, disk.role, disk.backedUp, disk.exists, disk.kind, disk.sizeBytes, disk.problem]), [
      ['disk0', 'os', true, true, 'file', 64 * 1024, null],
      ['data', 'data', true, true, 'file', 3 * 1024 * 1024, null],
      ['swap', 'temp', false, true, 'file', 4096, null],
    ]);
    // A disk that went missing is reported, not an error: the definition stays.
    await rm(join(images, 'db.img'));
    const db = json(boveda(['vm', 'show', 'db', '--json'], { env: env() })) as { disks: Record<string, unknown>[] };
    assert.equal(db.disks[0]!.exists, false);
    assert.equal(db.disks[0]!.sizeBytes, null);
    assert.match(String(db.disks[0]!.problem), /db\.img does not exist/);
    const text = boveda(['vm', 'show', 'db'], { env: env() });
    assert.match(text.stdout, /disk0 +os +\? +missing +\S+db\.img/);
    await writeFile(join(images, 'db.img'), Buffer.alloc(8192));
  });

  it('changes scripts, timeout and disks with vm set', () => {
    const changed = json(boveda([
      'vm', 'set', 'web', '--json', '--no-pre-script', '--post-script', 'echo done', '--script-timeout', '600',
      '--remove-disk', 'swap', '--add-disk', `${join(images, 'db.img')},role=temp`,
    ], { env: env() })) as Record<string, unknown>;
    assert.equal(changed.preScript, null);
    assert.equal(changed.postScript, 'echo done');
    assert.equal(changed.scriptTimeoutSeconds, 600);
    assert.deepEqual((changed.disks as { name: string; role: string }[]).map((disk) => `${disk.name}:${disk.role}`), ['disk0:os', 'data:data', 'disk1:temp']);
    const text = boveda(['vm', 'set', 'web', '--notes', 'moved'], { env: env() });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Updated VM web; disks now:\n {2}disk0 +os +\S+web-os\.img/);
    failed(boveda(['vm', 'set', 'web', '--json'], { env: env() }), 2, 'INVALID_ARGUMENT', /nothing to change/);
    failed(boveda(['vm', 'set', 'web', '--json', '--remove-disk', 'nope'], { env: env() }), 1, 'DISK_NOT_FOUND', /VM web has no disk named "nope"/);
    failed(boveda(['vm', 'set', 'web', '--json', '--add-disk', join(images, 'gone.img')], { env: env() }), 1, 'DISK_NOT_FOUND', /gone\.img does not exist/);
    failed(boveda(['vm', 'set', 'web', '--json', '--add-disk', `${join(images, 'db.img')},role=ssd`], { env: env() }), 2, 'INVALID_ARGUMENT', /invalid --add-disk ".*db\.img,role=ssd": role "ssd"/);
    failed(boveda(['vm', 'set', 'web', '--json', '--script-timeout', '5m'], { env: env() }), 2, 'INVALID_ARGUMENT', /--script-timeout "5m"/);
    failed(boveda(['vm', 'set', 'ghost', '--json', '--notes', 'x'], { env: env() }), 1, 'VM_NOT_FOUND', /"ghost"/);
  });

  it('refuses bad input with the documented codes, naming what is wrong, and writes nothing', async () => {
    const before = boveda(['vm', 'list', '--json'], { env: env() }).stdout;
    const os = join(images, 'web-os.img');
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', join(images, 'missing.img')], { env: env() }), 1, 'DISK_NOT_FOUND', new RegExp(`${images}/missing\\.img does not exist`));
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', images], { env: env() }), 1, 'DISK_UNREADABLE', new RegExp(`${images} is not a regular file or block device \\(it is a directory\\)`));
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', '/dev/null'], { env: env() }), 1, 'DISK_UNREADABLE', /\/dev\/null is not a regular file or block device \(it is a character device\)/);
    failed(boveda(['vm', 'add', 'web', '--json', '--disk', os], { env: env() }), 1, 'VM_EXISTS', /VM web already exists/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', `${os},role=boot`], { env: env() }), 2, 'INVALID_ARGUMENT', /invalid --disk ".*web-os\.img,role=boot": role "boot" is not os, data or temp/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', `${os},size=10G`], { env: env() }), 2, 'INVALID_ARGUMENT', /invalid --disk ".*,size=10G": unknown key "size"/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', `${os},role=os,role=data`], { env: env() }), 2, 'INVALID_ARGUMENT', /role is given twice/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', `${os},name=`], { env: env() }), 2, 'INVALID_ARGUMENT', /name has no value/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', `${os},name=a/b`], { env: env() }), 2, 'INVALID_ARGUMENT', /invalid --disk ".*name=a\/b": disk name "a\/b"/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', ',role=os'], { env: env() }), 2, 'INVALID_ARGUMENT', /invalid --disk ",role=os": the path is empty/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', ''], { env: env() }), 2, 'INVALID_ARGUMENT', /invalid --disk "": the path is empty/);
    failed(boveda(['vm', 'add', 'new', '--json'], { env: env() }), 2, 'INVALID_ARGUMENT', /VM new needs at least one disk/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', `${os},role=temp`], { env: env() }), 2, 'INVALID_ARGUMENT', /at least one disk that is not temp/);
    failed(boveda(['vm', 'add', 'bad name', '--json', '--disk', os], { env: env() }), 2, 'INVALID_ARGUMENT', /invalid VM name "bad name"/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', os, '--disk', os], { env: env() }), 2, 'INVALID_ARGUMENT', /already has disk .*web-os\.img \(as disk0\)/);
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', os, '--script-timeout', '0'], { env: env() }), 2, 'INVALID_ARGUMENT', /invalid script timeout 0/);
    await symlink(os, join(images, 'alias.img'));
    failed(boveda(['vm', 'add', 'new', '--json', '--disk', os, '--disk', join(images, 'alias.img')], { env: env() }), 2, 'INVALID_ARGUMENT', /alias\.img is the same file or device as .*web-os\.img/);
    assert.equal(boveda(['vm', 'list', '--json'], { env: env() }).stdout, before);
    // Text errors end with the code in brackets.
    const text = boveda(['vm', 'add', 'new', '--disk', join(images, 'missing.img')], { env: env() });
    assert.equal(text.code, 1);
    assert.match(text.stderr, /^boveda: disk .*missing\.img does not exist.*\[DISK_NOT_FOUND\]\n$/);
  });

  it('refuses show, set and remove of an unknown VM with VM_NOT_FOUND', () => {
    failed(boveda(['vm', 'show', 'ghost', '--json'], { env: env() }), 1, 'VM_NOT_FOUND', /no VM named "ghost"/);
    failed(boveda(['vm', 'remove', 'ghost', '--json'], { env: env() }), 1, 'VM_NOT_FOUND', /no VM named "ghost"/);
    const text = boveda(['vm', 'show', 'ghost'], { env: env() });
    assert.equal(text.code, 1);
    assert.match(text.stderr, /no VM named "ghost".*\[VM_NOT_FOUND\]/);
  });

  it('defines a disk on a block device', { skip: blockDevice === null ? 'no readable block device (/dev/loop*, /dev/sd*, …) on this machine' : false }, () => {
    const device = blockDevice!;
    const added = json(boveda(['vm', 'add', 'metal', '--json', '--disk', device, '--disk', `${join(images, 'db.img')},name=img`], { env: env() })) as { disks: { path: string; role: string }[] };
    assert.deepEqual(added.disks[0], { name: 'disk0', path: device, role: 'os' });
    const shown = json(boveda(['vm', 'show', 'metal', '--json'], { env: env() })) as { disks: Record<string, unknown>[] };
    assert.equal(shown.disks[0]!.kind, 'block-device');
    assert.equal(shown.disks[0]!.exists, true);
    assert.equal(typeof shown.disks[0]!.sizeBytes, 'number');
    assert.equal(boveda(['vm', 'remove', 'metal'], { env: env() }).code, 0);
  });

  it('removes only the definition', async () => {
    const removed = boveda(['vm', 'remove', 'db'], { env: env() });
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Removed VM db \(its recovery points stay in the vault\)/);
    assert.deepEqual(json(boveda(['vm', 'remove', 'web', '--json'], { env: env() })), { removed: 'web' });
    assert.deepEqual(json(boveda(['vm', 'list', '--json'], { env: env() })), { vms: [] });
    assert.match(boveda(['vm', 'list'], { env: env() }).stdout, /No VMs defined/);
    await stat(join(images, 'db.img')); // the disk itself is untouched
  });

  it('finds the data directory: --data-dir, then BOVEDA_DATA, then XDG_DATA_HOME/boveda, then ~/.local/share/boveda', async () => {
    const disk = join(images, 'web-os.img');
    const home = join(work, 'home');
    const xdg = join(work, 'xdg');
    const explicit = join(work, 'explicit');
    const viaFlag = boveda(['vm', 'add', 'one', '--disk', disk, '--data-dir', explicit], { env: { BOVEDA_DATA: join(work, 'ignored'), HOME: home } });
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    assert.equal(boveda(['vm', 'add', 'two', '--disk', disk], { env: { XDG_DATA_HOME: xdg, HOME: home } }).code, 0);
    assert.equal(boveda(['vm', 'add', 'three', '--disk', disk], { env: { XDG_DATA_HOME: 'relative/ignored', HOME: home } }).code, 0);
    const names = (dir: string) => (json(boveda(['vm', 'list', '--json', '--data-dir', dir])) as { vms: { name: string }[] }).vms.map((vm) => vm.name);
    assert.deepEqual(names(explicit), ['one']);
    assert.deepEqual(names(join(xdg, 'boveda')), ['two']);
    assert.deepEqual(names(join(home, '.local', 'share', 'boveda')), ['three']);
    await assert.rejects(stat(join(work, 'ignored')), /ENOENT/);
    assert.equal((await stat(join(home, '.local', 'share', 'boveda'))).mode & 0o777, 0o700);
    const nowhere = boveda(['vm', 'list', '--json'], { env: { HOME: undefined } });
    failed(nowhere, 2, 'INVALID_ARGUMENT', /no data directory: use --data-dir DIR or set BOVEDA_DATA/);
    await writeFile(join(work, 'a-file'), 'x');
    failed(boveda(['vm', 'list', '--json', '--data-dir', join(work, 'a-file')]), 2, 'INVALID_ARGUMENT', /a-file exists but is not a directory/);
  });

  it('refuses a catalog from a newer Boveda with CATALOG_ERROR naming the file', async () => {
    const dir = join(work, 'future');
    assert.equal(boveda(['vm', 'list', '--data-dir', dir]).code, 0);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(dir, 'catalog.db'));
    db.prepare("insert into schema_migrations (version, name, applied_at) values (999, 'future', 'now')").run();
    db.close();
    failed(boveda(['vm', 'list', '--json', '--data-dir', dir]), 1, 'CATALOG_ERROR', new RegExp(`${dir}/catalog\\.db has schema version 999`));
  });
});
