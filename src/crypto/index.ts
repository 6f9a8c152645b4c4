/**
 * crypto: keys, AEAD and compression with frozen ids. Knows nothing of storage or vault layout.
 *
 * - vault-keys: master key → purpose keys (HKDF-SHA256, frozen labels); per-object keys by HMAC.
 * - aead: AES-256-GCM framing nonce ‖ ciphertext ‖ tag; open() returns undefined on any auth failure.
 * - codec: codec ids (0 none, 1 zstd), compression kept only when it saves space.
 * - block-crypto: address + seal/open of one block or map page.
 * - key-slot-crypto: scrypt / key-file slot keys that wrap the master key.
 */
export * from './aead.js';
export * from './codec.js';
export * from './vault-keys.js';
export * from './block-crypto.js';
export * from './key-slot-crypto.js';
