import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { ErrorCode } from '../../src/core/error-codes.js';
import { isBovedaError } from '../../src/core/errors.js';
import type { ScryptParams, SlotSecret } from '../../src/crypto/index.js';
import type { ManifestDisk, PointManifest } from '../../src/format/index.js';
import { writeDisk, type DiskReadSource, type WriteDiskOptions } from '../../src/repository/disk-writer.js';
import { Vault, type VaultInitOptions } from '../../src/repository/vault.js';
import { VaultReader } from '../../src/repository/vault-reader.js';
import { VaultWriter } from '../../src/repository/vault-writer.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import type { Clock } from '../../src/util/clock.js';
import { SeededRandom } from '../../src/util/seeded-random.js';

/** Shared fixtures of the repository tests: cheap keys, small blocks and packs, disks in memory. */

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const FAST_SCRYPT: ScryptParams = { N: 1024, r: 8, p: 1 };
export const PASSPHRASE: SlotSecret = { kind: 'passphrase', passphrase: 'correct horse battery staple' };
export const WRONG_PASSPHRASE: SlotSecret = { kind: 'passphrase', passphrase: 'Tr0ub4dor&3' };

/** A clock that moves one second forward on every reading, so points get distinct, ordered createdAt. */
export class SteppingClock implements Clock {
  #ms: number;
  constructor(start = Date.parse('2030-01-01T00:00:00Z')) {
    this.#ms = start;
  }
  now(): Date {
    this.#ms += 1000;
    return new Date(this.#ms);
  }
}

export interface TestVaultOptions extends Partial<VaultInitOptions> {
  store?: BlobStore;
}

/** A new vault with test defaults: fast scrypt, 4 KiB blocks, 1 MiB packs, a stepping clock. */
export async function createVault(options: TestVaultOptions = {}): Promise<{ vault: Vault; store: BlobStore }> {
  const { store = new MemoryStore(), ...init } = options;
  const vault = await Vault.init(store, {
    secret: PASSPHRASE,
    scrypt: FAST_SCRYPT,
    blockSize: 4096,
    packSize: MiB,
    clock: new SteppingClock(),
    ...init,
  });
  return { vault, store };
}

/** Runs `body` with a new vault and always closes the vault (its worker threads) afterwards. */
export async function withVault<T>(options: TestVaultOptions, body: (vault: Vault, store: BlobStore) => Promise<T>): Promise<T> {
  const { vault, store } = await createVault(options);
  try {
    return await body(vault, store);
  } finally {
    await vault.close();
  }
}

export function memorySource(name: string, data: Uint8Array): DiskReadSource {
  return {
    name,
    sizeBytes: data.length,
    read: async (offset, length) => data.slice(offset, offset + length),
  };
}

export interface DiskInput {
  name: string;
  data: Uint8Array;
  options?: WriteDiskOptions;
}

/** Backs up the disks as one point (incremental against `parent` where it has a disk of the same name). */
export async function backup(vault: Vault, subject: string, disks: readonly DiskInput[], parent?: PointManifest): Promise<PointManifest> {
  const writer = await VaultWriter.open(vault);
  try {
    const written: ManifestDisk[] = [];
    for (const disk of disks) {
      const parentDisk = parent?.disks.find((candidate) => candidate.name === disk.name);
      written.push(await writeDisk(writer, memorySource(disk.name, disk.data), { parent: parentDisk, ...disk.options }));
    }
    return await writer.commitPoint({ subject, parentId: parent?.pointId ?? null, disks: written });
  } finally {
    await writer.close();
  }
}

/** Restores a disk of a point into a buffer of its size (zero blocks stay zero). */
export async function restore(vault: Vault, point: PointManifest, name: string): Promise<Uint8Array> {
  const reader = await VaultReader.open(vault);
  try {
    return await readWhole(reader, point, name);
  } finally {
    await reader.close();
  }
}

export async function readWhole(reader: VaultReader, point: PointManifest, name: string): Promise<Uint8Array> {
  const disk = reader.disk(point, name);
  const out = new Uint8Array(disk.sizeBytes);
  let previous = -1;
  for await (const block of reader.readDisk(disk)) {
    assert.ok(block.index > previous, 'readDisk yields blocks in increasing index order');
    previous = block.index;
    out.set(block.data, block.index * disk.blockSize);
  }
  return out;
}

export async function assertRestores(vault: Vault, point: PointManifest, name: string, expected: Uint8Array): Promise<void> {
  const actual = await restore(vault, point, name);
  assert.equal(actual.length, expected.length, `disk ${name} of point ${point.pointId} has the original size`);
  assert.ok(Buffer.compare(actual, expected) === 0, `disk ${name} of point ${point.pointId} restores byte-exact`);
}

/**
 * Disk contents: random blocks from `seed`, except the blocks listed in `zero` (all zeros).
 * The last block is partial when size is not a multiple of blockSize.
 */
export function makeDisk(seed: number, size: number, blockSize: number, zero: readonly number[] = []): Uint8Array {
  const data = new SeededRandom(seed).bytes(size);
  for (const index of zero) data.fill(0, index * blockSize, Math.min(size, (index + 1) * blockSize));
  return data;
}

/** A copy of `data` with the given blocks replaced by fresh random bytes. */
export function changeBlocks(data: Uint8Array, blockSize: number, blocks: readonly number[], seed: number): Uint8Array {
  const copy = data.slice();
  const random = new SeededRandom(seed);
  for (const index of blocks) random.fill(copy.subarray(index * blockSize, Math.min(copy.length, (index + 1) * blockSize)));
  return copy;
}

/** A copy of `data` cut or zero-extended to `size`. */
export function resize(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(data.subarray(0, Math.min(size, data.length)));
  return out;
}

export async function listKeys(store: BlobStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list(prefix)) keys.push(key);
  return keys.sort();
}

/** Every object of the store with the SHA-256 of its content: equal snapshots mean nothing changed. */
export async function snapshot(store: BlobStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await listKeys(store)) out.set(key, createHash('sha256').update(await store.get(key)).digest('hex'));
  return out;
}

/** Every file under a directory with the SHA-256 of its content (for LocalStore tests). */
export async function snapshotDirectory(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        out.set(`${relative(root, path)}/`, 'dir');
        await walk(path);
      } else {
        out.set(relative(root, path), createHash('sha256').update(await readFile(path)).digest('hex'));
      }
    }
  };
  await walk(root);
  return out;
}

/** assert.rejects predicate: a BovedaError with this code (and, if given, every fragment in its message). */
export function code(expected: ErrorCode, ...fragments: string[]): (error: unknown) => boolean {
  return (error: unknown) => {
    assert.ok(isBovedaError(error), `expected a BovedaError ${expected}, got ${String(error)}`);
    assert.equal(error.code, expected, `expected ${expected}, got ${error.code}: ${error.message}`);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `message "${error.message}" names "${fragment}"`);
    return true;
  };
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
