/**
 * The sealed objects of the vault format (docs/vault-format.md) through src/repository/vault-objects.ts:
 * index files, manifests and packs. Keys come from deriveVaultKeys(master key 00..1f, vault id 00..0f).
 *
 * The *_HEX literals below are FROZEN sealed objects written once by this code (with random nonces):
 * together they form a one-block vault (manifest → map page → block) that must keep opening. Each is
 * also decrypted here with plain node:crypto to pin the keys, AAD and framing independently of the
 * code under test. Never regenerate them to make a test pass: a failure means old vaults broke.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { BovedaError } from '../../src/core/errors.js';
import { seal } from '../../src/crypto/aead.js';
import { BlockCrypto } from '../../src/crypto/block-crypto.js';
import { Codec } from '../../src/crypto/codec.js';
import { deriveVaultKeys, objectKey } from '../../src/crypto/vault-keys.js';
import {
  ADDRESS_BYTES, BlobKind, KeyLabel, decodeMapPage, encodeIndex, encodeMapPage, encodePackFooter, encodePackTrailer,
  encodePointManifest, type BlobEntry, type IndexContent, type PointManifest,
} from '../../src/format/index.js';
import {
  assemblePack, openIndexFile, openManifest, readPackTrailer, sealIndexFile, sealManifest, sha256Hex,
} from '../../src/repository/vault-objects.js';
import { SeededRandom } from '../../src/util/seeded-random.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const seq = (start: number, length = 32): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
const flipByte = (bytes: Uint8Array, index: number, mask = 0x01): Uint8Array => {
  const copy = bytes.slice();
  copy[index]! ^= mask;
  return copy;
};

const VAULT_ID = '000102030405060708090a0b0c0d0e0f';
const keys = deriveVaultKeys(seq(0x00), unhex(VAULT_ID));
const otherVaultKeys = deriveVaultKeys(seq(0x01), unhex(VAULT_ID));

/** Asserts VAULT_OBJECT_CORRUPT whose message and details name `what`. */
function throwsCorrupt(fn: () => unknown, what: string, fragment?: string | RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BovedaError, `expected a BovedaError, got ${String(error)}`);
    assert.equal(error.code, 'VAULT_OBJECT_CORRUPT');
    assert.ok(error.message.startsWith(`${what} is damaged: `), error.message);
    assert.equal(error.details.object, what);
    if (typeof fragment === 'string') assert.ok(error.message.includes(fragment), `"${error.message}" should mention "${fragment}"`);
    else if (fragment) assert.match(error.message, fragment);
    return true;
  });
}

/** AES-256-GCM open with plain node:crypto: nonce = first 12 bytes, tag = last 16. */
function gcmOpen(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]));
}

// ---- the frozen one-block vault -----------------------------------------------------------------

const BLOCK_TEXT = 'boveda golden block\n'.repeat(10);
const BLOCK_ADDRESS = '88ffaae9376ae36266b6e8b7ba68cc422c1fe3f7282b37a05a7617cc820dae83';
const PAGE_ADDRESS = '6d8b9923fdd83b9214b45e64513fe86eb2c0eda6eec4a3b4d304e8b711d2fc0c';
const PACK_ID = 'e4ccf9a1d52a6bddd90b89e6a4c7d38ea997b5b7751be497782aec33e97da72c';
const PACK_HEX = [
  '4256504b01000000', // header
  // block 88ff…, offset 8, 65 bytes: nonce ‖ AES-GCM(codec 1 ‖ zstd frame) ‖ tag
  'be204a640a9a3b91aabaf7b200d45b720e13d530fa92f48a36b94c0c2354025ccab2b23e56ad4743460bd9ad8c4a4b4f658a1fa2b6097d2ac32f31fb0175ffa6a5',
  // page 6d8b…, offset 73, 69 bytes: nonce ‖ AES-GCM(codec 0 ‖ 40-byte leaf page) ‖ tag
  '7c66ebdca5f9de1b469544c3b065bd2b728bf84f9988f53a4290691045f9efd5dc28fd8bf61c42b5e690b9e51d4404db24e8d6db135e5ff07fd06b2135a6f30facb84efb14',
  // trailer, offset 142, 122 bytes: nonce ‖ AES-GCM(count 2 ‖ 2 × 45-byte entries) ‖ tag
  'e6f6423540a6aa54af0551e6c4a4ac8eebe9fba2ff867d091e4e9b693ef15b2d009e6a3e17ffcc631dcb7a31c9e0df75bfebaefb1c5172789c80634e083c6c27776c343d6abae904162cfc3533ee6c36fcb7d7ca42c840b119e7debf99651b70a19ea2972fa34a1763f74378beec09e6b6f0302963c3208aa32b',
  '7a00000042565046', // footer: trailer length 122 ‖ "BVPF"
].join('');
const PACK_ENTRIES: BlobEntry[] = [
  { kind: BlobKind.block, address: unhex(BLOCK_ADDRESS), offset: 8, length: 65, rawLength: 200 },
  { kind: BlobKind.page, address: unhex(PAGE_ADDRESS), offset: 73, length: 69, rawLength: 40 },
];
const INDEX_FILE_KEY = 'index/f03f1a04eaaa1fadeb65f59cd0862e382da874d7d63c8264ab0fd6a5e2fd8fb1';
const INDEX_FILE_HEX = [
  '4256495801000000', // envelope header: "BVIX" ‖ version 1 ‖ 000000
  'f7a10eebf174dbd1bab60ca5e01b9a77380dd27cb8215dacbfb3ab7fd8dc7acf6c78a186702c86c6c61e68e39b8fb71978e36f05b78922a72a00179b49448540cfecb4ff76f6190e09bf59ceef962c86fb79ce9a65ff2cb20ca3703130ab18b14c890feee4019a09681dbf029437b7bdeb86141cb1f951eeb64741a76f8de416e0f3b5fc65969cd886027dde36f7c26e482c78aa9bf8af6333d920c86a01b4740ddc5e159959a0e098be8dd66c33328d3c94',
].join('');
const INDEX_CONTENT: IndexContent = { packs: [{ packId: PACK_ID, size: 272, entries: PACK_ENTRIES }], points: ['0123456789abcdef'] };
const MANIFEST_HEX = [
  '42564d4601000000', // envelope header: "BVMF" ‖ version 1 ‖ 000000
  'cbaaa5f912b6b9f0fa37946ac95be48265bac3e9ba57e18de0db208ed6efa73a6fca64eb1a02c4d261cedf04538c89e027b7c9d35093900aa34fb4ad95a86770000a1aa5983f57e756f7d535770237f0137df541c9a61c1e81e7268704c9139debdf40edf370e48a76fcef3e2600f6115c815acc8701285327a7a9fe8b833ba405c3e503e993b4a4b596d7d610d4a514afdd68dd8a9b2cd2276b17cf95165723035701342ed465190354fab9849130f792d6dcec7f6fd4a8713ab164c4239f26efc40cfe25637fb3b21f22a9fc464fb56508293886256285ca132958a458dc4b178b3996eec03bfdab33c4bedf97584f62e05641577ac1a18550327d97d41fba173a765806d5863224c96b286cd3f3dd81c07c7ed6cfee6e09b18ae41ca8610f72201db790d735512df291ff6d0ba465c6f27b34076858c9a4b940e8f2ecda9a824eb1a69c3d23cd4dfc3a9c7ea1e1def0b50745423763c121d4712e97a8ee80a6ec1cd535a0945aa39567b7e284245812982d0acfffb6482a08d15fea6ece682c9100a6bcaa7964f2c610630a55c2b9db048bbfe092cdd7d33f02b73321ceef8bedb0b6a56d6e6db7e29be559559a85f1d5fa33379e9177c92bf23547586fa6f0ea01cfeb57a5',
].join('');
const MANIFEST: PointManifest = {
  version: 1,
  pointId: '0123456789abcdef',
  subject: 'golden-vm',
  createdAt: '2024-01-02T03:04:05.678Z',
  parentId: null,
  disks: [{
    name: 'disk0', sizeBytes: 200, blockSize: 4096,
    map: { root: PAGE_ADDRESS, depth: 1, fanout: 512, blockCount: 1 },
    stats: { changedBlocks: 1, zeroBlocks: 0, newBlocks: 1, newBytes: 200, newStoredBytes: 65, bytesRead: 200 },
    meta: {},
  }],
  meta: {},
};

describe('frozen sealed objects (a one-block vault) still open', () => {
  it('the pack: its name is its SHA-256, its trailer lists both blobs', () => {
    const pack = unhex(PACK_HEX);
    assert.equal(pack.length, 272);
    assert.equal(sha256Hex(pack), PACK_ID);
    assert.deepEqual(readPackTrailer(keys, pack, `pack packs/e4/${PACK_ID}`), PACK_ENTRIES);
  });

  it('the index file lists the pack and the recorded point', () => {
    const bytes = unhex(INDEX_FILE_HEX);
    assert.equal(`index/${sha256Hex(bytes)}`, INDEX_FILE_KEY);
    assert.deepEqual(openIndexFile(keys, bytes, `index file ${INDEX_FILE_KEY}`), INDEX_CONTENT);
  });

  it('the manifest → map page → block chain restores the block', () => {
    const manifest = openManifest(keys, unhex(MANIFEST_HEX), '0123456789abcdef', 'manifest points/0123456789abcdef');
    assert.deepEqual(manifest, MANIFEST);
    const pack = unhex(PACK_HEX);
    const crypto = new BlockCrypto(keys, 3);
    const [blockEntry, pageEntry] = PACK_ENTRIES as [BlobEntry, BlobEntry];
    const root = manifest.disks[0]!.map.root;
    assert.equal(root, hex(pageEntry.address));
    const page = crypto.open(pageEntry.address, pack.subarray(pageEntry.offset, pageEntry.offset + pageEntry.length), 'page')!;
    const decoded = decodeMapPage(page, 'page');
    assert.deepEqual({ level: decoded.level, count: decoded.count, address: hex(decoded.addresses) }, { level: 0, count: 1, address: BLOCK_ADDRESS });
    const block = crypto.open(blockEntry.address, pack.subarray(blockEntry.offset, blockEntry.offset + blockEntry.length), 'block')!;
    assert.equal(new TextDecoder().decode(block), BLOCK_TEXT);
  });

  it('independent decryption pins keys, AAD and framing', () => {
    const pack = unhex(PACK_HEX);
    const header = pack.subarray(0, 8);
    // Pack trailer: key HMAC(encryption, "pack-trailer v1"), AAD = the 8 pack header bytes.
    const trailerLength = new DataView(pack.buffer, pack.byteOffset + pack.length - 8, 4).getUint32(0, true);
    const trailer = gcmOpen(objectKey(keys, 'pack-trailer v1'), header, pack.subarray(pack.length - 8 - trailerLength, pack.length - 8));
    assert.equal(hex(trailer), hex(encodePackTrailer(PACK_ENTRIES)));
    // Blobs: key HMAC(encryption, address), AAD = address, plaintext = codec byte ‖ (compressed) data.
    const [blockEntry, pageEntry] = PACK_ENTRIES as [BlobEntry, BlobEntry];
    const blockPlain = gcmOpen(objectKey(keys, blockEntry.address), blockEntry.address, pack.subarray(8, 73));
    assert.equal(blockPlain[0], Codec.zstd);
    assert.equal(hex(blockPlain.subarray(1, 5)), '28b52ffd');
    const pagePlain = gcmOpen(objectKey(keys, pageEntry.address), pageEntry.address, pack.subarray(73, 142));
    assert.equal(pagePlain[0], Codec.none);
    assert.equal(hex(pagePlain.subarray(1)), hex(encodeMapPage(0, blockEntry.address, 1)));
    // Index file: key HMAC(encryption, "index v1"), AAD = the 8 envelope header bytes.
    const index = unhex(INDEX_FILE_HEX);
    assert.equal(hex(gcmOpen(objectKey(keys, 'index v1'), index.subarray(0, 8), index.subarray(8))), hex(encodeIndex(INDEX_CONTENT)));
    // Manifest: key HMAC(encryption, "manifest v1"), AAD = the 8 envelope header bytes ‖ point id (16 ASCII hex digits).
    const manifest = unhex(MANIFEST_HEX);
    const aad = Buffer.concat([manifest.subarray(0, 8), Buffer.from('0123456789abcdef', 'ascii')]);
    assert.equal(hex(gcmOpen(objectKey(keys, 'manifest v1'), aad, manifest.subarray(8))), hex(encodePointManifest(MANIFEST)));
  });
});

describe('index files', () => {
  const what = 'index file index/1234';
  const content: IndexContent = {
    packs: [
      { packId: 'ab'.repeat(32), size: 1 << 20, entries: [{ kind: BlobKind.block, address: seq(0x10), offset: 8, length: 100, rawLength: 4096 }] },
      { packId: 'cd'.repeat(32), size: 2 << 20, entries: [{ kind: BlobKind.page, address: seq(0x30), offset: 8, length: 60, rawLength: 40 }] },
    ],
    points: ['0123456789abcdef'],
  };

  it('round trip: envelope "BVIX" v1 ‖ nonce ‖ ciphertext ‖ tag', () => {
    const bytes = sealIndexFile(keys, content);
    assert.equal(hex(bytes.subarray(0, 8)), '4256495801000000');
    assert.equal(bytes.length, 8 + 12 + encodeIndex(content).length + 16);
    assert.deepEqual(openIndexFile(keys, bytes, what), content);
    const empty = { packs: [], points: [] };
    assert.deepEqual(openIndexFile(keys, sealIndexFile(keys, empty), what), empty);
  });

  it('a flipped byte anywhere → VAULT_OBJECT_CORRUPT naming the file', () => {
    const bytes = sealIndexFile(keys, content);
    for (let i = 0; i < bytes.length; i++) throwsCorrupt(() => openIndexFile(keys, flipByte(bytes, i), what), what);
    throwsCorrupt(() => openIndexFile(keys, flipByte(bytes, 0), what), what, 'does not start with magic BVIX');
    throwsCorrupt(() => openIndexFile(keys, flipByte(bytes, 4, 0x03), what), what, 'unknown index version 2');
    throwsCorrupt(() => openIndexFile(keys, flipByte(bytes, 6), what), what, 'does not authenticate');
    throwsCorrupt(() => openIndexFile(keys, flipByte(bytes, 30), what), what, 'does not authenticate');
  });

  it('truncated, extended, or of another vault → VAULT_OBJECT_CORRUPT', () => {
    const bytes = sealIndexFile(keys, content);
    for (let length = 0; length < bytes.length; length++) throwsCorrupt(() => openIndexFile(keys, bytes.subarray(0, length), what), what);
    throwsCorrupt(() => openIndexFile(keys, Buffer.concat([bytes, new Uint8Array(1)]), what), what);
    throwsCorrupt(() => openIndexFile(otherVaultKeys, bytes, what), what, 'not of this vault');
  });

  it('a manifest is not accepted as an index file', () => {
    const manifest = sealManifest(keys, MANIFEST);
    throwsCorrupt(() => openIndexFile(keys, manifest, what), what, 'magic BVIX');
    // Even with the magic rewritten: another key and another AAD.
    const disguised = manifest.slice();
    disguised.set(utf8('BVIX'), 0);
    throwsCorrupt(() => openIndexFile(keys, disguised, what), what, 'does not authenticate');
  });
});

describe('manifests', () => {
  const what = 'manifest points/0123456789abcdef';

  it('round trip: envelope "BVMF" v1 ‖ nonce ‖ ciphertext ‖ tag', () => {
    const bytes = sealManifest(keys, MANIFEST);
    assert.equal(hex(bytes.subarray(0, 8)), '42564d4601000000');
    assert.equal(bytes.length, 8 + 12 + encodePointManifest(MANIFEST).length + 16);
    assert.deepEqual(openManifest(keys, bytes, MANIFEST.pointId, what), MANIFEST);
  });

  it('a flipped byte anywhere → VAULT_OBJECT_CORRUPT naming the manifest', () => {
    const bytes = sealManifest(keys, MANIFEST);
    for (let i = 0; i < bytes.length; i++) throwsCorrupt(() => openManifest(keys, flipByte(bytes, i), MANIFEST.pointId, what), what);
    throwsCorrupt(() => openManifest(keys, flipByte(bytes, 4, 0x03), MANIFEST.pointId, what), what, 'unknown manifest version 2');
  });

  it('opened under another point id, it fails (a renamed manifest is refused)', () => {
    const bytes = sealManifest(keys, MANIFEST);
    const renamed = 'manifest points/0123456789abcdee';
    throwsCorrupt(() => openManifest(keys, bytes, '0123456789abcdee', renamed), renamed, 'renamed');
  });

  it('truncated or of another vault → VAULT_OBJECT_CORRUPT', () => {
    const bytes = sealManifest(keys, MANIFEST);
    for (let length = 0; length < bytes.length; length += 7) throwsCorrupt(() => openManifest(keys, bytes.subarray(0, length), MANIFEST.pointId, what), what);
    throwsCorrupt(() => openManifest(otherVaultKeys, bytes, MANIFEST.pointId, what), what, 'not of this vault');
  });

  it('an index file is not accepted as a manifest', () => {
    throwsCorrupt(() => openManifest(keys, sealIndexFile(keys, INDEX_CONTENT), MANIFEST.pointId, what), what, 'magic BVMF');
  });
});

describe('packs', () => {
  const crypto = new BlockCrypto(keys, 3);
  const random = new SeededRandom(11);
  const blocks = [random.bytes(4096), utf8('compressible '.repeat(300)), random.bytes(1000)];
  const sealedBlobs: Uint8Array[] = [];
  const entries: BlobEntry[] = [];
  let offset = 8;
  for (const data of blocks) {
    const address = crypto.blockAddress(data);
    const { sealed } = crypto.seal(address, data);
    entries.push({ kind: BlobKind.block, address, offset, length: sealed.length, rawLength: data.length });
    sealedBlobs.push(sealed);
    offset += sealed.length;
  }
  const page = encodeMapPage(0, Buffer.concat(entries.map((entry) => entry.address)), 3);
  const pageAddress = crypto.pageAddress(page);
  const sealedPage = crypto.seal(pageAddress, page).sealed;
  entries.push({ kind: BlobKind.page, address: pageAddress, offset, length: sealedPage.length, rawLength: page.length });
  sealedBlobs.push(sealedPage);
  const blobEnd = offset + sealedPage.length;
  const pack = assemblePack(keys, sealedBlobs, entries);
  const what = `pack packs/${sha256Hex(pack).slice(0, 2)}/${sha256Hex(pack)}`;

  it('layout: header ‖ blobs at their offsets ‖ sealed trailer ‖ footer', () => {
    const trailerLength = 4 + entries.length * 45 + 28;
    assert.equal(pack.length, blobEnd + trailerLength + 8);
    assert.equal(hex(pack.subarray(0, 8)), '4256504b01000000');
    assert.equal(hex(pack.subarray(pack.length - 8)), hex(encodePackFooter(trailerLength)));
    entries.forEach((entry, i) => assert.equal(hex(pack.subarray(entry.offset, entry.offset + entry.length)), hex(sealedBlobs[i]!)));
  });

  it('round trip: readPackTrailer returns the entries, and each blob opens at its offset', () => {
    assert.deepEqual(readPackTrailer(keys, pack, what), entries);
    entries.forEach((entry, i) => {
      const opened = crypto.open(entry.address, pack.subarray(entry.offset, entry.offset + entry.length), entry.kind === BlobKind.page ? 'page' : 'block');
      assert.equal(hex(opened!), hex(i < blocks.length ? blocks[i]! : page));
    });
    const empty = assemblePack(keys, [], []);
    assert.equal(empty.length, 8 + 4 + 28 + 8);
    assert.deepEqual(readPackTrailer(keys, empty, 'pack empty'), []);
  });

  it('a flipped byte anywhere is detected: by readPackTrailer outside the blobs, by the blob’s own tag inside', () => {
    for (let i = 0; i < pack.length; i++) {
      const flipped = flipByte(pack, i);
      assert.notEqual(sha256Hex(flipped), sha256Hex(pack));
      if (i >= 8 && i < blobEnd) {
        assert.deepEqual(readPackTrailer(keys, flipped, what), entries);
        const entry = entries.find((candidate) => i >= candidate.offset && i < candidate.offset + candidate.length)!;
        const kind = entry.kind === BlobKind.page ? 'page' : 'block';
        assert.equal(crypto.open(entry.address, flipped.subarray(entry.offset, entry.offset + entry.length), kind), undefined, `byte ${i}`);
      } else {
        throwsCorrupt(() => readPackTrailer(keys, flipped, what), what);
      }
    }
    throwsCorrupt(() => readPackTrailer(keys, flipByte(pack, 0), what), what, 'does not start with magic BVPK');
    throwsCorrupt(() => readPackTrailer(keys, flipByte(pack, 4, 0x03), what), what, 'unknown pack version 2');
    throwsCorrupt(() => readPackTrailer(keys, flipByte(pack, 5), what), what, 'its trailer does not authenticate');
    throwsCorrupt(() => readPackTrailer(keys, flipByte(pack, pack.length - 1), what), what, 'does not end with magic BVPF');
    throwsCorrupt(() => readPackTrailer(keys, flipByte(pack, pack.length - 5, 0x80), what), what, /impossible trailer length \d+/);
  });

  it('truncated, or of another vault → VAULT_OBJECT_CORRUPT', () => {
    for (const length of [0, 3, 8, 15, 16, pack.length - 1]) throwsCorrupt(() => readPackTrailer(keys, pack.subarray(0, length), what), what);
    throwsCorrupt(() => readPackTrailer(keys, pack.subarray(0, 8), what), what, 'it is truncated to 8 bytes');
    throwsCorrupt(() => readPackTrailer(otherVaultKeys, pack, what), what, 'its trailer does not authenticate');
  });

  it('refuses a trailer whose entries point outside the blob area', () => {
    const blob = sealedBlobs[0]!;
    const entry = entries[0]!;
    throwsCorrupt(() => readPackTrailer(keys, assemblePack(keys, [blob], [{ ...entry, offset: 4 }]), 'pack p'), 'pack p', 'an entry points outside the blob area');
    throwsCorrupt(() => readPackTrailer(keys, assemblePack(keys, [blob], [{ ...entry, length: entry.length + 1 }]), 'pack p'), 'pack p', 'an entry points outside the blob area');
  });

  it('a trailer with a wrong entry count is VAULT_OBJECT_CORRUPT', () => {
    // A trailer plaintext whose count disagrees with its entries (as a buggy writer could seal it).
    const plain = encodePackTrailer([entries[0]!]);
    plain[0] = 2;
    const header = pack.subarray(0, 8);
    const sealed = seal(objectKey(keys, KeyLabel.packTrailer), header, plain);
    const bytes = Buffer.concat([header, sealed, encodePackFooter(sealed.length)]);
    throwsCorrupt(() => readPackTrailer(keys, bytes, 'pack q'), 'pack q', 'trailer says 2 entries but holds 45 bytes');
  });

  it('addresses are 32 bytes and a pack is named by the SHA-256 of its bytes', () => {
    for (const entry of entries) assert.equal(entry.address.length, ADDRESS_BYTES);
    assert.equal(sha256Hex(pack), createHash('sha256').update(pack).digest('hex'));
  });
});
