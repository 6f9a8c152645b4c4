import { BovedaError, isBovedaError } from '../core/index.js';
import { POINT_ID_PATTERN, Paths, type PointManifest } from '../format/index.js';
import type { Vault } from './vault.js';
import { openManifest } from './vault-objects.js';
import { VaultLock } from './vault-lock.js';
import { pointSecretsKey } from './vault-secrets.js';

export interface PointDamage {
  pointId: string;
  key: string;
  error: BovedaError;
}

/** Ids of every manifest in the vault (a point exists exactly when its manifest does). */
export async function listPointIds(vault: Vault, signal?: AbortSignal): Promise<string[]> {
  const ids: string[] = [];
  for await (const { key } of vault.store.list(Paths.points, { signal })) {
    const id = key.slice(Paths.points.length);
    if (POINT_ID_PATTERN.test(id)) ids.push(id);
  }
  return ids.sort();
}

export async function readPoint(vault: Vault, pointId: string, signal?: AbortSignal): Promise<PointManifest> {
  const key = `${Paths.points}${pointId}`;
  let bytes: Uint8Array;
  try {
    bytes = await vault.store.get(key, { signal });
  } catch (error) {
    if (isBovedaError(error, 'STORAGE_NOT_FOUND')) throw new BovedaError('POINT_NOT_FOUND', `recovery point ${pointId} does not exist in vault at ${vault.store.location}`, { cause: error });
    throw error;
  }
  const manifest = openManifest(vault.keys, bytes, pointId, `manifest ${key}`);
  if (manifest.pointId !== pointId) {
    throw new BovedaError('VAULT_OBJECT_CORRUPT', `manifest ${key} names point ${manifest.pointId}`);
  }
  // Authenticated, so only a bug could make these disagree; checked so that it cannot go unseen.
  for (const disk of manifest.disks) {
    const expectedBlocks = Math.ceil(disk.sizeBytes / vault.config.blockSize);
    if (disk.blockSize !== vault.config.blockSize || disk.map.blockCount !== expectedBlocks || disk.map.fanout < 2) {
      throw new BovedaError('VAULT_OBJECT_CORRUPT', `manifest ${key}: disk "${disk.name}" has block size ${disk.blockSize}, ${disk.map.blockCount} blocks and fanout ${disk.map.fanout}, which do not fit its ${disk.sizeBytes} bytes in this vault`);
    }
  }
  return manifest;
}

/** Every readable point, oldest first, and the manifests that could not be read. */
export async function loadPoints(vault: Vault, signal?: AbortSignal): Promise<{ points: PointManifest[]; damaged: PointDamage[] }> {
  const points: PointManifest[] = [];
  const damaged: PointDamage[] = [];
  for (const pointId of await listPointIds(vault, signal)) {
    try {
      points.push(await readPoint(vault, pointId, signal));
    } catch (error) {
      // Deleted since listed: simply gone.
      if (isBovedaError(error, 'POINT_NOT_FOUND')) continue;
      if (isBovedaError(error, 'VAULT_OBJECT_CORRUPT')) {
        damaged.push({ pointId, key: `${Paths.points}${pointId}`, error });
        continue;
      }
      throw error;
    }
  }
  points.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.pointId.localeCompare(b.pointId));
  return { points, damaged };
}

/** Finds the point whose id starts with `prefix` (at least 4 hex digits, like git). */
export async function resolvePointId(vault: Vault, prefix: string): Promise<string> {
  if (!/^[0-9a-f]{4,16}$/.test(prefix)) {
    throw new BovedaError('INVALID_ARGUMENT', `"${prefix}" is not a recovery point id (4 to 16 hex digits)`);
  }
  const matches = (await listPointIds(vault)).filter((id) => id.startsWith(prefix));
  if (matches.length === 0) throw new BovedaError('POINT_NOT_FOUND', `no recovery point ${prefix} in vault at ${vault.store.location}`);
  if (matches.length > 1) throw new BovedaError('POINT_AMBIGUOUS', `recovery point id ${prefix} is ambiguous: ${matches.join(', ')}`);
  return matches[0]!;
}

/**
 * Removes a point. A tombstone is written first, so verify can tell a deliberate deletion from a
 * lost manifest; the point's blocks stay until gc finds no other point needs them.
 */
export async function deletePoint(vault: Vault, pointId: string): Promise<void> {
  const lock = await VaultLock.acquire(vault.store, { exclusive: false, purpose: 'a point deletion' }, vault.clock);
  try {
    await removePoint(vault, pointId);
  } finally {
    await lock.release();
  }
}

async function removePoint(vault: Vault, pointId: string): Promise<void> {
  const manifest = await readPoint(vault, pointId);
  const tombstone = `${Paths.deleted}${pointId}`;
  try {
    await vault.store.put(tombstone, new TextEncoder().encode(JSON.stringify({ deletedAt: vault.clock.now().toISOString() })));
  } catch (error) {
    if (!isBovedaError(error, 'STORAGE_EXISTS')) throw error;
  }
  await vault.store.delete(`${Paths.points}${pointId}`);
  // After the manifest: a crash in between leaves an orphan secrets object (gc removes it), never a
  // point whose listed secrets are gone. A point that lists none has none to delete: any object under
  // its id (from an interrupted commit) is an orphan, which gc removes once the manifest is gone.
  if (manifest.secrets) await vault.store.delete(pointSecretsKey(pointId));
}

/** Ids of deliberately deleted points whose tombstones gc has not yet cleared. */
export async function listTombstones(vault: Vault, signal?: AbortSignal): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const { key } of vault.store.list(Paths.deleted, { signal })) ids.add(key.slice(Paths.deleted.length));
  return ids;
}
