// QMP client robustness against fake servers on unix sockets: truncated greetings and replies,
// garbage, oversized lines, unknown ids, out-of-order replies.
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { isBovedaError } from '../../src/core/errors.js';
import { QmpClient } from '../../src/sources/qemu/qmp/index.js';
import { LineDecoder } from '../../src/sources/qemu/qmp/line-decoder.js';
import { fakeUnixServer, greeting, onLines, rejectsWith } from './qemu/fake-peer.js';

interface Request {
  execute: string;
  id: string;
  arguments?: Record<string, unknown>;
}

/** A fake QMP server: greeting, capabilities, then `respond` for every other request. */
async function withQmpServer(
  respond: (request: Request, socket: Socket) => void,
  body: (path: string) => Promise<void>,
  options: { greet?: (socket: Socket) => void } = {},
): Promise<void> {
  const fake = await fakeUnixServer((socket) => {
    (options.greet ?? ((s: Socket) => s.write(greeting)))(socket);
    onLines(socket, (line) => {
      const request = JSON.parse(line) as Request;
      if (request.execute === 'qmp_capabilities') socket.write(`{"return": {}, "id": ${JSON.stringify(request.id)}}\r\n`);
      else respond(request, socket);
    });
  });
  try {
    await body(fake.path);
  } finally {
    await fake.close();
  }
}

describe('QmpClient against fake servers', () => {
  it('a server that closes mid-greeting: QEMU_UNREACHABLE', async () => {
    await withQmpServer(
      () => undefined,
      async (path) => {
        await rejectsWith(QmpClient.connect(path, { timeoutMs: 2_000 }), 'QEMU_UNREACHABLE', /before the QMP greeting/);
      },
      { greet: (socket) => socket.end('{"QMP": {"version": {"qemu"') },
    );
  });

  it('a server that closes mid-reply: every pending command fails with QEMU_UNREACHABLE', async () => {
    await withQmpServer(
      (request, socket) => {
        if (request.execute === 'query-block') socket.end(`{"return": [{"device": "", "inserted": {"node-na`);
      },
      async (path) => {
        const qmp = await QmpClient.connect(path);
        const status = qmp.queryStatus();
        const block = qmp.queryBlock();
        await rejectsWith(status, 'QEMU_UNREACHABLE', /query-status/);
        await rejectsWith(block, 'QEMU_UNREACHABLE', /query-block/);
        assert.equal(qmp.closed, true);
      },
    );
  });

  for (const [name, line] of [
    ['garbage', 'garbage!!\r\n'],
    ['a JSON array', '[1, 2, 3]\n'],
    ['a JSON string', '"hello"\n'],
    ['a reply without id', '{"return": {}}\n'],
    ['a reply to an id never sent', '{"return": {}, "id": "boveda-999"}\n'],
    ['a numeric id', '{"return": {}, "id": 2}\n'],
    ['a malformed error body', '{"error": "bad", "id": "boveda-2"}\n'],
    ['an event without a name', '{"event": 5, "data": {}}\n'],
    ['an event with non-object data', '{"event": "STOP", "data": [1]}\n'],
    ['a message that is neither', '{"hello": "world"}\n'],
    ['a second greeting', greeting],
  ] as const) {
    it(`${name} after the handshake: QEMU_PROTOCOL, the connection is dropped`, async () => {
      await withQmpServer(
        (_request, socket) => socket.write(line),
        async (path) => {
          const qmp = await QmpClient.connect(path);
          await rejectsWith(qmp.queryStatus(), 'QEMU_PROTOCOL', /connection was dropped|not JSON|not an object/);
          assert.equal(qmp.closed, true);
          await rejectsWith(qmp.queryStatus(), 'QEMU_PROTOCOL');
        },
      );
    });
  }

  it('a return before the greeting/capabilities: QEMU_PROTOCOL', async () => {
    await withQmpServer(
      () => undefined,
      async (path) => {
        await rejectsWith(QmpClient.connect(path), 'QEMU_PROTOCOL', /did not start with a QMP greeting/);
      },
      { greet: (socket) => socket.write('{"return": {}}\n') },
    );
    await withQmpServer(
      () => undefined,
      async (path) => {
        await rejectsWith(QmpClient.connect(path), 'QEMU_PROTOCOL', /without a command id/);
      },
      { greet: (socket) => socket.write(`${greeting}{"return": {}}\n`) },
    );
    await withQmpServer(
      () => undefined,
      async (path) => {
        await rejectsWith(QmpClient.connect(path), 'QEMU_PROTOCOL', /without a version/);
      },
      { greet: (socket) => socket.write('{"QMP": {"version": {}, "capabilities": []}}\n') },
    );
  });

  it('a server that never greets: QEMU_TIMEOUT; a refused capabilities negotiation: QMP_COMMAND_FAILED', async () => {
    await withQmpServer(
      () => undefined,
      async (path) => {
        await rejectsWith(QmpClient.connect(path, { timeoutMs: 100 }), 'QEMU_TIMEOUT', /greeting/);
      },
      { greet: () => undefined },
    );
    const fake = await fakeUnixServer((socket) => {
      socket.write(greeting);
      onLines(socket, (line) => {
        const { id } = JSON.parse(line) as Request;
        socket.write(`{"id": "${id}", "error": {"class": "GenericError", "desc": "no"}}\n`);
      });
    });
    try {
      await rejectsWith(QmpClient.connect(fake.path), 'QMP_COMMAND_FAILED', /qmp_capabilities failed \(GenericError\): no/);
    } finally {
      await fake.close();
    }
  });

  it('a 100 MiB line without a newline: QEMU_PROTOCOL quickly, without buffering it', async () => {
    let sent = 0;
    let stopped = false;
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    await withQmpServer(
      (_request, socket) => {
        socket.write('{"return": "');
        const pump = (): void => {
          while (!stopped && sent < 100 * 1024 * 1024) {
            sent += chunk.length;
            if (!socket.write(chunk)) {
              socket.once('drain', pump);
              return;
            }
          }
        };
        socket.on('close', () => {
          stopped = true;
        });
        socket.on('error', () => {
          stopped = true;
        });
        pump();
      },
      async (path) => {
        const qmp = await QmpClient.connect(path);
        const started = Date.now();
        await rejectsWith(qmp.queryStatus(), 'QEMU_PROTOCOL', /longer than 16777216 bytes/);
        const elapsed = Date.now() - started;
        assert.ok(elapsed < 5_000, `${elapsed} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.ok(sent < 100 * 1024 * 1024, `the server could push only ${sent} bytes before the client hung up`);
      },
    );
  });

  it('the decoder never holds more than its bound', () => {
    const decoder = new LineDecoder('test', { maxLineBytes: 1000 });
    const lines: string[] = [];
    decoder.push(Buffer.from('ab'), (line) => lines.push(line));
    decoder.push(Buffer.from('c\nde\n\nf'), (line) => lines.push(line));
    assert.deepEqual(lines, ['abc', 'de', '']);
    assert.equal(decoder.bufferedBytes, 1);
    decoder.push(Buffer.alloc(999, 0x61), () => undefined);
    assert.equal(decoder.bufferedBytes, 1000);
    assert.throws(
      () => decoder.push(Buffer.from('x'), () => undefined),
      (error: unknown) => isBovedaError(error, 'QEMU_PROTOCOL'),
    );
    assert.equal(decoder.bufferedBytes, 0);
    const marked = new LineDecoder('qga', { markers: true });
    const seen: string[] = [];
    marked.push(Buffer.from('noise{"ret\xff{"return": 1}\n', 'latin1'), (line) => seen.push(line), () => seen.push('<FF>'));
    assert.deepEqual(seen, ['<FF>', '{"return": 1}']);
  });

  it('replies out of order, several messages per chunk and byte-by-byte: matched by id', async () => {
    const held: Request[] = [];
    await withQmpServer(
      (request, socket) => {
        held.push(request);
        if (held.length < 3) return;
        const replies = held
          .reverse()
          .map((entry) => `{"return": ${JSON.stringify(entry.arguments?.n ?? null)}, "id": "${entry.id}"}\r\n`)
          .join('{"event": "X", "data": {"n": 1}, "timestamp": {"seconds": 1, "microseconds": 2}}\r\n');
        // first reply byte by byte, the rest in one chunk
        const [first, ...rest] = replies.split(/(?<=\n)/);
        let i = 0;
        const drip = (): void => {
          if (i < first!.length) {
            socket.write(first![i++]!);
            setImmediate(drip);
          } else socket.write(rest.join(''));
        };
        drip();
      },
      async (path) => {
        const qmp = await QmpClient.connect(path);
        const events: unknown[] = [];
        qmp.on('X', (event) => events.push(event.data));
        const results = await Promise.all([1, 2, 3].map((n) => qmp.execute('echo', { n })));
        assert.deepEqual(results, [1, 2, 3]);
        assert.deepEqual(events, [{ n: 1 }, { n: 1 }]);
        qmp.close();
      },
    );
  });

  it('a late reply to a timed-out command is ignored; the connection stays usable', async () => {
    await withQmpServer(
      (request, socket) => {
        const delay = request.execute === 'slow' ? 150 : 0;
        setTimeout(() => socket.write(`{"return": "${request.execute}", "id": "${request.id}"}\n`), delay);
      },
      async (path) => {
        const qmp = await QmpClient.connect(path);
        await rejectsWith(qmp.execute('slow', undefined, { timeoutMs: 30 }), 'QEMU_TIMEOUT', /no reply to slow within 30 ms/);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(await qmp.execute('fast'), 'fast');
        assert.equal(qmp.closed, false);
        qmp.close();
      },
    );
  });

  it('an event that arrives before the command reply reaches a wait armed before the command', async () => {
    await withQmpServer(
      (request, socket) =>
        socket.write(`{"event": "BLOCK_EXPORT_DELETED", "data": {"id": "e1"}}\n{"return": {}, "id": "${request.id}"}\n`),
      async (path) => {
        const qmp = await QmpClient.connect(path);
        await qmp.blockExportDel('e1', { timeoutMs: 1_000 });
        await rejectsWith(qmp.blockExportDel('other', { timeoutMs: 100 }), 'QEMU_TIMEOUT', /BLOCK_EXPORT_DELETED/);
        qmp.close();
      },
    );
  });
});
