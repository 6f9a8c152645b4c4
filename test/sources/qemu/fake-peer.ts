// Test doubles for protocol-robustness tests: an in-memory duplex "socket" whose far end is a
// scripted server, a unix-socket fake server, and byte mutators for fuzzing.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { isBovedaError } from '../../../src/core/errors.js';
import type { ErrorCode } from '../../../src/core/error-codes.js';
import type { SeededRandom } from '../../../src/util/seeded-random.js';

/** The client's end of an in-memory connection; the server side calls send()/end(). */
export class FakePeer extends Duplex {
  #received = Buffer.alloc(0);
  #onLine: (line: string) => void = () => undefined;
  ended = false;
  /** Server output waiting to be delivered (see deliverInPieces). */
  readonly queue: { data: Buffer; done: (() => void) | undefined }[] = [];

  onClientLine(handler: (line: string) => void): void {
    this.#onLine = handler;
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#received = Buffer.concat([this.#received, chunk]);
    let newline: number;
    while ((newline = this.#received.indexOf(0x0a)) !== -1) {
      const line = this.#received.subarray(0, newline).toString('latin1').replace(/\xff/g, '');
      this.#received = this.#received.subarray(newline + 1);
      this.#onLine(line);
    }
    callback();
  }

  send(data: string | Buffer): void {
    if (this.ended || this.destroyed) return;
    this.push(typeof data === 'string' ? Buffer.from(data) : data);
  }

  end_(): void {
    if (this.ended || this.destroyed) return;
    this.ended = true;
    this.push(null);
  }
}

/** A unix-socket server in a temp dir; every connection goes to `onConnection`. */
export async function fakeUnixServer(
  onConnection: (socket: Socket) => void,
): Promise<{ path: string; server: Server; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'boveda-fake-qmp-'));
  const path = join(dir, 'fake.sock');
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    server,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Calls `handler` for each line the client sends (0xFF bytes removed). */
export function onLines(socket: Socket, handler: (line: string) => void): void {
  let buffered = '';
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    buffered += text;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, newline).replace(/\xff/g, '');
      buffered = buffered.slice(newline + 1);
      handler(line);
    }
  });
}

export const greeting = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}}\r\n';

export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isBovedaError(error, code), `expected ${code}, got ${String(error)}`);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

const alphabet = Buffer.from('{}[]":,\n\r \xff0123456789aeilnrstu\\', 'latin1');

/** Mutates a byte string: flips, deletes, inserts (including newlines and 0xFF), duplicates. */
export function mutate(random: SeededRandom, input: Buffer): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + random.int(3);
  for (let round = 0; round < rounds; round++) {
    const at = bytes.length === 0 ? 0 : random.int(bytes.length);
    switch (random.int(6)) {
      case 0: // flip a byte
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << random.int(8));
        break;
      case 1: // delete a range
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random.int(16))]);
        break;
      case 2: // insert protocol-ish characters
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from(Array.from({ length: 1 + random.int(4) }, () => alphabet[random.int(alphabet.length)]!)),
          bytes.subarray(at),
        ]);
        break;
      case 3: // insert random bytes
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(random.bytes(1 + random.int(8))), bytes.subarray(at)]);
        break;
      case 4: // duplicate a range
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(random.int(Math.max(1, at))), bytes.subarray(at)]);
        break;
      default: // truncate
        bytes = bytes.subarray(0, at);
    }
  }
  return bytes;
}

/**
 * Delivers `data` to the peer in random pieces on later turns of the event loop, after what was
 * queued before (pieces of two replies never interleave), then calls `done`.
 */
export function deliverInPieces(random: SeededRandom, peer: FakePeer, data: Buffer, done?: () => void): void {
  peer.queue.push({ data, done });
  if (peer.queue.length > 1) return;
  let offset = 0;
  const step = (): void => {
    const head = peer.queue[0];
    if (head === undefined) return;
    if (offset >= head.data.length) {
      peer.queue.shift();
      offset = 0;
      head.done?.();
      if (peer.queue.length > 0) setImmediate(step);
      return;
    }
    const size = 1 + random.int(Math.max(1, Math.min(64, head.data.length - offset)));
    peer.send(head.data.subarray(offset, offset + size));
    offset += size;
    setImmediate(step);
  };
  setImmediate(step);
}
