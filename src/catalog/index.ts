/**
 * catalog: Boveda's database of what to protect (and, in later issues, policies, protected items,
 * recovery points and jobs). SQLite through Kysely today; the vault stays self-describing, so losing
 * the catalog loses definitions and history, never backed-up data.
 *
 * Concepts:
 * - Catalog: one database file (`<data-dir>/catalog.db`) or an in-memory one for tests, composed of
 *   parts — `vms` (VmCatalog) now. Every part operation is one transaction; failures of the database
 *   are CATALOG_ERROR naming the file.
 * - Migration: a numbered, frozen schema step (migrations/). open() applies the pending ones in order
 *   in one transaction and records them in `schema_migrations`; a file from a newer Boveda is refused.
 * - VmDefinition: a protected VM — name, ordered disks (name, absolute path, role), pre/post scripts
 *   and their timeout. What the backup engine takes. VmRecord adds created/updated times and notes.
 * - Disk roles: os (boots the VM), data, temp (never backed up).
 *
 * Invariants (vm-rules.ts is the one place that checks them):
 * - VM and disk names match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$; VM names are unique (case-sensitive).
 * - A VM has at least one disk, and at least one that is not temp; disk names and paths are unique
 *   within a VM; paths are absolute and normalized (symlinks kept as given).
 * - Defaults: the first disk of a VM is "os", later ones "data"; an unnamed disk is called "disk<N>"
 *   with the lowest N not in use in that VM ("disk0", "disk1", …).
 * - Scripts are non-blank command lines or null; the timeout is 1..86400 s (default 300).
 * - The catalog checks no files: whether a disk path exists and is a file or block device is the
 *   app layer's check when a disk is added (a disk may be missing later; `vm show` reports it).
 * - The catalog never touches the vault: removing a VM keeps its recovery points.
 *
 * Depends on core and util only (and on Kysely, and on better-sqlite3 through the slice Kysely
 * declares: sqlite-driver.ts).
 */
// Nothing exported here loads Kysely or the driver: they load when a catalog is opened (so every
// CLI command does not pay for them). The migration list is in migrations/index.ts for that reason.
export { Catalog, DEFAULT_BUSY_TIMEOUT_MS, type CatalogOptions } from './catalog.js';
export type { CatalogAccess } from './catalog-access.js';
export type { Migration } from './migrations/migration.js';
export { CATALOG_APPLICATION_ID, type CatalogSchema } from './schema.js';
export { VmCatalog } from './vm-catalog.js';
export * from './vm-definition.js';
export * from './vm-rules.js';
