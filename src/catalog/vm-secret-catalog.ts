import { BovedaError, MAX_SECRETS_PER_VM, checkSecretKind, checkSecretName, type SecretKind } from '../core/index.js';
import type { CatalogAccess } from './catalog-access.js';
import { checkBytes, checkName } from './catalog-values.js';

/** One current secret of a VM as the catalog keeps it: the value only sealed (by the app, under the vault's secrets key). */
export interface VmSecretRecord {
  vmName: string;
  name: string;
  kind: SecretKind;
  /** nonce ‖ ciphertext ‖ tag; opaque here. */
  sealed: Uint8Array;
  /** Bytes of the clear value. */
  sizeBytes: number;
  createdAt: string;
  updatedAt: string;
}

export interface VmSecretInput {
  vmName: string;
  name: string;
  kind: SecretKind;
  sealed: Uint8Array;
  sizeBytes: number;
}

/**
 * The disk-encryption secrets each VM carries now (table vm_secrets). Sealing is the app's job, so
 * the catalog never sees a clear value; this part checks names, kinds and the per-VM limit.
 */
export class VmSecretCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** The VM's secrets, by name. */
  async list(vmName: string): Promise<VmSecretRecord[]> {
    return this.#access.read(`list secrets of VM ${vmName}`, async (db) => {
      const rows = await db.selectFrom('vm_secrets').selectAll().where('vm_name', '=', vmName).orderBy('name').execute();
      return rows.map(toRecord);
    });
  }

  async find(vmName: string, name: string): Promise<VmSecretRecord | null> {
    return this.#access.read(`read secret ${name} of VM ${vmName}`, async (db) => {
      const row = await db.selectFrom('vm_secrets').selectAll().where('vm_name', '=', vmName).where('name', '=', name).executeTakeFirst();
      return row ? toRecord(row) : null;
    });
  }

  /** Adds or replaces a secret; INVALID_ARGUMENT when it would be the VM's (MAX_SECRETS_PER_VM + 1)th. */
  async put(input: VmSecretInput): Promise<VmSecretRecord> {
    const vmName = checkName(input.vmName, 'VM name');
    const name = checkSecretName(input.name);
    const kind = checkSecretKind(input.kind);
    const sizeBytes = checkBytes(input.sizeBytes, `size of secret ${name}`);
    if (!(input.sealed instanceof Uint8Array) || input.sealed.length === 0) throw new BovedaError('INVALID_ARGUMENT', `secret "${name}" of VM "${vmName}" has no sealed value`);
    const sealed = Buffer.from(input.sealed);
    return this.#access.write(`store secret ${name} of VM ${vmName}`, async (db) => {
      const now = this.#access.clock.now().toISOString();
      const existing = await db.selectFrom('vm_secrets').select('created_at').where('vm_name', '=', vmName).where('name', '=', name).executeTakeFirst();
      if (existing) {
        await db.updateTable('vm_secrets').set({ kind, sealed, size_bytes: sizeBytes, updated_at: now }).where('vm_name', '=', vmName).where('name', '=', name).execute();
        return { vmName, name, kind, sealed, sizeBytes, createdAt: existing.created_at, updatedAt: now };
      }
      const { count } = await db.selectFrom('vm_secrets').select((eb) => eb.fn.countAll<number>().as('count')).where('vm_name', '=', vmName).executeTakeFirstOrThrow();
      if (Number(count) >= MAX_SECRETS_PER_VM) {
        throw new BovedaError('INVALID_ARGUMENT', `VM "${vmName}" already has ${MAX_SECRETS_PER_VM} secrets, the most a VM may carry: remove one first`);
      }
      await db.insertInto('vm_secrets').values({ vm_name: vmName, name, kind, sealed, size_bytes: sizeBytes, created_at: now, updated_at: now }).execute();
      return { vmName, name, kind, sealed, sizeBytes, createdAt: now, updatedAt: now };
    });
  }

  /** Forgets a secret; false when the VM had none of that name. */
  async remove(vmName: string, name: string): Promise<boolean> {
    return this.#access.write(`remove secret ${name} of VM ${vmName}`, async (db) =>
      Number((await db.deleteFrom('vm_secrets').where('vm_name', '=', vmName).where('name', '=', name).executeTakeFirst()).numDeletedRows) > 0);
  }
}

function toRecord(row: { vm_name: string; name: string; kind: string; sealed: Buffer; size_bytes: number; created_at: string; updated_at: string }): VmSecretRecord {
  return {
    vmName: row.vm_name, name: row.name, kind: checkSecretKind(row.kind), sealed: new Uint8Array(row.sealed),
    sizeBytes: row.size_bytes, createdAt: row.created_at, updatedAt: row.updated_at,
  };
}
