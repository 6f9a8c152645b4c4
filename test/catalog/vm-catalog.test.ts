import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Catalog, disksToBackUp, planDisks, type VmDefinition } from '../../src/catalog/index.js';
import { isBovedaError, type ErrorCode } from '../../src/core/index.js';
import { ManualClock } from '../../src/util/index.js';

function coded(code: ErrorCode, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(isBovedaError(error, code), `expected ${code}, got ${String(error)}`);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('VmCatalog (in-memory catalog)', () => {
  let catalog: Catalog;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock('2026-03-01T10:00:00Z');
    catalog = await Catalog.openInMemory({ clock });
  });
  afterEach(async () => {
    await catalog.close();
  });

  it('adds a VM with defaults: first disk os, others data, names disk0, disk1…, timeout 300 s', async () => {
    const vm = await catalog.vms.add({ name: 'web', disks: [{ path: '/srv/web.img' }, { path: '/dev/vg0/web-data' }, { path: '/srv/web-swap.img', role: 'temp' }] });
    assert.deepEqual(vm, {
      name: 'web',
      disks: [
        { name: 'disk0', path: '/srv/web.img', role: 'os' },
        { name: 'disk1', path: '/dev/vg0/web-data', role: 'data' },
        { name: 'disk2', path: '/srv/web-swap.img', role: 'temp' },
      ],
      preScript: null, postScript: null, scriptTimeoutSeconds: 300,
      createdAt: '2026-03-01T10:00:00.000Z', updatedAt: '2026-03-01T10:00:00.000Z', notes: null,
    });
    assert.deepEqual(await catalog.vms.get('web'), vm);
    assert.deepEqual(disksToBackUp(vm).map((disk) => disk.name), ['disk0', 'disk1']);
  });

  it('keeps explicit names and roles, and skips explicit names when choosing default ones', async () => {
    const vm = await catalog.vms.add({
      name: 'db', preScript: 'fsfreeze -f /', postScript: 'fsfreeze -u /', scriptTimeoutSeconds: 30, notes: 'primary',
      disks: [{ path: '/a.img', role: 'data' }, { path: '/b.img', name: 'disk0' }, { path: '/c.img', name: 'root', role: 'os' }, { path: '/d//e/../f.img' }],
    });
    assert.deepEqual(vm.disks, [
      { name: 'disk1', path: '/a.img', role: 'data' },
      { name: 'disk0', path: '/b.img', role: 'data' },
      { name: 'root', path: '/c.img', role: 'os' },
      { name: 'disk2', path: '/d/f.img', role: 'data' },
    ]);
    assert.equal(vm.preScript, 'fsfreeze -f /');
    assert.equal(vm.postScript, 'fsfreeze -u /');
    assert.equal(vm.scriptTimeoutSeconds, 30);
    assert.equal(vm.notes, 'primary');
  });

  it('lists VMs by name, finds, and removes only the named one', async () => {
    for (const name of ['web', 'app', 'db']) await catalog.vms.add({ name, disks: [{ path: `/srv/${name}.img` }] });
    assert.deepEqual((await catalog.vms.list()).map((vm) => vm.name), ['app', 'db', 'web']);
    assert.equal(await catalog.vms.find('nope'), null);
    assert.equal((await catalog.vms.find('db'))?.name, 'db');
    const removed = await catalog.vms.remove('db');
    assert.equal(removed.disks[0]!.path, '/srv/db.img');
    assert.deepEqual((await catalog.vms.list()).map((vm) => vm.name), ['app', 'web']);
    await assert.rejects(catalog.vms.get('db'), coded('VM_NOT_FOUND', /no VM named "db"/));
    await assert.rejects(catalog.vms.remove('db'), coded('VM_NOT_FOUND', /"db"/));
    // The same name (and the same disk paths) can be defined again after removal.
    await catalog.vms.add({ name: 'db', disks: [{ path: '/srv/db.img' }] });
  });

  it('refuses a second VM of the same name (names are case-sensitive)', async () => {
    await catalog.vms.add({ name: 'web', disks: [{ path: '/a.img' }] });
    await assert.rejects(catalog.vms.add({ name: 'web', disks: [{ path: '/b.img' }] }), coded('VM_EXISTS', /VM web already exists/));
    await catalog.vms.add({ name: 'WEB', disks: [{ path: '/a.img' }] });
    assert.equal((await catalog.vms.list()).length, 2);
  });

  it('refuses malformed definitions with INVALID_ARGUMENT naming the value, writing nothing', async () => {
    const cases: [Parameters<Catalog['vms']['add']>[0], RegExp][] = [
      [{ name: '', disks: [{ path: '/a' }] }, /invalid VM name ""/],
      [{ name: '-web', disks: [{ path: '/a' }] }, /invalid VM name "-web"/],
      [{ name: 'web server', disks: [{ path: '/a' }] }, /invalid VM name "web server"/],
      [{ name: 'a'.repeat(65), disks: [{ path: '/a' }] }, /invalid VM name "a{65}"/],
      [{ name: 'wéb', disks: [{ path: '/a' }] }, /invalid VM name "wéb"/],
      [{ name: 'web', disks: [] }, /VM web needs at least one disk/],
      [{ name: 'web', disks: [{ path: '/swap', role: 'temp' }] }, /at least one disk that is not temp/],
      [{ name: 'web', disks: [{ path: '' }] }, /a disk path is empty/],
      [{ name: 'web', disks: [{ path: 'relative.img' }] }, /disk path "relative.img" is not absolute/],
      [{ name: 'web', disks: [{ path: '/a', role: 'boot' as never }] }, /invalid disk role "boot"/],
      [{ name: 'web', disks: [{ path: '/a', name: 'my disk' }] }, /invalid disk name "my disk"/],
      [{ name: 'web', disks: [{ path: '/a', name: 'x' }, { path: '/b', name: 'x' }] }, /already has a disk named x/],
      [{ name: 'web', disks: [{ path: '/a/b.img' }, { path: '/a/c/../b.img' }] }, /already has disk \/a\/b\.img \(as disk0\)/],
      [{ name: 'web', disks: [{ path: '/a' }], scriptTimeoutSeconds: 0 }, /invalid script timeout 0/],
      [{ name: 'web', disks: [{ path: '/a' }], scriptTimeoutSeconds: 1.5 }, /invalid script timeout 1\.5/],
      [{ name: 'web', disks: [{ path: '/a' }], scriptTimeoutSeconds: 86401 }, /invalid script timeout 86401/],
      [{ name: 'web', disks: [{ path: '/a' }], preScript: '   ' }, /the pre-script is empty/],
      [{ name: 'web', disks: [{ path: '/a' }], postScript: 'x'.repeat(5000) }, /the post-script is longer than 4096/],
    ];
    for (const [input, pattern] of cases) await assert.rejects(catalog.vms.add(input), coded('INVALID_ARGUMENT', pattern), `accepted ${JSON.stringify(input)}`);
    assert.deepEqual(await catalog.vms.list(), []);
    // The edges that are allowed.
    await catalog.vms.add({ name: `A${'b'.repeat(63)}`, disks: [{ path: '/a' }], scriptTimeoutSeconds: 86400 });
    await catalog.vms.add({ name: '0.web_1-x', disks: [{ path: '/a', name: 'Z._-9' }], scriptTimeoutSeconds: 1 });
  });

  it('updates scripts, timeout and notes; null clears; createdAt stays, updatedAt moves', async () => {
    await catalog.vms.add({ name: 'web', disks: [{ path: '/a.img' }], preScript: 'pre', notes: 'n' });
    clock.advance(60_000);
    let vm = await catalog.vms.update('web', { postScript: 'post', scriptTimeoutSeconds: 10 });
    assert.deepEqual([vm.preScript, vm.postScript, vm.scriptTimeoutSeconds, vm.notes], ['pre', 'post', 10, 'n']);
    assert.equal(vm.createdAt, '2026-03-01T10:00:00.000Z');
    assert.equal(vm.updatedAt, '2026-03-01T10:01:00.000Z');
    vm = await catalog.vms.update('web', { preScript: null, notes: null });
    assert.deepEqual([vm.preScript, vm.postScript, vm.notes], [null, 'post', null]);
    await assert.rejects(catalog.vms.update('web', {}), coded('INVALID_ARGUMENT', /nothing to change for VM web/));
    await assert.rejects(catalog.vms.update('nope', { notes: 'x' }), coded('VM_NOT_FOUND', /"nope"/));
    await assert.rejects(catalog.vms.update('web', { scriptTimeoutSeconds: -1 }), coded('INVALID_ARGUMENT', /script timeout -1/));
  });

  it('removes disks first, then adds them at the end, keeping the other disks\' names and order', async () => {
    await catalog.vms.add({ name: 'web', disks: [{ path: '/os.img' }, { path: '/data.img' }, { path: '/swap.img', role: 'temp' }] });
    let vm = await catalog.vms.update('web', { removeDisks: ['disk1'], addDisks: [{ path: '/new.img' }, { path: '/data.img', name: 'again' }] });
    assert.deepEqual(vm.disks, [
      { name: 'disk0', path: '/os.img', role: 'os' },
      { name: 'disk2', path: '/swap.img', role: 'temp' },
      { name: 'disk1', path: '/new.img', role: 'data' },
      { name: 'again', path: '/data.img', role: 'data' },
    ]);
    // A removed disk's name can be given to the disk that replaces it in the same change.
    vm = await catalog.vms.update('web', { removeDisks: ['again'], addDisks: [{ path: '/other.img', name: 'again' }] });
    assert.deepEqual(vm.disks.at(-1), { name: 'again', path: '/other.img', role: 'data' });
    // Replacing every disk: the first one added becomes os again.
    vm = await catalog.vms.update('web', { removeDisks: ['disk0', 'disk2', 'disk1', 'again'], addDisks: [{ path: '/x.img' }, { path: '/y.img' }] });
    assert.deepEqual(vm.disks, [{ name: 'disk0', path: '/x.img', role: 'os' }, { name: 'disk1', path: '/y.img', role: 'data' }]);
    assert.deepEqual((await catalog.vms.get('web')).disks, vm.disks);
  });

  it('refuses a disk change that breaks a rule and leaves the VM as it was', async () => {
    const before = await catalog.vms.add({ name: 'web', disks: [{ path: '/os.img' }, { path: '/swap.img', role: 'temp' }] });
    await assert.rejects(catalog.vms.update('web', { removeDisks: ['nope'] }), coded('DISK_NOT_FOUND', /VM web has no disk named "nope"/));
    await assert.rejects(catalog.vms.update('web', { removeDisks: ['disk0'] }), coded('INVALID_ARGUMENT', /at least one disk that is not temp/));
    await assert.rejects(catalog.vms.update('web', { removeDisks: ['disk0', 'disk1'] }), coded('INVALID_ARGUMENT', /needs at least one disk/));
    await assert.rejects(catalog.vms.update('web', { addDisks: [{ path: '/swap.img' }] }), coded('INVALID_ARGUMENT', /already has disk \/swap\.img \(as disk1\)/));
    await assert.rejects(catalog.vms.update('web', { addDisks: [{ path: '/n.img', name: 'disk0' }] }), coded('INVALID_ARGUMENT', /already has a disk named disk0/));
    await assert.rejects(catalog.vms.update('web', { removeDisks: ['disk0'], addDisks: [{ path: '/n.img', role: 'fast' as never }] }), coded('INVALID_ARGUMENT', /invalid disk role "fast"/));
    await assert.rejects(catalog.vms.update('web', { removeDisks: ['disk0', 'disk0'], addDisks: [{ path: '/n.img' }] }), coded('INVALID_ARGUMENT', /named twice/));
    assert.deepEqual(await catalog.vms.get('web'), before);
  });

  it('stores each VM\'s disks apart: the same path or disk name may serve two VMs', async () => {
    await catalog.vms.add({ name: 'a', disks: [{ path: '/shared.img' }] });
    await catalog.vms.add({ name: 'b', disks: [{ path: '/shared.img' }] });
    await catalog.vms.remove('a');
    assert.deepEqual((await catalog.vms.get('b')).disks, [{ name: 'disk0', path: '/shared.img', role: 'os' }]);
  });

  it('plans disks as a pure function (what the CLI and API validate with)', () => {
    const existing = planDisks('web', [], [{ path: '/a' }]);
    assert.deepEqual(planDisks('web', existing, [{ path: '/b', role: 'temp' }]), [
      { name: 'disk0', path: '/a', role: 'os' }, { name: 'disk1', path: '/b', role: 'temp' },
    ]);
  });

  it('gives the engine a VmDefinition it can take as is', async () => {
    const vm = await catalog.vms.add({ name: 'web', disks: [{ path: '/a.img' }, { path: '/b.img', role: 'temp' }], preScript: 'sync' });
    const definition: VmDefinition = vm;
    assert.deepEqual(Object.keys(definition).sort(), ['createdAt', 'disks', 'name', 'notes', 'postScript', 'preScript', 'scriptTimeoutSeconds', 'updatedAt']);
  });
});
