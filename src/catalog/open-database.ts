import { Kysely, SqliteDialect } from 'kysely';
import type { Clock } from '../util/index.js';
import { catalogError } from './catalog-access.js';
import { KyselyCatalogAccess } from './kysely-access.js';
import { migrateCatalog } from './migrator.js';
import { migrations as builtInMigrations, type Migration } from './migrations/index.js';
import type { CatalogSchema } from './schema.js';
import { openSqlite, runStatement, type SqliteHandle } from './sqlite-driver.js';

/**
 * Opens the SQLite database behind a Catalog: connection settings, then migration. catalog.ts loads
 * this module (and with it Kysely and the native driver) only when a catalog is opened, so programs
 * that import the catalog without opening one (every CLI command) do not pay for loading them.
 */
export async function openCatalogDatabase(
  file: string,
  label: string,
  options: { clock: Clock; busyTimeoutMs: number; migrations?: readonly Migration[] | undefined },
): Promise<{ access: KyselyCatalogAccess; schemaVersion: number }> {
  let handle: SqliteHandle;
  try {
    handle = await openSqlite(file, { busyTimeoutMs: options.busyTimeoutMs });
  } catch (error) {
    throw catalogError(label, 'open it', error);
  }
  const db = new Kysely<CatalogSchema>({ dialect: new SqliteDialect({ database: handle }) });
  try {
    // WAL is a property of the file (kept across opens); the others hold per connection.
    if (file !== ':memory:') runStatement(handle, 'pragma journal_mode = wal');
    runStatement(handle, 'pragma foreign_keys = on');
    runStatement(handle, 'pragma synchronous = full');
    const schemaVersion = await migrateCatalog(db as Kysely<unknown>, options.migrations ?? builtInMigrations, label, options.clock);
    return { access: new KyselyCatalogAccess(db, label, options.clock), schemaVersion };
  } catch (error) {
    await db.destroy().catch(() => undefined);
    handle.close();
    throw catalogError(label, 'open it', error);
  }
}
