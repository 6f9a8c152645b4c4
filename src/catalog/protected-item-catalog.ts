import type { Kysely, Selectable, Updateable } from 'kysely';
import { BovedaError, type ProtectedItem, type ProtectionState } from '../core/index.js';
import type { CatalogAccess } from './catalog-access.js';
import { checkName, isoTime, isoTimeOrNull, type TimeInput } from './catalog-values.js';
import { getPolicyRow } from './policy-catalog.js';
import type { CatalogSchema, ProtectedItemsTable } from './schema.js';

type Db = Kysely<CatalogSchema>;

/** A protected item as the catalog keeps it: the core ProtectedItem plus billing and scheduling marks. */
export interface ProtectedItemRecord extends ProtectedItem {
  /** The first successful backup (ISO UTC): billing starts there. Null until then. */
  firstBackupAt: string | null;
  /** The latest scheduled slot claimed for the item (ISO UTC), or null: where catch-up starts. */
  lastSlot: string | null;
  updatedAt: string;
}

/** What a transition may change. Undefined fields are left as they are; null clears. */
export interface ProtectedItemChanges {
  state?: ProtectionState;
  /** A policy name; null is allowed only for an item that ends up not 'protected'. */
  policyName?: string | null;
  protectedAt?: TimeInput;
  stoppedAt?: TimeInput | null;
  softDeletedAt?: TimeInput | null;
  purgeAfter?: TimeInput | null;
  stateBeforeDelete?: 'protected' | 'stopped-retain' | null;
}

const STATES: readonly ProtectionState[] = ['protected', 'stopped-retain', 'soft-deleted'];

/**
 * Protected items: which VM (by name) a policy protects, and where it is in the lifecycle (see
 * core/protection.ts). The catalog keeps the states consistent (a 'protected' item has a policy, a
 * 'soft-deleted' one has its soft-delete and purge times) but does not decide which moves are
 * allowed: the app layer does, through transition(), which moves an item only from the states it
 * expects — atomically, so two processes never both stop, resume or purge the same item.
 * Items are keyed by VM name, not by the VM definition: removing a VM keeps its item.
 */
export class ProtectedItemCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /**
   * Protects `vmName` with `policyName` (state 'protected', protectedAt = `at` or now).
   * ALREADY_PROTECTED when the VM has an item in any state; POLICY_NOT_FOUND.
   */
  async create(vmName: string, policyName: string, at?: TimeInput): Promise<ProtectedItemRecord> {
    checkName(vmName, 'VM name');
    return this.#access.write(`protect VM ${vmName}`, async (db) => {
      const existing = await findRow(db, vmName);
      if (existing) {
        throw new BovedaError('ALREADY_PROTECTED', `VM ${vmName} already has a protected item (state ${existing.state}${existing.state === 'protected' ? '' : '; resume or undelete it instead'})`);
      }
      const policy = await getPolicyRow(db, policyName);
      const when = isoTime(at, this.#access.clock, 'protection time');
      await db.insertInto('protected_items').values({ vm_name: vmName, policy_id: policy.id, state: 'protected', protected_at: when, updated_at: this.#now() }).execute();
      return loadItem(db, vmName);
    });
  }

  /** NOT_PROTECTED when the VM has no item. */
  async get(vmName: string): Promise<ProtectedItemRecord> {
    return this.#access.read(`read protected item ${vmName}`, (db) => loadItem(db, vmName));
  }

  /** The item, or null when the VM has none. */
  async find(vmName: string): Promise<ProtectedItemRecord | null> {
    return this.#access.read(`read protected item ${vmName}`, async (db) => ((await findRow(db, vmName)) ? loadItem(db, vmName) : null));
  }

  /** Items ordered by VM name, optionally only those in one of `filter.states` or using `filter.policyName`. */
  async list(filter: { states?: readonly ProtectionState[]; policyName?: string } = {}): Promise<ProtectedItemRecord[]> {
    return this.#access.read('list protected items', async (db) => {
      let query = itemQuery(db);
      if (filter.states) {
        if (filter.states.length === 0) return [];
        query = query.where('protected_items.state', 'in', [...filter.states]);
      }
      if (filter.policyName !== undefined) query = query.where('policies.name', '=', filter.policyName);
      return (await query.orderBy('protected_items.vm_name').execute()).map(toRecord);
    });
  }

  /**
   * Applies `changes` only if the item's state is one of `expectedStates`, in one transaction, and
   * returns the item after. NOT_PROTECTED when there is no item; INVALID_STATE naming the current
   * state otherwise; POLICY_NOT_FOUND for an unknown policyName; INVALID_ARGUMENT when the result
   * would be inconsistent (protected without a policy, soft-deleted without its times).
   */
  async transition(vmName: string, expectedStates: readonly ProtectionState[], changes: ProtectedItemChanges): Promise<ProtectedItemRecord> {
    if (changes.state !== undefined && !STATES.includes(changes.state)) {
      throw new BovedaError('INVALID_ARGUMENT', `unknown protection state ${JSON.stringify(changes.state)} (expected ${STATES.join(', ')})`);
    }
    const clock = this.#access.clock;
    const set: Updateable<ProtectedItemsTable> = {};
    if (changes.state !== undefined) set.state = changes.state;
    if (changes.protectedAt !== undefined) set.protected_at = isoTime(changes.protectedAt, clock, 'protectedAt');
    if (changes.stoppedAt !== undefined) set.stopped_at = isoTimeOrNull(changes.stoppedAt, clock, 'stoppedAt');
    if (changes.softDeletedAt !== undefined) set.soft_deleted_at = isoTimeOrNull(changes.softDeletedAt, clock, 'softDeletedAt');
    if (changes.purgeAfter !== undefined) set.purge_after = isoTimeOrNull(changes.purgeAfter, clock, 'purgeAfter');
    if (changes.stateBeforeDelete !== undefined) set.state_before_delete = changes.stateBeforeDelete;
    return this.#access.write(`change protected item ${vmName}`, async (db) => {
      const row = await getRow(db, vmName);
      if (!expectedStates.includes(row.state)) {
        throw new BovedaError('INVALID_STATE', `the protected item of VM ${vmName} is ${row.state}, not ${expectedStates.join(' or ')}`, {
          details: { state: row.state },
        });
      }
      if (changes.policyName !== undefined) set.policy_id = changes.policyName === null ? null : (await getPolicyRow(db, changes.policyName)).id;
      const after = { ...row, ...set };
      if (after.state === 'protected' && after.policy_id === null) {
        throw new BovedaError('INVALID_ARGUMENT', `the protected item of VM ${vmName} cannot be protected without a policy`);
      }
      if (after.state === 'soft-deleted' && (after.soft_deleted_at === null || after.purge_after === null)) {
        throw new BovedaError('INVALID_ARGUMENT', `the protected item of VM ${vmName} cannot be soft-deleted without softDeletedAt and purgeAfter`);
      }
      await db.updateTable('protected_items').set({ ...set, updated_at: this.#now() }).where('id', '=', row.id).execute();
      return loadItem(db, vmName);
    });
  }

  /** Moves the item to another policy, whatever its state. NOT_PROTECTED; POLICY_NOT_FOUND. */
  async setPolicy(vmName: string, policyName: string): Promise<ProtectedItemRecord> {
    return this.#access.write(`change the policy of VM ${vmName}`, async (db) => {
      const row = await getRow(db, vmName);
      const policy = await getPolicyRow(db, policyName);
      await db.updateTable('protected_items').set({ policy_id: policy.id, updated_at: this.#now() }).where('id', '=', row.id).execute();
      return loadItem(db, vmName);
    });
  }

  /**
   * Records the first successful backup (billing starts there) unless one is recorded already.
   * True when this call recorded it. NOT_PROTECTED when the VM has no item.
   */
  async markFirstBackup(vmName: string, at?: TimeInput): Promise<boolean> {
    const when = isoTime(at, this.#access.clock, 'first backup time');
    return this.#access.write(`record the first backup of VM ${vmName}`, async (db) => {
      const row = await getRow(db, vmName);
      if (row.first_backup_at !== null) return false;
      await db.updateTable('protected_items').set({ first_backup_at: when, updated_at: this.#now() }).where('id', '=', row.id).execute();
      return true;
    });
  }

  /**
   * Deletes the item (after its data was purged, or deleted with soft delete off) and returns it.
   * Its recovery-point rows and schedule claims are not touched. NOT_PROTECTED when there is none.
   */
  async remove(vmName: string): Promise<ProtectedItemRecord> {
    return this.#access.write(`remove protected item ${vmName}`, async (db) => {
      const item = await loadItem(db, vmName);
      await db.deleteFrom('protected_items').where('vm_name', '=', vmName).execute();
      return item;
    });
  }

  #now(): string {
    return this.#access.clock.now().toISOString();
  }
}

async function findRow(db: Db, vmName: string): Promise<Selectable<ProtectedItemsTable> | undefined> {
  return db.selectFrom('protected_items').selectAll().where('vm_name', '=', vmName).executeTakeFirst();
}

async function getRow(db: Db, vmName: string): Promise<Selectable<ProtectedItemsTable>> {
  const row = await findRow(db, vmName);
  if (!row) throw notProtected(vmName);
  return row;
}

function notProtected(vmName: string): BovedaError {
  return new BovedaError('NOT_PROTECTED', `VM ${vmName} is not protected (no protected item; see "boveda protect")`);
}

function itemQuery(db: Db) {
  return db
    .selectFrom('protected_items')
    .leftJoin('policies', 'policies.id', 'protected_items.policy_id')
    .selectAll('protected_items')
    .select('policies.name as policy_name');
}

type ItemRow = Selectable<ProtectedItemsTable> & { policy_name: string | null };

async function loadItem(db: Db, vmName: string): Promise<ProtectedItemRecord> {
  const row = await itemQuery(db).where('protected_items.vm_name', '=', vmName).executeTakeFirst();
  if (!row) throw notProtected(vmName);
  return toRecord(row);
}

function toRecord(row: ItemRow): ProtectedItemRecord {
  return {
    vmName: row.vm_name,
    policyName: row.policy_name,
    state: row.state,
    protectedAt: row.protected_at,
    stoppedAt: row.stopped_at,
    softDeletedAt: row.soft_deleted_at,
    purgeAfter: row.purge_after,
    stateBeforeDelete: row.state_before_delete,
    firstBackupAt: row.first_backup_at,
    lastSlot: row.last_slot,
    updatedAt: row.updated_at,
  };
}
