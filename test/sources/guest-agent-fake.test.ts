// Guest-agent client robustness against fake agents on unix sockets.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { GuestAgentClient } from '../../src/sources/qemu/qmp/index.js';
import { fakeUnixServer, onLines, rejectsWith } from './qemu/fake-peer.js';

interface Request {
  execute: string;
  id?: string;
  arguments?: { id?: number };
}

async function withAgent(respond: (request: Request, socket: Socket) => void, body: (path: string) => Promise<void>): Promise<void> {
  const fake = await fakeUnixServer((socket) => onLines(socket, (line) => respond(JSON.parse(line) as Request, socket)));
  try {
    await body(fake.path);
  } finally {
    await fake.close();
  }
}

const syncReply = (request: Request): Buffer =>
  Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${request.arguments?.id ?? 0}}\n`)]);

describe('GuestAgentClient against fake agents', () => {
  it('discards noise, stale replies and a partial line before the delimited sync reply', async () => {
    await withAgent(
      (request, socket) => {
        if (request.execute === 'guest-sync-delimited') {
          socket.write('{"return": {}, "id": "stale"}\n{"return": 12345}\nnot json at all\n{"retu');
          socket.write(syncReply(request));
          socket.write('{"return": 999}\n'); // a stray line after our sync reply
        } else {
          socket.write(`{"return": {}, "id": "old"}\n{"return": "thawed", "id": "${request.id}"}\n`);
        }
      },
      async (path) => {
        const qga = await GuestAgentClient.connect(path, { timeoutMs: 1_000 });
        await qga.sync();
        // the stray {"return": 999} arrived while no call was waiting: the client marks itself out of step
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(await qga.fsfreezeStatus(), 'thawed');
        qga.close();
      },
    );
  });

  it('after the sync, a line that is not JSON: QEMU_PROTOCOL, the connection is dropped', async () => {
    await withAgent(
      (request, socket) => socket.write(request.execute === 'guest-sync-delimited' ? syncReply(request) : 'garbage\n'),
      async (path) => {
        const qga = await GuestAgentClient.connect(path);
        await rejectsWith(qga.ping(), 'QEMU_PROTOCOL', /not JSON/);
        assert.equal(qga.closed, true);
        await rejectsWith(qga.ping(), 'QEMU_PROTOCOL');
      },
    );
  });

  it('an agent that closes mid-reply: QEMU_UNREACHABLE naming the command', async () => {
    await withAgent(
      (request, socket) => {
        if (request.execute === 'guest-sync-delimited') socket.write(syncReply(request));
        else socket.end('{"return": {"pi');
      },
      async (path) => {
        const qga = await GuestAgentClient.connect(path);
        await rejectsWith(qga.exec('/bin/true'), 'QEMU_UNREACHABLE', /guest-exec/);
      },
    );
  });

  it('an oversized line: QEMU_PROTOCOL, bounded', async () => {
    await withAgent(
      (request, socket) => {
        if (request.execute === 'guest-sync-delimited') socket.write(syncReply(request));
        else socket.write(Buffer.alloc(64 * 1024, 0x61));
      },
      async (path) => {
        const qga = await GuestAgentClient.connect(path, { maxLineBytes: 4096 });
        await rejectsWith(qga.info(), 'QEMU_PROTOCOL', /longer than 4096 bytes/);
      },
    );
  });

  it('a timed-out command: the next call resyncs and its late reply is discarded', async () => {
    let syncs = 0;
    await withAgent(
      (request, socket) => {
        if (request.execute === 'guest-sync-delimited') {
          syncs++;
          socket.write(syncReply(request));
        } else if (request.execute === 'guest-exec') {
          setTimeout(() => socket.write(`{"return": {"pid": 1}, "id": "${request.id}"}\n`), 100);
        } else {
          socket.write(`{"return": {}, "id": "${request.id}"}\n`);
        }
      },
      async (path) => {
        const qga = await GuestAgentClient.connect(path);
        await rejectsWith(qga.exec('/bin/true', [], { timeoutMs: 30 }), 'QEMU_TIMEOUT', /guest-exec within/);
        await new Promise((resolve) => setTimeout(resolve, 150));
        await qga.ping();
        assert.equal(syncs, 2);
        qga.close();
      },
    );
  });
});
