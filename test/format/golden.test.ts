/**
 * Golden bytes of every deterministic layout of the vault format, version 1 (docs/vault-format.md).
 *
 * Each layout is encoded from fixed inputs and compared with a literal written here. These literals
 * are FROZEN: a vault written by an older Boveda must stay readable, so a failing golden test means
 * the format changed. Never "fix" a literal to make a test pass; a new layout gets a new version
 * number (and new goldens) while the reader keeps decoding this one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBovedaError } from '../../src/core/errors.js';
import { deriveVaultKeys, hmacSha256 } from '../../src/crypto/vault-keys.js';
import {
  ADDRESS_BYTES, BLOB_ENTRY_BYTES, BlobKind, ByteReader, ByteWriter, ENVELOPE_HEADER_BYTES, FORMAT_NAME, FORMAT_VERSION,
  FormatError, INDEX_VERSION, KEY_SLOT_ID_PATTERN, KeyLabel, MANIFEST_VERSION, MAP_PAGE_HEADER_BYTES, MAX_BLOCK_SIZE,
  MAX_PACK_SIZE, MIN_BLOCK_SIZE, MIN_PACK_SIZE, Magic, PACK_FOOTER_BYTES, PACK_HEADER_BYTES, PACK_VERSION, POINT_ID_PATTERN,
  Paths, ZERO_ADDRESS, canonicalConfigBytes, decodeEnvelope, decodeIndex, decodeKeySlot, decodeMapPage, decodePackFooter,
  decodePackHeader, decodePackTrailer, decodePointManifest, decodeVaultConfig, encodeEnvelope, encodeIndex, encodeKeySlot,
  encodeMapPage, encodePackFooter, encodePackHeader, encodePackTrailer, encodePointManifest, encodeVaultConfig,
  envelopeHeader, keySlotAad, packKey, peekConfigVersion, readBlobEntry, writeBlobEntry,
  type BlobEntry, type IndexContent, type KeySlotRecord, type PointManifest, type SignedVaultConfig, type VaultConfig,
} from '../../src/format/index.js';
import { Vault } from '../../src/repository/vault.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
/** `length` bytes counting up from `start` (mod 256): recognisable in a hex dump. */
const seq = (start: number, length = 32): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);

/** Asserts that `fn` throws a FormatError whose message contains every fragment (the object's name first). */
function throwsFormatError(fn: () => unknown, ...fragments: Array<string | RegExp>): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FormatError, `expected a FormatError, got ${String(error)}`);
    for (const fragment of fragments) {
      if (typeof fragment === 'string') assert.ok(error.message.includes(fragment), `"${error.message}" should mention "${fragment}"`);
      else assert.match(error.message, fragment);
    }
    return true;
  });
}

// ---- fixed inputs -------------------------------------------------------------------------------

const entryA: BlobEntry = { kind: BlobKind.block, address: seq(0x00), offset: 8, length: 4125, rawLength: 4096 };
const entryB: BlobEntry = { kind: BlobKind.page, address: seq(0xa0), offset: 4133, length: 70, rawLength: 72 };

const ENTRY_A_HEX =
  '01' + // kind: block
  '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f' + // address
  '08000000' + // offset 8
  '1d100000' + // length 4125
  '00100000'; // rawLength 4096
const ENTRY_B_HEX =
  '02' + // kind: page
  'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf' +
  '25100000' + // offset 4133
  '46000000' + // length 70
  '48000000'; // rawLength 72

const indexContent: IndexContent = {
  packs: [
    { packId: '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', size: 5_000_000_000, entries: [entryA, entryB] },
    { packId: 'ff'.repeat(32), size: 4246, entries: [] },
  ],
  points: ['0123456789abcdef', 'fedcba9876543210'],
};
const INDEX_HEX =
  '02000000' + // pack count 2
  '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff' + // pack id (raw SHA-256)
  '00f2052a01000000' + // pack size 5 000 000 000 (u64)
  '02000000' + // entry count 2
  ENTRY_A_HEX +
  ENTRY_B_HEX +
  'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' + // second pack id
  '9610000000000000' + // size 4246
  '00000000' + // no entries
  '02000000' + // point count 2
  '0123456789abcdef' + // point ids, 8 raw bytes each
  'fedcba9876543210';

const VAULT_ID = '000102030405060708090a0b0c0d0e0f';
const CREATED_AT = '2024-01-02T03:04:05.678Z';

const config: VaultConfig = {
  format: FORMAT_NAME,
  version: 1,
  vaultId: VAULT_ID,
  createdAt: CREATED_AT,
  blockSize: 65536,
  hash: 'hmac-sha256',
  cipher: 'aes-256-gcm-hmac-sha256-subkey',
  compression: { algorithm: 'zstd', level: 3 },
  packSize: 33554432,
  mapFanout: 512,
};
const CANONICAL_CONFIG =
  '{"format":"boveda-vault","version":1,"vaultId":"000102030405060708090a0b0c0d0e0f","createdAt":"2024-01-02T03:04:05.678Z",' +
  '"blockSize":65536,"hash":"hmac-sha256","cipher":"aes-256-gcm-hmac-sha256-subkey","compression":{"algorithm":"zstd","level":3},' +
  '"packSize":33554432,"mapFanout":512}';
/** HMAC-SHA256(configMac key of master key 00..1f / vault id 00..0f, CANONICAL_CONFIG). */
const CONFIG_MAC = '1a2f745abd453c258182ea969eecd143a3fa968858d2e112c3c07a9165d90b75';
const ENCODED_CONFIG = `{
  "format": "boveda-vault",
  "version": 1,
  "vaultId": "000102030405060708090a0b0c0d0e0f",
  "createdAt": "2024-01-02T03:04:05.678Z",
  "blockSize": 65536,
  "hash": "hmac-sha256",
  "cipher": "aes-256-gcm-hmac-sha256-subkey",
  "compression": {
    "algorithm": "zstd",
    "level": 3
  },
  "packSize": 33554432,
  "mapFanout": 512,
  "mac": "1a2f745abd453c258182ea969eecd143a3fa968858d2e112c3c07a9165d90b75"
}
`;

/** A real slot: passphrase "golden-passphrase", salt 40..5f, scrypt N=1024 wraps master key 00..1f (see test/crypto). */
const passphraseSlot: KeySlotRecord = {
  version: 1,
  id: '0a1b2c3d',
  vaultId: VAULT_ID,
  kind: 'passphrase',
  label: 'initial key',
  createdAt: CREATED_AT,
  kdf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 },
  salt: 'QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=',
  wrappedKey: '5hglw2yIdBi8f6+4VkCdsNwkQdtClpj3iK73CrxMPQkYmlJYsq/QkYqdNoQrC7yuTF1NfbwimUBsmUog',
};
const PASSPHRASE_SLOT_JSON =
  '{"version":1,"id":"0a1b2c3d","vaultId":"000102030405060708090a0b0c0d0e0f","kind":"passphrase","label":"initial key",' +
  '"createdAt":"2024-01-02T03:04:05.678Z","kdf":{"algorithm":"scrypt","N":1024,"r":8,"p":1},' +
  '"salt":"QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=",' +
  '"wrappedKey":"5hglw2yIdBi8f6+4VkCdsNwkQdtClpj3iK73CrxMPQkYmlJYsq/QkYqdNoQrC7yuTF1NfbwimUBsmUog"}';

const keyFileSlot: KeySlotRecord = {
  version: 1,
  id: '0e0f1011',
  vaultId: VAULT_ID,
  kind: 'key-file',
  label: 'offsite key',
  createdAt: CREATED_AT,
  kdf: { algorithm: 'hkdf-sha256' },
  salt: 'gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8=',
  wrappedKey: 'pfP/54INJXmEcURNfZYm8aUwo+pAMTc0mvbZ2pvJKjAxOZv8jjO/PMJWXBjcHePMzRMqC5Tw/mc3KaMd',
};
const KEY_FILE_SLOT_JSON =
  '{"version":1,"id":"0e0f1011","vaultId":"000102030405060708090a0b0c0d0e0f","kind":"key-file","label":"offsite key",' +
  '"createdAt":"2024-01-02T03:04:05.678Z","kdf":{"algorithm":"hkdf-sha256"},' +
  '"salt":"gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8=",' +
  '"wrappedKey":"pfP/54INJXmEcURNfZYm8aUwo+pAMTc0mvbZ2pvJKjAxOZv8jjO/PMJWXBjcHePMzRMqC5Tw/mc3KaMd"}';

const manifest: PointManifest = {
  version: 1,
  pointId: 'fedcba9876543210',
  subject: 'web-01',
  createdAt: CREATED_AT,
  parentId: '0123456789abcdef',
  disks: [
    {
      name: 'sda',
      sizeBytes: 10737418240,
      blockSize: 65536,
      map: { root: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf', depth: 2, fanout: 512, blockCount: 163840 },
      stats: { changedBlocks: 12, zeroBlocks: 100000, newBlocks: 10, newBytes: 655360, newStoredBytes: 300000, bytesRead: 10737418240 },
      meta: { bus: 'virtio' },
    },
  ],
  meta: { type: 'incremental', warnings: [] },
};
const MANIFEST_JSON =
  '{"version":1,"pointId":"fedcba9876543210","subject":"web-01","createdAt":"2024-01-02T03:04:05.678Z",' +
  '"parentId":"0123456789abcdef","disks":[{"name":"sda","sizeBytes":10737418240,"blockSize":65536,' +
  '"map":{"root":"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf","depth":2,"fanout":512,"blockCount":163840},' +
  '"stats":{"changedBlocks":12,"zeroBlocks":100000,"newBlocks":10,"newBytes":655360,"newStoredBytes":300000,"bytesRead":10737418240},' +
  '"meta":{"bus":"virtio"}}],"meta":{"type":"incremental","warnings":[]}}';

// ---- tests --------------------------------------------------------------------------------------

describe('frozen constants (format version 1)', () => {
  it('names, versions, sizes and limits', () => {
    assert.equal(FORMAT_NAME, 'boveda-vault');
    assert.equal(FORMAT_VERSION, 1);
    assert.equal(PACK_VERSION, 1);
    assert.equal(INDEX_VERSION, 1);
    assert.equal(MANIFEST_VERSION, 1);
    assert.equal(ADDRESS_BYTES, 32);
    assert.equal(hex(ZERO_ADDRESS), '00'.repeat(32));
    assert.equal(BLOB_ENTRY_BYTES, 45);
    assert.equal(ENVELOPE_HEADER_BYTES, 8);
    assert.equal(PACK_HEADER_BYTES, 8);
    assert.equal(PACK_FOOTER_BYTES, 8);
    assert.equal(MAP_PAGE_HEADER_BYTES, 8);
    assert.deepEqual([MIN_BLOCK_SIZE, MAX_BLOCK_SIZE, MIN_PACK_SIZE, MAX_PACK_SIZE], [4096, 4194304, 1048576, 1073741824]);
  });

  it('magic numbers, blob kinds and key labels', () => {
    assert.deepEqual({ ...Magic }, { pack: 'BVPK', packFooter: 'BVPF', index: 'BVIX', manifest: 'BVMF', secretsKey: 'BVSK', pointSecrets: 'BVSC' });
    assert.deepEqual({ ...BlobKind }, { block: 1, page: 2 });
    assert.deepEqual({ ...KeyLabel }, { packTrailer: 'pack-trailer v1', index: 'index v1', manifest: 'manifest v1' });
  });

  it('storage key layout', () => {
    assert.deepEqual({ ...Paths }, {
      config: 'config', keys: 'keys/', packs: 'packs/', index: 'index/', points: 'points/', deleted: 'deleted/', locks: 'locks/',
      secretsKey: 'secrets-key', secrets: 'secrets/',
    });
    const packId = 'e4ccf9a1d52a6bddd90b89e6a4c7d38ea997b5b7751be497782aec33e97da72c';
    assert.equal(packKey(packId), `packs/e4/${packId}`);
    assert.ok(POINT_ID_PATTERN.test('0123456789abcdef') && !POINT_ID_PATTERN.test('0123456789ABCDEF') && !POINT_ID_PATTERN.test('0123'));
    assert.ok(KEY_SLOT_ID_PATTERN.test('0a1b2c3d') && !KEY_SLOT_ID_PATTERN.test('0a1b2c3d4'));
  });
});

describe('binary primitives', () => {
  it('write integers little-endian', () => {
    const bytes = new ByteWriter(1).u8(0xab).u16(0x0102).u32(0x03040506).u64(0x0708090a0b0c).ascii('Zz').bytes(seq(0xf0, 2)).finish();
    assert.equal(hex(bytes), 'ab' + '0201' + '06050403' + '0c0b0a0908070000' + '5a7a' + 'f0f1');
  });

  it('read back what was written', () => {
    const reader = new ByteReader(unhex('ab020106050403' + '0c0b0a0908070000' + '5a7a'), 'test object');
    assert.deepEqual([reader.u8(), reader.u16(), reader.u32(), reader.u64(), reader.ascii(2)], [0xab, 0x0102, 0x03040506, 0x0708090a0b0c, 'Zz']);
    assert.equal(reader.remaining, 0);
    reader.expectEnd();
  });

  it('refuse short input, trailing bytes and unsafe 64-bit values, naming the object', () => {
    throwsFormatError(() => new ByteReader(unhex('010203'), 'test object').u32(), 'test object is truncated', 'needs 4 more bytes at offset 0 of 3');
    const reader = new ByteReader(unhex('0102'), 'test object');
    reader.u8();
    throwsFormatError(() => reader.expectEnd(), 'test object has 1 unexpected trailing bytes');
    throwsFormatError(() => new ByteReader(unhex('0000000000002000'), 'test object').u64(), 'test object', 'too large');
  });
});

describe('envelope header (index files and manifests)', () => {
  it('golden bytes: magic ‖ version ‖ three zero bytes', () => {
    assert.equal(hex(envelopeHeader(Magic.index, INDEX_VERSION)), '4256495801000000');
    assert.equal(hex(envelopeHeader(Magic.manifest, MANIFEST_VERSION)), '42564d4601000000');
  });

  it('round trip: the header is split from the sealed payload', () => {
    const header = envelopeHeader(Magic.index, 1);
    const framed = encodeEnvelope(header, seq(0x10, 40));
    assert.equal(hex(framed), '4256495801000000' + hex(seq(0x10, 40)));
    const decoded = decodeEnvelope(framed, Magic.index, 'index file index/x');
    assert.equal(decoded.version, 1);
    assert.equal(hex(decoded.header), '4256495801000000');
    assert.equal(hex(decoded.sealed), hex(seq(0x10, 40)));
  });

  it('reports the version byte as found (the caller decides what a newer version means)', () => {
    assert.equal(decodeEnvelope(unhex('42564d4602000000'), Magic.manifest, 'manifest points/x').version, 2);
  });

  it('refuses a wrong magic or a truncated header, naming the object', () => {
    throwsFormatError(() => decodeEnvelope(unhex('42564d4601000000'), Magic.index, 'index file index/ab'), 'index file index/ab', 'magic BVIX', 'BVMF');
    throwsFormatError(() => decodeEnvelope(unhex('425649'), Magic.index, 'index file index/ab'), 'index file index/ab is truncated');
    throwsFormatError(() => decodeEnvelope(unhex('4256495801'), Magic.index, 'index file index/ab'), 'index file index/ab is truncated');
  });
});

describe('blob entry (45 bytes)', () => {
  it('golden bytes', () => {
    const writer = new ByteWriter();
    writeBlobEntry(writer, entryA);
    writeBlobEntry(writer, entryB);
    const bytes = writer.finish();
    assert.equal(hex(bytes), ENTRY_A_HEX + ENTRY_B_HEX);
    assert.equal(bytes.length, 2 * BLOB_ENTRY_BYTES);
  });

  it('round trip', () => {
    const reader = new ByteReader(unhex(ENTRY_A_HEX + ENTRY_B_HEX), 'entries');
    assert.deepEqual(readBlobEntry(reader, 'entries'), entryA);
    assert.deepEqual(readBlobEntry(reader, 'entries'), entryB);
    reader.expectEnd();
  });

  it('refuses an unknown kind and a truncated entry, naming the object', () => {
    for (const kind of ['00', '03', 'ff']) {
      throwsFormatError(() => readBlobEntry(new ByteReader(unhex(kind + ENTRY_A_HEX.slice(2)), 'pack trailer p'), 'pack trailer p'), 'pack trailer p', `unknown blob kind ${parseInt(kind, 16)}`);
    }
    throwsFormatError(() => readBlobEntry(new ByteReader(unhex(ENTRY_A_HEX.slice(0, 88)), 'pack trailer p'), 'pack trailer p'), 'pack trailer p is truncated');
  });
});

describe('pack header and footer', () => {
  it('golden header: "BVPK" ‖ version 1 ‖ 0x00 ‖ u16 0', () => {
    assert.equal(hex(encodePackHeader()), '4256504b01000000');
    assert.deepEqual(decodePackHeader(encodePackHeader(), 'pack packs/ab/x'), { version: 1 });
  });

  it('golden footer: trailer length u32 ‖ "BVPF"', () => {
    assert.equal(hex(encodePackFooter(122)), '7a00000042565046');
    assert.equal(hex(encodePackFooter(0x01020304)), '0403020142565046');
    assert.deepEqual(decodePackFooter(unhex('7a00000042565046'), 'pack packs/ab/x'), { trailerLength: 122 });
  });

  it('refuse wrong magic, unknown version and truncation, naming the pack', () => {
    throwsFormatError(() => decodePackHeader(unhex('4256504a01000000'), 'pack packs/ab/x'), 'pack packs/ab/x', 'magic BVPK');
    throwsFormatError(() => decodePackHeader(unhex('4256504b02000000'), 'pack packs/ab/x'), 'pack packs/ab/x', 'unknown pack version 2');
    throwsFormatError(() => decodePackHeader(unhex('425650'), 'pack packs/ab/x'), 'pack packs/ab/x is truncated');
    throwsFormatError(() => decodePackFooter(unhex('7a00000042565047'), 'pack packs/ab/x'), 'pack packs/ab/x', 'magic BVPF');
    throwsFormatError(() => decodePackFooter(unhex('7a000000425650'), 'pack packs/ab/x'), 'pack packs/ab/x is truncated');
  });
});

describe('pack trailer plaintext', () => {
  const TRAILER_HEX = '02000000' + ENTRY_A_HEX + ENTRY_B_HEX;

  it('golden bytes: entry count u32 ‖ entries', () => {
    assert.equal(hex(encodePackTrailer([entryA, entryB])), TRAILER_HEX);
    assert.equal(hex(encodePackTrailer([])), '00000000');
    // Sealed, this trailer is 4 + 2 × 45 + 28 = 122 bytes: the value the footer golden above holds.
    assert.equal(encodePackTrailer([entryA, entryB]).length + 28, 122);
  });

  it('round trip', () => {
    assert.deepEqual(decodePackTrailer(unhex(TRAILER_HEX), 'trailer'), [entryA, entryB]);
    assert.deepEqual(decodePackTrailer(unhex('00000000'), 'trailer'), []);
  });

  it('refuses wrong counts, trailing bytes and truncation, naming the pack', () => {
    const what = 'pack packs/e4/e4cc';
    throwsFormatError(() => decodePackTrailer(unhex('03000000' + ENTRY_A_HEX + ENTRY_B_HEX), what), what, 'trailer says 3 entries but holds 90 bytes');
    throwsFormatError(() => decodePackTrailer(unhex('01000000' + ENTRY_A_HEX + ENTRY_B_HEX), what), what, 'trailer says 1 entries but holds 90 bytes');
    throwsFormatError(() => decodePackTrailer(unhex(TRAILER_HEX + '00'), what), what, 'holds 91 bytes');
    throwsFormatError(() => decodePackTrailer(unhex(TRAILER_HEX.slice(0, -2)), what), what, 'holds 89 bytes');
    throwsFormatError(() => decodePackTrailer(unhex('0200'), what), `${what} is truncated`);
    throwsFormatError(() => decodePackTrailer(unhex('01000000' + '07' + ENTRY_A_HEX.slice(2)), what), what, 'unknown blob kind 7');
  });
});

describe('index file plaintext', () => {
  it('golden bytes with packs and recorded points', () => {
    assert.equal(hex(encodeIndex(indexContent)), INDEX_HEX);
    assert.equal(hex(encodeIndex({ packs: [], points: [] })), '00000000' + '00000000');
    assert.equal(hex(encodeIndex({ packs: [], points: ['a000000000000002'] })), '00000000' + '01000000' + 'a000000000000002');
  });

  it('round trip', () => {
    assert.deepEqual(decodeIndex(unhex(INDEX_HEX), 'index'), indexContent);
    assert.deepEqual(decodeIndex(unhex('0000000000000000'), 'index'), { packs: [], points: [] });
  });

  it('refuses wrong counts, trailing bytes and truncation, naming the index file', () => {
    const what = 'index file index/f03f';
    // Pack count says 3: the third pack header is missing.
    throwsFormatError(() => decodeIndex(unhex('03' + INDEX_HEX.slice(2)), what), `${what} is truncated`);
    // Entry count of the first pack says 200 000: more than the file holds.
    const entryCountAt = (4 + 32 + 8) * 2;
    const tooMany = INDEX_HEX.slice(0, entryCountAt) + '400d0300' + INDEX_HEX.slice(entryCountAt + 8);
    throwsFormatError(() => decodeIndex(unhex(tooMany), what), what, 'claims 200000 entries, more than the file holds');
    // Point count says 3, or 1, for two point ids; a stray byte at the end.
    const pointCountAt = INDEX_HEX.length - 32 - 8;
    throwsFormatError(() => decodeIndex(unhex(INDEX_HEX.slice(0, pointCountAt) + '03000000' + INDEX_HEX.slice(pointCountAt + 8)), what), what, 'says 3 points but holds 16 bytes');
    throwsFormatError(() => decodeIndex(unhex(INDEX_HEX.slice(0, pointCountAt) + '01000000' + INDEX_HEX.slice(pointCountAt + 8)), what), what, 'says 1 points but holds 16 bytes');
    throwsFormatError(() => decodeIndex(unhex(INDEX_HEX + 'ee'), what), what, 'says 2 points but holds 17 bytes');
    // Cut before the point count.
    throwsFormatError(() => decodeIndex(unhex(INDEX_HEX.slice(0, pointCountAt)), what), `${what} is truncated`);
    throwsFormatError(() => decodeIndex(unhex(''), what), `${what} is truncated`);
  });
});

describe('block-map page', () => {
  const addresses = new Uint8Array(3 * ADDRESS_BYTES);
  addresses.set(seq(0x00), 0);
  addresses.set(seq(0xa0), 2 * ADDRESS_BYTES);
  const PAGE_HEX =
    '01' + '00' + '0000' + // level 1, reserved
    '03000000' + // count 3
    '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f' +
    '0000000000000000000000000000000000000000000000000000000000000000' + // zero address: all-zero subtree
    'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf';

  it('golden bytes: level u8 ‖ 0x00 ‖ u16 0 ‖ count u32 ‖ addresses', () => {
    assert.equal(hex(encodeMapPage(1, addresses, 3)), PAGE_HEX);
    // Only the first `count` addresses are taken from a longer buffer.
    const longer = new Uint8Array(16 * ADDRESS_BYTES);
    longer.set(addresses, 0);
    assert.equal(hex(encodeMapPage(1, longer, 3)), PAGE_HEX);
    assert.equal(hex(encodeMapPage(0, seq(0x40), 1)), '00000000' + '01000000' + hex(seq(0x40)));
  });

  it('round trip', () => {
    const decoded = decodeMapPage(unhex(PAGE_HEX), 'page');
    assert.equal(decoded.level, 1);
    assert.equal(decoded.count, 3);
    assert.equal(hex(decoded.addresses), hex(addresses));
  });

  it('refuses wrong counts, trailing bytes and truncation, naming the page', () => {
    const what = 'map page 6d8b';
    throwsFormatError(() => decodeMapPage(unhex('0100000004000000' + PAGE_HEX.slice(16)), what), what, 'page says 4 entries but holds 96 bytes');
    throwsFormatError(() => decodeMapPage(unhex(PAGE_HEX + '00'), what), what, 'page says 3 entries but holds 97 bytes');
    throwsFormatError(() => decodeMapPage(unhex(PAGE_HEX.slice(0, -2)), what), what, 'holds 95 bytes');
    throwsFormatError(() => decodeMapPage(unhex('01000000'), what), `${what} is truncated`);
  });
});

describe('vault config', () => {
  const signed: SignedVaultConfig = { ...config, mac: CONFIG_MAC };

  it('golden canonical bytes (what the mac covers): fixed field order, compact JSON', () => {
    assert.equal(text(canonicalConfigBytes(config)), CANONICAL_CONFIG);
  });

  it('canonical bytes do not depend on the order of the fields given', () => {
    const shuffled = {
      mapFanout: 512, compression: { level: 3, algorithm: 'zstd' }, packSize: 33554432, cipher: 'aes-256-gcm-hmac-sha256-subkey',
      hash: 'hmac-sha256', blockSize: 65536, createdAt: CREATED_AT, vaultId: VAULT_ID, version: 1, format: FORMAT_NAME,
    } as VaultConfig;
    assert.equal(text(canonicalConfigBytes(shuffled)), CANONICAL_CONFIG);
  });

  it('golden mac: HMAC-SHA256(configMac key, canonical bytes), hex', () => {
    const keys = deriveVaultKeys(seq(0x00), unhex(VAULT_ID));
    assert.equal(hex(hmacSha256(keys.configMac, canonicalConfigBytes(config))), CONFIG_MAC);
  });

  it('golden encoded config: canonical order, mac last, 2-space indent, trailing newline', () => {
    assert.equal(text(encodeVaultConfig(signed)), ENCODED_CONFIG);
    // A mac given first still goes last.
    assert.equal(text(encodeVaultConfig({ mac: CONFIG_MAC, ...config })), ENCODED_CONFIG);
  });

  it('round trip', () => {
    assert.deepEqual(decodeVaultConfig(utf8(ENCODED_CONFIG)), signed);
    assert.deepEqual(decodeVaultConfig(utf8(JSON.stringify(signed))), signed);
    assert.deepEqual(peekConfigVersion(utf8(ENCODED_CONFIG)), { format: 'boveda-vault', version: 1 });
  });

  it('refuses malformed configs, naming the config and the field', () => {
    const withField = (field: string, value: unknown) => utf8(JSON.stringify({ ...signed, [field]: value }));
    throwsFormatError(() => decodeVaultConfig(utf8('{"format":')), 'vault config is not valid JSON');
    throwsFormatError(() => decodeVaultConfig(utf8('[]')), 'vault config is not a JSON object');
    throwsFormatError(() => decodeVaultConfig(new Uint8Array([0x7b, 0xff, 0x7d])), 'vault config is not valid JSON');
    throwsFormatError(() => decodeVaultConfig(withField('format', 'other')), 'vault config field "format" must be "boveda-vault"');
    throwsFormatError(() => decodeVaultConfig(withField('blockSize', '64KiB')), 'vault config field "blockSize" must be an integer');
    throwsFormatError(() => decodeVaultConfig(withField('blockSize', 12288)), 'vault config block size 12288 is not a power of two');
    throwsFormatError(() => decodeVaultConfig(withField('blockSize', 2048)), 'vault config field "blockSize" must be an integer from 4096 to 4194304');
    throwsFormatError(() => decodeVaultConfig(withField('hash', 'sha1')), 'vault config hash "sha1" is not supported');
    throwsFormatError(() => decodeVaultConfig(withField('cipher', 'chacha20')), 'vault config cipher "chacha20" is not supported');
    throwsFormatError(() => decodeVaultConfig(withField('compression', { algorithm: 'lz4', level: 1 })), 'vault config compression "lz4" is not supported');
    throwsFormatError(() => decodeVaultConfig(withField('compression', { algorithm: 'zstd', level: 23 })), 'vault config field "compression" field "level"');
    throwsFormatError(() => decodeVaultConfig(withField('packSize', 1024)), 'vault config field "packSize"');
    throwsFormatError(() => decodeVaultConfig(withField('mapFanout', 8)), 'vault config field "mapFanout" must be an integer from 16 to 65536');
    throwsFormatError(() => decodeVaultConfig(withField('vaultId', 'ABC')), 'vault config field "vaultId"');
    throwsFormatError(() => decodeVaultConfig(withField('mac', 'zz')), 'vault config field "mac"');
    throwsFormatError(() => decodeVaultConfig(withField('version', 0)), 'vault config field "version"');
  });
});

describe('versioning: a newer config version is refused with VAULT_UNSUPPORTED_VERSION', () => {
  it('even when the rest of the config is not understood', async () => {
    const store = new MemoryStore();
    await store.put(Paths.config, utf8(JSON.stringify({ format: FORMAT_NAME, version: 2, somethingNew: true })));
    await assert.rejects(Vault.readConfig(store), (error: unknown) => {
      assert.ok(isBovedaError(error, 'VAULT_UNSUPPORTED_VERSION'), String(error));
      assert.match(error.message, /format version 2; this Boveda reads versions up to 1/);
      return true;
    });
  });

  it('version 1 is read; another format name is VAULT_CONFIG_INVALID, not a version error', async () => {
    const store = new MemoryStore();
    await store.put(Paths.config, utf8(ENCODED_CONFIG));
    assert.deepEqual(await Vault.readConfig(store), { ...config, mac: CONFIG_MAC });
    const other = new MemoryStore();
    await other.put(Paths.config, utf8(JSON.stringify({ format: 'other-vault', version: 9 })));
    await assert.rejects(Vault.readConfig(other), (error: unknown) => isBovedaError(error, 'VAULT_CONFIG_INVALID'));
  });
});

describe('key slot JSON', () => {
  it('golden bytes of a passphrase slot and a key-file slot (compact JSON)', () => {
    assert.equal(text(encodeKeySlot(passphraseSlot)), PASSPHRASE_SLOT_JSON);
    assert.equal(text(encodeKeySlot(keyFileSlot)), KEY_FILE_SLOT_JSON);
  });

  it('golden wrap AAD', () => {
    assert.equal(text(keySlotAad(VAULT_ID, '0a1b2c3d')), 'boveda key slot v1 000102030405060708090a0b0c0d0e0f 0a1b2c3d');
  });

  it('round trip', () => {
    assert.deepEqual(decodeKeySlot(utf8(PASSPHRASE_SLOT_JSON), 'key slot keys/0a1b2c3d'), passphraseSlot);
    assert.deepEqual(decodeKeySlot(utf8(KEY_FILE_SLOT_JSON), 'key slot keys/0e0f1011'), keyFileSlot);
  });

  it('refuses malformed slots, naming the slot', () => {
    const what = 'key slot keys/0a1b2c3d';
    const withField = (field: string, value: unknown) => utf8(JSON.stringify({ ...passphraseSlot, [field]: value }));
    throwsFormatError(() => decodeKeySlot(withField('version', 2), what), `${what} has unknown version 2`);
    throwsFormatError(() => decodeKeySlot(withField('kind', 'yubikey'), what), `${what} has unknown kind "yubikey"`);
    throwsFormatError(() => decodeKeySlot(withField('kdf', { algorithm: 'argon2id' }), what), `${what} has unknown kdf "argon2id"`);
    throwsFormatError(() => decodeKeySlot(withField('kdf', { algorithm: 'scrypt', N: 1536, r: 8, p: 1 }), what), `${what}: scrypt N 1536 is not a power of two`);
    throwsFormatError(() => decodeKeySlot(withField('kdf', { algorithm: 'scrypt', N: 512, r: 8, p: 1 }), what), `${what} field "kdf" field "N"`);
    throwsFormatError(() => decodeKeySlot(withField('id', 'ABCDEFGH'), what), `${what} field "id"`);
    throwsFormatError(() => decodeKeySlot(withField('vaultId', 'xyz'), what), `${what} field "vaultId"`);
    throwsFormatError(() => decodeKeySlot(withField('salt', 'QUJD'), what), `${what} field "salt"`);
    throwsFormatError(() => decodeKeySlot(withField('wrappedKey', 'not base64!'), what), `${what} field "wrappedKey"`);
    throwsFormatError(() => decodeKeySlot(utf8(PASSPHRASE_SLOT_JSON.slice(0, -1)), what), `${what} is not valid JSON`);
  });
});

describe('manifest plaintext JSON', () => {
  it('golden bytes (compact JSON)', () => {
    assert.equal(text(encodePointManifest(manifest)), MANIFEST_JSON);
  });

  it('round trip', () => {
    assert.deepEqual(decodePointManifest(utf8(MANIFEST_JSON), 'manifest points/fedcba9876543210'), manifest);
    const first: PointManifest = { ...manifest, pointId: '0123456789abcdef', parentId: null, disks: [], meta: {} };
    assert.deepEqual(decodePointManifest(encodePointManifest(first), 'manifest'), first);
  });

  it('absent meta reads as {} and absent parentId as null', () => {
    const sparse = utf8('{"version":1,"pointId":"0123456789abcdef","subject":"s","createdAt":"c","disks":[]}');
    assert.deepEqual(decodePointManifest(sparse, 'manifest'), {
      version: 1, pointId: '0123456789abcdef', subject: 's', createdAt: 'c', parentId: null, disks: [], meta: {},
    });
  });

  it('refuses malformed manifests, naming the manifest (and the disk)', () => {
    const what = 'manifest points/fedcba9876543210';
    const withField = (field: string, value: unknown) => utf8(JSON.stringify({ ...manifest, [field]: value }));
    const withMap = (map: Record<string, unknown>) => withField('disks', [{ ...manifest.disks[0], map: { ...manifest.disks[0]!.map, ...map } }]);
    throwsFormatError(() => decodePointManifest(withField('version', 2), what), `${what} has unknown manifest version 2`);
    throwsFormatError(() => decodePointManifest(withField('pointId', 'FEDCBA9876543210'), what), `${what} field "pointId"`);
    throwsFormatError(() => decodePointManifest(withField('disks', {}), what), `${what} field "disks" must be an array`);
    throwsFormatError(() => decodePointManifest(withField('meta', []), what), `${what} field "meta" must be an object`);
    throwsFormatError(() => decodePointManifest(withMap({ root: 'ab' }), what), `${what} disk #0 field "map" field "root"`);
    throwsFormatError(() => decodePointManifest(withMap({ depth: 65 }), what), `${what} disk #0 field "map" field "depth"`);
    throwsFormatError(() => decodePointManifest(withMap({ fanout: 1 }), what), `${what} disk #0 field "map" field "fanout"`);
    throwsFormatError(() => decodePointManifest(withField('disks', [{ ...manifest.disks[0], stats: undefined }]), what), `${what} disk #0 field "stats" is not a JSON object`);
    throwsFormatError(() => decodePointManifest(utf8(MANIFEST_JSON + 'x'), what), `${what} is not valid JSON`);
  });
});
