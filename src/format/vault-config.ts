import { FormatError } from './binary.js';
import { FORMAT_NAME, MAX_BLOCK_SIZE, MAX_PACK_SIZE, MIN_BLOCK_SIZE, MIN_PACK_SIZE } from './constants.js';
import { JsonFields } from './json-fields.js';

/**
 * The config object (storage key "config"): plaintext UTF-8 JSON so that any tool can tell what a
 * vault is, which version wrote it and how its blocks are cut, before any key is given. Its `mac`
 * (HMAC-SHA256 under a key derived from the master key, over the canonical form of the other fields)
 * is checked on unlock, so a tampered block size or cipher is refused.
 */
export interface VaultConfig {
  format: typeof FORMAT_NAME;
  version: number;
  /** 16 random bytes, hex. Salt of the key derivation, so equal data in two vaults gets unrelated addresses. */
  vaultId: string;
  createdAt: string;
  blockSize: number;
  hash: 'hmac-sha256';
  cipher: 'aes-256-gcm-hmac-sha256-subkey';
  compression: { algorithm: 'zstd'; level: number };
  /** Target size of pack files in bytes. */
  packSize: number;
  /** Entries per block-map page. */
  mapFanout: number;
}

export type SignedVaultConfig = VaultConfig & { mac: string };

/** The bytes the mac covers: the fields in this fixed order, compact JSON. */
export function canonicalConfigBytes(config: VaultConfig): Uint8Array {
  const ordered: VaultConfig = {
    format: config.format,
    version: config.version,
    vaultId: config.vaultId,
    createdAt: config.createdAt,
    blockSize: config.blockSize,
    hash: config.hash,
    cipher: config.cipher,
    compression: { algorithm: config.compression.algorithm, level: config.compression.level },
    packSize: config.packSize,
    mapFanout: config.mapFanout,
  };
  return new TextEncoder().encode(JSON.stringify(ordered));
}

export function encodeVaultConfig(config: SignedVaultConfig): Uint8Array {
  const { mac, ...rest } = config;
  const body = JSON.parse(new TextDecoder().decode(canonicalConfigBytes(rest))) as VaultConfig;
  return new TextEncoder().encode(JSON.stringify({ ...body, mac }, null, 2) + '\n');
}

export function isPowerOfTwo(value: number): boolean {
  return Number.isInteger(value) && value > 0 && (value & (value - 1)) === 0;
}

/**
 * Reads only what is needed to tell the version (so a newer vault gets a precise error);
 * full validation of a version-1 config follows in decodeVaultConfig.
 */
export function peekConfigVersion(bytes: Uint8Array): { format: string; version: number } {
  const fields = JsonFields.parse(bytes, 'vault config');
  return { format: fields.string('format'), version: fields.integer('version', 1) };
}

export function decodeVaultConfig(bytes: Uint8Array): SignedVaultConfig {
  const fields = JsonFields.parse(bytes, 'vault config');
  const format = fields.string('format');
  if (format !== FORMAT_NAME) throw new FormatError(`vault config field "format" must be "${FORMAT_NAME}" (found "${format}")`);
  const blockSize = fields.integer('blockSize', MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
  if (!isPowerOfTwo(blockSize)) throw new FormatError(`vault config block size ${blockSize} is not a power of two`);
  const hash = fields.string('hash');
  if (hash !== 'hmac-sha256') throw new FormatError(`vault config hash "${hash}" is not supported`);
  const cipher = fields.string('cipher');
  if (cipher !== 'aes-256-gcm-hmac-sha256-subkey') throw new FormatError(`vault config cipher "${cipher}" is not supported`);
  const compression = fields.object('compression');
  const algorithm = compression.string('algorithm');
  if (algorithm !== 'zstd') throw new FormatError(`vault config compression "${algorithm}" is not supported`);
  return {
    format: FORMAT_NAME,
    version: fields.integer('version', 1),
    vaultId: fields.string('vaultId', /^[0-9a-f]{32}$/),
    createdAt: fields.string('createdAt'),
    blockSize,
    hash,
    cipher,
    compression: { algorithm, level: compression.integer('level', -7, 22) },
    packSize: fields.integer('packSize', MIN_PACK_SIZE, MAX_PACK_SIZE),
    mapFanout: fields.integer('mapFanout', 16, 65536),
    mac: fields.string('mac', /^[0-9a-f]{64}$/),
  };
}
