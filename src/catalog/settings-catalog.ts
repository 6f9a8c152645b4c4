import type { CatalogAccess } from './catalog-access.js';
import { checkName, fromJson, toJson } from './catalog-values.js';

/** Whether stopping protection with --delete-data soft-deletes (boolean; default true). */
export const SOFT_DELETE_SETTING = 'soft-delete.enabled';
/** The optional price table for usage cost estimates (the app defines its shape; default null). */
export const PRICE_TABLE_SETTING = 'billing.price-table';

/**
 * Vault-wide settings: JSON values by key. The catalog keeps no defaults and checks no shapes: the
 * caller passes the default with each read and validates what it writes.
 */
export class SettingsCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** The stored value of `key`, or `fallback` when it was never set (or was removed). */
  async get<T>(key: string, fallback: T): Promise<T> {
    return this.#access.read(`read setting ${key}`, async (db) => {
      const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
      return row ? fromJson<T>(row.value) : fallback;
    });
  }

  /** Stores `value` (anything JSON can hold; INVALID_ARGUMENT otherwise) under `key`. */
  async set(key: string, value: unknown): Promise<void> {
    checkName(key, 'setting name');
    const text = toJson(value, `setting ${key}`);
    await this.#access.write(`change setting ${key}`, async (db) => {
      const now = this.#access.clock.now().toISOString();
      await db.insertInto('settings').values({ key, value: text, updated_at: now }).onConflict((conflict) => conflict.column('key').doUpdateSet({ value: text, updated_at: now })).execute();
    });
  }

  /** Forgets `key` (reads get their default again); true when it was set. */
  async remove(key: string): Promise<boolean> {
    return this.#access.write(`remove setting ${key}`, async (db) => Number((await db.deleteFrom('settings').where('key', '=', key).executeTakeFirst()).numDeletedRows) > 0);
  }

  /** Every stored setting, by key. */
  async list(): Promise<Record<string, unknown>> {
    return this.#access.read('list settings', async (db) => {
      const rows = await db.selectFrom('settings').select(['key', 'value']).orderBy('key').execute();
      return Object.fromEntries(rows.map((row) => [row.key, fromJson<unknown>(row.value)]));
    });
  }
}
