// The guest-agent client against the real qemu-ga run on the host (freeze commands blocked:
// never freeze the host), a hanging agent, no agent, and a VM channel with no agent inside.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBovedaError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/error-codes.js';
import { GuestAgentClient } from '../../src/sources/qemu/qmp/index.js';
import { HostGuestAgent, hostBlockedCommands, QemuProcess } from './qemu/qemu-process.js';

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isBovedaError(error, code), `expected ${code}, got ${String(error)}`);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

describe('GuestAgentClient against the real qemu-ga (host, freeze blocked)', () => {
  let agent: HostGuestAgent;
  let qga: GuestAgentClient;

  before(async () => {
    agent = await HostGuestAgent.start();
    qga = await GuestAgentClient.connect(agent.socketPath, { timeoutMs: 5_000 });
  });
  after(async () => {
    qga?.close();
    await agent?.stop();
  });

  it('syncs and pings; guest-info lists the blocked freeze commands as disabled', async () => {
    await qga.sync();
    await qga.ping();
    const info = await qga.info();
    assert.match(info.version, /^\d+\.\d+/);
    const byName = new Map(info.supported_commands.map((command) => [command.name, command.enabled]));
    for (const blocked of hostBlockedCommands) assert.equal(byName.get(blocked), false, `${blocked} is blocked`);
    assert.equal(byName.get('guest-exec'), true);
  });

  it('runs a program with captured output (exit code, stdout, stderr)', async () => {
    const result = await qga.run('/bin/sh', ['-c', 'echo hi; echo oops >&2; exit 3'], { timeoutMs: 10_000, pollMs: 20 });
    assert.equal(result.exitCode, 3);
    assert.equal(result.stdout.toString(), 'hi\n');
    assert.equal(result.stderr.toString(), 'oops\n');
    assert.equal(result.outputTruncated, false);
    const input = await qga.run('/bin/cat', [], { input: Buffer.from('from stdin'), pollMs: 20 });
    assert.equal(input.stdout.toString(), 'from stdin');
    const signalled = await qga.run('/bin/sh', ['-c', 'kill -9 $$'], { pollMs: 20 });
    assert.equal(signalled.exitCode, undefined);
    assert.equal(signalled.signal, 9);
  });

  it('exec + execStatus; a program that outlives its timeout is QEMU_TIMEOUT naming it', async () => {
    const { pid } = await qga.exec('/bin/sh', ['-c', 'exit 0'], { captureOutput: false });
    assert.ok(pid > 0);
    await rejectsWith(qga.run('/bin/sleep', ['2'], { timeoutMs: 200, pollMs: 20 }), 'QEMU_TIMEOUT', /\/bin\/sleep/);
    await rejectsWith(qga.exec('/no/such/program', []), 'QMP_COMMAND_FAILED', /guest-exec/);
  });

  it('a blocked freeze is QMP_COMMAND_FAILED naming guest-fsfreeze-freeze; the status stays thawed', async () => {
    const error = await rejectsWith(qga.fsfreezeFreeze(), 'QMP_COMMAND_FAILED', /guest-fsfreeze-freeze/);
    assert.equal((error as unknown as { details: { errorClass: string } }).details.errorClass, 'CommandNotFound');
    assert.match(error.message, /has been disabled/);
    await rejectsWith(qga.fsfreezeThaw(), 'QMP_COMMAND_FAILED', /guest-fsfreeze-thaw/);
    assert.equal(await qga.fsfreezeStatus(), 'thawed');
  });

  it('an unknown command fails and calls may overlap: they are serialised', async () => {
    const results = await Promise.allSettled([qga.ping(), qga.execute('guest-nope'), qga.fsfreezeStatus(), qga.ping()]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
    );
    assert.ok(isBovedaError((results[1] as PromiseRejectedResult).reason, 'QMP_COMMAND_FAILED'));
    assert.equal((results[2] as PromiseFulfilledResult<string>).value, 'thawed');
  });

  it('after an aborted call the client resyncs and carries on', async () => {
    await rejectsWith(qga.ping({ signal: AbortSignal.abort() }), 'ABORTED');
    const controller = new AbortController();
    const slow = qga.run('/bin/sleep', ['1'], { signal: controller.signal, pollMs: 20 });
    setTimeout(() => controller.abort(), 50);
    await rejectsWith(slow, 'ABORTED');
    await qga.ping();
  });
});

describe('GuestAgentClient when nothing answers', () => {
  let dir: string;
  let server: Server | undefined;
  const sockets: Socket[] = [];
  let qemu: QemuProcess | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'boveda-qga-hang-'));
  });
  after(async () => {
    for (const socket of sockets) socket.destroy();
    server?.close();
    await qemu?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a hanging agent (accepts, never answers): QEMU_TIMEOUT within the timeout', async () => {
    const path = join(dir, 'hang.sock');
    server = createServer((socket) => {
      sockets.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => server!.listen(path, resolve));
    const qga = await GuestAgentClient.connect(path, { timeoutMs: 300 });
    try {
      const started = Date.now();
      await rejectsWith(qga.ping(), 'QEMU_TIMEOUT', /guest-sync-delimited before guest-ping/);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 290 && elapsed < 1_500, `${elapsed} ms`);
      await rejectsWith(qga.fsfreezeStatus({ timeoutMs: 100 }), 'QEMU_TIMEOUT');
    } finally {
      qga.close();
    }
  });

  it('no agent at all (nobody listens): QEMU_UNREACHABLE naming the path', async () => {
    const path = join(dir, 'nobody.sock');
    await rejectsWith(GuestAgentClient.connect(path), 'QEMU_UNREACHABLE', /nobody\.sock/);
  });

  it("a VM's virtio-serial channel with no agent inside: QEMU accepts, nothing answers: QEMU_TIMEOUT", async () => {
    qemu = await QemuProcess.start({ guestAgentChannel: true });
    const qga = await GuestAgentClient.connect(qemu.guestAgentSocket!, { timeoutMs: 300 });
    try {
      await rejectsWith(qga.ping(), 'QEMU_TIMEOUT', /is the agent running in the guest/);
      await rejectsWith(qga.fsfreezeStatus({ timeoutMs: 200 }), 'QEMU_TIMEOUT');
      assert.equal(qga.closed, false);
    } finally {
      qga.close();
    }
    // QEMU killed under the client: the channel closes
    const again = await GuestAgentClient.connect(qemu.guestAgentSocket!, { timeoutMs: 5_000 });
    const pending = again.ping();
    const settled = pending.catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await qemu.kill();
    const error = await settled;
    assert.ok(isBovedaError(error, 'QEMU_UNREACHABLE'), String(error));
  });
});
