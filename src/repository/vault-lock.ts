import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { BovedaError, isBovedaError } from '../core/index.js';
import { Paths, JsonFields, encodeJson } from '../format/index.js';
import type { BlobStore } from '../storage/index.js';
import { type Clock, systemClock } from '../util/index.js';

/**
 * Vault locks, kept as small objects under locks/ so they work on any BlobStore.
 *
 * | holder                                 | mode      |
 * |----------------------------------------|-----------|
 * | backup, restore, verify, key add/list  | shared    |
 * | gc, key remove                         | exclusive |
 *
 * Shared locks coexist; an exclusive lock excludes every other lock. To take a lock a process
 * writes its lock object, then lists the others: if a live conflicting one is there it removes
 * its own and backs off (so two racers may both back off, never both proceed). A lock is stale when
 * its process is gone (same host: the pid is dead or was reused, told by its start time) or when it
 * was not refreshed for `staleAfterMs` (other hosts); stale locks are removed by whoever meets them.
 * Holders refresh by writing a new object and deleting the old one (objects are never modified).
 */
export interface LockRecord {
  host: string;
  pid: number;
  /** Process start time in clock ticks since boot (Linux), to tell a reused pid from the holder. */
  processStart: number | null;
  exclusive: boolean;
  purpose: string;
  /** See LockOptions.scope; null for unscoped locks. */
  scope: string | null;
  createdAt: string;
  refreshedAt: string;
}

export interface LockOptions {
  exclusive: boolean;
  purpose: string;
  /** How long to keep retrying while a live conflicting lock is held; 0 fails at once. */
  waitMs?: number;
  signal?: AbortSignal;
  /** Told about each stale lock that was removed. */
  onStaleLock?: (record: LockRecord, key: string) => void;
  /**
   * The holder only reads (restore, verify, usage): on a store that refuses writes (read-only mount,
   * ReadOnlyStore) a shared lock is then granted without a lock object instead of failing.
   */
  readOnly?: boolean;
  /**
   * A shared lock with a scope (e.g. "vm:web") also excludes every other lock of the same scope:
   * two backups of one VM conflict, backups of different VMs do not.
   */
  scope?: string;
}

export const LOCK_REFRESH_MS = 5 * 60 * 1000;
export const LOCK_STALE_AFTER_MS = 30 * 60 * 1000;

function processStartOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) counted after the ")" that closes the command name, which may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

function isProcessAlive(pid: number, processStart: number | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (processStart === null) return true;
  const current = processStartOf(pid);
  return current === null || current === processStart;
}

function decodeLock(bytes: Uint8Array, key: string): LockRecord {
  const fields = JsonFields.parse(bytes, `lock ${key}`);
  return {
    host: fields.string('host'),
    pid: fields.integer('pid'),
    processStart: fields.has('processStart') ? fields.integer('processStart') : null,
    exclusive: fields.string('mode') === 'exclusive',
    purpose: fields.string('purpose'),
    scope: fields.optionalString('scope'),
    createdAt: fields.string('createdAt'),
    refreshedAt: fields.string('refreshedAt'),
  };
}

function encodeLock(record: LockRecord): Uint8Array {
  const { exclusive, ...rest } = record;
  return encodeJson({ ...rest, mode: exclusive ? 'exclusive' : 'shared' });
}

export class VaultLock {
  readonly #store: BlobStore;
  readonly #clock: Clock;
  /** Null for a shared lock on a store that refuses writes: there is no lock object to refresh or remove. */
  #key: string | null;
  #record: LockRecord;
  #timer: NodeJS.Timeout | undefined;
  #released = false;

  private constructor(store: BlobStore, clock: Clock, key: string | null, record: LockRecord) {
    this.#store = store;
    this.#clock = clock;
    this.#key = key;
    this.#record = record;
  }

  get exclusive(): boolean {
    return this.#record.exclusive;
  }

  static async acquire(store: BlobStore, options: LockOptions, clock: Clock = systemClock): Promise<VaultLock> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    let backoffMs = 20;
    while (true) {
      const conflict = await findConflict(store, options, null, clock);
      if (!conflict) {
        const now = clock.now().toISOString();
        const record: LockRecord = {
          host: hostname(), pid: process.pid, processStart: processStartOf(process.pid),
          exclusive: options.exclusive, purpose: options.purpose, scope: options.scope ?? null, createdAt: now, refreshedAt: now,
        };
        const key = `${Paths.locks}${randomBytes(8).toString('hex')}`;
        try {
          await store.put(key, encodeLock(record), { signal: options.signal });
        } catch (error) {
          // A read-only store cannot hold a lock object. A reader goes on without one: no live
          // conflicting lock was found, and it changes nothing. A gc run elsewhere could still
          // remove packs under it: reads then fail, they never return wrong data.
          if (options.readOnly && !options.exclusive && isBovedaError(error, 'STORAGE_READ_ONLY')) return new VaultLock(store, clock, null, record);
          throw error;
        }
        const raced = await findConflict(store, options, key, clock);
        if (!raced) {
          const lock = new VaultLock(store, clock, key, record);
          lock.#startRefresh();
          return lock;
        }
        await store.delete(key);
        if (Date.now() >= deadline) throw lockedError(store, raced.record, options);
      } else if (Date.now() >= deadline) {
        throw lockedError(store, conflict.record, options);
      }
      options.signal?.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, backoffMs * (0.5 + Math.random())));
      backoffMs = Math.min(backoffMs * 2, 2000);
    }
  }

  /** Writes a fresh lock object and removes the old one; called on a timer while held. */
  async refresh(): Promise<void> {
    if (this.#released || this.#key === null) return;
    const record = { ...this.#record, refreshedAt: this.#clock.now().toISOString() };
    const key = `${Paths.locks}${randomBytes(8).toString('hex')}`;
    await this.#store.put(key, encodeLock(record));
    const old = this.#key;
    this.#key = key;
    this.#record = record;
    await this.#store.delete(old);
  }

  /** Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    if (this.#key !== null) await this.#store.delete(this.#key);
  }

  #startRefresh(): void {
    this.#timer = setInterval(() => {
      this.refresh().catch(() => {
        // A failed refresh is retried at the next tick; the lock stays valid until stale.
      });
    }, LOCK_REFRESH_MS);
    this.#timer.unref();
  }
}

async function findConflict(
  store: BlobStore, options: LockOptions, ownKey: string | null, clock: Clock,
): Promise<{ key: string; record: LockRecord } | undefined> {
  for await (const { key } of store.list(Paths.locks)) {
    if (key === ownKey) continue;
    let record: LockRecord;
    try {
      record = decodeLock(await store.get(key), key);
    } catch (error) {
      // Deleted between list and get (released or refreshed): not a conflict.
      if (isBovedaError(error, 'STORAGE_NOT_FOUND')) continue;
      // An unreadable lock cannot be judged alive or dead: it counts as held (the safe side)
      // until someone removes it with `boveda vault unlock --force`.
      record = { host: '?', pid: 0, processStart: null, exclusive: true, purpose: `an unreadable lock object ${key}`, scope: null, createdAt: '?', refreshedAt: '?' };
      return { key, record };
    }
    // Staleness first: a dead holder's lock is removed whatever its mode, or stale shared locks
    // would pile up under backups and restores (which never conflict with them) until the next gc.
    if (isStale(record, clock)) {
      try {
        await store.delete(key);
        options.onStaleLock?.(record, key);
      } catch (error) {
        // Stale all the same; a read-only store just cannot drop it.
        if (!isBovedaError(error, 'STORAGE_READ_ONLY')) throw error;
      }
      continue;
    }
    const sameScope = options.scope !== undefined && record.scope === options.scope;
    if (!options.exclusive && !record.exclusive && !sameScope) continue;
    return { key, record };
  }
  return undefined;
}

export function isStale(record: LockRecord, clock: Clock): boolean {
  if (record.host === hostname()) return !isProcessAlive(record.pid, record.processStart);
  return clock.now().getTime() - Date.parse(record.refreshedAt) > LOCK_STALE_AFTER_MS;
}

/** Lists the lock objects of a vault; `force` removes all of them, otherwise only stale ones. */
export async function clearLocks(store: BlobStore, force: boolean, clock: Clock = systemClock): Promise<Array<{ key: string; record: LockRecord | null; removed: boolean }>> {
  const result: Array<{ key: string; record: LockRecord | null; removed: boolean }> = [];
  for await (const { key } of store.list(Paths.locks)) {
    let record: LockRecord | null = null;
    try {
      record = decodeLock(await store.get(key), key);
    } catch (error) {
      if (isBovedaError(error, 'STORAGE_NOT_FOUND')) continue;
    }
    const removed = force || (record !== null && isStale(record, clock));
    if (removed) await store.delete(key);
    result.push({ key, record, removed });
  }
  return result;
}

function lockedError(store: BlobStore, holder: LockRecord, options: LockOptions): BovedaError {
  if (options.scope !== undefined && holder.scope === options.scope && !holder.exclusive) {
    return new BovedaError(
      'VAULT_LOCKED',
      `${holder.scope} is busy: ${holder.purpose} is running (pid ${holder.pid} on ${holder.host}, since ${holder.createdAt})`,
      { details: { holder, scope: holder.scope } },
    );
  }
  return new BovedaError(
    'VAULT_LOCKED',
    `vault at ${store.location} is locked${holder.exclusive ? ' exclusively' : ''} by ${holder.purpose} (pid ${holder.pid} on ${holder.host}, since ${holder.createdAt}); ${options.purpose} needs ${options.exclusive ? 'an exclusive' : 'a shared'} lock`,
    { details: { holder } },
  );
}
