/**
 * repository: the vault. Concepts and invariants:
 * - Vault: config + keys + store; init writes the key slot before the config (the config makes a vault).
 * - Blocks and map pages are content-addressed (keyed hash), sealed with a key derived from their
 *   address, and live in packs found through index files. All-zero blocks are never stored.
 * - Write order: packs → index files → manifest; each object durable before anything refers to it,
 *   every object written once, never modified. A point exists exactly when its manifest does.
 * - Locks (vault-lock.ts): writers and readers hold shared locks, gc and key removal exclusive ones,
 *   so gc never removes a block a running backup has deduplicated against.
 * - Disk-encryption secrets (vault-secrets.ts): one random KEK per vault, wrapped under its own
 *   master-key derivation; a point's secrets in `secrets/<point id>`, written before its manifest.
 * - Reads never return wrong data: each blob is authenticated under its address and re-hashed.
 */
export * from './accounting.js';
export * from './block-index.js';
export * from './block-map.js';
export * from './block-reader.js';
export * from './crypto-pool.js';
export * from './disk-writer.js';
export * from './gc.js';
export * from './points.js';
export * from './removal-savings.js';
export * from './subject-usage.js';
export * from './vault.js';
export * from './vault-index.js';
export * from './vault-lock.js';
export * from './vault-reader.js';
export * from './vault-secrets.js';
export * from './vault-writer.js';
export * from './verify.js';
// The vault's public shapes, re-exported so that layers above need not reach into format/.
export { ADDRESS_BYTES } from '../format/index.js';
export type { BlockMapRoot, DiskStats, ManifestDisk, ManifestSecret, PointManifest } from '../format/index.js';
