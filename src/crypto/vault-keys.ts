import { createHmac, hkdfSync } from 'node:crypto';

export const MASTER_KEY_BYTES = 32;
export const DIGEST_BYTES = 32;

/**
 * The keys of one vault, all derived from its random master key with HKDF-SHA256 (salt: vault id),
 * so that no key is used for two purposes. Labels are frozen: changing one changes every address.
 */
export interface VaultKeys {
  /** Keyed hash that gives a block its address: HMAC-SHA256(blockId, plaintext). */
  blockId: Uint8Array;
  /** Keyed hash of block-map pages (separate so a page never shares an address with disk data). */
  pageId: Uint8Array;
  /** Parent of per-object AES-256-GCM keys: key(object) = HMAC-SHA256(encryption, object address or label). */
  encryption: Uint8Array;
  /** Authenticates the plaintext config object. */
  configMac: Uint8Array;
}

export function deriveVaultKeys(masterKey: Uint8Array, vaultId: Uint8Array): VaultKeys {
  const derive = (label: string) => new Uint8Array(hkdfSync('sha256', masterKey, vaultId, `boveda v1 ${label}`, 32));
  return {
    blockId: derive('block-id'),
    pageId: derive('page-id'),
    encryption: derive('encryption'),
    configMac: derive('config-mac'),
  };
}

/**
 * The key that wraps the vault's secrets key (KEK, docs/vault-format.md §18). Its own HKDF label, so
 * it is unrelated to every key that seals blocks, pages, index files or manifests; kept out of
 * VaultKeys so it never travels to the crypto workers.
 */
export function deriveSecretsWrapKey(masterKey: Uint8Array, vaultId: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', masterKey, vaultId, 'boveda v1 secrets-key-wrap', 32));
}

export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  const digest = mac.digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.length);
}

/** The AES key that seals the object with this address (block or page) or label ("index v1", "manifest v1", "pack-trailer v1"). */
export function objectKey(keys: VaultKeys, addressOrLabel: Uint8Array | string): Uint8Array {
  const input = typeof addressOrLabel === 'string' ? new TextEncoder().encode(addressOrLabel) : addressOrLabel;
  return hmacSha256(keys.encryption, input);
}
