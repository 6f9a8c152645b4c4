import { BovedaError } from '../core/index.js';
import { Paths, packKey, type BlobEntry, type IndexedPack } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import { toHex } from './block-index.js';
import { BlockMapReader } from './block-map.js';
import { BlockReader } from './block-reader.js';
import { PackWriter } from './pack-writer.js';
import { listTombstones, loadPoints } from './points.js';
import type { Vault } from './vault.js';
import { VaultIndex } from './vault-index.js';
import { VaultLock } from './vault-lock.js';
import { sealIndexFile, sha256Hex } from './vault-objects.js';
import { listPointSecretObjects, pointSecretsKey } from './vault-secrets.js';

export interface GcOptions {
  /** Packs whose live bytes are below this fraction of their size are rewritten (default 0.5). */
  repackBelow?: number;
  /** Report what would happen without changing anything. */
  dryRun?: boolean;
  /** Temporary files of interrupted writes older than this are removed (default one hour). */
  partialsOlderThanMs?: number;
  /** How long to wait for other lock holders to finish (default: fail at once). */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface GcReport {
  dryRun: boolean;
  points: number;
  packsBefore: number;
  packsDeleted: number;
  packsRepacked: number;
  packsWritten: number;
  /** Packs no index lists, left by interrupted writers. */
  orphanPacksDeleted: number;
  blobsRemoved: number;
  bytesFreed: number;
  indexFilesBefore: number;
  indexFilesAfter: number;
  tombstonesCleared: number;
  /** Secrets objects of points that no longer exist (left by a deletion interrupted after its manifest). */
  orphanSecretsDeleted: number;
  partialsSwept: number;
}

/**
 * Removes what no recovery point references. Holds the exclusive lock throughout, so no backup can
 * be between "deduplicated against block X" and "committed the manifest that references X".
 * Refuses to run on a vault with an unreadable manifest or index file, or a reference that is not
 * indexed: it cannot know what such a point needs. Crash-safe order: new packs → one new index file
 * listing every kept blob → old index files deleted → unreferenced packs deleted. A crash at any
 * step leaves every point restorable; leftovers are collected by the next run.
 */
export async function collectGarbage(vault: Vault, options: GcOptions = {}): Promise<GcReport> {
  const lock = await VaultLock.acquire(vault.store, { exclusive: true, purpose: 'a garbage collection', waitMs: options.waitMs, signal: options.signal }, vault.clock);
  try {
    return await runGc(vault, options);
  } finally {
    await lock.release();
  }
}

async function runGc(vault: Vault, options: GcOptions): Promise<GcReport> {
  const repackBelow = options.repackBelow ?? 0.5;
  const dryRun = options.dryRun === true;
  const packs = new Map<string, IndexedPack>();
  const index = await VaultIndex.load(vault, {
    signal: options.signal,
    onPack: (pack) => {
      // The same pack may be listed by several index files (after an interrupted gc): keep one.
      if (!packs.has(pack.packId)) packs.set(pack.packId, pack);
    },
  });
  if (index.damaged.length > 0) {
    throw new BovedaError('VAULT_DAMAGED', `gc refused: index file ${index.damaged[0]!.key} is unreadable (${index.damaged[0]!.error.message}); run "boveda vault verify"`);
  }
  const { points, damaged } = await loadPoints(vault, options.signal);
  if (damaged.length > 0) {
    throw new BovedaError('VAULT_DAMAGED', `gc refused: manifest ${damaged[0]!.key} is unreadable, so what it references is unknown; run "boveda vault verify"`);
  }
  const tombstones = await listTombstones(vault, options.signal);
  const present = new Set(points.map((point) => point.pointId));
  for (const pointId of index.recordedPoints) {
    if (!present.has(pointId) && !tombstones.has(pointId)) {
      throw new BovedaError('VAULT_DAMAGED', `gc refused: the manifest of recorded point ${pointId} is missing; run "boveda vault verify"`);
    }
  }

  // Mark: every page and block reachable from a manifest. A page seen before holds the same
  // addresses, so its subtree is not walked again.
  const live = new Uint8Array(index.blocks.size);
  const reader = new BlockReader(vault, index.blocks);
  let missing: string | undefined;
  const mark = (address: Uint8Array): boolean => {
    const entry = index.blocks.entryNumber(address);
    if (entry < 0) {
      missing ??= toHex(address);
      return false;
    }
    if (live[entry]) return false;
    live[entry] = 1;
    return true;
  };
  for (const point of points) {
    throwIfAborted(options.signal, 'gc');
    for (const disk of point.disks) {
      await new BlockMapReader(disk.map, (address, level, count) => reader.readPage(address, level, count)).walk(mark, mark);
    }
    if (missing) throw new BovedaError('VAULT_DAMAGED', `gc refused: point ${point.pointId} references ${missing}, which no index lists; run "boveda vault verify"`);
  }

  // Sweep: decide per pack. Only the first-indexed copy of a blob is live; other copies are garbage.
  const report: GcReport = {
    dryRun, points: points.length, packsBefore: packs.size, packsDeleted: 0, packsRepacked: 0, packsWritten: 0,
    orphanPacksDeleted: 0, blobsRemoved: 0, bytesFreed: 0, indexFilesBefore: index.files.length, indexFilesAfter: index.files.length,
    tombstonesCleared: 0, orphanSecretsDeleted: 0, partialsSwept: 0,
  };
  const kept: IndexedPack[] = [];
  const toDelete: IndexedPack[] = [];
  const toRepack: Array<{ pack: IndexedPack; liveEntries: BlobEntry[] }> = [];
  for (const pack of packs.values()) {
    const liveEntries = pack.entries.filter((entry) => {
      const number = index.blocks.entryNumber(entry.address);
      const location = index.blocks.locationOf(number);
      return live[number] === 1 && location.packId === pack.packId && location.offset === entry.offset;
    });
    const liveBytes = liveEntries.reduce((sum, entry) => sum + entry.length, 0);
    report.blobsRemoved += pack.entries.length - liveEntries.length;
    if (liveEntries.length === 0) {
      toDelete.push(pack);
      report.bytesFreed += pack.size;
    } else if (liveBytes < pack.size * repackBelow) {
      toRepack.push({ pack, liveEntries });
      report.bytesFreed += pack.size - liveBytes;
    } else {
      kept.push({ ...pack, entries: liveEntries });
    }
  }
  report.packsDeleted = toDelete.length;
  report.packsRepacked = toRepack.length;

  const orphans: string[] = [];
  for await (const { key, size } of vault.store.list(Paths.packs, { signal: options.signal })) {
    const packId = key.slice(key.lastIndexOf('/') + 1);
    if (!packs.has(packId)) {
      orphans.push(key);
      report.bytesFreed += size;
    }
  }
  report.orphanPacksDeleted = orphans.length;
  // A secrets object is live while its point's manifest exists; a backup writes it before the
  // manifest, but holds a shared lock that this exclusive gc excludes, so none is half-committed now.
  const orphanSecrets = (await listPointSecretObjects(vault, options.signal)).filter((pointId) => !present.has(pointId));
  report.orphanSecretsDeleted = orphanSecrets.length;
  const changed = toDelete.length + toRepack.length > 0 || index.files.length > 1 || tombstones.size > 0 || kept.some((pack) => pack.entries.length !== packs.get(pack.packId)!.entries.length);
  if (dryRun) return report;

  // Copy live blobs of sparse packs into new packs; sealed bytes move verbatim (keys follow addresses).
  const written: IndexedPack[] = [];
  const writer = new PackWriter(vault, (pack) => written.push(pack));
  for (const { pack, liveEntries } of toRepack) {
    throwIfAborted(options.signal, 'gc');
    const bytes = await vault.store.get(packKey(pack.packId), { signal: options.signal });
    for (const entry of liveEntries) await writer.add(entry.kind, entry.address, bytes.slice(entry.offset, entry.offset + entry.length), entry.rawLength);
  }
  await writer.flush();
  report.packsWritten = written.length;

  if (changed) {
    const content = { packs: [...kept, ...written], points: [...present].sort() };
    const bytes = sealIndexFile(vault.keys, content);
    const newKey = `${Paths.index}${sha256Hex(bytes)}`;
    if (!index.files.includes(newKey)) await vault.store.put(newKey, bytes);
    for (const file of index.files) if (file !== newKey) await vault.store.delete(file);
    report.indexFilesAfter = 1;
    for (const pack of [...toDelete, ...toRepack.map((item) => item.pack)]) await vault.store.delete(packKey(pack.packId));
    for (const pointId of tombstones) await vault.store.delete(`${Paths.deleted}${pointId}`);
    report.tombstonesCleared = tombstones.size;
  }
  for (const key of orphans) await vault.store.delete(key);
  for (const pointId of orphanSecrets) await vault.store.delete(pointSecretsKey(pointId));
  report.partialsSwept = await vault.store.sweepPartials(options.partialsOlderThanMs ?? 60 * 60 * 1000, { signal: options.signal });
  return report;
}
