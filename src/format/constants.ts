/**
 * Frozen constants of the vault format, version 1. A value here never changes meaning;
 * a new layout gets a new version number and the reader keeps understanding the old one.
 */
export const FORMAT_NAME = 'boveda-vault';
/** The newest vault format this code writes and the newest it reads. */
export const FORMAT_VERSION = 1;

export const ADDRESS_BYTES = 32;
/** The all-zero address: an all-zero block (in a leaf page) or an all-zero subtree (in an inner page). Never stored. */
export const ZERO_ADDRESS = new Uint8Array(ADDRESS_BYTES);

export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 4 * 1024 * 1024;
export const MIN_PACK_SIZE = 1024 * 1024;
export const MAX_PACK_SIZE = 1024 * 1024 * 1024;

/** Magic numbers (4 ASCII bytes) at the start of binary objects. */
export const Magic = {
  pack: 'BVPK',
  packFooter: 'BVPF',
  index: 'BVIX',
  manifest: 'BVMF',
  /** The vault's secrets key (KEK), wrapped: see point-secrets.ts. */
  secretsKey: 'BVSK',
  /** The disk-encryption secrets of one point. */
  pointSecrets: 'BVSC',
} as const;

/** Kinds of blobs inside packs. Frozen ids. */
export const BlobKind = { block: 1, page: 2 } as const;
export type BlobKindId = (typeof BlobKind)[keyof typeof BlobKind];

/** Labels from which per-object keys of non-addressed objects are derived (see crypto/vault-keys.ts). */
export const KeyLabel = {
  packTrailer: 'pack-trailer v1',
  index: 'index v1',
  manifest: 'manifest v1',
} as const;

/** Storage key prefixes. */
export const Paths = {
  config: 'config',
  keys: 'keys/',
  packs: 'packs/',
  index: 'index/',
  points: 'points/',
  /** Tombstones of deliberately deleted points (see index-layout.ts). */
  deleted: 'deleted/',
  locks: 'locks/',
  /** The vault's wrapped secrets key (one object, created on first use). */
  secretsKey: 'secrets-key',
  /** `secrets/<point id>`: the sealed disk-encryption secrets of a point (only points that have some). */
  secrets: 'secrets/',
} as const;

export function packKey(packId: string): string {
  return `${Paths.packs}${packId.slice(0, 2)}/${packId}`;
}
