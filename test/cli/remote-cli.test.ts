import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QmpClient } from '../../src/sources/qemu/qmp/index.js';
import { QemuProcess } from '../sources/qemu/qemu-process.js';
import { CliHarness, failed, ok, type Run, type Started } from './harness.js';

/** A deterministic 3 MiB image with repeated and varied blocks. */
function image(): Buffer {
  const bytes = Buffer.alloc(3 * 1024 * 1024);
  let seed = 7;
  for (let i = 0; i < bytes.length; i += 4) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    bytes.writeUInt32LE(i < 1024 * 1024 ? 0x01020304 : seed, i);
  }
  return bytes;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('remote CLI: BOVEDA_SERVER + BOVEDA_TOKEN drive a running boveda serve', () => {
  let dir: string;
  let data: string;
  let server: Started;
  let url: string;
  let adminPassword: string;
  let client: CliHarness;
  let adminToken: string;
  let readerToken: string;
  let qemu: QemuProcess;

  /** Runs the CLI as a remote client: another, empty data directory and no vault secret at all. */
  const remote = (args: string[], token: string | null = adminToken): Run =>
    client.run(args, { BOVEDA_SERVER: url, BOVEDA_TOKEN: token ?? undefined, BOVEDA_PASSPHRASE: undefined });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'boveda-remote-cli-'));
    data = join(dir, 'server');
    await mkdir(join(data, 'images'), { recursive: true });
    await writeFile(join(data, 'images', 'web.img'), image());
    await writeFile(join(dir, 'secret.key'), 'luks key bytes\n');
    qemu = await QemuProcess.start({ diskSizes: [4 * 1024 * 1024, 4 * 1024 * 1024, 2 * 1024 * 1024] });
    const serverSide = new CliHarness(data);
    server = serverSide.start([
      'serve', '--listen', '127.0.0.1:0', '--data-dir', data, '--allow-path', join(data, 'images'), '--allow-path', join(data, 'restores'), '--allow-path', qemu.dir,
      '--tick-seconds', '3600', '--cleanup-minutes', '0',
    ], { BOVEDA_PASSPHRASE: undefined });
    const deadline = Date.now() + 20_000;
    while (!/with the password (\S+)/.test(server.stdout())) {
      if (Date.now() > deadline || server.child.exitCode !== null) assert.fail(`serve did not start: ${server.stdout()}${server.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    url = /listening on (\S+)/.exec(server.stdout())![1]!;
    adminPassword = /with the password (\S+)/.exec(server.stdout())![1]!;
    client = new CliHarness(join(dir, 'client-data'));
  });

  after(async () => {
    server?.child.kill('SIGTERM');
    await server?.done;
    await qemu?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('boveda login prints an API token; an admin adds a reader remotely, who logs in too', async () => {
    await writeFile(join(dir, 'admin.pw'), `${adminPassword}\n`);
    const login = client.run(['login', '--server', url, '--password-file', join(dir, 'admin.pw')], { BOVEDA_PASSPHRASE: undefined });
    ok(login);
    assert.match(login.stdout, new RegExp(`export BOVEDA_SERVER=${url}`));
    adminToken = /export BOVEDA_TOKEN=(\S+)/.exec(login.stdout)![1]!;

    await writeFile(join(dir, 'reader.pw'), 'reader password 123\n');
    const added = JSON.parse(ok(remote(['user', 'add', 'ro', '--role', 'reader', '--password-file', join(dir, 'reader.pw'), '--json'])).stdout) as { user: { role: string } };
    assert.equal(added.user.role, 'reader');
    const readerLogin = JSON.parse(ok(client.run(['login', '--name', 'ro', '--password-file', join(dir, 'reader.pw'), '--token-name', 'ci', '--json'], { BOVEDA_SERVER: url })).stdout) as { token: string; record: { userName: string; name: string } };
    assert.deepEqual([readerLogin.record.userName, readerLogin.record.name], ['ro', 'ci']);
    readerToken = readerLogin.token;
    failed(client.run(['login', '--server', url, '--name', 'ro', '--password-file', join(dir, 'admin.pw'), '--json']), 6, 'AUTH_FAILED', /./);
  });

  it('adds a VM, protects it, backs it up (waiting for the job), lists points and restores the same bytes', async () => {
    const vm = JSON.parse(ok(remote(['vm', 'add', 'web', '--disk', `${join(data, 'images', 'web.img')},name=root`, '--json'])).stdout) as { vm: { name: string; disks: { name: string }[] } };
    assert.deepEqual([vm.vm.name, vm.vm.disks[0]!.name], ['web', 'root']);
    assert.match(ok(remote(['vm', 'secret', 'set', 'web', 'luks', '--file', join(dir, 'secret.key')])).stdout, /Secret luks \(key-file, 15 bytes\)/);
    ok(remote(['policy', 'create', 'nightly', '--json']));
    const policies = JSON.parse(ok(remote(['policy', 'list', '--json'])).stdout) as { policies: { name: string }[] };
    assert.deepEqual(policies.policies.map((policy) => policy.name), ['nightly']);
    assert.match(ok(remote(['protect', 'web', '--policy', 'nightly'])).stdout, /VM web: protected; policy nightly/);

    const backup = ok(remote(['backup', 'web', '--retain-days', '3', '--json']));
    const events = backup.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; job: { status: string; result: { pointId: string } } });
    const done = events.at(-1)!;
    assert.equal(done.event, 'completed');
    assert.match(done.job.status, /^completed/);
    assert.ok(events.slice(0, -1).every((event) => event.event === 'progress'), backup.stdout);

    const points = JSON.parse(ok(remote(['points', 'web', '--json'])).stdout) as { points: { id: string; retention: { keep: boolean } }[] };
    assert.deepEqual(points.points.map((point) => point.id), [done.job.result.pointId]);
    assert.match(ok(remote(['points', 'web'])).stdout, new RegExp(`^${done.job.result.pointId}  `, 'm'));

    const restored = ok(remote(['restore', 'web', '--to', join(data, 'restores', 'x')]));
    assert.match(restored.stdout, /root → .*restores\/x\/root\.img/);
    assert.ok((await readFile(join(data, 'restores', 'x', 'root.img'))).equals(image()));

    const keys = join(dir, 'keys');
    ok(remote(['secrets', 'restore', 'web', '--to', keys]));
    assert.equal(await readFile(join(keys, 'luks'), 'utf8'), 'luks key bytes\n');
    assert.equal((await stat(join(keys, 'luks'))).mode & 0o777, 0o600);

    const jobs = JSON.parse(ok(remote(['jobs', '--json'])).stdout) as { jobs: { type: string; status: string }[] };
    assert.deepEqual(jobs.jobs.map((job) => job.type), ['restore', 'backup']);
    // Nothing was written on the client's side: its data directory was never created.
    await assert.rejects(readdir(client.data), { code: 'ENOENT' });
  });

  it('restore --as-vm, cleanup --vm, vault gc --dry-run and usage --prices go through the API', async () => {
    const restored = ok(remote(['restore', 'web', '--to', join(data, 'restores', 'vm'), '--as-vm', 'web2', '--format', 'raw', '--memory', '256', '--cpus', '1', '--kvm', 'off']));
    assert.match(restored.stdout, /as new VM "web2".*\n {2}root → .*restores\/vm\/root\.img\nStart it with QEMU on the server's machine: .*web2\.qemu\.sh/);
    assert.ok((await readFile(join(data, 'restores', 'vm', 'root.img'))).equals(image()));
    assert.match(await readFile(join(data, 'restores', 'vm', 'web2.qemu.sh'), 'utf8'), /-m 256\b/);
    assert.match(await readFile(join(data, 'restores', 'vm', 'web2.libvirt.xml'), 'utf8'), /<name>web2<\/name>/);
    failed(remote(['restore', 'web', '--to', join(data, 'restores', 'vm2'), '--as-vm', 'x', '--memory', '1', '--json']), 2, 'INVALID_ARGUMENT', /memory 1/);

    const plan = JSON.parse(ok(remote(['cleanup', '--vm', 'web', '--dry-run', '--json'])).stdout) as { dryRun: boolean; vms: { vmName: string }[] };
    assert.deepEqual([plan.dryRun, plan.vms.map((vm) => vm.vmName)], [true, ['web']]);
    failed(remote(['cleanup', '--vm', 'ghost', '--json']), 1, 'VM_NOT_FOUND', /ghost/);
    const gc = JSON.parse(ok(remote(['vault', 'gc', '--dry-run', '--json'])).stdout) as { dryRun: boolean; points: number };
    assert.deepEqual([gc.dryRun, gc.points], [true, 1]);
    assert.match(ok(remote(['vault', 'gc', '--dry-run'])).stdout, /^Would free /);

    await writeFile(join(dir, 'prices.json'), JSON.stringify({ currency: 'CHF', instanceTiers: [{ upToBytes: null, pricePerMonth: 4 }], storagePerGiBMonth: 0.01 }));
    assert.match(ok(remote(['usage', '--prices', join(dir, 'prices.json')])).stdout, /estimated monthly cost: [\d.]+ CHF/);
    assert.doesNotMatch(ok(remote(['settings', 'show'])).stdout, /CHF/, 'the table was not stored');
  });

  it('vm add --qemu-qmp --disk-role --exclude; backup --verify-tracking exits 3 when the bitmap missed blocks', async () => {
    const added = JSON.parse(ok(remote(['vm', 'add', 'kvm', '--qemu-qmp', qemu.backupQmpSocket, '--disk-role', 'vdb=data', '--exclude', 'disk2', '--json'])).stdout) as { vm: { disks: { role: string }[] } };
    assert.deepEqual(added.vm.disks.map((disk) => disk.role), ['os', 'data', 'temp']);
    failed(remote(['vm', 'add', 'kvm2', '--qemu-qmp', 'qmp.sock', '--json']), 2, 'INVALID_ARGUMENT', /must be an absolute path/);
    const qmp = await QmpClient.connect(qemu.qmpSocket);
    try {
      await qemu.write(qmp, 0, 0, 64 * 1024, 0x61);
      ok(remote(['backup', 'kvm', '--json']));
      // A write the checkpoint bitmap never sees (cleared behind its back).
      await qemu.write(qmp, 0, 1024 * 1024, 64 * 1024, 0x62);
      for (const bitmap of (await qmp.queryNodeDirtyBitmaps('disk0')).filter((entry) => entry.name?.startsWith('boveda-chk-'))) await qmp.blockDirtyBitmapClear({ node: 'disk0', name: bitmap.name! });
    } finally {
      qmp.close();
    }
    const verified = remote(['backup', 'kvm', '--verify-tracking']);
    assert.equal(verified.code, 3, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /disk0: .*changes by bitmap, tracking missed [1-9]\d* blocks?/);
  });

  it('maps the server\'s refusals and errors to the local exit statuses and codes', async () => {
    failed(remote(['backup', 'web', '--json'], readerToken), 6, 'FORBIDDEN', /operate/);
    assert.match(ok(remote(['vm', 'list'], readerToken)).stdout, /^web /m);
    failed(remote(['vm', 'list', '--json'], 'bvd_wrong_token'), 6, 'AUTH_REQUIRED', /refused BOVEDA_TOKEN/);
    failed(remote(['vm', 'list', '--json'], null), 6, 'AUTH_REQUIRED', /user token create NAME --name T.*boveda login/);
    failed(remote(['vm', 'show', 'nope', '--json']), 1, 'VM_NOT_FOUND', /nope/);
    failed(remote(['restore', 'web', '--to', join(dir, 'elsewhere'), '--json']), 2, 'PATH_NOT_ALLOWED', /elsewhere/);
    failed(remote(['vault', 'info', '--json']), 2, 'INVALID_ARGUMENT', /`boveda vault info` works on the server's machine only; unset BOVEDA_SERVER/);
    failed(remote(['backup', 'web', '--now', '2030-01-01', '--json']), 2, 'INVALID_ARGUMENT', /--now/);
    const port = await closedPort();
    failed(client.run(['vm', 'list', '--json'], { BOVEDA_SERVER: `http://127.0.0.1:${port}`, BOVEDA_TOKEN: adminToken }), 1, 'SERVER_UNREACHABLE', new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
    failed(client.run(['vm', 'list', '--json'], { BOVEDA_SERVER: 'ftp://host', BOVEDA_TOKEN: adminToken }), 2, 'INVALID_ARGUMENT', /http/);
  });
});
