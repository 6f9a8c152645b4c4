import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'node:net';
import { isBovedaError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/error-codes.js';
import { NbdClient } from '../../src/sources/qemu/nbd/client.js';
import type { NbdTransportEvents } from '../../src/sources/qemu/nbd/wire.js';
import { SeededRandom } from '../../src/util/seeded-random.js';
import { chunk, greeting, miniServer, MiniNbdServer, optionReply, rawServer, simpleReply, u16, u32, u64, type ClientRequest } from './nbd-helpers.js';

function rejectsWith(code: ErrorCode, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isBovedaError(error), `expected a BovedaError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

function testImage(seed: number, size: number): Buffer {
  const image = Buffer.from(new SeededRandom(seed).bytes(size));
  image.fill(0, Math.min(8192, size), Math.min(20480, size));
  return image;
}

describe('NbdClient robustness against fake servers', () => {
  let dir = '';
  const closers: Array<() => Promise<void>> = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'boveda-nbd-fake-'));
  });
  after(async () => {
    for (const close of closers) await close();
    await rm(dir, { recursive: true, force: true });
  });

  async function serve(name: string, onConnection: (socket: Socket) => void): Promise<string> {
    const server = await rawServer(dir, name, onConnection);
    closers.push(server.close);
    return server.socketPath;
  }
  async function mini(name: string, image: Buffer, hooks: ConstructorParameters<typeof MiniNbdServer>[4] = {}): Promise<string> {
    const server = await miniServer(dir, name, image, [[4096, 100]], hooks);
    closers.push(server.close);
    return server.socketPath;
  }
  const connect = (socketPath: string, extra: Partial<Parameters<typeof NbdClient.connect>[1]> = {}): Promise<NbdClient> =>
    NbdClient.connect({ socketPath }, { exportName: 'vm', timeoutMs: 2000, ...extra });

  it('works against the mini server: reads, holes, block status, dirty extents', async () => {
    const image = testImage(1, 100_000);
    const client = await connect(await mini('ok', image), { metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b'], maxRequestBytes: 16384 });
    assert.ok((await client.read(0, image.length)).equals(image));
    const dirty: unknown[] = [];
    for await (const range of client.dirtyExtents(0, client.size, 'b')) dirty.push(range);
    assert.deepEqual(dirty, [{ offset: 4096, length: 100 }]);
    const holes: unknown[] = [];
    for await (const e of client.allocationExtents()) if (e.hole) holes.push([e.offset, e.length]);
    assert.deepEqual(holes, [[8192, 12288]]);
    await client.disconnect();
  });

  it('closes mid-handshake, mid-reply and mid-chunk → QEMU_UNREACHABLE', async () => {
    const half = await serve('half-greeting', (socket) => socket.end(greeting().subarray(0, 10)));
    await assert.rejects(connect(half), rejectsWith('QEMU_UNREACHABLE', /closed the connection/));
    const afterGreeting = await serve('after-greeting', (socket) => {
      socket.write(greeting());
      socket.once('data', () => socket.end(optionReply(8, 1).subarray(0, 12)));
    });
    await assert.rejects(connect(afterGreeting), rejectsWith('QEMU_UNREACHABLE'));
    const image = testImage(2, 50_000);
    for (const cut of [10, 20, 30]) {
      const socketPath = await mini(`mid-reply-${cut}`, image, {
        onRequest: (request, server) => {
          if (request.type !== 0) return false;
          server.send(chunk(1, 1, request.cookie, Buffer.concat([u64(request.offset), image.subarray(request.offset, request.offset + request.length)])).subarray(0, cut));
          server.end();
          return true;
        },
      });
      const client = await connect(socketPath);
      await assert.rejects(Promise.all([client.read(0, 1000), client.read(5000, 1000)]), rejectsWith('QEMU_UNREACHABLE', /READ/));
      await assert.rejects(client.read(0, 1), rejectsWith('QEMU_UNREACHABLE'));
    }
  });

  it('garbage magic → QEMU_PROTOCOL', async () => {
    const notNbd = await serve('http', (socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await assert.rejects(connect(notNbd), rejectsWith('QEMU_PROTOCOL', /not an NBD server/));
    const badReplyMagic = await mini('bad-reply-magic', testImage(3, 9000), {
      onRequest: (request, server) => (server.send(Buffer.from('garbage garbage garbage!')), true),
    });
    const client = await connect(badReplyMagic);
    await assert.rejects(client.read(0, 10), rejectsWith('QEMU_PROTOCOL', /bad magic/));
  });

  it('oversized option and chunk lengths → QEMU_PROTOCOL at once, no huge allocation', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const hugeOption = await serve('huge-option', (socket) => {
      socket.write(greeting());
      socket.once('data', () => socket.write(optionReply(8, 1, Buffer.alloc(0), 0xffffffff)));
    });
    const started = Date.now();
    await assert.rejects(connect(hugeOption), rejectsWith('QEMU_PROTOCOL', /4294967295-byte reply/));
    const image = testImage(4, 9000);
    for (const [name, type] of [['huge-data', 1], ['huge-status', 5], ['huge-error', 0x8001]] as const) {
      const socketPath = await mini(name, image, {
        onRequest: (request, server) => (server.send(chunk(1, type, request.cookie, Buffer.alloc(0), 0xffffffff)), true),
      });
      const client = await connect(socketPath, { metaContexts: ['base:allocation'] });
      const op = type === 5 ? client.blockStatus(0, 4096, 'base:allocation') : client.read(0, 4096);
      await assert.rejects(op, rejectsWith('QEMU_PROTOCOL', /bad reply chunk/));
    }
    assert.ok(Date.now() - started < 2000);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'no large buffers were allocated');
  });

  it('unknown cookie and a chunk after DONE → QEMU_PROTOCOL', async () => {
    const image = testImage(5, 9000);
    const unknown = await mini('unknown-cookie', image, { onRequest: (request, server) => (server.send(simpleReply(0, request.cookie + 1000n)), true) });
    let client = await connect(unknown);
    await assert.rejects(client.flush(), rejectsWith('QEMU_PROTOCOL', /not in flight/));
    const afterDone = await mini('after-done', image, {
      onRequest: (request, server) => {
        if (request.type !== 3) return false;
        server.send(Buffer.concat([chunk(1, 0, request.cookie, Buffer.alloc(0)), chunk(1, 0, request.cookie, Buffer.alloc(0))]));
        return true;
      },
    });
    client = await connect(afterDone);
    await client.flush();
    await assert.rejects(client.read(0, 10), rejectsWith('QEMU_PROTOCOL', /not in flight/));
  });

  it('chunks outside the request or not covering it → QEMU_PROTOCOL', async () => {
    const image = testImage(6, 9000);
    const outside = await mini('outside', image, {
      onRequest: (request, server) => (server.send(chunk(1, 2, request.cookie, Buffer.concat([u64(request.offset + 1), u32(request.length)]))), true),
    });
    await assert.rejects((await connect(outside)).read(0, 100), rejectsWith('QEMU_PROTOCOL', /outside/));
    const partial = await mini('partial', image, {
      onRequest: (request, server) => (server.send(chunk(1, 2, request.cookie, Buffer.concat([u64(request.offset), u32(request.length - 1)]))), true),
    });
    await assert.rejects((await connect(partial)).read(0, 100), rejectsWith('QEMU_PROTOCOL', /exactly once/));
  });

  it('error chunks → NBD_REQUEST_FAILED with errno and message; the connection stays usable', async () => {
    const image = testImage(7, 9000);
    const socketPath = await mini('errors', image, {
      onRequest: (request, server) => {
        if (request.offset !== 4096) return false;
        const message = Buffer.from('disk on fire');
        server.send(chunk(1, 0x8002, request.cookie, Buffer.concat([u32(5), u16(message.length), message, u64(4100)])));
        return true;
      },
    });
    const client = await connect(socketPath);
    await assert.rejects(client.read(4096, 100), rejectsWith('NBD_REQUEST_FAILED', /READ 4096\+100 on export "vm": EIO \(disk on fire\)/));
    assert.ok((await client.read(0, 100)).equals(image.subarray(0, 100)));
    await client.disconnect();
  });

  it('slow servers → QEMU_TIMEOUT (handshake and request)', async () => {
    const silent = await serve('silent', (socket) => socket.write(greeting()));
    await assert.rejects(connect(silent, { timeoutMs: 150 }), rejectsWith('QEMU_TIMEOUT', /handshake/));
    const stuck = await mini('stuck', testImage(8, 9000), { onRequest: (request) => request.type === 0 });
    const client = await connect(stuck, { timeoutMs: 2000 });
    const started = Date.now();
    await assert.rejects(client.read(0, 10, { timeoutMs: 150 }), rejectsWith('QEMU_TIMEOUT', /did not answer READ 0\+10/));
    assert.ok(Date.now() - started < 1000);
  });

  it('a server without NBD_OPT_GO: EXPORT_NAME fallback', async () => {
    const image = testImage(9, 9000);
    const socketPath = await serve('no-go', (socket) => {
      socket.write(greeting());
      let input = Buffer.alloc(0);
      socket.on('data', (data: Buffer) => {
        input = Buffer.concat([input, data]);
        if (input.length >= 4 && input.readUInt32BE(0) <= 3) input = input.subarray(4);
        while (input.length >= 16 && input.readUInt32BE(12) + 16 <= input.length) {
          const option = input.readUInt32BE(8);
          input = input.subarray(16 + input.readUInt32BE(12));
          if (option === 1) socket.write(Buffer.concat([u64(image.length), u16(3)]));
          else socket.write(optionReply(option, 0x80000001));
        }
      });
    });
    const client = await connect(socketPath);
    assert.equal(client.size, image.length);
    assert.equal(client.structuredReplies, false);
    client.close();
  });

  it('fuzz: mutated handshake and reply streams end in a known BovedaError or a correct result, never a hang', async () => {
    const known = new Set<ErrorCode>(['QEMU_UNREACHABLE', 'QEMU_PROTOCOL', 'QEMU_TIMEOUT', 'NBD_REQUEST_FAILED']);
    const cases = Number(process.env.NBD_FUZZ_CASES ?? 2000);
    const started = Date.now();
    const outcomes = new Map<string, number>();
    for (let seed = 1; seed <= cases; seed++) {
      const outcome = await fuzzCase(seed);
      if (outcome.kind === 'error') {
        assert.ok(isBovedaError(outcome.error), `seed ${seed}: untyped ${String(outcome.error)}`);
        assert.ok(known.has(outcome.error.code), `seed ${seed}: ${outcome.error.code} ${outcome.error.message}`);
        outcomes.set(outcome.error.code, (outcomes.get(outcome.error.code) ?? 0) + 1);
      } else {
        if (!outcome.mutated) assert.ok(outcome.correct, `seed ${seed}: unmutated stream gave a wrong result`);
        outcomes.set(outcome.mutated ? 'ok-mutated' : 'ok', (outcomes.get(outcome.mutated ? 'ok-mutated' : 'ok') ?? 0) + 1);
      }
    }
    const seconds = (Date.now() - started) / 1000;
    if (process.env.NBD_FUZZ_REPORT) console.log(seconds, [...outcomes]);
    assert.ok((outcomes.get('ok') ?? 0) > 0 && (outcomes.get('QEMU_PROTOCOL') ?? 0) > 0, JSON.stringify([...outcomes]));
    assert.ok(seconds < 60, `${cases} cases took ${seconds} s`);
  });
});

type FuzzOutcome = { kind: 'error'; error: unknown } | { kind: 'ok'; mutated: boolean; correct: boolean };

/** One fuzz case: the mini server behind an in-memory pipe whose server→client bytes are split, and sometimes mutated, at random. */
async function fuzzCase(seed: number): Promise<FuzzOutcome> {
  const random = new SeededRandom(seed);
  const image = testImage(seed, 20_000 + random.int(20_000));
  const dirty: Array<[number, number]> = [[random.int(10_000), 1 + random.int(5000)]];
  const mutationRate = random.int(4) === 0 ? 0 : 0.05 + random.next() * 0.25;
  let mutated = false;
  let pending = 0;
  let activity = 0;
  let closed = false;
  let events!: NbdTransportEvents;
  const deliver = (data: Buffer): void => {
    pending++;
    setImmediate(() => {
      pending--;
      activity++;
      if (!closed) events.data(data);
      idleCheck();
    });
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    setImmediate(() => events.close());
  };
  // The client waits for bytes that (after a mutation) never come: a quiet pipe is closed, like a server that gives up.
  const idleCheck = (): void => {
    if (pending > 0 || closed) return;
    const seen = activity;
    setImmediate(() => setImmediate(() => {
      if (pending === 0 && activity === seen) close();
    }));
  };
  const send = (data: Buffer): void => {
    let out = Buffer.from(data);
    if (random.next() < mutationRate) {
      mutated = true;
      const at = random.int(out.length);
      switch (random.int(7)) {
        case 0:
          out[at] = out[at]! ^ (1 << random.int(8));
          break;
        case 1:
          out[at] = random.int(256);
          break;
        case 2:
          out.writeUInt32BE(random.int(2) ? 0xffffffff : random.nextUint32(), Math.max(0, Math.min(at, out.length - 4)));
          break;
        case 3:
          out = out.subarray(0, at);
          deliverSplit(out);
          close();
          return;
        case 4:
          out = Buffer.concat([out.subarray(0, at), Buffer.from(random.bytes(1 + random.int(30))), out.subarray(at)]);
          break;
        case 5:
          out = Buffer.concat([out, out]);
          break;
        default:
          out = out.subarray(at);
      }
    }
    deliverSplit(out);
  };
  const deliverSplit = (data: Buffer): void => {
    for (let at = 0; at < data.length; ) {
      const n = 1 + random.int(random.int(3) === 0 ? 16 : 4096);
      deliver(data.subarray(at, at + n));
      at += n;
    }
  };
  const server = new MiniNbdServer(image, dirty, send, close);
  const open = (e: NbdTransportEvents): ReturnType<Parameters<typeof NbdClient.connectTransport>[0]> => {
    events = e;
    return {
      ready: Promise.resolve().then(() => server.start()),
      transport: {
        write: (data: Buffer) => {
          const copy = Buffer.from(data);
          activity++;
          setImmediate(() => {
            if (!closed) server.receive(copy);
            idleCheck();
          });
        },
        end: close,
        destroy: () => {
          closed = true;
        },
      },
    };
  };
  let client: NbdClient | null = null;
  try {
    client = await NbdClient.connectTransport(open, 'fuzz pipe', {
      exportName: 'vm',
      metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b'],
      timeoutMs: 5000,
      maxRequestBytes: 4096,
      maxInFlight: 1 + random.int(8),
    });
    const offset = random.int(image.length);
    const length = random.int(image.length - offset);
    const [data, allocation, bitmap] = await Promise.all([
      client.read(offset, length),
      client.blockStatus(0, image.length, 'base:allocation'),
      client.blockStatus(0, image.length, 'qemu:dirty-bitmap:b'),
    ]);
    const expectedAllocation = server.allocation(0, image.length);
    const expectedBitmap = server.dirtyExtents(0, image.length);
    const correct =
      data.equals(image.subarray(offset, offset + length)) &&
      allocation.map((e) => e.length).join() === expectedAllocation.map(([n]) => n).join() &&
      bitmap.map((e) => `${e.length}:${e.flags}`).join() === expectedBitmap.map(([n, f]) => `${n}:${f}`).join();
    await client.disconnect();
    return { kind: 'ok', mutated, correct };
  } catch (error) {
    client?.close();
    return { kind: 'error', error };
  }
}

export type { ClientRequest };
