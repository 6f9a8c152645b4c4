/**
 * The API routes that match the CLI's remaining options: restore as a new VM (asVm), cleanup of
 * some VMs (vm), gc dry run, usage priced with a given table (POST /api/usage/estimate), and a
 * running QEMU VM added with diskRoles/exclude and backed up with verifyTracking (a real QEMU whose
 * dirty bitmap is cleared behind its back, so the job result reports the missed blocks).
 * Bad input for each new field: 400 (or 404 for an unknown VM) with code and message, never a 500.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StoredJob } from '../../src/app/index.js';
import { QmpClient } from '../../src/sources/qemu/qmp/index.js';
import { QemuProcess } from '../sources/qemu/qemu-process.js';
import { assertClientError, assertNoStack, call, startTestServer, waitForJob, writeImage, type TestServer } from './helpers.js';

const MiB = 1024 * 1024;
const PRICES = { currency: 'EUR', instanceTiers: [{ upToBytes: null, pricePerMonth: 5 }], storagePerGiBMonth: 0.02 };

async function runJob(t: TestServer, url: string, body: unknown): Promise<StoredJob> {
  const started = await call(t.server, 'POST', url, { role: 'contributor', body });
  assert.equal(started.statusCode, 202, started.body);
  const job = await waitForJob(t.server, started.json<{ job: StoredJob }>().job.id);
  assert.match(job.status, /^completed/, JSON.stringify(job.error));
  return job;
}

describe('API: the CLI options restore --as-vm, cleanup --vm, gc --dry-run, usage --prices', () => {
  let t: TestServer;
  let web: Buffer;
  let db: Buffer;
  before(async () => {
    t = await startTestServer();
    web = await writeImage(join(t.images, 'web.img'), 512 * 1024, 1);
    db = await writeImage(join(t.images, 'db.img'), 256 * 1024, 2);
    for (const [name, disks] of [['web', [{ path: join(t.images, 'web.img'), name: 'root' }, { path: join(t.images, 'db.img'), name: 'data' }]], ['db', [{ path: join(t.images, 'db.img') }]]] as const) {
      const added = await call(t.server, 'POST', '/api/vms', { role: 'contributor', body: { name, disks } });
      assert.equal(added.statusCode, 201, added.body);
      await runJob(t, `/api/vms/${name}/backups`, { retainDays: 1, snapshot: false });
    }
  });
  after(async () => {
    await t.close();
  });

  it('restores a point as a new VM: raw images equal to the sources, the QEMU script and the libvirt XML', async () => {
    const dir = join(t.restores, 'as-vm');
    const job = await runJob(t, '/api/vms/web/restores', { target: { kind: 'directory', path: dir, format: 'raw', asVm: { name: 'web copy', memoryMiB: 512, cpus: 1, kvm: 'off' } } });
    const result = job.result as { mode: string; name: string; disks: string[]; script: string; libvirtXml: string; directory: string };
    assert.deepEqual([result.mode, result.name, result.directory, result.disks], ['new-vm', 'web copy', dir, ['root', 'data']]);
    assert.deepEqual(await readFile(join(dir, 'root.img')), web);
    assert.deepEqual(await readFile(join(dir, 'data.img')), db);
    assert.equal(result.script, join(dir, 'web copy.qemu.sh'));
    const script = await readFile(result.script, 'utf8');
    assert.match(script, /-m 512\b/);
    assert.match(script, /-smp 1\b/);
    assert.ok(script.includes(join(dir, 'root.img')), script);
    assert.equal((await stat(result.script)).mode & 0o100, 0o100, 'the script is executable');
    const xml = await readFile(result.libvirtXml, 'utf8');
    assert.match(xml, /<name>web copy<\/name>/);
    assert.match(xml, /<memory unit='MiB'>512<\/memory>/);
    assert.ok(xml.includes(join(dir, 'data.img')), xml);
  });

  it('refuses bad asVm input before any job: 400 with code and message', async () => {
    const bad = async (asVm: unknown, message: RegExp, extra: Record<string, unknown> = {}, path = join(t.restores, 'bad')) => {
      const response = await call(t.server, 'POST', '/api/vms/web/restores', { role: 'operator', body: { ...extra, target: { kind: 'directory', path, asVm } } });
      assertClientError(response, 400, 'INVALID_ARGUMENT', message);
    };
    await bad({ name: 'x', memoryMiB: 0 }, /memory 0: give whole MiB from 16/);
    await bad({ name: 'x', memoryMiB: 1e12 }, /memory/);
    await bad({ name: 'x', memoryMiB: 1.5 }, /memoryMiB must be integer|must match/);
    await bad({ name: 'x', cpus: 5000 }, /CPU count 5000/);
    await bad({ name: 'x', cpus: -1 }, /CPU count -1/);
    await bad({ name: 'x', kvm: 'maybe' }, /kvm|must match/);
    await bad({ name: '../evil' }, /invalid name for the new VM/);
    await bad({ name: ' lead' }, /invalid name for the new VM/);
    await bad({ name: 'a\u0007b' }, /invalid name for the new VM/);
    await bad({ name: 'n'.repeat(65) }, /must NOT have more than 64 characters|must match/);
    await bad({ name: 'x', color: 'red' }, /additional properties|must match/);
    await bad({ name: 'x' }, /leave out the disk list/, { disks: ['root'] });
    await bad({ name: 'x' }, /must be absolute/, {}, 'relative/dir');
    assertClientError(await call(t.server, 'POST', '/api/vms/web/restores', { role: 'operator', body: { target: { kind: 'directory', path: '/etc/boveda-x', asVm: { name: 'x' } } } }), 400, 'PATH_NOT_ALLOWED', /outside the directories/);
    const jobs = (await call(t.server, 'GET', '/api/jobs?type=restore')).json<{ jobs: StoredJob[] }>().jobs;
    assert.equal(jobs.length, 1, 'only the good restore made a job');
  });

  it('cleanup of one VM: the dry run plans that VM only, the job names it; an unknown VM is 404', async () => {
    const plan = (await call(t.server, 'POST', '/api/cleanup', { role: 'contributor', body: { dryRun: true, vm: 'db' } })).json<{ plan: { vms: { vmName: string }[]; dryRun: boolean } }>().plan;
    assert.deepEqual(plan.vms.map((vm) => vm.vmName), ['db']);
    const both = (await call(t.server, 'POST', '/api/cleanup', { role: 'contributor', body: { dryRun: true, vm: ['web', 'db', 'web'] } })).json<{ plan: { vms: { vmName: string }[] } }>().plan;
    assert.deepEqual(both.vms.map((vm) => vm.vmName), ['db', 'web']);
    const job = await runJob(t, '/api/cleanup', { vm: 'web' });
    assert.equal(job.item, 'web');
    assertClientError(await call(t.server, 'POST', '/api/cleanup', { role: 'contributor', body: { vm: 'nope' } }), 404, 'VM_NOT_FOUND', /"nope"/);
    assertClientError(await call(t.server, 'POST', '/api/cleanup', { role: 'contributor', body: { dryRun: true, vm: ['db', 'x'.repeat(65)] } }), 400, 'INVALID_ARGUMENT');
    assertClientError(await call(t.server, 'POST', '/api/cleanup', { role: 'contributor', body: { vm: [] } }), 400, 'INVALID_ARGUMENT');
    assertClientError(await call(t.server, 'POST', '/api/cleanup', { role: 'contributor', body: { vm: { name: 'db' } } }), 400, 'INVALID_ARGUMENT');
  });

  it('gc dry run answers its report at once (200) and starts no job', async () => {
    const response = await call(t.server, 'POST', '/api/vault/gc', { role: 'contributor', body: { dryRun: true, repackBelow: 0.3 } });
    assert.equal(response.statusCode, 200, response.body);
    const report = response.json<{ report: { dryRun: boolean; points: number; bytesFreed: number } }>().report;
    assert.deepEqual([report.dryRun, report.points], [true, 2]);
    assert.equal((await call(t.server, 'GET', '/api/jobs?type=gc')).json<{ jobs: unknown[] }>().jobs.length, 0);
    assertClientError(await call(t.server, 'POST', '/api/vault/gc', { role: 'contributor', body: { dryRun: true, repackBelow: 2 } }), 400, 'INVALID_ARGUMENT', /repackBelow/);
    assertClientError(await call(t.server, 'POST', '/api/vault/gc', { role: 'contributor', body: { dryRun: 'yes' } }), 400, 'INVALID_ARGUMENT', /dryRun/);
  });

  it('usage priced with a given table changes nothing stored; a bad table is 400 naming the field', async () => {
    const report = (await call(t.server, 'POST', '/api/usage/estimate', { role: 'reader', body: { priceTable: PRICES } })).json<{ priceTable: { currency: string }; totals: { cost: { total: number } | null } }>();
    assert.equal(report.priceTable.currency, 'EUR');
    assert.ok(report.totals.cost !== null && report.totals.cost.total > 0, JSON.stringify(report.totals));
    const settings = (await call(t.server, 'GET', '/api/settings', { role: 'reader' })).json<{ priceTable: unknown }>();
    assert.equal(settings.priceTable, null);
    assertClientError(await call(t.server, 'POST', '/api/usage/estimate', { role: 'reader', body: { priceTable: { ...PRICES, currency: 'EURO' } } }), 400, 'INVALID_ARGUMENT', /currency/);
    assertClientError(await call(t.server, 'POST', '/api/usage/estimate', { role: 'reader', body: { priceTable: { ...PRICES, storagePerGiBMonth: -1 } } }), 400, 'INVALID_ARGUMENT', /storagePerGiBMonth/);
    assertClientError(await call(t.server, 'POST', '/api/usage/estimate', { role: 'reader', body: { priceTable: [] } }), 400, 'INVALID_ARGUMENT');
    assertClientError(await call(t.server, 'POST', '/api/usage/estimate', { role: 'reader', body: {} }), 400, 'INVALID_ARGUMENT', /priceTable/);
  });
});

describe('API: a running QEMU VM with diskRoles and exclude, backed up with verifyTracking', () => {
  let t: TestServer;
  let qemu: QemuProcess;
  let qmp: QmpClient;
  before(async () => {
    qemu = await QemuProcess.start({ diskSizes: [4 * MiB, 4 * MiB, 2 * MiB] });
    qmp = await QmpClient.connect(qemu.qmpSocket);
    t = await startTestServer({ allowedPaths: [qemu.dir] });
  });
  after(async () => {
    qmp?.close();
    await qemu?.stop();
    await t?.close();
  });

  it('refuses relative, missing and non-socket paths and unknown disks with 400; a socket nobody answers on is 502', async () => {
    const add = (qemuBody: Record<string, unknown>) => call(t.server, 'POST', '/api/vms', { role: 'contributor', body: { name: 'kvm', qemu: qemuBody } });
    assertClientError(await add({ qmpSocket: 'qmp.sock' }), 400, 'INVALID_ARGUMENT', /qmpSocket "qmp\.sock" must be an absolute path/);
    assertClientError(await add({ qmpSocket: join(qemu.dir, 'none.sock') }), 400, 'INVALID_ARGUMENT', /not a unix socket .*no such file/);
    assertClientError(await add({ qmpSocket: qemu.disks[0]!.path }), 400, 'INVALID_ARGUMENT', /not a unix socket .*not a socket/);
    assertClientError(await add({ qmpSocket: qemu.backupQmpSocket, qgaSocket: 'qga.sock' }), 400, 'INVALID_ARGUMENT', /qgaSocket "qga\.sock" must be an absolute path/);
    assertClientError(await add({ qmpSocket: qemu.backupQmpSocket, diskRoles: { vdb: 'boot' } }), 400, 'INVALID_ARGUMENT', /diskRoles/);
    assertClientError(await add({ qmpSocket: qemu.backupQmpSocket, diskRoles: { vdz: 'data' } }), 400, 'INVALID_ARGUMENT', /has no disk "vdz"/);
    assertClientError(await add({ qmpSocket: qemu.backupQmpSocket, exclude: ['nope'] }), 400, 'INVALID_ARGUMENT', /has no disk "nope"/);
    assertClientError(await add({ qmpSocket: qemu.backupQmpSocket, exclude: [''] }), 400, 'INVALID_ARGUMENT', /exclude/);
    assertClientError(await add({ qmpSocket: qemu.backupQmpSocket, exclude: { disk2: true } }), 400, 'INVALID_ARGUMENT', /exclude/);
    assertClientError(await call(t.server, 'POST', '/api/vms', { role: 'contributor', body: { name: 'kvm', disks: [{ path: qemu.disks[0]!.path }], qemu: { qmpSocket: qemu.backupQmpSocket } } }), 400, 'INVALID_ARGUMENT', /discovered over QMP/);
    // A socket whose peer hangs up at once, as a QEMU that is going away: the server is a gateway to it.
    const hangUp = createServer((socket) => socket.destroy());
    const hangUpPath = join(t.dir, 'hang-up.sock');
    await new Promise<void>((resolve) => hangUp.listen(hangUpPath, resolve));
    try {
      const gone = await add({ qmpSocket: hangUpPath });
      assert.equal(gone.statusCode, 502, gone.body);
      assert.match(gone.json<{ error: { code: string; message: string } }>().error.code, /^QEMU_(UNREACHABLE|PROTOCOL)$/);
      assertNoStack(gone);
    } finally {
      await new Promise((resolve) => hangUp.close(resolve));
    }
    assert.equal((await call(t.server, 'GET', '/api/vms')).json<{ vms: unknown[] }>().vms.length, 0, 'nothing was added');
  });

  it('adds it with roles, backs it up; verifyTracking reports the blocks a cleared bitmap missed', async () => {
    const added = await call(t.server, 'POST', '/api/vms', { role: 'contributor', body: { name: 'kvm', qemu: { qmpSocket: qemu.backupQmpSocket, diskRoles: { vdb: 'data', vda: 'os' }, exclude: ['disk2'] } } });
    assert.equal(added.statusCode, 201, added.body);
    const vm = added.json<{ vm: { disks: { role: string; path: string }[]; qemu: { qmpSocket: string } } }>().vm;
    assert.deepEqual(vm.disks.map((disk) => [disk.role, disk.path]), [['os', qemu.disks[0]!.path], ['data', qemu.disks[1]!.path], ['temp', qemu.disks[2]!.path]]);
    assert.equal(vm.qemu.qmpSocket, qemu.backupQmpSocket);

    await qemu.write(qmp, 0, 0, 64 * 1024, 0x51);
    const full = await runJob(t, '/api/vms/kvm/backups', { retainDays: 1 });
    assert.equal((full.result as { trackingMissedBlocks?: number }).trackingMissedBlocks, undefined, 'a full backup has no bitmap to verify');

    await qemu.write(qmp, 1, MiB, 16 * 1024, 0x52);
    const clean = await runJob(t, '/api/vms/kvm/backups', { retainDays: 1, verifyTracking: true });
    type Result = { trackingMissedBlocks?: number; disks: { name: string; changeDetection: string; trackingMissedBlocks?: number }[] };
    const cleanResult = clean.result as Result;
    assert.equal(cleanResult.trackingMissedBlocks, 0);
    assert.deepEqual(cleanResult.disks.map((disk) => [disk.name, disk.changeDetection, disk.trackingMissedBlocks]), [['disk0', 'bitmap', 0], ['disk1', 'bitmap', 0]]);

    // Writes the checkpoint bitmap of disk0 never sees (cleared behind its back).
    await qemu.write(qmp, 0, 2 * MiB, 64 * 1024, 0x53);
    const bitmaps = await qmp.queryNodeDirtyBitmaps('disk0');
    for (const bitmap of bitmaps.filter((entry) => entry.name?.startsWith('boveda-chk-'))) await qmp.blockDirtyBitmapClear({ node: 'disk0', name: bitmap.name! });
    const missed = await runJob(t, '/api/vms/kvm/backups', { retainDays: 1, verifyTracking: true });
    const missedResult = missed.result as Result;
    assert.ok((missedResult.trackingMissedBlocks ?? 0) > 0, JSON.stringify(missedResult));
    assert.equal(missedResult.disks[0]!.trackingMissedBlocks, missedResult.trackingMissedBlocks);
    assert.ok(missed.warnings.some((warning) => /dirty bitmap missed/.test(warning)), missed.warnings.join('\n'));
    assertClientError(await call(t.server, 'POST', '/api/vms/kvm/backups', { role: 'operator', body: { verifyTracking: 'yes' } }), 400, 'INVALID_ARGUMENT', /verifyTracking/);
  });
});
