import { createHash } from 'node:crypto';
import { BovedaError, isBovedaError } from '../core/index.js';
import { ADDRESS_BYTES, BlobKind, Paths, packKey } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import { toHex } from './block-index.js';
import { BlockMapReader } from './block-map.js';
import { BlockReader } from './block-reader.js';
import { listTombstones, loadPoints } from './points.js';
import type { Vault } from './vault.js';
import { VaultIndex } from './vault-index.js';
import { VaultLock } from './vault-lock.js';
import { readPackTrailer } from './vault-objects.js';
import { readPointSecrets } from './vault-secrets.js';

export interface VerifyProblem {
  /** The damaged object, as a storage key ("packs/ab/ab12…", "index/…", "points/…"). */
  object: string;
  problem: string;
  /** Ids of the recovery points that cannot be restored whole because of it. */
  affectedPoints: string[];
}

export interface VerifyReport {
  readData: boolean;
  points: number;
  packs: number;
  blobsChecked: number;
  bytesChecked: number;
  problems: VerifyProblem[];
  /** Packs in the store that no index lists (left by an interrupted backup; gc removes them). */
  unindexedPacks: string[];
  ok: boolean;
}

export interface VerifyOptions {
  /** Read and authenticate every stored byte, not only the structure. */
  readData?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: { phase: string; done: number; total: number }) => void;
}

/**
 * Checks that every recovery point can be restored: every manifest opens, every map page opens
 * and has the expected shape, every referenced block is indexed in a pack that exists with the
 * indexed size; with readData, every pack's SHA-256 matches its name, its trailer matches, and every
 * blob decrypts and hashes to its address. Each problem names the object and the affected points.
 */
export async function verifyVault(vault: Vault, options: VerifyOptions = {}): Promise<VerifyReport> {
  const lock = await VaultLock.acquire(vault.store, { exclusive: false, readOnly: true, purpose: 'a verify', signal: options.signal }, vault.clock);
  try {
    return await runVerify(vault, options);
  } finally {
    await lock.release();
  }
}

async function runVerify(vault: Vault, options: VerifyOptions): Promise<VerifyReport> {
  const problems = new Map<string, { object: string; problem: string; affected: Set<string> }>();
  const addProblem = (object: string, problem: string) => {
    let entry = problems.get(object);
    if (!entry) problems.set(object, (entry = { object, problem, affected: new Set() }));
    return entry;
  };

  const index = await VaultIndex.load(vault, { signal: options.signal });
  const indexDamage = index.damaged.map(({ key, error }) => addProblem(key, error.message));

  // Packs: present, of the indexed size; unindexed ones noted.
  const stored = new Map<string, number>();
  for await (const { key, size } of vault.store.list(Paths.packs, { signal: options.signal })) stored.set(key.slice(key.lastIndexOf('/') + 1), size);
  /** Damaged blob address (hex) → the object to blame. */
  const damagedBlobs = new Map<string, string>();
  const packEntries = new Map<string, Array<{ address: Uint8Array; offset: number; length: number; kind: number }>>();
  for (const [address, location] of index.blocks.entries()) {
    let list = packEntries.get(location.packId);
    if (!list) packEntries.set(location.packId, (list = []));
    list.push({ address, offset: location.offset, length: location.length, kind: location.kind });
  }
  const damagePack = (packId: string, problem: string) => {
    const object = packKey(packId);
    addProblem(object, problem);
    for (const entry of packEntries.get(packId) ?? []) damagedBlobs.set(toHex(entry.address), object);
  };
  for (const [packId, size] of index.packSizes) {
    const actual = stored.get(packId);
    if (actual === undefined) damagePack(packId, 'the pack is missing');
    else if (actual !== size) damagePack(packId, `the pack has ${actual} bytes, the index says ${size} (truncated or replaced)`);
  }
  const unindexedPacks = [...stored.keys()].filter((packId) => !index.packSizes.has(packId)).map(packKey);

  let blobsChecked = 0;
  let bytesChecked = 0;
  if (options.readData) {
    const packIds = [...index.packSizes.keys()].filter((packId) => stored.get(packId) === index.packSizes.get(packId));
    let done = 0;
    for (const packId of packIds) {
      throwIfAborted(options.signal, 'verify');
      options.onProgress?.({ phase: 'read-data', done: done++, total: packIds.length });
      const object = packKey(packId);
      let bytes: Uint8Array;
      try {
        bytes = await vault.store.get(object, { signal: options.signal });
      } catch (error) {
        if (!isBovedaError(error) || error.code === 'ABORTED') throw error;
        damagePack(packId, `the pack cannot be read: ${error.message}`);
        continue;
      }
      bytesChecked += bytes.length;
      if (createHash('sha256').update(bytes).digest('hex') !== packId) {
        // Name and content disagree: some bytes changed. Which blobs, the per-blob check says.
        addProblem(object, 'the pack content does not match its name (SHA-256): bytes were altered');
      }
      try {
        const trailer = readPackTrailer(vault.keys, bytes, object);
        const listed = new Set(trailer.map((entry) => `${toHex(entry.address)}@${entry.offset}+${entry.length}`));
        for (const entry of packEntries.get(packId) ?? []) {
          if (!listed.has(`${toHex(entry.address)}@${entry.offset}+${entry.length}`)) {
            addProblem(object, 'the pack trailer does not list a blob the index places in it');
          }
        }
      } catch (error) {
        if (!isBovedaError(error, 'VAULT_OBJECT_CORRUPT')) throw error;
        addProblem(object, error.message);
      }
      const entries = packEntries.get(packId) ?? [];
      for (const kind of [BlobKind.block, BlobKind.page]) {
        const ofKind = entries.filter((entry) => entry.kind === kind);
        for (let start = 0; start < ofKind.length; start += 256) {
          const batch = ofKind.slice(start, start + 256);
          const addresses = new Uint8Array(batch.length * ADDRESS_BYTES);
          const blobs = batch.map((entry, i) => {
            addresses.set(entry.address, i * ADDRESS_BYTES);
            return bytes.subarray(entry.offset, entry.offset + entry.length);
          });
          const { failed } = await vault.pool.open(kind === BlobKind.block ? 'block' : 'page', addresses, blobs);
          failed.forEach((bad, i) => {
            blobsChecked++;
            if (!bad) return;
            const entry = batch[i]!;
            addProblem(object, `blob ${toHex(entry.address)} at offset ${entry.offset} does not authenticate`);
            damagedBlobs.set(toHex(entry.address), object);
          });
        }
      }
    }
  }

  // Points: every manifest opens, every page opens, every block is indexed and undamaged.
  const { points, damaged } = await loadPoints(vault, options.signal);
  for (const { pointId, key, error } of damaged) addProblem(key, error.message).affected.add(pointId);
  const present = new Set([...points.map((point) => point.pointId), ...damaged.map((entry) => entry.pointId)]);
  const tombstones = await listTombstones(vault, options.signal);
  for (const pointId of index.recordedPoints) {
    if (present.has(pointId) || tombstones.has(pointId)) continue;
    addProblem(`${Paths.points}${pointId}`, 'the manifest is missing: the point was recorded but not deleted through Boveda').affected.add(pointId);
  }
  const reader = new BlockReader(vault, index.blocks);
  let pointsDone = 0;
  for (const point of points) {
    throwIfAborted(options.signal, 'verify');
    options.onProgress?.({ phase: 'points', done: pointsDone++, total: points.length });
    let missing = 0;
    const check = (address: Uint8Array) => {
      const hex = toHex(address);
      const blamed = damagedBlobs.get(hex);
      if (blamed) problems.get(blamed)!.affected.add(point.pointId);
      else if (!index.blocks.has(address)) missing++;
    };
    for (const disk of point.disks) {
      const map = new BlockMapReader(disk.map, (address, level, count) => reader.readPage(address, level, count));
      try {
        await map.walk((address) => {
          check(address);
          return true;
        }, check);
      } catch (error) {
        if (!(error instanceof BovedaError) || error.code === 'ABORTED') throw error;
        // A page no index lists was counted by check() as missing; the missing count below blames
        // the damaged index files (or, with none, the point), not the manifest, which is sound.
        if (error.code === 'VAULT_OBJECT_MISSING' && error.details.pack === undefined && missing > 0 && indexDamage.length > 0) continue;
        const object = typeof error.details.pack === 'string' ? packKey(error.details.pack) : `${Paths.points}${point.pointId}`;
        addProblem(object, error.message).affected.add(point.pointId);
      }
    }
    if (missing > 0) {
      const problem = `${missing} block or page reference${missing === 1 ? ' is' : 's are'} not in any index`;
      if (indexDamage.length > 0) for (const entry of indexDamage) entry.affected.add(point.pointId);
      else addProblem(`${Paths.points}${point.pointId}`, problem).affected.add(point.pointId);
    }
  }

  // Disk-encryption secrets: every point that lists some must open them (names, kinds, sizes and values).
  for (const point of points) {
    if (!point.secrets || point.secrets.length === 0) continue;
    throwIfAborted(options.signal, 'verify');
    try {
      await readPointSecrets(vault, point, options.signal);
    } catch (error) {
      if (!isBovedaError(error, 'VAULT_OBJECT_CORRUPT') && !isBovedaError(error, 'VAULT_OBJECT_MISSING')) throw error;
      const object = error.details.object === Paths.secretsKey ? Paths.secretsKey : `${Paths.secrets}${point.pointId}`;
      addProblem(object, error.message).affected.add(point.pointId);
    }
  }

  const list = [...problems.values()].map(({ object, problem, affected }) => ({ object, problem, affectedPoints: [...affected].sort() }));
  return {
    readData: options.readData === true,
    points: points.length + damaged.length,
    packs: index.packSizes.size,
    blobsChecked,
    bytesChecked,
    problems: list,
    unindexedPacks,
    ok: list.length === 0,
  };
}
