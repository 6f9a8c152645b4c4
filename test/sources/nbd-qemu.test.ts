import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBovedaError } from '../../src/core/errors.js';
import { NbdClient } from '../../src/sources/qemu/nbd/index.js';
import { SeededRandom } from '../../src/util/seeded-random.js';
import { haveTool, startQemuNbd, type QemuNbd } from './nbd-helpers.js';

const skip = !haveTool('qemu-nbd') || !haveTool('qemu-img') || !haveTool('qemu-io') ? 'qemu-nbd, qemu-img or qemu-io missing' : false;
const MiB = 1024 * 1024;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

function rejectsWith(code: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isBovedaError(error), `expected a BovedaError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

describe('NbdClient against qemu-nbd', { skip }, () => {
  let dir = '';
  const servers: QemuNbd[] = [];
  let rawBytes: Buffer;
  let raw: QemuNbd;
  let qcow: QemuNbd;
  // 40 MiB + 3 sectors: not a multiple of 4 KiB, above the 32 MiB request limit; a 6 MiB hole in the middle.
  const rawSize = 40 * MiB + 3 * 512;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'boveda-nbd-'));
    rawBytes = Buffer.from(new SeededRandom(5).bytes(rawSize));
    rawBytes.fill(0, 8 * MiB, 14 * MiB);
    const rawPath = join(dir, 'disk.raw');
    await writeFile(rawPath, rawBytes.subarray(0, 8 * MiB));
    execFileSync('truncate', ['-s', String(rawSize), rawPath]);
    const handle = await import('node:fs/promises').then((fs) => fs.open(rawPath, 'r+'));
    await handle.write(rawBytes, 14 * MiB, rawSize - 14 * MiB, 14 * MiB);
    await handle.close();
    raw = await startQemuNbd(dir, 'raw', ['--read-only', '--shared=8', '-f', 'raw', '-x', 'vm'], rawPath);
    servers.push(raw);

    const qcowPath = join(dir, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', qcowPath, '64M']);
    execFileSync('qemu-io', ['-c', 'write -P 0x11 0 128k', qcowPath]);
    execFileSync('qemu-img', ['bitmap', '--add', qcowPath, 'chk']);
    execFileSync('qemu-io', ['-c', 'write -P 0xab 1M 64k', '-c', 'write -P 0xcd 20M 4k', '-c', 'write -P 0xef 60M 96k', qcowPath]);
    qcow = await startQemuNbd(dir, 'qcow', ['--read-only', '--shared=8', '-f', 'qcow2', '-B', 'chk', '-x', 'vm'], qcowPath);
    servers.push(qcow);
  });

  after(async () => {
    for (const server of servers) await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('negotiates size, flags, block sizes and contexts', async () => {
    const client = await NbdClient.connect({ socketPath: raw.socketPath }, { exportName: 'vm', metaContexts: ['base:allocation'] });
    try {
      assert.equal(client.size, rawSize);
      assert.equal(client.flags.readOnly, true);
      assert.equal(client.structuredReplies, true);
      assert.deepEqual(client.blockSize, { minimum: 1, preferred: 4096, maximum: 32 * MiB });
      assert.deepEqual([...client.metaContexts.keys()], ['base:allocation']);
    } finally {
      await client.disconnect();
    }
  });

  it('reads the whole raw image (split above 32 MiB, pipelined) equal to the file; holes read as zeros', async () => {
    const client = await NbdClient.connect({ socketPath: raw.socketPath }, { exportName: 'vm', maxRequestBytes: 32 * MiB });
    try {
      const whole = await client.read(0, client.size);
      assert.ok(whole.equals(rawBytes));
      // readInto a reused, dirty buffer: holes must be written as zeros
      const target = Buffer.alloc(7 * MiB, 0x55);
      await client.readInto(7.5 * MiB, target);
      assert.ok(target.equals(rawBytes.subarray(7.5 * MiB, 14.5 * MiB)));
    } finally {
      await client.disconnect();
    }
  });

  it('pipelines many random reads on one connection', async () => {
    const client = await NbdClient.connect({ socketPath: raw.socketPath }, { exportName: 'vm', maxInFlight: 8 });
    try {
      const random = new SeededRandom(9);
      const ranges = Array.from({ length: 300 }, () => {
        const offset = random.int(rawSize - 1);
        return { offset, length: 1 + random.int(Math.min(300_000, rawSize - offset)) };
      });
      const results = await Promise.all(ranges.map(({ offset, length }) => client.read(offset, length)));
      ranges.forEach(({ offset, length }, i) => assert.ok(results[i]!.equals(rawBytes.subarray(offset, offset + length)), `range ${offset}+${length}`));
      assert.equal(client.inFlight, 0);
    } finally {
      await client.disconnect();
    }
  });

  it('base:allocation reports the hole of the sparse file', async () => {
    const client = await NbdClient.connect({ socketPath: raw.socketPath }, { exportName: 'vm', metaContexts: ['base:allocation'] });
    try {
      const extents = await collect(client.allocationExtents());
      const holes = extents.filter((e) => e.zero);
      assert.equal(extents.reduce((sum, e) => sum + e.length, 0), rawSize);
      assert.deepEqual(holes.map((e) => [e.offset, e.length, e.hole]), [[8 * MiB, 6 * MiB, true]]);
      const windowed = await collect(client.allocationExtents(9 * MiB, 1000));
      assert.deepEqual(windowed, [{ offset: 9 * MiB, length: 1000, hole: true, zero: true }]);
    } finally {
      await client.disconnect();
    }
  });

  it('qcow2: reads the image; the dirty bitmap lists exactly what was written after --add (64 KiB granularity)', async () => {
    const client = await NbdClient.connect({ socketPath: qcow.socketPath }, { exportName: 'vm', metaContexts: ['base:allocation', 'qemu:dirty-bitmap:chk'] });
    try {
      assert.deepEqual(client.dirtyBitmaps, ['chk']);
      const dirty = await collect(client.dirtyExtents(0, client.size, 'chk'));
      assert.deepEqual(dirty, [
        { offset: 1 * MiB, length: 64 * 1024 },
        { offset: 20 * MiB, length: 64 * 1024 },
        { offset: 60 * MiB, length: 128 * 1024 },
      ]);
      const data = await client.read(0, 2 * MiB);
      assert.ok(data.subarray(0, 128 * 1024).every((b) => b === 0x11));
      assert.ok(data.subarray(128 * 1024, MiB).every((b) => b === 0));
      assert.ok(data.subarray(MiB, MiB + 64 * 1024).every((b) => b === 0xab));
      const allocated = (await collect(client.allocationExtents())).filter((e) => !e.zero);
      assert.deepEqual(allocated.map((e) => e.offset), [0, MiB, 20 * MiB, 60 * MiB]);
      assert.equal(await collect(client.dirtyExtents(2 * MiB, MiB, 'chk')).then((x) => x.length), 0);
    } finally {
      await client.disconnect();
    }
  });

  it('lists the exported dirty bitmaps and the exports', async () => {
    assert.deepEqual(await NbdClient.listMetaContexts({ socketPath: qcow.socketPath }, { exportName: 'vm', prefix: 'qemu:dirty-bitmap:' }), ['qemu:dirty-bitmap:chk']);
    assert.deepEqual(await NbdClient.listExports({ socketPath: qcow.socketPath }), [{ name: 'vm', description: '' }]);
  });

  it('an unknown export or bitmap fails with NBD_REQUEST_FAILED naming it', async () => {
    await assert.rejects(NbdClient.connect({ socketPath: qcow.socketPath }, { exportName: 'nope' }), rejectsWith('NBD_REQUEST_FAILED', /"nope".*ERR_UNKNOWN/));
    await assert.rejects(
      NbdClient.connect({ socketPath: qcow.socketPath }, { exportName: 'vm', metaContexts: ['qemu:dirty-bitmap:missing'] }),
      rejectsWith('NBD_REQUEST_FAILED', /qemu:dirty-bitmap:missing/),
    );
    await assert.rejects(NbdClient.connect({ socketPath: join(dir, 'absent.sock') }, { exportName: 'vm' }), rejectsWith('QEMU_UNREACHABLE', /absent\.sock/));
    const client = await NbdClient.connect({ socketPath: qcow.socketPath }, { exportName: 'vm' });
    await assert.rejects(collect(client.dirtyExtents(0, MiB, 'chk')), rejectsWith('INVALID_ARGUMENT', /not negotiated/));
    await client.disconnect();
  });

  it('a read past the end fails with NBD_REQUEST_FAILED; the connection stays usable', async () => {
    const client = await NbdClient.connect({ socketPath: raw.socketPath }, { exportName: 'vm' });
    try {
      await assert.rejects(client.read(rawSize - 10, 100), rejectsWith('NBD_REQUEST_FAILED', /READ .*"vm".*EINVAL/));
      assert.ok((await client.read(rawSize - 10, 10)).equals(rawBytes.subarray(rawSize - 10)));
      await client.flush();
    } finally {
      await client.disconnect();
      await client.disconnect();
    }
    await assert.rejects(client.read(0, 1), rejectsWith('QEMU_UNREACHABLE', /disconnected by the client/));
  });

  it('abort: a cancelled read rejects ABORTED, writes nothing more, and the connection stays usable', async () => {
    const client = await NbdClient.connect({ socketPath: raw.socketPath }, { exportName: 'vm' });
    try {
      const controller = new AbortController();
      const target = Buffer.alloc(16 * MiB, 0x77);
      const reading = client.readInto(0, target, { signal: controller.signal });
      controller.abort();
      await assert.rejects(reading, rejectsWith('ABORTED'));
      const snapshot = Buffer.from(target);
      assert.ok((await client.read(0, 4096)).equals(rawBytes.subarray(0, 4096)));
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(target.equals(snapshot), 'nothing written after the rejection');
      await assert.rejects(client.read(0, 10, { signal: AbortSignal.abort() }), rejectsWith('ABORTED'));
    } finally {
      client.close();
    }
  });

  it('server killed mid-transfer: every in-flight request fails with QEMU_UNREACHABLE, no hang', async () => {
    const doomed = await startQemuNbd(dir, 'doomed', ['--read-only', '-f', 'raw', '-x', 'vm'], join(dir, 'disk.raw'));
    const client = await NbdClient.connect({ socketPath: doomed.socketPath }, { exportName: 'vm', maxInFlight: 4, maxRequestBytes: MiB });
    const reads = Array.from({ length: 40 }, (_, i) => client.read((i % 40) * MiB, MiB).then(() => 'ok', (error: unknown) => error));
    setImmediate(() => process.kill(doomed.pid, 'SIGKILL'));
    const outcomes = await Promise.all(reads);
    await doomed.stop();
    const failures = outcomes.filter((o) => o !== 'ok');
    assert.ok(failures.length > 0, 'some reads were in flight');
    for (const failure of failures) assert.ok(isBovedaError(failure, 'QEMU_UNREACHABLE'), String(failure));
    await assert.rejects(client.read(0, 1), rejectsWith('QEMU_UNREACHABLE'));
    await client.disconnect();
  });

  it('one readInto of the whole image into a caller buffer', async () => {
    const client = await NbdClient.connect({ socketPath: raw.socketPath }, { exportName: 'vm' });
    try {
      const target = Buffer.allocUnsafe(client.size);
      const started = process.hrtime.bigint();
      await client.readInto(0, target);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      assert.ok(target.equals(rawBytes));
      assert.ok(seconds < 10, `40 MiB took ${seconds} s`);
    } finally {
      await client.disconnect();
    }
  });

  it('the image file equals what qemu-img sees', async () => {
    assert.ok((await readFile(join(dir, 'disk.raw'))).equals(rawBytes));
  });
});
