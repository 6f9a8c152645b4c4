/**
 * app: the composition root. Builds concrete stores and vaults from what the user gave (a vault
 * directory, secrets) and offers the use cases the CLI and, later, the API call. The CLI imports
 * only this layer (and core/util), so a remote or different backend changes nothing above it.
 */
export * from './local-vault.js';
export * from './data-dir.js';
export * from './vm-service.js';
export {
  Catalog, VmCatalog, DISK_ROLES, VM_NAME_PATTERN, DISK_NAME_PATTERN, MAX_SCRIPT_TIMEOUT_SECONDS, disksToBackUp,
  checkVmName, checkDiskName, checkDiskRole, checkScriptTimeout, isDiskRole, planDisks,
  DEFAULT_SCRIPT_TIMEOUT_SECONDS as DEFAULT_VM_SCRIPT_TIMEOUT_SECONDS,
} from '../catalog/index.js';
export {
  currentJobOwner, PRICE_TABLE_SETTING, SOFT_DELETE_SETTING,
} from '../catalog/index.js';
export type {
  StoredJob, NewJob, ProtectedItemRecord, RecoveryPointRecord, AuditEntry, AuditEntryInput, AuditFilter, AuditOutcome,
  UsageSample, CatalogOptions, VmDefinition, VmDiskDefinition, VmRecord, VmInput, VmChanges, DiskInput, DiskRole as VmDiskRole,
} from '../catalog/index.js';
export * from '../engine/index.js';

export {
  Vault, VaultWriter, VaultReader, writeDisk, loadPoints, readPoint, resolvePointId, deletePoint,
  verifyVault, collectGarbage, measureVaultUsage, clearLocks, DEFAULT_BLOCK_SIZE, DEFAULT_PACK_SIZE, DEFAULT_COMPRESSION_LEVEL,
} from '../repository/index.js';
export type { VerifyReport, GcReport, VaultUsageReport, KeySlotSummary, DiskReadSource } from '../repository/index.js';
export type { PointManifest, ManifestDisk } from '../repository/index.js';
export type { SlotSecret } from '../crypto/index.js';
export { LocalStore } from '../storage/index.js';
export * from './app-context.js';
export * from './job-runner.js';
export * from './point-records.js';
export * from './backup-job.js';
export * from './cleanup-service.js';
export * from './protection-service.js';
export * from './policy-service.js';
export * from './usage-service.js';
export * from './catalog-rebuild.js';
export * from './audit-actor.js';
export * from './secret-service.js';
export * from '../scheduler/index.js';
export * from './user-service.js';
export * from './restore-job.js';
export * from './verify-job.js';
export * from './gc-job.js';
export * from './usage-history.js';
export * from './allowed-paths.js';
export * from './overview-service.js';
