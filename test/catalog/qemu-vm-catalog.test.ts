import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/index.js';
import { migrations } from '../../src/catalog/migrations/index.js';

describe('catalog: QEMU VMs (migration 3)', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-qemu-catalog-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('upgrades a version-2 catalog in place: old VMs stay file VMs, QEMU VMs can be added', async () => {
    const file = join(work, 'v2.db');
    const old = await Catalog.open(file, { migrations: migrations.slice(0, 2) });
    assert.equal(old.schemaVersion, 2);
    await old.vms.add({ name: 'web', disks: [{ path: '/srv/web.img' }] });
    await old.close();

    const upgraded = await Catalog.open(file);
    try {
      assert.equal(upgraded.schemaVersion, migrations.length);
      const web = await upgraded.vms.get('web');
      assert.equal(web.qemu, undefined);
      assert.deepEqual(web.disks, [{ name: 'disk0', path: '/srv/web.img', role: 'os' }]);
      const vm = await upgraded.vms.add({
        name: 'kvm1',
        qemu: { qmpSocket: '/run/vm/qmp-boveda.sock', guestAgentSocket: '/run/vm/qga.sock' },
        disks: [
          { path: '/srv/kvm1-os.qcow2', qemu: { qdev: '/machine/peripheral/vda/virtio-backend', node: 'disk0' } },
          { path: '/srv/kvm1-scratch.qcow2', role: 'temp', qemu: { qdev: null, node: 'disk1' } },
        ],
      });
      assert.deepEqual(vm.qemu, { qmpSocket: '/run/vm/qmp-boveda.sock', guestAgentSocket: '/run/vm/qga.sock' });
      assert.deepEqual(vm.disks.map((disk) => [disk.name, disk.role, disk.qemu]), [
        ['disk0', 'os', { qdev: '/machine/peripheral/vda/virtio-backend', node: 'disk0' }],
        ['disk1', 'temp', { qdev: null, node: 'disk1' }],
      ]);
      const updated = await upgraded.vms.update('kvm1', { addDisks: [{ path: '/srv/kvm1-data.qcow2', qemu: { qdev: '/machine/peripheral/vdc/virtio-backend', node: 'disk2' } }] });
      assert.deepEqual(updated.disks.at(-1), { name: 'disk2', path: '/srv/kvm1-data.qcow2', role: 'data', qemu: { qdev: '/machine/peripheral/vdc/virtio-backend', node: 'disk2' } });
      await assert.rejects(upgraded.vms.add({ name: 'bad', qemu: { qmpSocket: 'relative.sock', guestAgentSocket: null }, disks: [{ path: '/srv/x.qcow2' }] }), /absolute/);
    } finally {
      await upgraded.close();
    }
  });
});
