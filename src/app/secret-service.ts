import { BovedaError, checkSecretKind, checkSecretName, checkSecretValue, describeError, isBovedaError, type SecretKind } from '../core/index.js';
import type { AuditOutcome } from '../catalog/index.js';
import {
  openVmSecret, readPoint, readPointSecrets as readSealedPointSecrets, resolvePointId, sealVmSecret,
  type PointManifest, type PointSecretInput, type Vault,
} from '../repository/index.js';
import type { AppContext } from './app-context.js';
import type { AuditActor } from './audit-actor.js';

/**
 * A VM's disk-encryption secrets (LUKS passphrases, key files…), kept so that a restored encrypted
 * disk can be opened. The catalog holds the current ones sealed under the vault's secrets key (KEK);
 * each backup stores them with its point (vault-secrets.ts). Values leave only through
 * readPointSecrets, which is audited whatever its outcome; who may call it (admin or key-restore
 * permission) is the caller's decision. Changes are audited too. See docs/secrets.md.
 */
export interface SecretSummary {
  name: string;
  kind: SecretKind;
  sizeBytes: number;
  updatedAt: string;
}

async function requireVm(app: AppContext, vmName: string): Promise<void> {
  if (!(await app.catalog.vms.find(vmName))) throw new BovedaError('VM_NOT_FOUND', `no VM named "${vmName}" (see "boveda vm list")`);
}

/** Records an audit entry for `body`'s outcome and returns or rethrows what it gave. */
async function audited<T>(app: AppContext, actor: AuditActor, action: string, vmName: string, details: Record<string, unknown>, body: () => Promise<T>): Promise<T> {
  let value: T;
  try {
    value = await body();
  } catch (error) {
    const outcome: AuditOutcome = 'failed';
    await app.catalog.audit.record({
      userName: actor.userName, source: actor.source, action, target: `vm:${vmName}`, outcome,
      details: { ...details, error: isBovedaError(error) ? error.code : 'INTERNAL', message: describeError(error).slice(0, 500) },
    });
    throw error;
  }
  // Recorded before the value is handed out: an action that cannot be audited does not complete.
  await app.catalog.audit.record({ userName: actor.userName, source: actor.source, action, target: `vm:${vmName}`, outcome: 'succeeded', details });
  return value;
}

/** Adds or replaces a secret of a VM; the value is sealed before it reaches the catalog. Audited "secrets.set". */
export async function setVmSecret(app: AppContext, vmName: string, input: { name: string; kind: SecretSummary['kind']; value: Buffer }, actor: AuditActor): Promise<SecretSummary> {
  const name = checkSecretName(input.name);
  const kind = checkSecretKind(input.kind);
  const value = checkSecretValue(input.value, name);
  return audited(app, actor, 'secrets.set', vmName, { secret: name, kind, sizeBytes: value.length }, async () => {
    await requireVm(app, vmName);
    const vault = await app.vault();
    const sealed = sealVmSecret(vault, await vault.secretsKey(), vmName, name, value);
    const record = await app.catalog.secrets.put({ vmName, name, kind, sealed, sizeBytes: value.length });
    return { name: record.name, kind: record.kind, sizeBytes: record.sizeBytes, updatedAt: record.updatedAt };
  });
}

/** The VM's current secrets (names, kinds, sizes; never values). */
export async function listVmSecrets(app: AppContext, vmName: string): Promise<SecretSummary[]> {
  await requireVm(app, vmName);
  return (await app.catalog.secrets.list(vmName)).map((record) => ({ name: record.name, kind: record.kind, sizeBytes: record.sizeBytes, updatedAt: record.updatedAt }));
}

/** Forgets a current secret (points that stored it keep it). Audited "secrets.remove". */
export async function removeVmSecret(app: AppContext, vmName: string, name: string, actor: AuditActor): Promise<void> {
  await audited(app, actor, 'secrets.remove', vmName, { secret: typeof name === 'string' ? name.slice(0, 100) : null }, async () => {
    await requireVm(app, vmName);
    checkSecretName(name);
    if (!(await app.catalog.secrets.remove(vmName, name))) throw new BovedaError('SECRET_NOT_FOUND', `VM "${vmName}" has no secret "${name}"`);
  });
}

/** The VM's current secrets in clear, for a backup to store with its point (none: []). */
export async function vmSecretsForBackup(app: AppContext, vault: Vault, vmName: string): Promise<PointSecretInput[]> {
  const records = await app.catalog.secrets.list(vmName);
  if (records.length === 0) return [];
  const kek = await vault.secretsKey();
  return records.map((record) => ({ name: record.name, kind: record.kind, value: openVmSecret(vault, kek, vmName, record.name, record.sealed) }));
}

/** The point (id or unique prefix) of `vmName`; POINT_NOT_FOUND when it is another VM's. */
async function pointOf(vault: Vault, vmName: string, pointId: string): Promise<PointManifest> {
  const point = await readPoint(vault, await resolvePointId(vault, pointId));
  if (point.subject !== vmName) throw new BovedaError('POINT_NOT_FOUND', `recovery point ${point.pointId} is not a point of VM "${vmName}"`);
  return point;
}

function summaries(point: PointManifest): SecretSummary[] {
  return (point.secrets ?? []).map((secret) => ({ name: secret.name, kind: asKind(secret.kind), sizeBytes: secret.sizeBytes, updatedAt: point.createdAt }));
}

// A kind this version does not know (written by a newer one) is shown as "other", never refused.
function asKind(kind: string): SecretKind {
  return kind === 'luks-passphrase' || kind === 'key-file' ? kind : 'other';
}

/** Names, kinds and sizes of a point's secrets, from its manifest (nothing is decrypted). updatedAt is the point's time. */
export async function listPointSecrets(app: AppContext, vmName: string, pointId: string): Promise<SecretSummary[]> {
  return summaries(await pointOf(await app.vault(), vmName, pointId));
}

/**
 * The secrets a point stored, in clear. Every call is audited as "secrets.read" (target vm:<name>,
 * details: the point and secret names, or the error), successful or not; the values are returned
 * only once the audit entry is written.
 */
export async function readPointSecrets(app: AppContext, vmName: string, pointId: string, actor: AuditActor): Promise<{ pointId: string; secrets: Array<SecretSummary & { value: Buffer }> }> {
  const details: Record<string, unknown> = { pointId: typeof pointId === 'string' ? pointId.slice(0, 64) : null };
  return audited(app, actor, 'secrets.read', vmName, details, async () => {
    const vault = await app.vault();
    const point = await pointOf(vault, vmName, pointId);
    details.pointId = point.pointId;
    const values = await readSealedPointSecrets(vault, point);
    details.secrets = values.map((secret) => secret.name);
    const byName = new Map(summaries(point).map((summary) => [summary.name, summary]));
    return { pointId: point.pointId, secrets: values.map((secret) => ({ ...byName.get(secret.name)!, value: Buffer.from(secret.value) })) };
  });
}
