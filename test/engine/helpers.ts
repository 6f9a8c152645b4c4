import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorCode } from '../../src/core/error-codes.js';
import { isBovedaError, type BovedaError } from '../../src/core/errors.js';
import { backupVm, restoreToDirectory, type BackupOptions, type BackupResult, type BackupSubject } from '../../src/engine/index.js';
import { Vault, listPointIds, readPoint } from '../../src/repository/index.js';
import { openRawDisk, isSnapshotCloneName, type DiskSource, type OpenDiskOptions } from '../../src/sources/index.js';
import type { CloneFile } from '../../src/sources/raw/snapshot-clone.js';
import { LocalStore } from '../../src/storage/index.js';
import type { Clock, SeededRandom } from '../../src/util/index.js';

/** Shared fixtures of the engine tests: real image files in a temp dir, a LocalStore vault, 16 KiB blocks. */

export const BLOCK = 16 * 1024;
export const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

/** A clock one second further on every reading: points get distinct, ordered createdAt. */
export class SteppingClock implements Clock {
  #ms = Date.parse('2030-01-01T00:00:00Z');
  now(): Date {
    this.#ms += 1000;
    return new Date(this.#ms);
  }
}

export async function makeWorkDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `boveda-${prefix}-`));
}

export async function createVault(work: string, name = 'vault'): Promise<Vault> {
  return Vault.init(new LocalStore(join(work, name)), {
    secret: { kind: 'passphrase', passphrase: 'engine tests' },
    blockSize: BLOCK,
    scrypt: FAST_SCRYPT,
    clock: new SteppingClock(),
  });
}

/** `blocks` blocks of random data, except the blocks listed in `zero`; `tail` extra bytes of random data. */
export function randomDisk(random: SeededRandom, blocks: number, options: { zero?: Iterable<number>; tail?: number } = {}): Uint8Array {
  const bytes = random.bytes(blocks * BLOCK + (options.tail ?? 0));
  for (const index of options.zero ?? []) bytes.fill(0, index * BLOCK, (index + 1) * BLOCK);
  return bytes;
}

/** Overwrites `bytes` at `offset` of the file, as a running VM would. */
export async function writeAt(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}

/** Overwrites block `index` with random data (or zeros), returning the file's new content. */
export async function rewriteBlock(path: string, index: number, random: SeededRandom | 'zero'): Promise<Uint8Array> {
  await writeAt(path, index * BLOCK, random === 'zero' ? new Uint8Array(BLOCK) : random.bytes(BLOCK));
  return readFile(path);
}

/** Number of non-zero whole or partial blocks of `bytes`. */
export function nonZeroBlocks(bytes: Uint8Array): number {
  let count = 0;
  for (let at = 0; at < bytes.length; at += BLOCK) if (bytes.subarray(at, at + BLOCK).some((byte) => byte !== 0)) count++;
  return count;
}

/** Block indexes at which `a` and `b` differ (the shorter one padded with zeros to the longer). */
export function differingBlocks(a: Uint8Array, b: Uint8Array): number[] {
  const length = Math.max(a.length, b.length);
  const padded = (bytes: Uint8Array) => {
    if (bytes.length === length) return bytes;
    const out = new Uint8Array(length);
    out.set(bytes);
    return out;
  };
  const pa = padded(a);
  const pb = padded(b);
  const found: number[] = [];
  for (let at = 0, index = 0; at < length; at += BLOCK, index++) {
    if (Buffer.compare(pa.subarray(at, at + BLOCK), pb.subarray(at, at + BLOCK)) !== 0) found.push(index);
  }
  return found;
}

export function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, message: string): void {
  assert.equal(actual.length, expected.length, `${message}: length`);
  assert.ok(Buffer.compare(actual, expected) === 0, `${message}: content differs in blocks ${differingBlocks(actual, expected).join(', ')}`);
}

/** Awaits a rejection with a BovedaError of `code` whose message contains every one of `includes`. */
export async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, ...includes: string[]): Promise<BovedaError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected ${code}, but it succeeded`);
  assert.ok(isBovedaError(caught, code), `expected ${code}, got ${isBovedaError(caught) ? caught.code : 'a foreign error'}: ${(caught as Error).message}`);
  for (const part of includes) assert.ok(caught.message.includes(part), `message ${JSON.stringify(caught.message)} should contain ${JSON.stringify(part)}`);
  return caught;
}

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

export { copyClone, supportsReflink } from '../sources/clone-helpers.js';

/** Snapshot clones (`.<image>.boveda-snap-<hex>`) lying in `dir`. */
export async function cloneLeftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter(isSnapshotCloneName);
}

export interface OpenedSource {
  path: string;
  snapshot: 'reflink' | 'none';
  closes: number;
  reads: number;
}

export interface InstrumentedOpen {
  openDisk: NonNullable<BackupOptions['openDisk']>;
  /** Every source opened so far, in order. */
  opened: OpenedSource[];
}

/**
 * An openDisk over openRawDisk that records opens, reads and closes. `beforeRead` runs before each
 * read reaches the file, `afterRead` after it; `clone` replaces the reflink clone (e.g. copyClone).
 */
export function instrumentedOpen(hooks: {
  clone?: CloneFile;
  beforeRead?: (source: OpenedSource, offset: number, length: number) => Promise<void> | void;
  afterRead?: (source: OpenedSource, offset: number, length: number) => Promise<void> | void;
} = {}): InstrumentedOpen {
  const opened: OpenedSource[] = [];
  const openDisk = async (path: string, options: OpenDiskOptions): Promise<DiskSource> => {
    const inner = await openRawDisk(path, options, hooks.clone ? { cloneFile: hooks.clone } : {});
    const record: OpenedSource = { path, snapshot: inner.snapshot, closes: 0, reads: 0 };
    opened.push(record);
    return {
      path: inner.path,
      sizeBytes: inner.sizeBytes,
      snapshot: inner.snapshot,
      snapshotNote: inner.snapshotNote,
      read: async (offset, target, signal) => {
        record.reads++;
        await hooks.beforeRead?.(record, offset, target.length);
        await inner.read(offset, target, signal);
        await hooks.afterRead?.(record, offset, target.length);
      },
      checkUnchangedSize: () => inner.checkUnchangedSize(),
      close: async () => {
        record.closes++;
        await inner.close();
      },
    };
  };
  return { openDisk, opened };
}

export async function pointCount(vault: Vault): Promise<number> {
  return (await listPointIds(vault)).length;
}

/** Restores disk `disk` of point `pointId` into a fresh directory under `work` and returns its bytes. */
export async function restoredBytes(vault: Vault, work: string, pointId: string, disk: string): Promise<Uint8Array> {
  const dir = await mkdtemp(join(work, 'restore-'));
  try {
    const [restored] = await restoreToDirectory(vault, await readPoint(vault, pointId), dir, { disks: [disk] });
    return await readFile(restored!.path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Starts a backup that stops at its first disk read until release() is called: for tests of what
 * happens while a backup of the same VM is running. Resolves once the backup holds its lock and reads.
 */
export async function startHeldBackup(vault: Vault, vm: BackupSubject): Promise<{ running: Promise<BackupResult>; release: () => void }> {
  const started = deferred();
  const gate = deferred();
  const held = instrumentedOpen({
    beforeRead: async () => {
      started.resolve();
      await gate.promise;
    },
  });
  const running = backupVm(vault, vm, { openDisk: held.openDisk });
  running.catch(() => undefined);
  await Promise.race([started.promise, running.then(() => assert.fail('the held backup ended before reading'))]);
  return { running, release: () => gate.resolve() };
}
