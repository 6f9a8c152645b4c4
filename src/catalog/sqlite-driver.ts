import type { SqliteDatabase } from 'kysely';

/**
 * The slice of better-sqlite3 the catalog uses: exactly what Kysely's SQLite dialect needs
 * (prepare, close), declared by Kysely itself so nothing else depends on better-sqlite3's types.
 * Pragmas go through prepare() as well. Swapping the driver (node:sqlite, a WASM build) means
 * changing only openSqlite().
 */
export type SqliteHandle = SqliteDatabase;

export interface SqliteOpenOptions {
  /** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
  busyTimeoutMs: number;
}

/**
 * Opens (creating if needed) an SQLite database file, or an in-memory one for ":memory:".
 * The driver is loaded on first use, so commands that never touch the catalog never load the
 * native module.
 */
export async function openSqlite(file: string, options: SqliteOpenOptions): Promise<SqliteHandle> {
  const { default: Database } = await import('better-sqlite3');
  return new Database(file, { timeout: options.busyTimeoutMs });
}

/** Runs one statement and returns its rows (none for statements that return nothing). */
export function runStatement(handle: SqliteHandle, text: string): unknown[] {
  const statement = handle.prepare(text);
  if (statement.reader) return statement.all([]);
  statement.run([]);
  return [];
}
