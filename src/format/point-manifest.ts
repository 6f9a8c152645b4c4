import { FormatError } from './binary.js';
import { JsonFields, encodeJson } from './json-fields.js';

/**
 * A recovery point manifest (storage key "points/<pointId>"), framed by envelope.ts with magic
 * "BVMF" and sealed; the plaintext is this UTF-8 JSON. It is small whatever the disk size: each disk
 * holds only the root of its block-map tree (see map-page.ts). `meta` belongs to the layers above the
 * vault (point type, consistency, expiry, warnings): the vault stores it and never interprets it.
 */
export interface PointManifest {
  version: 1;
  pointId: string;
  /** What the point protects: the VM name. */
  subject: string;
  createdAt: string;
  /** The point this one was built on (incremental), or null. */
  parentId: string | null;
  disks: ManifestDisk[];
  meta: Record<string, unknown>;
  /**
   * Names, kinds and sizes of the disk-encryption secrets stored with the point in
   * `secrets/<pointId>` (never their values). Absent (the usual case) when the point has none.
   */
  secrets?: ManifestSecret[];
}

export interface ManifestSecret {
  name: string;
  kind: string;
  sizeBytes: number;
}

export interface ManifestDisk {
  name: string;
  sizeBytes: number;
  blockSize: number;
  map: BlockMapRoot;
  stats: DiskStats;
  meta: Record<string, unknown>;
}

export interface BlockMapRoot {
  /** Hex address of the root page; all zeros for a disk that is entirely zero (or empty). */
  root: string;
  /** Levels in the tree: 0 for an empty disk, 1 when the root is a leaf page. */
  depth: number;
  fanout: number;
  blockCount: number;
}

export interface DiskStats {
  /** Blocks whose address differs from the parent point's (all non-zero blocks for a full point). */
  changedBlocks: number;
  zeroBlocks: number;
  /** Blocks this write stored that the vault did not hold yet, and their plaintext / stored bytes. */
  newBlocks: number;
  newBytes: number;
  newStoredBytes: number;
  /** Bytes read from the source disk. */
  bytesRead: number;
}

export const POINT_ID_PATTERN = /^[0-9a-f]{16}$/;
export const MANIFEST_VERSION = 1;

export function encodePointManifest(manifest: PointManifest): Uint8Array {
  return encodeJson(manifest);
}

export function decodePointManifest(plain: Uint8Array, what: string): PointManifest {
  const fields = JsonFields.parse(plain, what);
  const version = fields.integer('version', 1);
  if (version !== MANIFEST_VERSION) throw new FormatError(`${what} has unknown manifest version ${version}`);
  const disks = fields.array('disks').map((value, index) => decodeDisk(new JsonFields(value, `${what} disk #${index}`)));
  return {
    version: 1,
    pointId: fields.string('pointId', POINT_ID_PATTERN),
    subject: fields.string('subject'),
    createdAt: fields.string('createdAt'),
    parentId: fields.optionalString('parentId'),
    disks,
    meta: fields.record('meta'),
    ...(fields.has('secrets') ? { secrets: fields.array('secrets').map((value, index) => decodeSecret(new JsonFields(value, `${what} secret #${index}`))) } : {}),
  };
}

function decodeSecret(fields: JsonFields): ManifestSecret {
  return { name: fields.string('name'), kind: fields.string('kind'), sizeBytes: fields.integer('sizeBytes') };
}

function decodeDisk(fields: JsonFields): ManifestDisk {
  const map = fields.object('map');
  const stats = fields.object('stats');
  return {
    name: fields.string('name'),
    sizeBytes: fields.integer('sizeBytes'),
    blockSize: fields.integer('blockSize', 1),
    map: {
      root: map.string('root', /^[0-9a-f]{64}$/),
      depth: map.integer('depth', 0, 64),
      fanout: map.integer('fanout', 2),
      blockCount: map.integer('blockCount'),
    },
    stats: {
      changedBlocks: stats.integer('changedBlocks'),
      zeroBlocks: stats.integer('zeroBlocks'),
      newBlocks: stats.integer('newBlocks'),
      newBytes: stats.integer('newBytes'),
      newStoredBytes: stats.integer('newStoredBytes'),
      bytesRead: stats.integer('bytesRead'),
    },
    meta: fields.record('meta'),
  };
}
