// Seeded fuzzing of the QMP and guest-agent clients: valid server transcripts, mutated and cut
// into random pieces. Every call must end with a result or a BovedaError of a known code:
// never a hang, a crash or an untyped exception.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BovedaError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/error-codes.js';
import { GuestAgentClient, QmpClient } from '../../src/sources/qemu/qmp/index.js';
import { SeededRandom } from '../../src/util/seeded-random.js';
import { deliverInPieces, FakePeer, greeting, mutate } from './qemu/fake-peer.js';

const allowed = new Set<ErrorCode>(['QEMU_UNREACHABLE', 'QEMU_PROTOCOL', 'QEMU_TIMEOUT', 'QMP_COMMAND_FAILED']);
const caseTimeoutMs = 150;

interface Outcome {
  fulfilled: number;
  codes: Map<string, number>;
}

function record(outcome: Outcome, results: PromiseSettledResult<unknown>[], label: string): void {
  for (const result of results) {
    if (result.status === 'fulfilled') {
      outcome.fulfilled++;
      continue;
    }
    const error: unknown = result.reason;
    assert.ok(error instanceof BovedaError, `${label}: untyped rejection ${String(error)}`);
    assert.ok(allowed.has(error.code), `${label}: unexpected code ${error.code}: ${error.message}`);
    outcome.codes.set(error.code, (outcome.codes.get(error.code) ?? 0) + 1);
  }
}

/** Runs `cases` cases, `parallel` at a time, each bounded by a watchdog. */
async function fuzz(cases: number, parallel: number, one: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases) {
      const index = next++;
      let watchdog: NodeJS.Timeout | undefined;
      const hang = new Promise<never>((_resolve, reject) => {
        watchdog = setTimeout(() => reject(new Error(`case ${index} hung`)), 5_000);
      });
      try {
        await Promise.race([one(index), hang]);
      } finally {
        clearTimeout(watchdog);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** The server's reply to one client request, before mutation. */
function qmpReply(request: { execute: string; id: string }): string {
  const id = JSON.stringify(request.id);
  switch (request.execute) {
    case 'qmp_capabilities':
      return `{"return": {}, "id": ${id}}\r\n`;
    case 'query-status':
      return `{"return": {"status": "paused", "singlestep": false, "running": false}, "id": ${id}}\r\n`;
    case 'stop':
      return `{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n{"return": {}, "id": ${id}}\r\n`;
    case 'query-named-block-nodes':
      return `{"return": [{"node-name": "disk0", "drv": "qcow2", "image": {"virtual-size": 65536}, "dirty-bitmaps": [{"name": "chk0", "recording": true, "persistent": true, "busy": false, "granularity": 65536, "count": 65536}]}], "id": ${id}}\r\n`;
    default:
      return `{"id": ${id}, "error": {"class": "CommandNotFound", "desc": "The command ${request.execute} has not been found"}}\r\n`;
  }
}

function qgaReply(request: { execute: string; id?: string; arguments?: { id?: number } }): Buffer {
  const id = request.id === undefined ? '' : `, "id": ${JSON.stringify(request.id)}`;
  switch (request.execute) {
    case 'guest-sync-delimited':
      return Buffer.concat([Buffer.from('{"error": {"class": "GenericError", "desc": "JSON parse error, stray"}}\n'), Buffer.from([0xff]), Buffer.from(`{"return": ${request.arguments?.id ?? 0}}\n`)]);
    case 'guest-ping':
      return Buffer.from(`{"return": {}${id}}\n`);
    case 'guest-fsfreeze-status':
      return Buffer.from(`{"return": "thawed"${id}}\n`);
    case 'guest-exec':
      return Buffer.from(`{"return": {"pid": 42}${id}}\n`);
    case 'guest-exec-status':
      return Buffer.from(`{"return": {"exited": true, "exitcode": 3, "out-data": "aGkK"}${id}}\n`);
    default:
      return Buffer.from(`{"error": {"class": "CommandNotFound", "desc": "The command ${request.execute} has not been found"}${id}}\n`);
  }
}

describe('seeded protocol fuzzing', () => {
  it('QMP: thousands of mutated transcripts end in a result or a typed error', async () => {
    const outcome: Outcome = { fulfilled: 0, codes: new Map() };
    const cases = 3000;
    const started = Date.now();
    await fuzz(cases, 64, async (index) => {
      const random = new SeededRandom(0x51a9 + index);
      const peer = new FakePeer();
      const mutateRate = random.next();
      const endAfter = random.int(8); // replies sent before the server hangs up (if it does)
      const hangsUp = random.next() < 0.9;
      let replies = 0;
      const serve = (data: Buffer): void => {
        const out = random.next() < mutateRate ? mutate(random, data) : data;
        const last = hangsUp && ++replies > endAfter;
        deliverInPieces(random, peer, out, last ? () => peer.end_() : undefined);
      };
      peer.onClientLine((line) => serve(Buffer.from(qmpReply(JSON.parse(line) as { execute: string; id: string }))));
      serve(Buffer.from(random.next() < 0.05 ? `${greeting.slice(0, -2)}${greeting}` : greeting));
      let qmp: QmpClient;
      try {
        qmp = await QmpClient.open(peer, {
          label: `fuzz case ${index}`,
          timeoutMs: caseTimeoutMs,
          commandTimeoutMs: caseTimeoutMs,
          maxLineBytes: 1024,
        });
      } catch (error) {
        record(outcome, [{ status: 'rejected', reason: error }], `case ${index} connect`);
        return;
      }
      try {
        const stopped = qmp.waitForEvent('STOP');
        const results = await Promise.allSettled([
          qmp.queryStatus(),
          qmp.stop(),
          stopped.promise,
          qmp.queryNodeDirtyBitmaps('disk0'),
          qmp.execute('nope'),
        ]);
        stopped.cancel();
        record(outcome, results.slice(0, 3).concat(results.slice(4)), `case ${index}`);
        const bitmaps = results[3]!;
        if (bitmaps.status === 'rejected') {
          const error: unknown = bitmaps.reason;
          assert.ok(error instanceof BovedaError && (allowed.has(error.code) || error.code === 'DISK_NOT_FOUND'), String(error));
        }
      } finally {
        qmp.close();
      }
    });
    const elapsed = Date.now() - started;
    console.log(`QMP fuzz: ${cases} cases in ${elapsed} ms; fulfilled ${outcome.fulfilled}; errors ${JSON.stringify([...outcome.codes])}`);
    assert.ok(outcome.fulfilled > 0 && outcome.codes.size >= 3, 'the fuzzer reaches both successes and several failure kinds');
  });

  it('guest agent: thousands of mutated transcripts end in a result or a typed error', async () => {
    const outcome: Outcome = { fulfilled: 0, codes: new Map() };
    const cases = 3000;
    const started = Date.now();
    await fuzz(cases, 64, async (index) => {
      const random = new SeededRandom(0x9a9a + index);
      const peer = new FakePeer();
      const mutateRate = random.next();
      const endAfter = random.int(10);
      const hangsUp = random.next() < 0.9;
      let replies = 0;
      peer.onClientLine((line) => {
        const data = qgaReply(JSON.parse(line) as { execute: string; id?: string });
        const out = random.next() < mutateRate ? mutate(random, data) : data;
        const last = hangsUp && ++replies > endAfter;
        deliverInPieces(random, peer, out, last ? () => peer.end_() : undefined);
      });
      const qga = GuestAgentClient.open(peer, { label: `fuzz case ${index}`, timeoutMs: caseTimeoutMs, maxLineBytes: 1024 });
      try {
        const results = await Promise.allSettled([
          qga.ping(),
          qga.fsfreezeStatus(),
          qga.run('/bin/true', [], { pollMs: 1, timeoutMs: caseTimeoutMs }),
          qga.execute('guest-nope'),
        ]);
        record(outcome, results, `case ${index}`);
        const run = results[2]!;
        if (run.status === 'fulfilled') {
          assert.ok(Buffer.isBuffer(run.value.stdout) && Buffer.isBuffer(run.value.stderr));
        }
      } finally {
        qga.close();
      }
    });
    const elapsed = Date.now() - started;
    console.log(`QGA fuzz: ${cases} cases in ${elapsed} ms; fulfilled ${outcome.fulfilled}; errors ${JSON.stringify([...outcome.codes])}`);
    assert.ok(outcome.fulfilled > 0 && outcome.codes.size >= 3, 'the fuzzer reaches both successes and several failure kinds');
  });
});
