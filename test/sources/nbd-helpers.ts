import { spawn, spawnSync } from 'node:child_process';
import { access, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// ---- real qemu-nbd ----

export function haveTool(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface QemuNbd {
  socketPath: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts `qemu-nbd --socket … --pid-file … ARGS IMAGE` (forked) and waits for its socket. */
export async function startQemuNbd(dir: string, name: string, args: string[], image: string): Promise<QemuNbd> {
  const socketPath = join(dir, `${name}.sock`);
  const pidFile = join(dir, `${name}.pid`);
  const child = spawn('qemu-nbd', ['--persistent', '--fork', `--socket=${socketPath}`, `--pid-file=${pidFile}`, ...args, image], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`qemu-nbd failed (${code}): ${stderr}`);
  for (let i = 0; i < 200; i++) {
    try {
      await access(socketPath);
      const pid = Number((await readFile(pidFile, 'utf8')).trim());
      return {
        socketPath,
        pid,
        stop: async () => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
          await rm(socketPath, { force: true });
        },
      };
    } catch {
      await sleep(10);
    }
  }
  throw new Error(`qemu-nbd socket ${socketPath} did not appear`);
}

// ---- wire builders for fake servers ----

export const NBDMAGIC = Buffer.from('NBDMAGIC');
export const IHAVEOPT = Buffer.from('IHAVEOPT');

export function greeting(flags = 3): Buffer {
  const out = Buffer.alloc(18);
  NBDMAGIC.copy(out, 0);
  IHAVEOPT.copy(out, 8);
  out.writeUInt16BE(flags, 16);
  return out;
}

export function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0), length = data.length): Buffer {
  const out = Buffer.alloc(20);
  out.writeBigUInt64BE(0x3e889045565a9n, 0);
  out.writeUInt32BE(option, 8);
  out.writeUInt32BE(type, 12);
  out.writeUInt32BE(length, 16);
  return Buffer.concat([out, data]);
}

export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
export function u64(v: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
}

export function infoExport(size: number, flags: number): Buffer {
  return Buffer.concat([u16(0), u64(size), u16(flags)]);
}

export function chunk(flags: number, type: number, cookie: number | bigint, payload: Buffer, length = payload.length): Buffer {
  return Buffer.concat([u32(0x668e33ef), u16(flags), u16(type), u64(cookie), u32(length), payload]);
}

export function simpleReply(error: number, cookie: number | bigint): Buffer {
  return Buffer.concat([u32(0x67446698), u32(error), u64(cookie)]);
}

export interface ClientRequest {
  flags: number;
  type: number;
  cookie: bigint;
  offset: number;
  length: number;
}

/**
 * A small NBD server for tests: fixed newstyle, structured replies, the contexts base:allocation
 * (id 1, zero runs reported as holes) and qemu:dirty-bitmap:b (id 2, from `dirty`), GO with
 * INFO_EXPORT and INFO_BLOCK_SIZE; READ answered with OFFSET_DATA / OFFSET_HOLE chunks (4 KiB
 * granularity), BLOCK_STATUS with one chunk per context. `hooks` replace parts to misbehave.
 */
export class MiniNbdServer {
  #input = Buffer.alloc(0);
  #phase: 'flags' | 'options' | 'transmission' | 'closed' = 'flags';
  #contexts: string[] = [];
  constructor(
    readonly image: Buffer,
    readonly dirty: Array<[number, number]>,
    readonly send: (data: Buffer) => void,
    readonly end: () => void,
    readonly hooks: { onRequest?: (request: ClientRequest, server: MiniNbdServer) => boolean } = {},
  ) {}

  start(): void {
    this.send(greeting());
  }

  receive(data: Buffer): void {
    this.#input = Buffer.concat([this.#input, data]);
    for (;;) {
      if (this.#phase === 'closed') return;
      if (this.#phase === 'flags') {
        if (this.#input.length < 4) return;
        this.#input = this.#input.subarray(4);
        this.#phase = 'options';
      } else if (this.#phase === 'options') {
        if (this.#input.length < 16) return;
        const option = this.#input.readUInt32BE(8);
        const length = this.#input.readUInt32BE(12);
        if (this.#input.length < 16 + length) return;
        const data = this.#input.subarray(16, 16 + length);
        this.#input = this.#input.subarray(16 + length);
        this.#option(option, data);
      } else {
        if (this.#input.length < 28) return;
        const h = this.#input;
        const request = { flags: h.readUInt16BE(4), type: h.readUInt16BE(6), cookie: h.readBigUInt64BE(8), offset: Number(h.readBigUInt64BE(16)), length: h.readUInt32BE(24) };
        this.#input = this.#input.subarray(28);
        this.#request(request);
      }
    }
  }

  #option(option: number, data: Buffer): void {
    if (option === 8) this.send(optionReply(8, 1));
    else if (option === 10 || option === 9) {
      const nameLength = data.readUInt32BE(0);
      let at = 4 + nameLength;
      const count = data.readUInt32BE(at);
      at += 4;
      const replies: Buffer[] = [];
      for (let i = 0; i < count; i++) {
        const n = data.readUInt32BE(at);
        const name = data.subarray(at + 4, at + 4 + n).toString();
        at += 4 + n;
        const id = name === 'base:allocation' ? 1 : name === 'qemu:dirty-bitmap:b' ? 2 : 0;
        if (id === 0) continue;
        if (option === 10) this.#contexts.push(name);
        replies.push(optionReply(option, 4, Buffer.concat([u32(option === 10 ? id : 0), Buffer.from(name)])));
      }
      this.send(Buffer.concat([...replies, optionReply(option, 1)]));
    } else if (option === 7) {
      const nameLength = data.readUInt32BE(0);
      const name = data.subarray(4, 4 + nameLength).toString();
      if (name !== 'vm') {
        this.send(optionReply(7, 0x80000006, Buffer.from(`export '${name}' not present`)));
        return;
      }
      this.send(
        Buffer.concat([
          optionReply(7, 3, infoExport(this.image.length, 1 | 2 | 4)),
          optionReply(7, 3, Buffer.concat([u16(3), u32(1), u32(4096), u32(32 * 1024 * 1024)])),
          optionReply(7, 1),
        ]),
      );
      this.#phase = 'transmission';
    } else if (option === 2) {
      this.send(optionReply(2, 1));
      this.#close();
    } else this.send(optionReply(option, 0x80000001));
  }

  #close(): void {
    this.#phase = 'closed';
    this.end();
  }

  #request(request: ClientRequest): void {
    if (this.hooks.onRequest?.(request, this)) return;
    const { type, cookie, offset, length } = request;
    if (type === 2) return this.#close();
    if (type === 3) return this.send(simpleReply(0, cookie));
    if (offset + length > this.image.length) {
      const message = Buffer.from('past EOF');
      return this.send(chunk(1, 0x8001, cookie, Buffer.concat([u32(22), u16(message.length), message])));
    }
    if (type === 0) {
      const parts: Buffer[] = [];
      for (let at = offset; at < offset + length; ) {
        const end = Math.min(offset + length, (Math.floor(at / 4096) + 1) * 4096);
        const slice = this.image.subarray(at, end);
        if (slice.every((b) => b === 0)) parts.push(chunk(0, 2, cookie, Buffer.concat([u64(at), u32(end - at)])));
        else parts.push(chunk(0, 1, cookie, Buffer.concat([u64(at), slice])));
        at = end;
      }
      parts.push(chunk(1, 0, cookie, Buffer.alloc(0)));
      return this.send(Buffer.concat(parts));
    }
    if (type === 7) {
      const parts: Buffer[] = [];
      for (const name of this.#contexts) {
        const extents = name === 'base:allocation' ? this.allocation(offset, length) : this.dirtyExtents(offset, length);
        parts.push(chunk(0, 5, cookie, Buffer.concat([u32(name === 'base:allocation' ? 1 : 2), ...extents.flatMap(([n, f]) => [u32(n), u32(f)])])));
      }
      parts.push(chunk(1, 0, cookie, Buffer.alloc(0)));
      return this.send(Buffer.concat(parts));
    }
    this.send(simpleReply(22, cookie));
  }

  /** base:allocation extents in 4 KiB steps: all-zero blocks are holes (3). */
  allocation(offset: number, length: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let at = offset; at < offset + length; ) {
      const end = Math.min(offset + length, (Math.floor(at / 4096) + 1) * 4096);
      const flags = this.image.subarray(at, end).every((b) => b === 0) ? 3 : 0;
      const last = out[out.length - 1];
      if (last && last[1] === flags) last[0] += end - at;
      else out.push([end - at, flags]);
      at = end;
    }
    return out;
  }

  dirtyExtents(offset: number, length: number): Array<[number, number]> {
    const end = offset + length;
    const cuts = new Set([offset, end]);
    for (const [s, n] of this.dirty) for (const at of [s, s + n]) if (at > offset && at < end) cuts.add(at);
    const points = [...cuts].sort((a, b) => a - b);
    const out: Array<[number, number]> = [];
    for (let i = 0; i + 1 < points.length; i++) {
      const at = points[i]!;
      const flags = this.dirty.some(([s, n]) => at >= s && at < s + n) ? 1 : 0;
      const last = out[out.length - 1];
      if (last && last[1] === flags) last[0] += points[i + 1]! - at;
      else out.push([points[i + 1]! - at, flags]);
    }
    return out;
  }
}

/** A unix-socket server running `onConnection` per client; close() also destroys open sockets. */
export async function rawServer(dir: string, name: string, onConnection: (socket: Socket) => void): Promise<{ socketPath: string; close(): Promise<void> }> {
  const socketPath = join(dir, `${name}.sock`);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A unix-socket server speaking MiniNbdServer. */
export function miniServer(dir: string, name: string, image: Buffer, dirty: Array<[number, number]> = [], hooks: ConstructorParameters<typeof MiniNbdServer>[4] = {}): ReturnType<typeof rawServer> {
  return rawServer(dir, name, (socket) => {
    const server = new MiniNbdServer(image, dirty, (data) => socket.write(data), () => socket.end(), hooks);
    socket.on('data', (data: Buffer) => server.receive(data));
    server.start();
  });
}
