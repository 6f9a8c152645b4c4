import type { Kysely } from 'kysely';
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
