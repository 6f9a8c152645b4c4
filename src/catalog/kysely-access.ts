import { sql, type Kysely } from 'kysely';
import { BovedaError } from '../core/index.js';
import type { Clock } from '../util/index.js';
import { catalogError, type CatalogAccess } from './catalog-access.js';
import type { CatalogSchema } from './schema.js';

/** CatalogAccess over a Kysely instance (loaded only when a catalog is opened: see open-database.ts). */
export class KyselyCatalogAccess implements CatalogAccess {
  readonly label: string;
  readonly clock: Clock;
  readonly #db: Kysely<CatalogSchema>;
  #closed = false;

  constructor(db: Kysely<CatalogSchema>, label: string, clock: Clock) {
    this.#db = db;
    this.label = label;
    this.clock = clock;
  }

  read<T>(action: string, body: (db: Kysely<CatalogSchema>) => Promise<T>): Promise<T> {
    return this.#transaction('begin', action, body);
  }

  write<T>(action: string, body: (db: Kysely<CatalogSchema>) => Promise<T>): Promise<T> {
    return this.#transaction('begin immediate', action, body);
  }

  /** Idempotent; later calls fail with CATALOG_ERROR. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.destroy();
  }

  async #transaction<T>(begin: 'begin' | 'begin immediate', action: string, body: (db: Kysely<CatalogSchema>) => Promise<T>): Promise<T> {
    if (this.#closed) throw new BovedaError('CATALOG_ERROR', `${this.label}: cannot ${action}: the catalog is closed`);
    try {
      return await runInTransaction(this.#db, begin, body);
    } catch (error) {
      throw catalogError(this.label, action, error);
    }
  }
}

/** Runs `body` on the (single) connection inside BEGIN … COMMIT, rolling back when it throws. */
export async function runInTransaction<DB, T>(
  db: Kysely<DB>,
  begin: 'begin' | 'begin immediate',
  body: (db: Kysely<DB>) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (connection) => {
    await sql.raw(begin).execute(connection);
    let result: T;
    try {
      result = await body(connection);
    } catch (error) {
      // SQLite may already have rolled back (e.g. after SQLITE_FULL); the original error is what matters.
      await sql.raw('rollback').execute(connection).catch(() => undefined);
      throw error;
    }
    try {
      await sql.raw('commit').execute(connection);
    } catch (error) {
      await sql.raw('rollback').execute(connection).catch(() => undefined);
      throw error;
    }
    return result;
  });
}
