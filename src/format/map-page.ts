import { ByteReader, ByteWriter, FormatError } from './binary.js';
import { ADDRESS_BYTES } from './constants.js';

/**
 * A block-map page, version 1. The block map of a disk is a tree of pages with a fixed fanout:
 * level 0 pages (leaves) list block addresses for consecutive block indexes, level n pages list
 * the addresses of level n-1 pages. A zero address means an all-zero block / subtree.
 * Layout: level u8 ‖ 0x00 ‖ u16 0 ‖ count u32 ‖ count × 32-byte addresses.
 * Pages are content-addressed, so a page equal to the previous point's is stored once.
 */
export const MAP_PAGE_HEADER_BYTES = 8;

export function encodeMapPage(level: number, addresses: Uint8Array, count: number): Uint8Array {
  const writer = new ByteWriter(MAP_PAGE_HEADER_BYTES + count * ADDRESS_BYTES);
  writer.u8(level).u8(0).u16(0).u32(count).bytes(addresses.subarray(0, count * ADDRESS_BYTES));
  return writer.finish();
}

export function decodeMapPage(bytes: Uint8Array, what: string): { level: number; count: number; addresses: Uint8Array } {
  const reader = new ByteReader(bytes, what);
  const level = reader.u8();
  const reserved = reader.bytes(3);
  if (reserved.some((byte) => byte !== 0)) throw new FormatError(`${what}: reserved header bytes are not zero (a newer page layout?)`);
  const count = reader.u32();
  if (count * ADDRESS_BYTES !== reader.remaining) throw new FormatError(`${what}: page says ${count} entries but holds ${reader.remaining} bytes`);
  return { level, count, addresses: reader.bytes(count * ADDRESS_BYTES) };
}
