import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BovedaError } from '../../src/core/index.js';
import { Paths } from '../../src/format/index.js';
import { LOCK_STALE_AFTER_MS, VaultLock, clearLocks, isStale, type LockRecord } from '../../src/repository/vault-lock.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { LocalStore } from '../../src/storage/local/local-store.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { ManualClock } from '../../src/util/clock.js';
import { code, listKeys } from './helpers.js';

const NOW = '2030-06-01T12:00:00.000Z';

/** A pid that no process has: spawn a node that exits at once and wait for it. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  assert.ok(child.pid);
  return child.pid;
}

async function writeLock(store: BlobStore, name: string, record: Partial<LockRecord> & { mode?: string }): Promise<string> {
  const { exclusive, ...rest } = record;
  const full = {
    host: hostname(), pid: process.pid, purpose: 'a test holder', createdAt: NOW, refreshedAt: NOW,
    mode: exclusive ? 'exclusive' : 'shared', ...rest,
  };
  const key = `${Paths.locks}${name}`;
  await store.put(key, new TextEncoder().encode(JSON.stringify(full)));
  return key;
}

const shared = { exclusive: false, purpose: 'a restore' };
const exclusive = { exclusive: true, purpose: 'a garbage collection' };

describe('VaultLock', () => {
  it('lets shared locks coexist', async () => {
    const store = new MemoryStore();
    const a = await VaultLock.acquire(store, shared);
    const b = await VaultLock.acquire(store, { exclusive: false, purpose: 'a backup' });
    assert.equal(a.exclusive, false);
    assert.equal((await listKeys(store, Paths.locks)).length, 2);
    await a.release();
    await b.release();
    assert.deepEqual(await listKeys(store, Paths.locks), []);
  });

  it('an exclusive lock excludes shared ones and the other way round, naming purpose and pid', async () => {
    const store = new MemoryStore();
    const reader = await VaultLock.acquire(store, { exclusive: false, purpose: 'a restore of vm-7' });
    await assert.rejects(VaultLock.acquire(store, exclusive), code('VAULT_LOCKED', 'a restore of vm-7', `pid ${process.pid}`, hostname(), 'a garbage collection needs an exclusive lock'));
    assert.equal((await listKeys(store, Paths.locks)).length, 1, 'the refused lock left no object');
    await reader.release();

    const gc = await VaultLock.acquire(store, exclusive);
    assert.equal(gc.exclusive, true);
    await assert.rejects(VaultLock.acquire(store, shared), code('VAULT_LOCKED', 'exclusively by a garbage collection', `pid ${process.pid}`, 'a restore needs a shared lock'));
    await assert.rejects(VaultLock.acquire(store, exclusive), code('VAULT_LOCKED'));
    await gc.release();
    const after = await VaultLock.acquire(store, shared);
    await after.release();
    assert.deepEqual(await listKeys(store, Paths.locks), []);
  });

  it('waits for a conflicting lock up to waitMs', async () => {
    const store = new MemoryStore();
    const gc = await VaultLock.acquire(store, exclusive);
    setTimeout(() => void gc.release(), 100);
    const started = Date.now();
    const lock = await VaultLock.acquire(store, { ...shared, waitMs: 5000 });
    assert.ok(Date.now() - started >= 90);
    await lock.release();

    const holder = await VaultLock.acquire(store, exclusive);
    const startedToo = Date.now();
    await assert.rejects(VaultLock.acquire(store, { ...shared, waitMs: 150 }), code('VAULT_LOCKED'));
    assert.ok(Date.now() - startedToo >= 140);
    await holder.release();
  });

  it('stops waiting when aborted', async () => {
    const store = new MemoryStore();
    const holder = await VaultLock.acquire(store, exclusive);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(VaultLock.acquire(store, { ...shared, waitMs: 10_000, signal: controller.signal }));
    await holder.release();
  });

  it('clears a lock of a dead process on this host as stale and tells onStaleLock', async () => {
    for (const pid of [await deadPid(), 2 ** 22 + 12345]) {
      const store = new MemoryStore();
      const key = await writeLock(store, 'dead', { pid, exclusive: true, purpose: 'a crashed gc' });
      const told: Array<{ record: LockRecord; key: string }> = [];
      const lock = await VaultLock.acquire(store, { ...shared, onStaleLock: (record, staleKey) => told.push({ record, key: staleKey }) });
      assert.equal(told.length, 1, `pid ${pid}`);
      assert.equal(told[0]!.key, key);
      assert.equal(told[0]!.record.pid, pid);
      assert.equal(told[0]!.record.purpose, 'a crashed gc');
      assert.equal(told[0]!.record.exclusive, true);
      const keys = await listKeys(store, Paths.locks);
      assert.ok(!keys.includes(key), 'the stale lock object is gone');
      assert.equal(keys.length, 1);
      await lock.release();
    }
  });

  it('treats a live pid on this host whose start time differs as a reused pid (stale)', async () => {
    const store = new MemoryStore();
    await writeLock(store, 'reused', { pid: process.pid, processStart: 1, exclusive: true });
    const told: string[] = [];
    const lock = await VaultLock.acquire(store, { ...shared, onStaleLock: (_record, key) => told.push(key) });
    assert.deepEqual(told, [`${Paths.locks}reused`]);
    await lock.release();
  });

  it('judges locks of other hosts by refreshedAt: 31 minutes old is stale, 5 minutes is not', async () => {
    const clock = new ManualClock(NOW);
    const minutesAgo = (minutes: number) => new Date(Date.parse(NOW) - minutes * 60_000).toISOString();
    const other = { host: 'another-host.example', pid: 4242, processStart: null, scope: null };

    const fresh: LockRecord = { ...other, exclusive: true, purpose: 'a gc elsewhere', createdAt: minutesAgo(60), refreshedAt: minutesAgo(5) };
    const old: LockRecord = { ...fresh, refreshedAt: minutesAgo(31) };
    assert.equal(isStale(fresh, clock), false);
    assert.equal(isStale(old, clock), true);
    assert.equal(isStale({ ...fresh, refreshedAt: new Date(Date.parse(NOW) - LOCK_STALE_AFTER_MS).toISOString() }, clock), false, 'exactly 30 minutes is not yet stale');

    const store = new MemoryStore();
    await writeLock(store, 'fresh', { ...fresh });
    await assert.rejects(VaultLock.acquire(store, shared, clock), code('VAULT_LOCKED', 'a gc elsewhere', 'pid 4242 on another-host.example'));
    clock.advance(26 * 60_000); // now 31 minutes since its last refresh
    const told: string[] = [];
    const lock = await VaultLock.acquire(store, { ...shared, onStaleLock: (record) => told.push(record.host) }, clock);
    assert.deepEqual(told, ['another-host.example']);
    await lock.release();
  });

  it('removes stale locks whatever their mode, and leaves live shared ones alone', async () => {
    const store = new MemoryStore();
    const deadReader = await writeLock(store, 'dead-reader', { pid: 2 ** 22 + 12345, exclusive: false });
    const liveReader = await writeLock(store, 'live-reader', { exclusive: false, processStart: null });
    const told: string[] = [];
    const lock = await VaultLock.acquire(store, { ...shared, onStaleLock: (_record, key) => told.push(key) });
    assert.deepEqual(told, [deadReader], 'a stale shared lock is cleared even by a shared request');
    const keys = await listKeys(store, Paths.locks);
    assert.ok(keys.includes(liveReader) && !keys.includes(deadReader));
    await lock.release();
  });

  it('reads a lock whose holder could not tell its start time ("processStart": null, no /proc)', async () => {
    const store = new MemoryStore();
    // Another host without /proc, refreshed a minute ago: a live shared holder, not an unreadable object.
    const remote = await writeLock(store, 'remote-reader', { host: 'mac-mini.example', pid: 321, processStart: null, exclusive: false, purpose: 'a restore on a mac' });
    const clock = new ManualClock(Date.parse(NOW) + 60_000);
    const reader = await VaultLock.acquire(store, shared, clock);
    await reader.release();
    await assert.rejects(VaultLock.acquire(store, exclusive, clock), code('VAULT_LOCKED', 'a restore on a mac', 'pid 321 on mac-mini.example'));
    const listed = await clearLocks(store, false, clock);
    assert.deepEqual(listed.map((entry) => [entry.key, entry.record?.processStart, entry.removed]), [[remote, null, false]]);
    // This host, dead pid, null start time: stale.
    await writeLock(store, 'local-dead', { pid: 2 ** 22 + 12345, processStart: null, exclusive: true });
    const told: string[] = [];
    const again = await VaultLock.acquire(store, { ...shared, onStaleLock: (_record, key) => told.push(key) }, clock);
    assert.deepEqual(told, [`${Paths.locks}local-dead`]);
    await again.release();
  });

  it('counts an unreadable lock object as held', async () => {
    const store = new MemoryStore();
    await store.put(`${Paths.locks}garbage`, new TextEncoder().encode('{not json'));
    await assert.rejects(VaultLock.acquire(store, shared), code('VAULT_LOCKED', `unreadable lock object ${Paths.locks}garbage`));
  });

  it('release is idempotent and refresh replaces the lock object', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(NOW);
    const lock = await VaultLock.acquire(store, shared, clock);
    const [first] = await listKeys(store, Paths.locks);
    clock.advance(5 * 60_000);
    await lock.refresh();
    const keys = await listKeys(store, Paths.locks);
    assert.equal(keys.length, 1);
    assert.notEqual(keys[0], first);
    const record = JSON.parse(new TextDecoder().decode(await store.get(keys[0]!))) as Record<string, unknown>;
    assert.equal(record.refreshedAt, new Date(Date.parse(NOW) + 5 * 60_000).toISOString());
    assert.equal(record.createdAt, NOW);
    assert.equal(record.mode, 'shared');
    await lock.release();
    await lock.release();
    await lock.refresh();
    assert.deepEqual(await listKeys(store, Paths.locks), []);
  });

  it('clearLocks removes only stale locks, or all with force (LocalStore)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'boveda-locks-'));
    try {
      const store = new LocalStore(root);
      const clock = new ManualClock(NOW);
      const live = await VaultLock.acquire(store, shared, clock);
      const deadKey = await writeLock(store, 'dead', { pid: 2 ** 22 + 12345, exclusive: true });
      const otherKey = await writeLock(store, 'other', { host: 'elsewhere', pid: 1, refreshedAt: new Date(Date.parse(NOW) - 40 * 60_000).toISOString() });
      await store.put(`${Paths.locks}unreadable`, new TextEncoder().encode('?'));

      const gentle = await clearLocks(store, false, clock);
      const byKey = new Map(gentle.map((entry) => [entry.key, entry]));
      assert.equal(byKey.get(deadKey)?.removed, true);
      assert.equal(byKey.get(otherKey)?.removed, true);
      assert.equal(byKey.get(`${Paths.locks}unreadable`)?.removed, false);
      assert.equal(byKey.get(`${Paths.locks}unreadable`)?.record, null);
      const liveEntries = gentle.filter((entry) => entry.record?.pid === process.pid);
      assert.equal(liveEntries.length, 1);
      assert.equal(liveEntries[0]!.removed, false);
      assert.equal((await listKeys(store, Paths.locks)).length, 2);

      const forced = await clearLocks(store, true, clock);
      assert.equal(forced.length, 2);
      assert.ok(forced.every((entry) => entry.removed));
      assert.deepEqual(await listKeys(store, Paths.locks), []);
      await live.release(); // its object is already gone: still fine
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('scoped locks', () => {
  it('lets backups of different VMs run together and refuses a second backup of the same VM, naming it', async () => {
    const store = new MemoryStore();
    const web = await VaultLock.acquire(store, { exclusive: false, purpose: 'a backup of web', scope: 'VM "web"' });
    const db = await VaultLock.acquire(store, { exclusive: false, purpose: 'a backup of db', scope: 'VM "db"' });
    const unscoped = await VaultLock.acquire(store, { exclusive: false, purpose: 'a verify' });
    await assert.rejects(
      VaultLock.acquire(store, { exclusive: false, purpose: 'another backup of web', scope: 'VM "web"' }),
      (error: unknown) => error instanceof BovedaError && error.code === 'VAULT_LOCKED' && error.details.scope === 'VM "web"' && /VM "web" is busy: a backup of web is running/.test(error.message),
    );
    await web.release();
    const again = await VaultLock.acquire(store, { exclusive: false, purpose: 'another backup of web', scope: 'VM "web"' });
    await Promise.all([again.release(), db.release(), unscoped.release()]);
  });
});
