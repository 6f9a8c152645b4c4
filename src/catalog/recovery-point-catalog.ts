import type { Insertable, Selectable } from 'kysely';
import { BovedaError } from '../core/index.js';
import type { CatalogAccess } from './catalog-access.js';
import { checkBytes, checkName, fromJson, isoTime, toJson } from './catalog-values.js';
import type { RecoveryPointsTable } from './schema.js';

/**
 * One recovery point of the vault, as the catalog mirrors it. The vault is the truth: every field
 * here can be recomputed from it (`catalog rebuild` → replaceAll). Byte counts the vault measures
 * only with a full usage pass (referenced, introduced, unique, stored) are null when not measured.
 */
export interface RecoveryPointRecord {
  /** The vault's point id. */
  id: string;
  vmName: string;
  createdAt: string;
  parentId: string | null;
  type: 'full' | 'incremental';
  trigger: 'scheduled' | 'on-demand';
  consistency: 'application' | 'file-system' | 'crash';
  /** On-demand points: their own expiry (ISO UTC), null for never / scheduled. */
  expiresAt: string | null;
  /** Sum of the sizes of the point's disks. */
  logicalBytes: number;
  /** Used (allocated, non-zero) bytes of the non-temp disks: the protected instance size. */
  protectedBytes: number;
  /** Plaintext bytes of the distinct blocks the point references. */
  referencedBytes: number | null;
  /** Plaintext bytes of the blocks the point added to the vault. */
  introducedBytes: number | null;
  /** Plaintext bytes only this point references (freed if it were removed). */
  uniqueBytes: number | null;
  /** The same two in stored (compressed, encrypted) bytes. */
  introducedStoredBytes: number | null;
  uniqueStoredBytes: number | null;
  /** Everything else the engine says of the point (disks, warnings, consistency note, …). */
  meta: Record<string, unknown>;
}

/** A VM's points summed up (usage, billing). Sums skip unmeasured (null) values; null when none is measured. */
export interface VmPointTotals {
  vmName: string;
  points: number;
  oldestAt: string;
  newestAt: string;
  /** The newest point: its id, protected size and logical size (what a stopped item is billed on). */
  latestPointId: string;
  latestProtectedBytes: number;
  latestLogicalBytes: number;
  introducedBytes: number | null;
  introducedStoredBytes: number | null;
  uniqueBytes: number | null;
  uniqueStoredBytes: number | null;
}

/**
 * The recovery-point mirror. Writes come from the process that changed the vault (a backup upserts
 * its point, cleanup removes the expired ones and upserts the accounting of the rest) and from
 * `catalog rebuild`, which replaces the whole mirror in one transaction. Points are keyed by VM
 * name, never tied to a VM definition or protected item: they outlive both.
 */
export class RecoveryPointCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** Inserts the points or replaces the rows with the same ids. INVALID_ARGUMENT for a malformed row (nothing written). */
  async upsert(points: RecoveryPointRecord | readonly RecoveryPointRecord[]): Promise<void> {
    const list = Array.isArray(points) ? (points as readonly RecoveryPointRecord[]) : [points as RecoveryPointRecord];
    const now = this.#access.clock.now().toISOString();
    const rows = list.map((point) => toRow(point, now, this.#access));
    if (rows.length === 0) return;
    await this.#access.write(rows.length === 1 ? `record recovery point ${rows[0]!.id}` : `record ${rows.length} recovery points`, async (db) => {
      for (const row of rows) {
        const { id: _id, ...rest } = row;
        await db.insertInto('recovery_points').values(row).onConflict((conflict) => conflict.column('id').doUpdateSet(rest)).execute();
      }
    });
  }

  /** Deletes the rows of these ids (unknown ids are ignored) and returns how many were deleted. */
  async remove(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.#access.write(`remove ${ids.length} recovery point${ids.length === 1 ? '' : 's'}`, async (db) => {
      let removed = 0;
      for (let start = 0; start < ids.length; start += 500) {
        const result = await db.deleteFrom('recovery_points').where('id', 'in', ids.slice(start, start + 500)).executeTakeFirst();
        removed += Number(result.numDeletedRows);
      }
      return removed;
    });
  }

  /** Deletes every row of the VM (its data was purged); returns how many. */
  async removeForVm(vmName: string): Promise<number> {
    return this.#access.write(`remove the recovery points of VM ${vmName}`, async (db) => {
      const result = await db.deleteFrom('recovery_points').where('vm_name', '=', vmName).executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }

  /** POINT_NOT_FOUND when the mirror has no point of that id. */
  async get(id: string): Promise<RecoveryPointRecord> {
    const point = await this.find(id);
    if (!point) throw new BovedaError('POINT_NOT_FOUND', `no recovery point ${id} in the catalog (if the vault has it, run "boveda catalog rebuild")`);
    return point;
  }

  /** The point, or null. */
  async find(id: string): Promise<RecoveryPointRecord | null> {
    return this.#access.read(`read recovery point ${id}`, async (db) => {
      const row = await db.selectFrom('recovery_points').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRecord(row) : null;
    });
  }

  /** The VM's points, oldest first. */
  async listForVm(vmName: string): Promise<RecoveryPointRecord[]> {
    return this.#access.read(`list the recovery points of VM ${vmName}`, async (db) =>
      (await db.selectFrom('recovery_points').selectAll().where('vm_name', '=', vmName).orderBy('created_at').orderBy('id').execute()).map(toRecord));
  }

  /** Every point, by VM name then oldest first. */
  async listAll(): Promise<RecoveryPointRecord[]> {
    return this.#access.read('list recovery points', async (db) =>
      (await db.selectFrom('recovery_points').selectAll().orderBy('vm_name').orderBy('created_at').orderBy('id').execute()).map(toRecord));
  }

  /**
   * Replaces the whole mirror with `points` (catalog rebuild), in one transaction: readers see the
   * old mirror or the new one, never a mix. INVALID_ARGUMENT for a malformed row or a repeated id.
   */
  async replaceAll(points: readonly RecoveryPointRecord[]): Promise<void> {
    const now = this.#access.clock.now().toISOString();
    const rows = points.map((point) => toRow(point, now, this.#access));
    const seen = new Set<string>();
    for (const row of rows) {
      if (seen.has(row.id)) throw new BovedaError('INVALID_ARGUMENT', `recovery point ${row.id} is given twice`);
      seen.add(row.id);
    }
    await this.#access.write('replace the recovery points', async (db) => {
      await db.deleteFrom('recovery_points').execute();
      for (let start = 0; start < rows.length; start += 100) await db.insertInto('recovery_points').values(rows.slice(start, start + 100)).execute();
    });
  }

  /** Per-VM totals, by VM name; only VMs with points (only `vmName` when given). */
  async totals(vmName?: string): Promise<VmPointTotals[]> {
    return this.#access.read('sum up recovery points', async (db) => {
      let query = db.selectFrom('recovery_points').selectAll();
      if (vmName !== undefined) query = query.where('vm_name', '=', vmName);
      const rows = await query.orderBy('vm_name').orderBy('created_at').orderBy('id').execute();
      const totals = new Map<string, VmPointTotals>();
      for (const row of rows) {
        const total = totals.get(row.vm_name);
        if (!total) {
          totals.set(row.vm_name, {
            vmName: row.vm_name, points: 1, oldestAt: row.created_at, newestAt: row.created_at,
            latestPointId: row.id, latestProtectedBytes: row.protected_bytes, latestLogicalBytes: row.logical_bytes,
            introducedBytes: row.introduced_bytes, introducedStoredBytes: row.introduced_stored_bytes,
            uniqueBytes: row.unique_bytes, uniqueStoredBytes: row.unique_stored_bytes,
          });
          continue;
        }
        total.points++;
        total.newestAt = row.created_at;
        total.latestPointId = row.id;
        total.latestProtectedBytes = row.protected_bytes;
        total.latestLogicalBytes = row.logical_bytes;
        total.introducedBytes = addNullable(total.introducedBytes, row.introduced_bytes);
        total.introducedStoredBytes = addNullable(total.introducedStoredBytes, row.introduced_stored_bytes);
        total.uniqueBytes = addNullable(total.uniqueBytes, row.unique_bytes);
        total.uniqueStoredBytes = addNullable(total.uniqueStoredBytes, row.unique_stored_bytes);
      }
      return [...totals.values()];
    });
  }
}

function addNullable(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : a + b;
}

const TYPES = ['full', 'incremental'];
const TRIGGERS = ['scheduled', 'on-demand'];
const CONSISTENCIES = ['application', 'file-system', 'crash'];

function oneOf<T extends string>(value: T, allowed: readonly string[], what: string): T {
  if (!allowed.includes(value)) throw new BovedaError('INVALID_ARGUMENT', `${what} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value;
}

function optionalBytes(value: number | null | undefined, what: string): number | null {
  return value === null || value === undefined ? null : checkBytes(value, what);
}

function toRow(point: RecoveryPointRecord, now: string, access: CatalogAccess): Insertable<RecoveryPointsTable> {
  const id = checkName(point.id, 'recovery point id');
  const what = `recovery point ${id}`;
  if (point.meta === null || typeof point.meta !== 'object' || Array.isArray(point.meta)) throw new BovedaError('INVALID_ARGUMENT', `${what}: meta must be an object`);
  return {
    id,
    vm_name: checkName(point.vmName, `${what}: VM name`),
    created_at: isoTime(checkName(point.createdAt, `${what}: createdAt`), access.clock, `${what}: createdAt`),
    parent_id: point.parentId ?? null,
    type: oneOf(point.type, TYPES, `${what}: type`),
    trigger: oneOf(point.trigger, TRIGGERS, `${what}: trigger`),
    consistency: oneOf(point.consistency, CONSISTENCIES, `${what}: consistency`),
    expires_at: point.expiresAt === null || point.expiresAt === undefined ? null : isoTime(point.expiresAt, access.clock, `${what}: expiresAt`),
    logical_bytes: checkBytes(point.logicalBytes, `${what}: logicalBytes`),
    protected_bytes: checkBytes(point.protectedBytes, `${what}: protectedBytes`),
    referenced_bytes: optionalBytes(point.referencedBytes, `${what}: referencedBytes`),
    introduced_bytes: optionalBytes(point.introducedBytes, `${what}: introducedBytes`),
    unique_bytes: optionalBytes(point.uniqueBytes, `${what}: uniqueBytes`),
    introduced_stored_bytes: optionalBytes(point.introducedStoredBytes, `${what}: introducedStoredBytes`),
    unique_stored_bytes: optionalBytes(point.uniqueStoredBytes, `${what}: uniqueStoredBytes`),
    meta: toJson(point.meta, `${what}: meta`),
    synced_at: now,
  };
}

function toRecord(row: Selectable<RecoveryPointsTable>): RecoveryPointRecord {
  return {
    id: row.id,
    vmName: row.vm_name,
    createdAt: row.created_at,
    parentId: row.parent_id,
    type: row.type,
    trigger: row.trigger,
    consistency: row.consistency,
    expiresAt: row.expires_at,
    logicalBytes: row.logical_bytes,
    protectedBytes: row.protected_bytes,
    referencedBytes: row.referenced_bytes,
    introducedBytes: row.introduced_bytes,
    uniqueBytes: row.unique_bytes,
    introducedStoredBytes: row.introduced_stored_bytes,
    uniqueStoredBytes: row.unique_stored_bytes,
    meta: fromJson<Record<string, unknown>>(row.meta),
  };
}
