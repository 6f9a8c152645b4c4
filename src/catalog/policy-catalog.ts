import type { Kysely, Selectable } from 'kysely';
import { BovedaError, type PolicyDefinition, type PolicyRecord } from '../core/index.js';
import type { CatalogAccess } from './catalog-access.js';
import { checkName, fromJson, toJson } from './catalog-values.js';
import type { CatalogSchema, PoliciesTable } from './schema.js';

type Db = Kysely<CatalogSchema>;

/**
 * Backup policies, by name. The catalog stores definitions as given: core's policy rules validate
 * them before they get here (the catalog checks only that the name is a non-empty string). The
 * definition round-trips as JSON, unknown fields included.
 *
 * A policy is "in use" while an item in state 'protected' refers to it: such a policy cannot be
 * deleted (POLICY_IN_USE naming the VMs). Deleting a policy that only stopped or soft-deleted items
 * refer to leaves those items without a policy (policyName null): `resume` needs a new one first.
 */
export class PolicyCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** Stores a new policy. POLICY_EXISTS when the name is taken. */
  async create(definition: PolicyDefinition): Promise<PolicyRecord> {
    const name = checkName(definition.name, 'policy name');
    const text = definitionJson(definition);
    return this.#access.write(`create policy ${name}`, async (db) => {
      if (await findRow(db, name)) throw new BovedaError('POLICY_EXISTS', `policy ${name} already exists`);
      const now = this.#access.clock.now().toISOString();
      await db.insertInto('policies').values({ name, definition: text, created_at: now, updated_at: now }).execute();
      return toRecord((await findRow(db, name))!);
    });
  }

  /** POLICY_NOT_FOUND when there is none of that name. */
  async get(name: string): Promise<PolicyRecord> {
    return this.#access.read(`read policy ${name}`, async (db) => toRecord(await getRow(db, name)));
  }

  /** The policy, or null when there is none of that name. */
  async find(name: string): Promise<PolicyRecord | null> {
    return this.#access.read(`read policy ${name}`, async (db) => {
      const row = await findRow(db, name);
      return row ? toRecord(row) : null;
    });
  }

  /** Every policy, ordered by name. */
  async list(): Promise<PolicyRecord[]> {
    return this.#access.read('list policies', async (db) => (await db.selectFrom('policies').selectAll().orderBy('name').execute()).map(toRecord));
  }

  /**
   * Replaces the definition of the policy named `definition.name` (renaming is not supported);
   * createdAt is kept. POLICY_NOT_FOUND when there is none. Items using it follow the new definition.
   */
  async update(definition: PolicyDefinition): Promise<PolicyRecord> {
    const name = checkName(definition.name, 'policy name');
    const text = definitionJson(definition);
    return this.#access.write(`update policy ${name}`, async (db) => {
      const row = await getRow(db, name);
      await db.updateTable('policies').set({ definition: text, updated_at: this.#access.clock.now().toISOString() }).where('id', '=', row.id).execute();
      return toRecord(await getRow(db, name));
    });
  }

  /**
   * Deletes the policy and returns it. POLICY_NOT_FOUND when there is none; POLICY_IN_USE (listing
   * the VMs) while protected items use it. Stopped or soft-deleted items using it lose their policy.
   */
  async delete(name: string): Promise<PolicyRecord> {
    return this.#access.write(`delete policy ${name}`, async (db) => {
      const row = await getRow(db, name);
      const users = await db.selectFrom('protected_items').select(['vm_name', 'state']).where('policy_id', '=', row.id).orderBy('vm_name').execute();
      const protecting = users.filter((user) => user.state === 'protected').map((user) => user.vm_name);
      if (protecting.length > 0) {
        throw new BovedaError('POLICY_IN_USE', `policy ${name} still protects ${protecting.length === 1 ? 'VM' : 'VMs'} ${protecting.join(', ')}; move ${protecting.length === 1 ? 'it' : 'them'} to another policy first`, {
          details: { vms: protecting },
        });
      }
      const now = this.#access.clock.now().toISOString();
      if (users.length > 0) await db.updateTable('protected_items').set({ policy_id: null, updated_at: now }).where('policy_id', '=', row.id).execute();
      await db.deleteFrom('policies').where('id', '=', row.id).execute();
      return toRecord(row);
    });
  }

  /** The names of the VMs whose items (in any state) refer to the policy, sorted. POLICY_NOT_FOUND when there is none. */
  async itemsUsing(name: string): Promise<string[]> {
    return this.#access.read(`read policy ${name}`, async (db) => {
      const row = await getRow(db, name);
      const items = await db.selectFrom('protected_items').select('vm_name').where('policy_id', '=', row.id).orderBy('vm_name').execute();
      return items.map((item) => item.vm_name);
    });
  }
}

async function findRow(db: Db, name: string): Promise<Selectable<PoliciesTable> | undefined> {
  return db.selectFrom('policies').selectAll().where('name', '=', name).executeTakeFirst();
}

/** The policy row; POLICY_NOT_FOUND when there is none. For the other parts too. */
export async function getPolicyRow(db: Db, name: string): Promise<Selectable<PoliciesTable>> {
  const row = await findRow(db, name);
  if (!row) throw new BovedaError('POLICY_NOT_FOUND', `no policy named ${JSON.stringify(name)} (see "boveda policy list")`);
  return row;
}
const getRow = getPolicyRow;

function definitionJson(definition: PolicyDefinition): string {
  const { name: _name, ...rest } = definition as PolicyDefinition & Record<string, unknown>;
  delete (rest as Record<string, unknown>)['createdAt'];
  delete (rest as Record<string, unknown>)['updatedAt'];
  return toJson(rest, `policy ${definition.name}`);
}

function toRecord(row: Selectable<PoliciesTable>): PolicyRecord {
  return { name: row.name, ...fromJson<Omit<PolicyDefinition, 'name'>>(row.definition), createdAt: row.created_at, updatedAt: row.updated_at };
}
