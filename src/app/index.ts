/**
 * app: the composition root. Builds concrete stores and vaults from what the user gave (a vault
 * directory, secrets) and offers the use cases the CLI and, later, the API call. The CLI imports
 * only this layer (and core/util), so a remote or different backend changes nothing above it.
 */
export * from './local-vault.js';
export * from './restore-to-files.js';
export {
  Vault, VaultWriter, VaultReader, writeDisk, loadPoints, readPoint, resolvePointId, deletePoint,
  verifyVault, collectGarbage, measureVaultUsage, clearLocks, DEFAULT_BLOCK_SIZE, DEFAULT_PACK_SIZE,
} from '../repository/index.js';
export type { VerifyReport, GcReport, VaultUsageReport, KeySlotSummary, DiskReadSource } from '../repository/index.js';
export type { PointManifest, ManifestDisk } from '../format/index.js';
export type { SlotSecret } from '../crypto/index.js';
export { LocalStore } from '../storage/index.js';
