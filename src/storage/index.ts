/**
 * storage: where vault objects live. One small interface (BlobStore, see blob-store.ts for its
 * contract: atomic create-only put, read-after-write, idempotent delete), implementations
 * (local/ directory, memory/ for tests), wrappers that add behaviour without flags
 * (wrappers/read-only), and testing/ (the shared conformance suite every implementation runs,
 * and a fault-injecting wrapper).
 */
export * from './blob-store.js';
export * from './local/local-store.js';
export * from './memory/memory-store.js';
export * from './wrappers/read-only-store.js';
