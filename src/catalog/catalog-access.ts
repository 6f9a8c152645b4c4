import { sql, type Kysely } from 'kysely';
import { BovedaError, describeError, isBovedaError } from '../core/index.js';
import type { Clock } from '../util/index.js';
import type { CatalogSchema } from './schema.js';

/**
 * How a part of the catalog (vms, later policies, points, jobs) reaches the database: every
 * operation is one transaction, and every failure that is not already a BovedaError becomes
 * CATALOG_ERROR naming the file and the action. Parts never hold a connection between calls.
 */
export interface CatalogAccess {
  /** "catalog /path/catalog.db" or "in-memory catalog": for messages. */
  readonly label: string;
  readonly clock: Clock;
  /** A deferred transaction: the body sees one consistent snapshot (WAL readers never wait for writers). */
  read<T>(action: string, body: (db: Kysely<CatalogSchema>) => Promise<T>): Promise<T>;
  /**
   * BEGIN IMMEDIATE: takes the write lock first (waiting up to the busy timeout for another process),
   * so the checks a body makes still hold when it writes. A throwing body rolls everything back.
   * Bodies must only touch the database (no other I/O): the lock is held until they return.
   */
  write<T>(action: string, body: (db: Kysely<CatalogSchema>) => Promise<T>): Promise<T>;
}

/** Wraps a driver failure as CATALOG_ERROR; BovedaErrors (VM_NOT_FOUND, INVALID_ARGUMENT, …) pass through. */
export function catalogError(label: string, action: string, error: unknown): BovedaError {
  if (isBovedaError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const hint = code === 'SQLITE_BUSY' ? ' (another process held the catalog locked for longer than the busy timeout)' : '';
  return new BovedaError('CATALOG_ERROR', `${label}: cannot ${action}: ${describeError(error)}${hint}`, { cause: error });
}

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
