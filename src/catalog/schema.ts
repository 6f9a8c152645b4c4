import type { Generated } from 'kysely';
import type { DiskRole } from './vm-definition.js';

/** "Bove" in ASCII: PRAGMA application_id of every catalog file, set by its first migration run. Never changes. */
export const CATALOG_APPLICATION_ID = 0x426f7665;

/**
 * The catalog's tables as Kysely sees them, at the latest schema version (migrations/ builds them).
 * Times are ISO-8601 UTC text; booleans would be 0/1 integers. Every table is STRICT.
 */
export interface CatalogSchema {
  schema_migrations: SchemaMigrationsTable;
  vms: VmsTable;
  vm_disks: VmDisksTable;
}

/** One row per applied migration; the highest version is the schema version of the file. */
export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: string;
}

export interface VmsTable {
  /** Stable row id: later tables (protected items, recovery points, jobs) refer to a VM by it. */
  id: Generated<number>;
  name: string;
  created_at: string;
  updated_at: string;
  pre_script: string | null;
  post_script: string | null;
  script_timeout_seconds: number;
  notes: string | null;
}

export interface VmDisksTable {
  id: Generated<number>;
  /** vms.id; deleting the VM deletes its disks. */
  vm_id: number;
  name: string;
  path: string;
  role: DiskRole;
  /** Orders the disks of a VM; unique per VM, gaps allowed (a removed disk leaves one). */
  position: number;
}
