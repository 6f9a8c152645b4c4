// The QMP client against the real qemu-system-x86_64 (a paused TCG VM, notes §7).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isBovedaError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/error-codes.js';
import { QmpClient, type DirtyBitmapInfo, type QmpEvent } from '../../src/sources/qemu/qmp/index.js';
import { QemuProcess } from './qemu/qemu-process.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isBovedaError(error, code), `expected ${code}, got ${String(error)} ${(error as { code?: string }).code ?? ''}`);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

async function bitmap(qmp: QmpClient, node: string, name: string): Promise<DirtyBitmapInfo | undefined> {
  return (await qmp.queryNodeDirtyBitmaps(node)).find((entry) => entry.name === name);
}

describe('QmpClient against QEMU 7.2 (paused TCG VM, two qcow2 disks)', () => {
  let qemu: QemuProcess;
  let qmp: QmpClient;

  before(async () => {
    qemu = await QemuProcess.start({ diskSizes: [64 * MiB, 32 * MiB] });
    qmp = await QmpClient.connect(qemu.qmpSocket, { timeoutMs: 10_000 });
  });
  after(async () => {
    qmp?.close();
    await qemu?.stop();
  });

  it('reads the greeting, negotiates capabilities and answers queries', async () => {
    const { version, capabilities } = qmp.greeting;
    assert.ok(version.qemu.major >= 7, `QEMU ${version.qemu.major}`);
    assert.ok(capabilities.includes('oob'));
    assert.deepEqual(await qmp.queryVersion(), version);
    const status = await qmp.queryStatus();
    assert.equal(status.running, false);
    assert.equal(status.status, 'prelaunch');
  });

  it('runs many commands at once and matches replies by id', async () => {
    const replies = await Promise.all([
      ...Array.from({ length: 20 }, () => qmp.queryStatus()),
      qmp.queryVersion(),
      qmp.execute('nope-not-a-command').catch((error: unknown) => error),
    ]);
    for (const status of replies.slice(0, 20)) assert.equal((status as { running: boolean }).running, false);
    assert.equal((replies[20] as { qemu: { major: number } }).qemu.major, qmp.greeting.version.qemu.major);
    assert.ok(isBovedaError(replies[21], 'QMP_COMMAND_FAILED'));
  });

  it('query-block maps each device to its node; query-named-block-nodes lists format and protocol nodes', async () => {
    const devices = await qmp.blockDeviceNodes();
    assert.deepEqual(
      devices.map((device) => [device.qdev, device.nodeName, device.driver, device.virtualSize]),
      [
        ['/machine/peripheral/vda/virtio-backend', 'disk0', 'qcow2', 64 * MiB],
        ['/machine/peripheral/vdb/virtio-backend', 'disk1', 'qcow2', 32 * MiB],
      ],
    );
    assert.equal(devices[0]!.device, '', '-blockdev/-device setups have no legacy drive name');
    assert.equal(devices[0]!.file, qemu.disks[0]!.path);
    const nodes = await qmp.queryNamedBlockNodes({ flat: true });
    const byName = new Map(nodes.map((node) => [node['node-name'], node]));
    assert.equal(byName.get('disk0')?.drv, 'qcow2');
    assert.equal(byName.get('file0')?.drv, 'file');
    assert.equal(byName.get('disk1')?.image['cluster-size'], 65536);
    await rejectsWith(qmp.queryNodeDirtyBitmaps('no-such-node'), 'DISK_NOT_FOUND', /no-such-node/);
  });

  it('a persistent bitmap counts HMP qemu-io writes at its granularity; clear, disable, enable, merge, remove', async () => {
    await qmp.blockDirtyBitmapAdd({ node: 'disk0', name: 'chk0', persistent: true });
    let info = await bitmap(qmp, 'disk0', 'chk0');
    assert.deepEqual(
      { ...info, inconsistent: info?.inconsistent ?? false },
      { name: 'chk0', count: 0, granularity: 65536, recording: true, busy: false, persistent: true, inconsistent: false },
    );
    await qemu.write(qmp, 0, 0, 65536);
    assert.equal((await bitmap(qmp, 'disk0', 'chk0'))?.count, 65536);
    await qemu.write(qmp, 0, 1 * MiB, 4096, 0x11); // a 4 KiB write dirties one 64 KiB granule
    assert.equal((await bitmap(qmp, 'disk0', 'chk0'))?.count, 2 * 65536);
    assert.deepEqual(await qmp.queryNodeDirtyBitmaps('disk1'), [], 'the other disk is untouched');

    await qmp.blockDirtyBitmapAdd({ node: 'disk0', name: 'copy', disabled: true, persistent: false, granularity: 4096 });
    await qmp.blockDirtyBitmapMerge({ node: 'disk0', target: 'copy', bitmaps: ['chk0'] });
    info = await bitmap(qmp, 'disk0', 'copy');
    assert.equal(info?.recording, false);
    assert.equal(info?.granularity, 4096);
    assert.equal(info?.count, 2 * 65536);

    await qmp.blockDirtyBitmapClear({ node: 'disk0', name: 'chk0' });
    assert.equal((await bitmap(qmp, 'disk0', 'chk0'))?.count, 0);
    await qmp.blockDirtyBitmapDisable({ node: 'disk0', name: 'chk0' });
    await qemu.write(qmp, 0, 2 * MiB, 4096);
    assert.equal((await bitmap(qmp, 'disk0', 'chk0'))?.count, 0, 'a disabled bitmap does not record');
    await qmp.blockDirtyBitmapEnable({ node: 'disk0', name: 'chk0' });
    await qemu.write(qmp, 0, 3 * MiB, 4096);
    assert.equal((await bitmap(qmp, 'disk0', 'chk0'))?.count, 65536);

    await qmp.blockDirtyBitmapRemove({ node: 'disk0', name: 'copy' });
    await qmp.blockDirtyBitmapRemove({ node: 'disk0', name: 'chk0' });
    assert.deepEqual(await qmp.queryNodeDirtyBitmaps('disk0'), []);
    const error = await rejectsWith(qmp.blockDirtyBitmapRemove({ node: 'disk0', name: 'chk0' }), 'QMP_COMMAND_FAILED');
    assert.match(error.message, /block-dirty-bitmap-remove/);
  });

  it('a transaction is all-or-nothing', async () => {
    const failing = await rejectsWith(
      qmp.transaction([
        { type: 'block-dirty-bitmap-add', data: { node: 'disk0', name: 'tx-a', persistent: true } },
        { type: 'block-dirty-bitmap-add', data: { node: 'disk1', name: 'tx-b', persistent: true } },
        { type: 'block-dirty-bitmap-add', data: { node: 'no-such-node', name: 'tx-c' } },
      ]),
      'QMP_COMMAND_FAILED',
      /transaction failed \(GenericError\)/,
    );
    assert.equal((failing as { details?: { errorClass?: string } }).details?.errorClass, 'GenericError');
    assert.deepEqual(await qmp.queryNodeDirtyBitmaps('disk0'), []);
    assert.deepEqual(await qmp.queryNodeDirtyBitmaps('disk1'), []);
    await rejectsWith(
      qmp.transaction([
        { type: 'block-dirty-bitmap-add', data: { node: 'disk0', name: 'tx-a' } },
        { type: 'abort', data: {} },
      ]),
      'QMP_COMMAND_FAILED',
      /Abort action/,
    );
    assert.deepEqual(await qmp.queryNodeDirtyBitmaps('disk0'), []);

    // both disks in one transaction: one point in time
    await qmp.transaction([
      { type: 'block-dirty-bitmap-add', data: { node: 'disk0', name: 'tx-a', persistent: true } },
      { type: 'block-dirty-bitmap-add', data: { node: 'disk1', name: 'tx-b', persistent: true } },
    ]);
    assert.equal((await bitmap(qmp, 'disk0', 'tx-a'))?.persistent, true);
    assert.equal((await bitmap(qmp, 'disk1', 'tx-b'))?.persistent, true);
    await qmp.transaction([
      { type: 'block-dirty-bitmap-remove', data: { node: 'disk0', name: 'tx-a' } },
      { type: 'block-dirty-bitmap-remove', data: { node: 'disk1', name: 'tx-b' } },
    ]);
    await rejectsWith(qmp.transaction([]), 'INVALID_ARGUMENT');
  });

  it('an unknown command is QMP_COMMAND_FAILED with class CommandNotFound, and the connection stays usable', async () => {
    const error = await rejectsWith(qmp.execute('no-such-command', { x: 1 }), 'QMP_COMMAND_FAILED', /no-such-command/);
    assert.deepEqual((error as unknown as { details: unknown }).details, {
      command: 'no-such-command',
      errorClass: 'CommandNotFound',
      desc: 'The command no-such-command has not been found',
      endpoint: `QEMU monitor ${qemu.qmpSocket}`,
    });
    const bad = await rejectsWith(qmp.execute('query-status', { bogus: true }), 'QMP_COMMAND_FAILED', /query-status/);
    assert.match(bad.message, /GenericError/);
    assert.equal((await qmp.queryStatus()).running, false);
  });

  it('cont and stop produce RESUME and STOP events (waits armed before the command)', async () => {
    const seen: string[] = [];
    const off = qmp.on('*', (event) => seen.push(event.event));
    const resumed = qmp.waitForEvent('RESUME', undefined, { timeoutMs: 5_000 });
    await qmp.cont();
    const event: QmpEvent = await resumed;
    assert.equal(event.event, 'RESUME');
    assert.ok(event.timestamp !== undefined && event.timestamp.seconds > 0);
    const stopped = qmp.waitForEvent('STOP', () => true, { timeoutMs: 5_000 });
    await qmp.stop();
    await stopped;
    off();
    assert.deepEqual(seen, ['RESUME', 'STOP']);
    assert.equal((await qmp.queryStatus()).status, 'paused');
  });

  it('an event wait times out, is cancelled, or aborts through its signal', async () => {
    await rejectsWith(qmp.waitForEvent('NEVER_HAPPENS', undefined, { timeoutMs: 50 }).promise, 'QEMU_TIMEOUT', /NEVER_HAPPENS/);
    const wait = qmp.waitForEvent('NEVER_HAPPENS');
    wait.cancel();
    await rejectsWith(wait.promise, 'ABORTED');
    const controller = new AbortController();
    const aborted = qmp.waitForEvent('NEVER_HAPPENS', undefined, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await rejectsWith(aborted.promise, 'ABORTED');
    // a wait nobody awaits and nobody cancels does not leak an unhandled rejection
    qmp.waitForEvent('NEVER_HAPPENS', undefined, { timeoutMs: 1 });
  });

  it('abort via signal: before sending, and while waiting; the connection stays usable', async () => {
    await rejectsWith(qmp.queryStatus({ signal: AbortSignal.abort() }), 'ABORTED', /query-status/);
    const controller = new AbortController();
    const pending = qmp.queryBlock({ signal: controller.signal });
    controller.abort();
    await rejectsWith(pending, 'ABORTED');
    // the late reply of the aborted command is dropped, not a protocol error
    assert.equal((await qmp.queryStatus()).running, false);
    assert.equal(qmp.closed, false);
  });

  it('fleecing: blockdev-add, bitmap + blockdev-backup in one transaction, NBD export, then cleanup with events', async () => {
    const fleece = join(qemu.dir, 'fleece0.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', fleece, String(64 * MiB)]);
    await qmp.blockdevAdd({
      driver: 'qcow2',
      'node-name': 'fleece0',
      file: { driver: 'file', filename: fleece },
      backing: 'disk0',
    });
    await qmp.transaction([
      { type: 'block-dirty-bitmap-add', data: { node: 'disk0', name: 'chk1', persistent: true } },
      { type: 'blockdev-backup', data: { 'job-id': 'fleece-job0', device: 'disk0', target: 'fleece0', sync: 'none' } },
    ]);
    const jobs = await qmp.queryBlockJobs();
    assert.deepEqual(
      jobs.map((job) => [job.device, job.type]),
      [['fleece-job0', 'backup']],
    );
    const nbdSocket = join(qemu.dir, 'nbd.sock');
    await qmp.nbdServerStart({ addr: { type: 'unix', data: { path: nbdSocket } } });
    await qmp.blockExportAdd({ type: 'nbd', id: 'exp0', 'node-name': 'fleece0', name: 'full0' });
    assert.deepEqual(
      (await qmp.queryBlockExports()).map((entry) => [entry.id, entry['node-name']]),
      [['exp0', 'fleece0']],
    );
    // a recording bitmap of the export's own node is refused (hence the disabled copy in the notes)
    await qmp.blockDirtyBitmapAdd({ node: 'fleece0', name: 'rec' });
    await rejectsWith(
      qmp.blockExportAdd({ type: 'nbd', id: 'exp1', 'node-name': 'fleece0', name: 'inc', bitmaps: ['rec'] }),
      'QMP_COMMAND_FAILED',
      /block-export-add failed \(GenericError\): Enabled bitmap 'rec' incompatible with readonly export/,
    );
    await qmp.blockDirtyBitmapRemove({ node: 'fleece0', name: 'rec' });
    const { stdout } = await run('qemu-img', ['info', '--output=json', `nbd+unix:///full0?socket=${nbdSocket}`]);
    assert.equal((JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'], 64 * MiB);

    await qmp.blockExportDel('exp0', { timeoutMs: 10_000 });
    assert.deepEqual(await qmp.queryBlockExports(), []);
    assert.equal(await qmp.blockJobCancel('fleece-job0', { timeoutMs: 10_000 }), 'BLOCK_JOB_CANCELLED');
    assert.deepEqual(await qmp.queryBlockJobs(), []);
    await qmp.blockdevDel('fleece0');
    await qmp.nbdServerStop();
    await qmp.blockDirtyBitmapRemove({ node: 'disk0', name: 'chk1' });
    assert.ok(!(await qmp.queryNamedBlockNodes()).some((node) => node['node-name'] === 'fleece0'));
    await rejectsWith(qmp.blockExportDel('exp0', { timeoutMs: 2_000 }), 'QMP_COMMAND_FAILED', /block-export-del/);
  });

  it('the -qmp socket serves one client at a time; close() is idempotent and later calls fail fast', async () => {
    // a second client is accepted only when the first leaves: until then no greeting comes
    await rejectsWith(QmpClient.connect(qemu.qmpSocket, { timeoutMs: 300 }), 'QEMU_TIMEOUT', /greeting/);
    qmp.close();
    qmp.close();
    await rejectsWith(qmp.queryStatus(), 'QEMU_UNREACHABLE', /query-status: .*closed by the client/);
    qmp = await QmpClient.connect(qemu.qmpSocket, { timeoutMs: 5_000 });
    assert.equal((await qmp.queryStatus()).status, 'paused');
  });
});

describe('QmpClient when QEMU goes away', () => {
  it('kill -9 while commands and waits are pending: each fails with QEMU_UNREACHABLE, none hangs', async () => {
    const qemu = await QemuProcess.start();
    try {
      const qmp = await QmpClient.connect(qemu.qmpSocket);
      qemu.child.kill('SIGSTOP'); // QEMU cannot answer: the commands stay pending
      const pending = [
        qmp.queryStatus(),
        qmp.queryBlock(),
        qmp.humanMonitorCommand('info status'),
        qmp.waitForEvent('SHUTDOWN').promise,
      ];
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = Date.now();
      const settled = Promise.allSettled(pending);
      await qemu.kill('SIGKILL');
      const results = await settled;
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        assert.ok(isBovedaError(result.reason, 'QEMU_UNREACHABLE'), String(result.reason));
      }
      assert.ok(Date.now() - started < 2_000);
      assert.equal(qmp.closed, true);
      await rejectsWith(qmp.queryStatus(), 'QEMU_UNREACHABLE');
      // the socket file is left behind and nobody listens on it
      await rejectsWith(QmpClient.connect(qemu.qmpSocket), 'QEMU_UNREACHABLE', new RegExp(escape(qemu.qmpSocket)));
    } finally {
      await qemu.stop();
    }
  });

  it('quit: QEMU answers, closes the monitor and exits', async () => {
    const qemu = await QemuProcess.start();
    try {
      const qmp = await QmpClient.connect(qemu.qmpSocket);
      const closed = new Promise((resolve) => qmp.onClose(resolve));
      const exited = new Promise((resolve) => qemu.child.once('exit', resolve));
      await qmp.quit();
      await closed;
      await exited;
      assert.equal(qmp.closed, true);
    } finally {
      await qemu.stop();
    }
  });

  it('a socket nobody listens on, or no socket at all: QEMU_UNREACHABLE naming the path', async () => {
    const qemu = await QemuProcess.start();
    try {
      const plainFile = join(qemu.dir, 'not-a-socket');
      await writeFile(plainFile, 'x');
      await rejectsWith(QmpClient.connect(plainFile), 'QEMU_UNREACHABLE', new RegExp(escape(plainFile)));
      const missing = join(qemu.dir, 'missing.sock');
      await rejectsWith(QmpClient.connect(missing), 'QEMU_UNREACHABLE', /missing\.sock.*ENOENT/);
      await rejectsWith(QmpClient.connect(qemu.qmpSocket, { signal: AbortSignal.abort() }), 'ABORTED');
      await rejectsWith(QmpClient.connect(qemu.qmpSocket, { timeoutMs: -1 }), 'INVALID_ARGUMENT');
    } finally {
      await qemu.stop();
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
