import { createHash } from 'node:crypto';
import { BovedaError } from '../core/index.js';
import { objectKey, open, seal, type VaultKeys } from '../crypto/index.js';
import {
  INDEX_VERSION, KeyLabel, MANIFEST_VERSION, Magic, PACK_FOOTER_BYTES, PACK_HEADER_BYTES,
  decodeEnvelope, decodeIndex, decodePackFooter, decodePackHeader, decodePackTrailer, decodePointManifest,
  encodeEnvelope, encodeIndex, encodePackFooter, encodePackHeader, encodePackTrailer, encodePointManifest,
  envelopeHeader, type BlobEntry, type IndexContent, type PointManifest,
} from '../format/index.js';

/**
 * Sealing and opening of the vault's framed objects (index files, manifests, pack trailers).
 * Every failure to authenticate or decode becomes VAULT_OBJECT_CORRUPT naming the object.
 */
function corrupt(what: string, problem: string, cause?: unknown): BovedaError {
  return new BovedaError('VAULT_OBJECT_CORRUPT', `${what} is damaged: ${problem}`, { cause, details: { object: what } });
}

function decodeOr<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    throw error instanceof BovedaError ? error : corrupt(what, (error as Error).message, error);
  }
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sealIndexFile(keys: VaultKeys, content: IndexContent): Uint8Array {
  const header = envelopeHeader(Magic.index, INDEX_VERSION);
  return encodeEnvelope(header, seal(objectKey(keys, KeyLabel.index), header, encodeIndex(content)));
}

export function openIndexFile(keys: VaultKeys, bytes: Uint8Array, what: string): IndexContent {
  const { version, header, sealed } = decodeOr(what, () => decodeEnvelope(bytes, Magic.index, what));
  if (version !== INDEX_VERSION) throw corrupt(what, `unknown index version ${version}`);
  const plain = open(objectKey(keys, KeyLabel.index), header, sealed);
  if (!plain) throw corrupt(what, 'it does not authenticate (altered, truncated or not of this vault)');
  return decodeOr(what, () => decodeIndex(plain, what));
}

function manifestAad(header: Uint8Array, pointId: string): Uint8Array {
  return Buffer.concat([header, Buffer.from(pointId, 'ascii')]);
}

export function sealManifest(keys: VaultKeys, manifest: PointManifest): Uint8Array {
  const header = envelopeHeader(Magic.manifest, MANIFEST_VERSION);
  return encodeEnvelope(header, seal(objectKey(keys, KeyLabel.manifest), manifestAad(header, manifest.pointId), encodePointManifest(manifest)));
}

/** Opens a manifest and checks it is the one stored under `pointId` (a manifest moved to another name fails). */
export function openManifest(keys: VaultKeys, bytes: Uint8Array, pointId: string, what: string): PointManifest {
  const { version, header, sealed } = decodeOr(what, () => decodeEnvelope(bytes, Magic.manifest, what));
  if (version !== MANIFEST_VERSION) throw corrupt(what, `unknown manifest version ${version}`);
  const plain = open(objectKey(keys, KeyLabel.manifest), manifestAad(header, pointId), sealed);
  if (!plain) throw corrupt(what, 'it does not authenticate (altered, truncated, renamed or not of this vault)');
  return decodeOr(what, () => decodePointManifest(plain, what));
}

/** The bytes that close a pack: sealed trailer listing `entries`, then the footer. */
export function packTail(keys: VaultKeys, entries: readonly BlobEntry[]): Uint8Array {
  const header = encodePackHeader();
  const trailer = seal(objectKey(keys, KeyLabel.packTrailer), header, encodePackTrailer(entries));
  const footer = encodePackFooter(trailer.length);
  const out = new Uint8Array(trailer.length + footer.length);
  out.set(trailer, 0);
  out.set(footer, trailer.length);
  return out;
}

/** Assembles a whole pack file from sealed blobs laid out from offset PACK_HEADER_BYTES. */
export function assemblePack(keys: VaultKeys, blobs: readonly Uint8Array[], entries: readonly BlobEntry[]): Uint8Array {
  const header = encodePackHeader();
  const tail = packTail(keys, entries);
  let size = header.length + tail.length;
  for (const blob of blobs) size += blob.length;
  const out = new Uint8Array(size);
  out.set(header, 0);
  let at = header.length;
  for (const blob of blobs) {
    out.set(blob, at);
    at += blob.length;
  }
  out.set(tail, at);
  return out;
}

/** Reads the entries of a whole pack file from its trailer (used by verify and index repair). */
export function readPackTrailer(keys: VaultKeys, pack: Uint8Array, what: string): BlobEntry[] {
  return decodeOr(what, () => {
    decodePackHeader(pack.subarray(0, PACK_HEADER_BYTES), what);
    if (pack.length < PACK_HEADER_BYTES + PACK_FOOTER_BYTES) throw corrupt(what, `it is truncated to ${pack.length} bytes`);
    const { trailerLength } = decodePackFooter(pack.subarray(pack.length - PACK_FOOTER_BYTES), what);
    const trailerStart = pack.length - PACK_FOOTER_BYTES - trailerLength;
    if (trailerStart < PACK_HEADER_BYTES) throw corrupt(what, `its footer gives an impossible trailer length ${trailerLength}`);
    const plain = open(objectKey(keys, KeyLabel.packTrailer), pack.subarray(0, PACK_HEADER_BYTES), pack.subarray(trailerStart, pack.length - PACK_FOOTER_BYTES));
    if (!plain) throw corrupt(what, 'its trailer does not authenticate');
    const entries = decodePackTrailer(plain, what);
    for (const entry of entries) {
      if (entry.offset < PACK_HEADER_BYTES || entry.offset + entry.length > trailerStart) throw corrupt(what, `an entry points outside the blob area`);
    }
    return entries;
  });
}
