/**
 * catalog: Boveda's database of what to protect, how (policies, protected items), what the vault
 * holds (a mirror of its recovery points), what ran (jobs), which scheduled slots were taken, and
 * vault-wide settings. SQLite through Kysely today; the vault stays self-describing, so losing the
 * catalog loses definitions and history, never backed-up data (`catalog rebuild` restores the
 * points mirror from the vault alone).
 *
 * Concepts:
 * - Catalog: one database file (`<data-dir>/catalog.db`) or an in-memory one for tests, composed of
 *   parts: `vms` (VmCatalog), `policies` (PolicyCatalog), `items` (ProtectedItemCatalog), `points`
 *   (RecoveryPointCatalog), `jobs` (JobCatalog), `schedule` (ScheduleCatalog), `settings`
 *   (SettingsCatalog). Every part operation is one transaction; failures of the database are
 *   CATALOG_ERROR naming the file. Times a caller does not pass come from CatalogOptions.clock.
 * - Migration: a numbered, frozen schema step (migrations/). open() applies the pending ones in order
 *   in one transaction and records them in `schema_migrations`; a file from a newer Boveda is refused.
 * - VmDefinition: a protected VM — name, ordered disks (name, absolute path, role), pre/post scripts
 *   and their timeout. What the backup engine takes. VmRecord adds created/updated times and notes.
 * - Disk roles: os (boots the VM), data, temp (never backed up).
 * - Policy (core/policy.ts): stored as given by name; core's rules validate it before it gets here.
 * - ProtectedItem (core/protection.ts) + firstBackupAt (billing starts) + lastSlot (catch-up):
 *   one per VM NAME, in state protected | stopped-retain | soft-deleted.
 * - RecoveryPointRecord: the mirror of one vault point (type, trigger, consistency, expiry, sizes).
 * - StoredJob (core/job.ts JobRecord + owner "pid@host" + heartbeat).
 * - ScheduleClaim: (VM name, slot) → the scheduled backup job that runs it.
 * - Settings: JSON values by key (SOFT_DELETE_SETTING, PRICE_TABLE_SETTING).
 * - AuditEntry (`audit`, AuditCatalog): append-only record of who did what, from where, how it ended.
 * - VmSecretRecord (`secrets`, VmSecretCatalog): a VM's current disk-encryption secrets, only sealed
 *   (the app seals them under the vault's secrets key; the catalog never holds a clear value).
 * - StoredUser (`users`, UserCatalog): server users with a password hash; names unique, the last
 *   enabled admin cannot be removed, demoted or disabled (LAST_ADMIN); createFirst for first start.
 * - StoredToken (`tokens`, TokenCatalog): sessions and API tokens by public id, only a secret hash
 *   kept; they go with their user, sessions also on a password change or disabling.
 *
 * Invariants of VM definitions (vm-rules.ts is the one place that checks them):
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
 * Invariants of the lifecycle tables (each part checks its own, plus CHECK constraints as backstop):
 * - Protected items, points, jobs and claims refer to VMs by name, never by the VM definition: a VM
 *   removed and added again under the same name finds its item and points again.
 * - A policy that protects an item in state 'protected' cannot be deleted (POLICY_IN_USE, naming the
 *   VMs); deleting one only stopped or soft-deleted items use leaves them without a policy. A
 *   'protected' item always has a policy; a 'soft-deleted' one its softDeletedAt and purgeAfter.
 * - Items move between states only through transition(vmName, expectedStates, changes): atomic,
 *   INVALID_STATE (naming the current state) when the item is elsewhere. The app decides the rules.
 * - Jobs move forward only: queued → in-progress → completed | completed-with-warnings | failed |
 *   cancelled (queued → cancelled too); every move checks the status it leaves in its transaction.
 *   Jobs whose process died are failed by failOrphans (INTERNAL, naming the process).
 * - A scheduled slot of a VM is claimed at most once, by one process, ever (primary key); the claim,
 *   its queued backup job and the item's lastSlot are written together.
 * - The points mirror holds only what the vault can give back: replaceAll swaps it whole.
 * - Times are stored as ISO-8601 UTC text (callers may pass a Date or any ISO string).
 * - Nothing validates policies, settings values or job results here beyond storing them as JSON:
 *   core's rules and the app do.
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
export type { TimeInput } from './catalog-values.js';
export { AuditCatalog, type AuditEntry, type AuditEntryInput, type AuditFilter, type AuditOutcome } from './audit-catalog.js';
export { DEFAULT_JOB_STALE_MS, JobCatalog, type JobFilter, type JobOutcome, type NewJob, type StoredJob } from './job-catalog.js';
export { currentJobOwner, isJobOwnerAlive, parseJobOwner } from './job-owner.js';
export { PolicyCatalog } from './policy-catalog.js';
export { ProtectedItemCatalog, type ProtectedItemChanges, type ProtectedItemRecord } from './protected-item-catalog.js';
export { RecoveryPointCatalog, type RecoveryPointRecord, type VmPointTotals } from './recovery-point-catalog.js';
export { ScheduleCatalog, type ClaimAttempt, type ClaimOptions, type ScheduleClaim } from './schedule-catalog.js';
export { PRICE_TABLE_SETTING, SettingsCatalog, SOFT_DELETE_SETTING } from './settings-catalog.js';
export { VmCatalog } from './vm-catalog.js';
export { VmSecretCatalog, type VmSecretInput, type VmSecretRecord } from './vm-secret-catalog.js';
export { TokenCatalog, type NewToken, type StoredToken, type TokenFilter, type TokenKind } from './token-catalog.js';
export { UserCatalog, type NewUser, type StoredUser, type UserChanges } from './user-catalog.js';
export { UsageCatalog, type UsageSample, type UsageSampleFilter, type UsageSampleInput } from './usage-catalog.js';
export * from './vm-definition.js';
export * from './vm-rules.js';
