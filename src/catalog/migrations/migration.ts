import type { Kysely } from 'kysely';

/**
 * One step of the catalog schema. Rules:
 * - versions are 1, 2, 3, … with no gaps; a released migration is frozen: never edit or renumber it,
 *   fix mistakes with a new one;
 * - `up` uses only the schema builder and raw SQL, never the app's table types (they describe the
 *   latest schema, not the one at this step);
 * - `up` runs inside the migrator's transaction, together with the other pending steps and the row
 *   that records it: it either happens whole or not at all. So no statements that cannot run in a
 *   transaction (VACUUM, changing journal_mode).
 */
export interface Migration {
  readonly version: number;
  /** Recorded next to the version; a file whose row for a version has another name is refused. */
  readonly name: string;
  up(db: Kysely<unknown>): Promise<void>;
}
