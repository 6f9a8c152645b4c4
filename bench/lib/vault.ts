import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import type { SlotSecret } from '../../src/crypto/index.js';
import { BlobKind, type ManifestDisk, type PointManifest } from '../../src/format/index.js';
import { Vault, VaultIndex, VaultReader, VaultWriter, writeDisk, type DiskReadSource } from '../../src/repository/index.js';
import { LocalStore, type BlobStore } from '../../src/storage/index.js';

/**
 * Vault plumbing shared by bench series and studies: a LocalStore vault in a scratch directory,
 * opened with a chosen number of worker threads, one-disk backups and full read-backs, and
 * measurements of what the vault stores.
 */

/** A fixed key-file secret: benches need no secrecy, and HKDF (unlike scrypt) costs nothing. */
export const benchSecret: SlotSecret = { kind: 'key-file', key: new Uint8Array(createHash('sha256').update('boveda bench key').digest()) };

export interface BenchVaultOptions {
  blockSize: number;
  packSize?: number;
  compressionLevel?: number;
}

/** Creates a vault in `dir` (a new directory). */
export async function createVault(dir: string, options: BenchVaultOptions): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const vault = await Vault.init(new LocalStore(dir), { secret: benchSecret, label: 'bench', ...options });
  await vault.close();
}

/** Opens the vault in `dir` with `threads` crypto workers (default: one per core). */
export async function openVault(dir: string, threads?: number): Promise<Vault> {
  return Vault.open(new LocalStore(dir), [benchSecret], { threads });
}

export interface BackupResult {
  point: PointManifest;
  disk: ManifestDisk;
  /** The vault's index after the commit, by blob kind (from the write session's own index: nothing reloaded). */
  index: IndexBytes;
  /** Wall time from opening the write session to the durable manifest. */
  seconds: number;
  /** CPU time of the whole process (main thread and workers) during it. */
  cpuSeconds: number;
}

/** One point with one disk, incremental when `parent` (the same disk's previous point) is given. */
export async function backupDisk(vault: Vault, source: DiskReadSource, options: { parent?: PointManifest; subject?: string } = {}): Promise<BackupResult> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const writer = await VaultWriter.open(vault, { purpose: 'bench backup' });
  try {
    const parentDisk = options.parent?.disks.find((disk) => disk.name === source.name);
    const disk = await writeDisk(writer, source, { parent: parentDisk });
    const point = await writer.commitPoint({ subject: options.subject ?? 'bench', parentId: options.parent?.pointId ?? null, disks: [disk] });
    const seconds = (performance.now() - started) / 1000;
    return { point, disk, seconds, cpuSeconds: cpuSecondsSince(cpu), index: summarizeIndex(writer.index) };
  } finally {
    await writer.close();
  }
}

export interface ReadBackResult {
  /** Non-zero blocks read and their bytes (all-zero blocks are skipped by readDisk). */
  blocks: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  /** Opening the read session (lock + index load), not included in `seconds`. */
  openSeconds: number;
  indexEntries: number;
}

/** Reads a disk of a point back through VaultReader.readDisk; `check` sees every block. */
export async function readBackDisk(
  vault: Vault, point: PointManifest, diskName: string, check?: (index: number, data: Uint8Array) => void,
): Promise<ReadBackResult> {
  const opening = performance.now();
  const reader = await VaultReader.open(vault, { purpose: 'bench read-back' });
  try {
    const openSeconds = (performance.now() - opening) / 1000;
    const disk = reader.disk(point, diskName);
    const cpu = process.cpuUsage();
    const started = performance.now();
    let blocks = 0;
    let bytes = 0;
    for await (const block of reader.readDisk(disk)) {
      check?.(block.index, block.data);
      blocks++;
      bytes += block.data.length;
    }
    return { blocks, bytes, seconds: (performance.now() - started) / 1000, cpuSeconds: cpuSecondsSince(cpu), openSeconds, indexEntries: reader.index.blocks.size };
  } finally {
    await reader.close();
  }
}

export function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

export interface StoreBytes {
  total: number;
  packs: number;
  packCount: number;
  index: number;
  indexFiles: number;
  points: number;
  other: number;
}

/** Bytes of every object on the store by prefix (lock files left out). */
export async function storeBytes(store: BlobStore): Promise<StoreBytes> {
  const out: StoreBytes = { total: 0, packs: 0, packCount: 0, index: 0, indexFiles: 0, points: 0, other: 0 };
  for await (const { key, size } of store.list('')) {
    if (key.startsWith('locks/')) continue;
    out.total += size;
    if (key.startsWith('packs/')) {
      out.packs += size;
      out.packCount++;
    } else if (key.startsWith('index/')) {
      out.index += size;
      out.indexFiles++;
    } else if (key.startsWith('points/')) out.points += size;
    else out.other += size;
  }
  return out;
}

export interface IndexBytes {
  /** Entries of the in-memory index (blocks and map pages). */
  entries: number;
  blocks: number;
  blockStoredBytes: number;
  blockRawBytes: number;
  pages: number;
  pageStoredBytes: number;
}

/** The vault's index by blob kind (loaded afresh): how much of the packs is data blocks and how much map pages. */
export async function indexBytes(vault: Vault): Promise<IndexBytes> {
  return summarizeIndex(await VaultIndex.load(vault));
}

export function summarizeIndex(index: VaultIndex): IndexBytes {
  const out: IndexBytes = { entries: index.blocks.size, blocks: 0, blockStoredBytes: 0, blockRawBytes: 0, pages: 0, pageStoredBytes: 0 };
  for (const [, location] of index.blocks.entries()) {
    if (location.kind === BlobKind.page) {
      out.pages++;
      out.pageStoredBytes += location.length;
    } else {
      out.blocks++;
      out.blockStoredBytes += location.length;
      out.blockRawBytes += location.rawLength;
    }
  }
  return out;
}

/** Bytes used by an index entry in memory, as BlockIndex documents it. */
export const INDEX_ENTRY_BYTES = 60;

/**
 * What BlockIndex actually allocates for `entries` (mirrors src/repository/block-index.ts: per
 * slot of capacity 32 + 4×4 + 1 bytes of columns and 2 × 4 bytes of hash slots; capacity a power
 * of two from 1024 that doubles when full). Between 57 and 114 bytes an entry, depending on where
 * the count falls between two doublings; 1.5× that for a moment while it grows.
 */
export function indexAllocatedBytes(entries: number): number {
  let capacity = 1024;
  while (capacity < entries) capacity *= 2;
  return capacity * (32 + 4 * 4 + 1 + 2 * 4);
}
