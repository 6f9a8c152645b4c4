import { ADDRESS_BYTES, BlobKind, type BlobKindId } from './constants.js';
import { type ByteReader, type ByteWriter, FormatError } from './binary.js';

/** Where one sealed blob sits inside a pack. Encoded as 45 bytes: kind u8 ‖ address 32 ‖ offset u32 ‖ length u32 ‖ rawLength u32. */
export interface BlobEntry {
  kind: BlobKindId;
  address: Uint8Array;
  /** Byte offset of the sealed blob in the pack file. */
  offset: number;
  /** Length of the sealed blob (nonce ‖ ciphertext ‖ tag). */
  length: number;
  /** Length of the plaintext before compression. */
  rawLength: number;
}

export const BLOB_ENTRY_BYTES = 1 + ADDRESS_BYTES + 4 + 4 + 4;

export function writeBlobEntry(writer: ByteWriter, entry: BlobEntry): void {
  writer.u8(entry.kind).bytes(entry.address).u32(entry.offset).u32(entry.length).u32(entry.rawLength);
}

export function readBlobEntry(reader: ByteReader, what: string): BlobEntry {
  const kind = reader.u8();
  if (kind !== BlobKind.block && kind !== BlobKind.page) throw new FormatError(`${what}: unknown blob kind ${kind}`);
  const address = reader.bytes(ADDRESS_BYTES).slice();
  const offset = reader.u32();
  const length = reader.u32();
  const rawLength = reader.u32();
  return { kind, address, offset, length, rawLength };
}
