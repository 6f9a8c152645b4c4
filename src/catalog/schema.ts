import type { Generated } from 'kysely';
import type { JobStatus, JobTrigger, ProtectionState } from '../core/index.js';
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
  policies: PoliciesTable;
  protected_items: ProtectedItemsTable;
  recovery_points: RecoveryPointsTable;
  jobs: JobsTable;
  schedule_claims: ScheduleClaimsTable;
  settings: SettingsTable;
  users: UsersTable;
  tokens: TokensTable;
  audit_log: AuditLogTable;
  vm_secrets: VmSecretsTable;
  usage_samples: UsageSamplesTable;
}

/** One row per applied migration; the highest version is the schema version of the file. */
export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: string;
}

export interface VmsTable {
  /**
   * Stable row id of the definition. The lifecycle tables (protected items, points, jobs) refer to a
   * VM by NAME instead, as the vault does, so a VM removed and added again finds them again.
   */
  id: Generated<number>;
  name: string;
  created_at: string;
  updated_at: string;
  pre_script: string | null;
  post_script: string | null;
  script_timeout_seconds: number;
  notes: string | null;
  /** QEMU VMs (migration 3): the QMP socket Boveda talks to, and the guest agent's; null otherwise. */
  qmp_socket: string | null;
  qga_socket: string | null;
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
  /** QEMU disks (migration 3): the device's qdev path and the block node the device reads. */
  qemu_qdev: string | null;
  qemu_node: string | null;
}

export interface PoliciesTable {
  id: Generated<number>;
  /** Unique, non-empty. */
  name: string;
  /** JSON of the PolicyDefinition without its name: { description, schedule, retention, instantRestoreDays }. */
  definition: string;
  created_at: string;
  updated_at: string;
}

export interface ProtectedItemsTable {
  id: Generated<number>;
  /** Unique: at most one item per VM name, whatever its state. */
  vm_name: string;
  /** policies.id (ON DELETE RESTRICT); null only when not 'protected' (CHECKed). */
  policy_id: number | null;
  state: ProtectionState;
  protected_at: string;
  stopped_at: string | null;
  /** With purge_after: not null when state is 'soft-deleted' (CHECKed). */
  soft_deleted_at: string | null;
  purge_after: string | null;
  state_before_delete: 'protected' | 'stopped-retain' | null;
  /** The first successful backup: billing starts there. */
  first_backup_at: string | null;
  /** The latest scheduled slot claimed for this item (ISO UTC): where catch-up starts. */
  last_slot: string | null;
  updated_at: string;
}

/** The mirror of one recovery point of the vault (rebuilt from the vault by `catalog rebuild`). */
export interface RecoveryPointsTable {
  /** The vault's point id. */
  id: string;
  vm_name: string;
  created_at: string;
  parent_id: string | null;
  type: 'full' | 'incremental';
  trigger: JobTrigger;
  consistency: 'application' | 'file-system' | 'crash';
  expires_at: string | null;
  logical_bytes: number;
  protected_bytes: number;
  referenced_bytes: number | null;
  introduced_bytes: number | null;
  unique_bytes: number | null;
  introduced_stored_bytes: number | null;
  unique_stored_bytes: number | null;
  /** JSON object: the rest of the point (disks, warnings, …), as the engine describes it. */
  meta: string;
  /** When this row was last written from the vault. */
  synced_at: string;
}

export interface JobsTable {
  /** Insertion order: ties of queued_at sort by it. */
  seq: Generated<number>;
  /** "YYYYMMDD-HHMMSS-xxxxxx" (UTC time of queueing + random hex): unique, sortable, typeable. */
  id: string;
  type: string;
  item: string | null;
  trigger: JobTrigger;
  status: JobStatus;
  queued_at: string;
  started_at: string | null;
  ended_at: string | null;
  bytes_done: Generated<number>;
  bytes_total: number | null;
  percent: number | null;
  bytes_per_second: number | null;
  /** JSON array of strings. */
  warnings: Generated<string>;
  error_code: string | null;
  error_message: string | null;
  /** JSON object or null. */
  result: string | null;
  /** 0 or 1. */
  cancel_requested: Generated<number>;
  slot: string | null;
  /** "pid@host" of the process that runs (or queued) the job. */
  owner: string | null;
  heartbeat_at: string | null;
}

/** One row per (VM, scheduled slot) ever claimed: the primary key makes a slot run at most once. */
export interface ScheduleClaimsTable {
  vm_name: string;
  slot: string;
  job_id: string;
  claimed_at: string;
}

export interface SettingsTable {
  key: string;
  /** JSON. */
  value: string;
  updated_at: string;
}

/** Migration 4: server users. password_hash is self-describing ("scrypt$..."). */
export interface UsersTable {
  id: Generated<number>;
  name: string;
  role: 'reader' | 'operator' | 'contributor' | 'admin';
  password_hash: string;
  key_restore: number;
  disabled: number;
  created_at: string;
  updated_at: string;
  password_changed_at: string;
}

/** Migration 4: login sessions and API tokens; only a hash of the secret is kept. */
export interface TokensTable {
  id: string;
  user_id: number;
  kind: 'session' | 'api';
  name: string | null;
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  created_from: string | null;
}

/** Migration 4: append-only record of security-relevant and destructive actions. */
export interface AuditLogTable {
  id: Generated<number>;
  time: string;
  user_name: string;
  source: string;
  action: string;
  target: string | null;
  outcome: 'succeeded' | 'failed' | 'refused';
  details: string | null;
}

/** Migration 4: a VM's disk-encryption secrets, sealed by the app (opaque here). */
export interface VmSecretsTable {
  id: Generated<number>;
  vm_name: string;
  name: string;
  kind: string;
  sealed: Buffer;
  size_bytes: number;
  created_at: string;
  updated_at: string;
}

/** Migration 4: usage over time (vm_name null = the whole vault). */
export interface UsageSamplesTable {
  id: Generated<number>;
  time: string;
  vm_name: string | null;
  protected_bytes: number;
  stored_bytes: number;
  points: number;
}
