import { ByteReader, ByteWriter, FormatError } from './binary.js';

/**
 * The frame around every encrypted non-pack object (index files, manifests):
 *   magic (4 ASCII) ‖ version (u8) ‖ 3 zero bytes ‖ sealed payload (nonce ‖ ciphertext ‖ tag).
 * The 8 header bytes are also the AAD prefix of the payload, so a changed version is detected.
 */
export const ENVELOPE_HEADER_BYTES = 8;

export function envelopeHeader(magic: string, version: number): Uint8Array {
  return new ByteWriter(8).ascii(magic).u8(version).u8(0).u16(0).finish();
}

export function encodeEnvelope(header: Uint8Array, sealed: Uint8Array): Uint8Array {
  const out = new Uint8Array(header.length + sealed.length);
  out.set(header, 0);
  out.set(sealed, header.length);
  return out;
}

export function decodeEnvelope(bytes: Uint8Array, magic: string, what: string): { version: number; header: Uint8Array; sealed: Uint8Array } {
  const reader = new ByteReader(bytes, what);
  const found = reader.ascii(4);
  if (found !== magic) throw new FormatError(`${what} does not start with magic ${magic} (found ${JSON.stringify(found)})`);
  const version = reader.u8();
  reader.bytes(3);
  return { version, header: bytes.subarray(0, ENVELOPE_HEADER_BYTES), sealed: bytes.subarray(ENVELOPE_HEADER_BYTES) };
}
