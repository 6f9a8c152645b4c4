import { ByteReader, ByteWriter, FormatError } from './binary.js';
import { BLOB_ENTRY_BYTES, type BlobEntry, readBlobEntry, writeBlobEntry } from './blob-entry.js';

/**
 * Index file plaintext, version 1 (framed by envelope.ts with magic "BVIX"):
 *   pack count u32, then per pack: pack id (32 raw bytes of the SHA-256 name) ‖ pack size u64 ‖
 *   entry count u32 ‖ entries (45 bytes each);
 *   then point count u32 ‖ point ids (8 raw bytes each): recovery points whose manifests were
 *   stored before this index file, so that a manifest that later vanishes without a tombstone
 *   (deleted/<id>) is reported by verify instead of silently forgotten.
 * Index files are immutable; several may list the same blob (the reader keeps one location).
 */
export const INDEX_VERSION = 1;

export interface IndexedPack {
  packId: string;
  size: number;
  entries: BlobEntry[];
}

export interface IndexContent {
  packs: IndexedPack[];
  points: string[];
}

export function encodeIndex(content: IndexContent): Uint8Array {
  const writer = new ByteWriter(64);
  writer.u32(content.packs.length);
  for (const pack of content.packs) {
    writer.bytes(Buffer.from(pack.packId, 'hex')).u64(pack.size).u32(pack.entries.length);
    for (const entry of pack.entries) writeBlobEntry(writer, entry);
  }
  writer.u32(content.points.length);
  for (const pointId of content.points) writer.bytes(Buffer.from(pointId, 'hex'));
  return writer.finish();
}

export function decodeIndex(plain: Uint8Array, what: string): IndexContent {
  const reader = new ByteReader(plain, what);
  const count = reader.u32();
  const packs: IndexedPack[] = [];
  for (let p = 0; p < count; p++) {
    const packId = Buffer.from(reader.bytes(32)).toString('hex');
    const size = reader.u64();
    const entryCount = reader.u32();
    if (entryCount * BLOB_ENTRY_BYTES > reader.remaining) throw new FormatError(`${what}: pack ${packId} claims ${entryCount} entries, more than the file holds`);
    const entries: BlobEntry[] = [];
    for (let e = 0; e < entryCount; e++) entries.push(readBlobEntry(reader, what));
    packs.push({ packId, size, entries });
  }
  const pointCount = reader.u32();
  if (pointCount * 8 !== reader.remaining) throw new FormatError(`${what}: says ${pointCount} points but holds ${reader.remaining} bytes`);
  const points: string[] = [];
  for (let i = 0; i < pointCount; i++) points.push(Buffer.from(reader.bytes(8)).toString('hex'));
  return { packs, points };
}
