import { ByteReader, ByteWriter, FormatError } from './binary.js';
import { BLOB_ENTRY_BYTES, type BlobEntry, readBlobEntry, writeBlobEntry } from './blob-entry.js';
import { Magic } from './constants.js';

/**
 * Pack file, version 1:
 *   header  (8)  "BVPK" ‖ version u8 = 1 ‖ 0x00 ‖ u16 0
 *   blobs        sealed blobs back to back, each nonce (12) ‖ ciphertext ‖ tag (16)
 *   trailer      sealed trailer plaintext (AAD = the 8 header bytes)
 *   footer  (8)  trailer length u32 ‖ "BVPF"
 * Trailer plaintext: entry count u32 ‖ entries (45 bytes each, see blob-entry.ts).
 * The trailer lets the index be rebuilt from the packs alone. A pack's name is the SHA-256 of its bytes.
 */
export const PACK_VERSION = 1;
export const PACK_HEADER_BYTES = 8;
export const PACK_FOOTER_BYTES = 8;

export function encodePackHeader(): Uint8Array {
  return new ByteWriter(8).ascii(Magic.pack).u8(PACK_VERSION).u8(0).u16(0).finish();
}

export function decodePackHeader(bytes: Uint8Array, what: string): { version: number } {
  const reader = new ByteReader(bytes, what);
  const magic = reader.ascii(4);
  if (magic !== Magic.pack) throw new FormatError(`${what} does not start with magic ${Magic.pack}`);
  const version = reader.u8();
  if (version !== PACK_VERSION) throw new FormatError(`${what} has unknown pack version ${version}`);
  return { version };
}

export function encodePackTrailer(entries: readonly BlobEntry[]): Uint8Array {
  const writer = new ByteWriter(4 + entries.length * BLOB_ENTRY_BYTES);
  writer.u32(entries.length);
  for (const entry of entries) writeBlobEntry(writer, entry);
  return writer.finish();
}

export function decodePackTrailer(plain: Uint8Array, what: string): BlobEntry[] {
  const reader = new ByteReader(plain, what);
  const count = reader.u32();
  if (count * BLOB_ENTRY_BYTES !== reader.remaining) throw new FormatError(`${what}: trailer says ${count} entries but holds ${reader.remaining} bytes`);
  const entries: BlobEntry[] = [];
  for (let i = 0; i < count; i++) entries.push(readBlobEntry(reader, what));
  return entries;
}

export function encodePackFooter(trailerLength: number): Uint8Array {
  return new ByteWriter(8).u32(trailerLength).ascii(Magic.packFooter).finish();
}

export function decodePackFooter(bytes: Uint8Array, what: string): { trailerLength: number } {
  const reader = new ByteReader(bytes, what);
  const trailerLength = reader.u32();
  if (reader.ascii(4) !== Magic.packFooter) throw new FormatError(`${what} does not end with magic ${Magic.packFooter}`);
  return { trailerLength };
}
