import { randomBytes } from 'node:crypto';
import { BovedaError, isBovedaError } from '../core/index.js';
import { open, seal } from '../crypto/index.js';
import {
  FormatError, Magic, POINT_SECRETS_VERSION, Paths, SECRETS_KEY_BYTES, SECRETS_KEY_VERSION,
  decodeEnvelope, decodePointSecrets, encodeEnvelope, encodePointSecrets, envelopeHeader, pointSecretAad, pointSecretsAad,
  secretsKeyAad, vmSecretAad, type ManifestSecret, type PointManifest,
} from '../format/index.js';
import type { BlobStore } from '../storage/index.js';
import type { Vault } from './vault.js';

/**
 * Disk-encryption secrets in the vault (docs/vault-format.md §18). One random secrets key (KEK) per
 * vault, stored wrapped under a key derived from the master key, so the vault and its passphrase alone
 * give the secrets back. Each point's secrets are one object `secrets/<point id>` sealed under the
 * KEK; the manifest lists only their names, kinds and sizes, so reading a manifest never decrypts one.
 */
export interface PointSecretInput {
  name: string;
  kind: string;
  value: Uint8Array;
}

export interface PointSecretValue extends ManifestSecret {
  value: Uint8Array;
}

/** `object` is the storage key, which verify reports. */
function corrupt(what: string, object: string, problem: string, cause?: unknown): BovedaError {
  return new BovedaError('VAULT_OBJECT_CORRUPT', `${what} is damaged: ${problem}`, { cause, details: { object } });
}

function openSecretsKey(bytes: Uint8Array, vaultId: string, wrapKey: Uint8Array, location: string): Uint8Array {
  const what = `secrets key ${Paths.secretsKey} of vault at ${location}`;
  let frame: ReturnType<typeof decodeEnvelope>;
  try {
    frame = decodeEnvelope(bytes, Magic.secretsKey, what);
  } catch (error) {
    throw corrupt(what, Paths.secretsKey, (error as Error).message, error);
  }
  if (frame.version !== SECRETS_KEY_VERSION) throw corrupt(what, Paths.secretsKey, `unknown secrets key version ${frame.version}`);
  const key = open(wrapKey, secretsKeyAad(frame.header, vaultId), frame.sealed);
  if (!key || key.length !== SECRETS_KEY_BYTES) throw corrupt(what, Paths.secretsKey, 'it does not authenticate (altered, truncated or not of this vault)');
  return key;
}

/** The vault's KEK if it has one; undefined when none was created yet. Never writes (verify is read-only). */
export async function readSecretsKey(store: BlobStore, vaultId: string, wrapKey: Uint8Array): Promise<Uint8Array | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await store.get(Paths.secretsKey);
  } catch (error) {
    if (isBovedaError(error, 'STORAGE_NOT_FOUND')) return undefined;
    throw error;
  }
  return openSecretsKey(bytes, vaultId, wrapKey, store.location);
}

/**
 * The vault's KEK, created on first use. No lock is needed: the put is create-only, so of two
 * processes creating it at once exactly one wins and the other reads the winner's key back. An
 * existing object is never replaced, even a damaged one (that would orphan every secret sealed so far).
 */
export async function ensureSecretsKey(store: BlobStore, vaultId: string, wrapKey: Uint8Array): Promise<Uint8Array> {
  const existing = await readSecretsKey(store, vaultId, wrapKey);
  if (existing) return existing;
  const key = new Uint8Array(randomBytes(SECRETS_KEY_BYTES));
  const header = envelopeHeader(Magic.secretsKey, SECRETS_KEY_VERSION);
  try {
    await store.put(Paths.secretsKey, encodeEnvelope(header, seal(wrapKey, secretsKeyAad(header, vaultId), key)));
    return key;
  } catch (error) {
    if (!isBovedaError(error, 'STORAGE_EXISTS')) throw error;
    const winner = await readSecretsKey(store, vaultId, wrapKey);
    if (!winner) throw error;
    return winner;
  }
}

export function pointSecretsKey(pointId: string): string {
  return `${Paths.secrets}${pointId}`;
}

/** The object `secrets/<pointId>` holding `secrets` sealed under the KEK, and what the manifest lists of them. */
export function sealPointSecrets(vault: Vault, kek: Uint8Array, subject: string, pointId: string, secrets: readonly PointSecretInput[]): { bytes: Uint8Array; listed: ManifestSecret[] } {
  const vaultId = vault.config.vaultId;
  const sealed = secrets.map((secret) => ({
    name: secret.name, kind: secret.kind, sizeBytes: secret.value.length,
    sealed: seal(kek, pointSecretAad(vaultId, subject, pointId, secret.name), secret.value),
  }));
  const header = envelopeHeader(Magic.pointSecrets, POINT_SECRETS_VERSION);
  const plain = encodePointSecrets({ version: 1, pointId, subject, secrets: sealed });
  return {
    bytes: encodeEnvelope(header, seal(kek, pointSecretsAad(header, vaultId, subject, pointId), plain)),
    listed: sealed.map(({ name, kind, sizeBytes }) => ({ name, kind, sizeBytes })),
  };
}

/**
 * Opens the secrets of a point: the object must authenticate under the KEK as this point's (a copy
 * moved to another point or VM does not), every value must open, and they must be exactly what the
 * manifest lists. Any failure is VAULT_OBJECT_CORRUPT naming the object and the point.
 */
export function openPointSecrets(vault: Vault, kek: Uint8Array, point: Pick<PointManifest, 'pointId' | 'subject' | 'secrets'>, bytes: Uint8Array): PointSecretValue[] {
  const object = pointSecretsKey(point.pointId);
  const what = `secrets object ${object} of point ${point.pointId}`;
  const vaultId = vault.config.vaultId;
  let content: ReturnType<typeof decodePointSecrets>;
  try {
    const frame = decodeEnvelope(bytes, Magic.pointSecrets, what);
    if (frame.version !== POINT_SECRETS_VERSION) throw new FormatError(`unknown point secrets version ${frame.version}`);
    const plain = open(kek, pointSecretsAad(frame.header, vaultId, point.subject, point.pointId), frame.sealed);
    if (!plain) throw new FormatError('it does not authenticate (altered, truncated, moved from another point or VM, or not of this vault)');
    content = decodePointSecrets(plain, what);
  } catch (error) {
    if (error instanceof FormatError) throw corrupt(what, object, error.message, error);
    throw error;
  }
  if (content.pointId !== point.pointId || content.subject !== point.subject) throw corrupt(what, object, `it names point ${content.pointId} of "${content.subject}"`);
  const listed = point.secrets ?? [];
  const same = listed.length === content.secrets.length && listed.every((entry, i) => {
    const stored = content.secrets[i]!;
    return entry.name === stored.name && entry.kind === stored.kind && entry.sizeBytes === stored.sizeBytes;
  });
  if (!same) throw corrupt(what, object, 'it does not hold the secrets the manifest lists');
  return content.secrets.map((secret) => {
    const value = open(kek, pointSecretAad(vaultId, point.subject, point.pointId, secret.name), secret.sealed);
    if (!value || value.length !== secret.sizeBytes) throw corrupt(what, object, `secret "${secret.name}" does not authenticate`);
    return { name: secret.name, kind: secret.kind, sizeBytes: secret.sizeBytes, value };
  });
}

/** The decrypted secrets of a point ([] when its manifest lists none, without reading anything). */
export async function readPointSecrets(vault: Vault, point: PointManifest, signal?: AbortSignal): Promise<PointSecretValue[]> {
  if (!point.secrets || point.secrets.length === 0) return [];
  const key = pointSecretsKey(point.pointId);
  const kek = await vault.existingSecretsKey();
  if (!kek) throw new BovedaError('VAULT_OBJECT_MISSING', `point ${point.pointId} has secrets but the vault at ${vault.store.location} has no ${Paths.secretsKey} object to open them`, { details: { object: Paths.secretsKey } });
  let bytes: Uint8Array;
  try {
    bytes = await vault.store.get(key, { signal });
  } catch (error) {
    if (isBovedaError(error, 'STORAGE_NOT_FOUND')) throw new BovedaError('VAULT_OBJECT_MISSING', `secrets object ${key} of point ${point.pointId} is missing`, { cause: error, details: { object: key } });
    throw error;
  }
  return openPointSecrets(vault, kek, point, bytes);
}

/** Seals a VM's current secret for the catalog (which never holds a clear value). */
export function sealVmSecret(vault: Vault, kek: Uint8Array, vmName: string, name: string, value: Uint8Array): Uint8Array {
  return seal(kek, vmSecretAad(vault.config.vaultId, vmName, name), value);
}

/** Opens a catalog-held secret; VAULT_OBJECT_CORRUPT when it was moved to another VM or name, altered, or sealed by another vault. */
export function openVmSecret(vault: Vault, kek: Uint8Array, vmName: string, name: string, sealed: Uint8Array): Uint8Array {
  const value = open(kek, vmSecretAad(vault.config.vaultId, vmName, name), sealed);
  if (!value) {
    throw new BovedaError('VAULT_OBJECT_CORRUPT', `secret "${name}" of VM "${vmName}" in the catalog does not open with the secrets key of vault at ${vault.store.location} (altered, moved from another VM, or sealed for another vault)`);
  }
  return value;
}

/** Ids of the points that have a secrets object (present or left by an interrupted deletion). */
export async function listPointSecretObjects(vault: Vault, signal?: AbortSignal): Promise<string[]> {
  const ids: string[] = [];
  for await (const { key } of vault.store.list(Paths.secrets, { signal })) ids.push(key.slice(Paths.secrets.length));
  return ids.sort();
}
