import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBovedaError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/error-codes.js';
import type { BlobInfo } from '../../src/storage/blob-store.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { runBlobStoreConformance } from '../../src/storage/testing/conformance.js';
import { FaultyStore } from '../../src/storage/testing/faulty-store.js';

runBlobStoreConformance('FaultyStore over MemoryStore, no rules', async () => ({
  store: new FaultyStore(new MemoryStore()),
  cleanup: async () => {},
}));

async function collect(items: AsyncIterable<BlobInfo>): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of items) keys.push(item.key);
  return keys.sort();
}

function injected(code: ErrorCode, key?: string): (error: unknown) => boolean {
  return (error: unknown) =>
    isBovedaError(error, code) &&
    error.message.includes('injected') &&
    error.details['injected'] === true &&
    (key === undefined || error.message.includes(key));
}

const bytes = (length: number): Uint8Array => new Uint8Array(length).fill(1);

describe('FaultyStore', () => {
  it('maps each fault kind to its error code', async () => {
    const kinds = [
      ['no-space', 'STORAGE_NO_SPACE'],
      ['read-only', 'STORAGE_READ_ONLY'],
      ['io', 'STORAGE_IO'],
      ['not-found', 'STORAGE_NOT_FOUND'],
    ] as const;
    for (const [kind, code] of kinds) {
      const store = new FaultyStore(new MemoryStore(), { rules: [{ op: 'get', error: kind }] });
      await assert.rejects(store.get('config'), injected(code, 'config'));
    }
  });

  it('fails a put without storing anything', async () => {
    const inner = new MemoryStore();
    const store = new FaultyStore(inner, { rules: [{ op: 'put', error: 'io' }] });
    await assert.rejects(store.put('packs/aa/1', bytes(3)), injected('STORAGE_IO', 'packs/aa/1'));
    assert.equal(await inner.stat('packs/aa/1'), undefined);
  });

  it('lets the first `after` matching calls through, then fires `times` times', async () => {
    const store = new FaultyStore(new MemoryStore());
    const counters = store.addRule({ op: 'put', after: 2, times: 2, error: 'no-space' });
    const outcomes: string[] = [];
    for (let index = 0; index < 6; index++) {
      try {
        await store.put(`k/${index}`, bytes(1));
        outcomes.push('ok');
      } catch (error) {
        assert.ok(isBovedaError(error, 'STORAGE_NO_SPACE'));
        outcomes.push('fail');
      }
    }
    assert.deepEqual(outcomes, ['ok', 'ok', 'fail', 'fail', 'ok', 'ok']);
    assert.equal(counters.matched, 6);
    assert.equal(counters.fired, 2);
    assert.equal(store.faultsInjected, 2);
    assert.deepEqual(await collect(store.list('k/')), ['k/0', 'k/1', 'k/4', 'k/5']);
  });

  it('matches only its operation and key prefix', async () => {
    const inner = new MemoryStore();
    await inner.put('packs/aa/1', bytes(1));
    await inner.put('index/1', bytes(1));
    const store = new FaultyStore(inner, { rules: [{ op: 'get', keyPrefix: 'packs/', error: 'io' }] });
    await assert.rejects(store.get('packs/aa/1'), injected('STORAGE_IO'));
    assert.equal((await store.get('index/1')).length, 1);
    assert.equal((await store.getRange('packs/aa/1', 0, 1)).length, 1);
    assert.deepEqual(await store.stat('packs/aa/1'), { key: 'packs/aa/1', size: 1 });
  });

  it('an "any" rule matches every operation, including list when iterated', async () => {
    const inner = new MemoryStore();
    await inner.put('config', bytes(2));
    const store = new FaultyStore(inner, { rules: [{ op: 'any', error: 'read-only' }] });
    await assert.rejects(store.put('x', bytes(1)), injected('STORAGE_READ_ONLY'));
    await assert.rejects(store.get('config'), injected('STORAGE_READ_ONLY'));
    await assert.rejects(store.getRange('config', 0, 1), injected('STORAGE_READ_ONLY'));
    await assert.rejects(store.stat('config'), injected('STORAGE_READ_ONLY'));
    await assert.rejects(store.delete('config'), injected('STORAGE_READ_ONLY'));
    await assert.rejects(store.sweepPartials(0), injected('STORAGE_READ_ONLY'));
    const listing = store.list('');
    await assert.rejects(collect(listing), injected('STORAGE_READ_ONLY'));
    assert.deepEqual(store.calls, { put: 1, get: 1, getRange: 1, stat: 1, list: 1, delete: 1, sweepPartials: 1 });
    assert.equal(await inner.stat('config').then((info) => info?.size), 2);
  });

  it('checks rules in order; clearRules removes them all', async () => {
    const store = new FaultyStore(new MemoryStore());
    const first = store.addRule({ op: 'put', times: 1, error: 'no-space' });
    const second = store.addRule({ op: 'put', error: 'io' });
    await assert.rejects(store.put('a', bytes(1)), injected('STORAGE_NO_SPACE'));
    await assert.rejects(store.put('a', bytes(1)), injected('STORAGE_IO'));
    assert.deepEqual([first.fired, second.matched, second.fired], [1, 1, 1]);
    store.clearRules();
    await store.put('a', bytes(1));
    assert.equal(store.calls.put, 3);
    store.resetCounters();
    assert.equal(store.calls.put, 0);
    assert.equal(store.faultsInjected, 0);
  });

  it('fires probabilistic rules reproducibly from the seed', async () => {
    const run = async (seed: number): Promise<string> => {
      const store = new FaultyStore(new MemoryStore(), { seed, rules: [{ op: 'stat', probability: 0.5, error: 'io' }] });
      let pattern = '';
      for (let index = 0; index < 64; index++) {
        pattern += await store.stat('x').then(
          () => '.',
          () => 'x',
        );
      }
      return pattern;
    };
    const first = await run(7);
    assert.equal(await run(7), first);
    assert.notEqual(await run(8), first);
    const failures = [...first].filter((c) => c === 'x').length;
    assert.ok(failures > 10 && failures < 54, `about half fail: ${first}`);
    const never = new FaultyStore(new MemoryStore(), { rules: [{ op: 'stat', probability: 0, error: 'io' }] });
    for (let index = 0; index < 20; index++) assert.equal(await never.stat('x'), undefined);
  });

  it('failPutAfterBytes simulates a full disk: the put that would overflow fails and leaves nothing visible', async () => {
    const inner = new MemoryStore();
    const store = new FaultyStore(inner);
    store.failPutAfterBytes(100);
    await store.put('packs/1', bytes(60));
    await store.put('packs/2', bytes(40));
    await assert.rejects(store.put('packs/3', bytes(1)), injected('STORAGE_NO_SPACE', 'packs/3'));
    assert.equal(await inner.stat('packs/3'), undefined);
    assert.deepEqual(await collect(store.list('')), ['packs/1', 'packs/2']);
    await store.put('packs/empty', bytes(0));
    // Deleting through the wrapper frees space, as on a real disk.
    await store.delete('packs/1');
    await store.put('packs/3', bytes(60));
    await assert.rejects(store.put('packs/4', bytes(1)), injected('STORAGE_NO_SPACE'));
    store.failPutAfterBytes(undefined);
    await store.put('packs/4', bytes(1000));
    assert.equal(store.faultsInjected, 2);
  });

  it('failPutAfterBytes does not let concurrent puts overshoot, and a failed put frees its reservation', async () => {
    const inner = new MemoryStore();
    await inner.put('existing', bytes(1));
    const store = new FaultyStore(inner);
    store.failPutAfterBytes(50);
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, index) => store.put(`p/${index}`, bytes(10))));
    assert.equal(results.filter((result) => result.status === 'fulfilled').length, 5);
    assert.equal((await collect(store.list('p/'))).length, 5);
    store.failPutAfterBytes(10);
    await assert.rejects(store.put('existing', bytes(10)), (error: unknown) => isBovedaError(error, 'STORAGE_EXISTS'));
    await store.put('fits', bytes(10));
  });

  it('reports ABORTED for a cancelled call rather than a fault', async () => {
    const store = new FaultyStore(new MemoryStore(), { rules: [{ op: 'any', error: 'io' }] });
    await assert.rejects(store.get('x', { signal: AbortSignal.abort() }), (error: unknown) => isBovedaError(error, 'ABORTED'));
  });

  it('rejects malformed rules with INVALID_ARGUMENT', () => {
    const store = new FaultyStore(new MemoryStore());
    for (const rule of [
      { op: 'put', after: -1, error: 'io' },
      { op: 'put', times: 1.5, error: 'io' },
      { op: 'put', probability: 2, error: 'io' },
      { op: 'open', error: 'io' },
      { op: 'put', error: 'explode' },
    ]) {
      assert.throws(
        () => store.addRule(rule as never),
        (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'),
      );
    }
    assert.throws(() => store.failPutAfterBytes(-1), (error: unknown) => isBovedaError(error, 'INVALID_ARGUMENT'));
  });
});
