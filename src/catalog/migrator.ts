import { sql, type Kysely } from 'kysely';
import { BovedaError, describeError } from '../core/index.js';
import type { Clock } from '../util/index.js';
import { runInTransaction } from './kysely-access.js';
import { CATALOG_APPLICATION_ID } from './schema.js';
import type { Migration } from './migrations/index.js';

/**
 * Brings a catalog file to the latest schema version:
 * - the applied versions live in `schema_migrations` (version, name, applied_at); the file's schema
 *   version is the highest one;
 * - pending migrations run in version order inside ONE write transaction (BEGIN IMMEDIATE), together
 *   with their rows: a failure leaves the file exactly as it was; two processes opening a fresh file
 *   at once migrate it once (the second waits, then finds nothing to do);
 * - a file with a version this Boveda does not know (written by a newer Boveda), or whose recorded
 *   names differ from ours, is refused with CATALOG_ERROR naming the file — never modified;
 * - a file Boveda did not create (another application's database) is refused too: Boveda marks its
 *   catalogs with PRAGMA application_id = CATALOG_APPLICATION_ID.
 * An up-to-date file is only read (no write lock), so opening the catalog is cheap.
 */

interface SchemaState {
  applicationId: number;
  tables: string[];
  applied: { version: number; name: string }[];
}

async function readState(db: Kysely<unknown>): Promise<SchemaState> {
  const { rows: idRows } = await sql<{ application_id: number }>`pragma application_id`.execute(db);
  const { rows: tableRows } = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db);
  const tables = tableRows.map((row) => row.name);
  const applied = tables.includes('schema_migrations')
    ? (await sql<{ version: number; name: string }>`select version, name from schema_migrations order by version`.execute(db)).rows
    : [];
  return { applicationId: Number(idRows[0]?.application_id ?? 0), tables, applied };
}

/** The version the file is at, or a CATALOG_ERROR when Boveda must not touch it. */
function checkState(state: SchemaState, list: readonly Migration[], label: string): number {
  const latest = list.length;
  if (state.applicationId !== CATALOG_APPLICATION_ID) {
    if (state.applicationId !== 0 || state.tables.length > 0) {
      throw new BovedaError('CATALOG_ERROR', `${label} is not a Boveda catalog (it is another application's database); move it away or use another --data-dir`);
    }
    return 0;
  }
  if (!state.tables.includes('schema_migrations')) throw new BovedaError('CATALOG_ERROR', `${label} is damaged: its schema_migrations table is missing`);
  const newest = state.applied.at(-1)?.version ?? 0;
  if (newest > latest) {
    throw new BovedaError('CATALOG_ERROR', `${label} has schema version ${newest}, written by a newer Boveda; this one understands up to version ${latest}: upgrade Boveda to use it`);
  }
  state.applied.forEach((row, index) => {
    if (row.version !== index + 1) throw new BovedaError('CATALOG_ERROR', `${label} is damaged: schema_migrations lacks version ${index + 1}`);
    const known = list[index]!;
    if (row.name !== known.name) {
      throw new BovedaError('CATALOG_ERROR', `${label} records migration ${row.version} as "${row.name}" but this Boveda's migration ${row.version} is "${known.name}"; it was written by an incompatible Boveda`);
    }
  });
  return newest;
}

function checkList(list: readonly Migration[]): void {
  list.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new BovedaError('INTERNAL', `catalog migration "${migration.name}" has version ${migration.version}, expected ${index + 1}`);
  });
}

/** Migrates `db` to the last version of `list` and returns that version. */
export async function migrateCatalog(db: Kysely<unknown>, list: readonly Migration[], label: string, clock: Clock): Promise<number> {
  checkList(list);
  if (checkState(await readState(db), list, label) === list.length) return list.length;
  return runInTransaction(db, 'begin immediate', async (tx) => {
    // Another process may have migrated while we waited for the lock: look again.
    const from = checkState(await readState(tx), list, label);
    if (from === 0) {
      await sql.raw(`pragma application_id = ${CATALOG_APPLICATION_ID}`).execute(tx);
      await tx.schema
        .createTable('schema_migrations')
        .ifNotExists()
        .addColumn('version', 'integer', (column) => column.primaryKey())
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('applied_at', 'text', (column) => column.notNull())
        .modifyEnd(sql`strict`)
        .execute();
    }
    for (const migration of list.slice(from)) {
      try {
        await migration.up(tx);
      } catch (error) {
        throw new BovedaError('CATALOG_ERROR', `${label}: migration ${migration.version} ("${migration.name}") failed, nothing was changed: ${describeError(error)}`, { cause: error });
      }
      await sql`insert into schema_migrations (version, name, applied_at) values (${migration.version}, ${migration.name}, ${clock.now().toISOString()})`.execute(tx);
    }
    return list.length;
  });
}
