/**
 * Crypto primitives of the vault format (docs/vault-format.md): AES-256-GCM framing, codec ids,
 * block/page sealing, key slots, and the key derivation.
 *
 * The known-answer vectors below are FROZEN: they were computed once from the code and pinned here.
 * Every address and every key of every existing vault depends on them, so a failing vector means the
 * derivation changed and old vaults would no longer open. Never update a vector to make a test pass.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { NONCE_BYTES, SEAL_OVERHEAD, TAG_BYTES, open, seal } from '../../src/crypto/aead.js';
import { BlockCrypto } from '../../src/crypto/block-crypto.js';
import { BlockCompressor, Codec } from '../../src/crypto/codec.js';
import {
  defaultScryptParams, deriveSlotKey, newKeyFileContent, newSalt, parseKeyFileContent, unwrapMasterKey, wrapMasterKey,
} from '../../src/crypto/key-slot-crypto.js';
import { DIGEST_BYTES, MASTER_KEY_BYTES, deriveVaultKeys, hmacSha256, objectKey } from '../../src/crypto/vault-keys.js';
import { KeyLabel, decodeKeySlot, encodeMapPage, keySlotAad } from '../../src/format/index.js';
import { SeededRandom } from '../../src/util/seeded-random.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const seq = (start: number, length = 32): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
const flipBit = (bytes: Uint8Array, index: number, bit = 0): Uint8Array => {
  const copy = bytes.slice();
  copy[index]! ^= 1 << bit;
  return copy;
};

/** The fixed inputs of every vector: master key 00 01 … 1f, vault id 00 01 … 0f. */
const MASTER_KEY = seq(0x00);
const VAULT_ID = '000102030405060708090a0b0c0d0e0f';
const keys = deriveVaultKeys(MASTER_KEY, unhex(VAULT_ID));
const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

describe('deriveVaultKeys: known-answer vector (frozen)', () => {
  it('derives the four purpose keys', () => {
    assert.deepEqual(
      { blockId: hex(keys.blockId), pageId: hex(keys.pageId), encryption: hex(keys.encryption), configMac: hex(keys.configMac) },
      {
        blockId: '390bea42d9f84a28d398d8ee37e243cdd0e7bf8d12b8aac9e8c1e60b705b708a',
        pageId: 'bf355533a603cce05dbadd1e6fd6dbaac1e5931d0a34cf194cb6995d0ca2b222',
        encryption: '1f4ddf5277c627086d75569424730e30fd60ae131af41e0f05f39c86991e27bf',
        configMac: 'f5c4a9a1e0a465822a8a064373f675f0d9d66f93f8fc9b5d4f06e1d4f2ad47d1',
      },
    );
  });

  it('is HKDF-SHA256(ikm = master key, salt = vault id bytes, info = "boveda v1 <purpose>", 32 bytes)', () => {
    const hkdf = (label: string) => hex(new Uint8Array(hkdfSync('sha256', MASTER_KEY, unhex(VAULT_ID), `boveda v1 ${label}`, 32)));
    assert.equal(hex(keys.blockId), hkdf('block-id'));
    assert.equal(hex(keys.pageId), hkdf('page-id'));
    assert.equal(hex(keys.encryption), hkdf('encryption'));
    assert.equal(hex(keys.configMac), hkdf('config-mac'));
    assert.equal(MASTER_KEY_BYTES, 32);
    assert.equal(DIGEST_BYTES, 32);
  });

  it('another vault id gives unrelated keys', () => {
    const other = deriveVaultKeys(MASTER_KEY, unhex('ff0102030405060708090a0b0c0d0e0f'));
    assert.notEqual(hex(other.blockId), hex(keys.blockId));
    assert.notEqual(hex(other.encryption), hex(keys.encryption));
  });

  it('per-object keys: HMAC-SHA256(encryption key, label bytes or raw address)', () => {
    assert.deepEqual(
      {
        packTrailer: hex(objectKey(keys, KeyLabel.packTrailer)),
        index: hex(objectKey(keys, KeyLabel.index)),
        manifest: hex(objectKey(keys, KeyLabel.manifest)),
        address: hex(objectKey(keys, seq(0xa0))),
      },
      {
        packTrailer: '3dad10f2dac23bc728e7632ab4806aac1c87f29be3b0f29d7f5243d32f3f9064',
        index: '40fd03e4181234f0b26bf31e88a82428958e674290d65c4b45a8061ce1c4c77d',
        manifest: 'e44e43ad287a6ce597e9179a6b50106c33fb6b2ad04bc2555d4c74f231649b7a',
        address: '1547c46e7fe977f895f693f1353eba50316f8475f288ec3b9ff7aab62e78fc4b',
      },
    );
    const independent = createHmac('sha256', keys.encryption).update('index v1', 'utf8').digest('hex');
    assert.equal(hex(objectKey(keys, 'index v1')), independent);
  });

  it('hmacSha256 over several parts equals HMAC over their concatenation', () => {
    assert.equal(hex(hmacSha256(keys.blockId, utf8('ab'), utf8('cd'))), hex(hmacSha256(keys.blockId, utf8('abcd'))));
    assert.equal(hex(hmacSha256(keys.blockId, utf8('abcd'))), createHmac('sha256', keys.blockId).update('abcd').digest('hex'));
  });
});

describe('aead (AES-256-GCM, nonce ‖ ciphertext ‖ tag)', () => {
  const key = seq(0x20);
  const aad = utf8('associated');
  const plain = utf8('the plaintext of a vault object');

  it('frames nonce (12) ‖ ciphertext (same length) ‖ tag (16), decryptable by any AES-GCM', () => {
    const sealed = seal(key, aad, plain);
    assert.equal(NONCE_BYTES, 12);
    assert.equal(TAG_BYTES, 16);
    assert.equal(SEAL_OVERHEAD, 28);
    assert.equal(sealed.length, plain.length + SEAL_OVERHEAD);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    const out = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
    assert.equal(out.toString('utf8'), 'the plaintext of a vault object');
  });

  it('round trip; parts are concatenated into one plaintext', () => {
    assert.equal(hex(open(key, aad, seal(key, aad, plain))!), hex(plain));
    assert.equal(hex(open(key, aad, seal(key, aad, plain.subarray(0, 5), plain.subarray(5)))!), hex(plain));
    assert.equal(open(key, aad, seal(key, aad))!.length, 0);
  });

  it('uses a fresh nonce each time', () => {
    assert.notEqual(hex(seal(key, aad, plain).subarray(0, 12)), hex(seal(key, aad, plain).subarray(0, 12)));
  });

  it('returns undefined for a wrong key, a wrong aad, any flipped bit, or too short input', () => {
    const sealed = seal(key, aad, plain);
    assert.equal(open(seq(0x21), aad, sealed), undefined);
    assert.equal(open(key, utf8('associatee'), sealed), undefined);
    assert.equal(open(key, new Uint8Array(0), sealed), undefined);
    for (let i = 0; i < sealed.length; i++) assert.equal(open(key, aad, flipBit(sealed, i, i % 8)), undefined, `flipped byte ${i}`);
    assert.equal(open(key, aad, sealed.subarray(0, sealed.length - 1)), undefined);
    assert.equal(open(key, aad, sealed.subarray(0, 27)), undefined);
    assert.equal(open(key, aad, new Uint8Array(0)), undefined);
  });
});

describe('codec', () => {
  const compressor = new BlockCompressor(3);

  it('frozen codec ids', () => {
    assert.deepEqual({ ...Codec }, { none: 0, zstd: 1 });
  });

  it('keeps incompressible data raw (codec 0, same bytes)', () => {
    const random = new SeededRandom(7).bytes(4096);
    const { codec, bytes } = compressor.compress(random);
    assert.equal(codec, Codec.none);
    assert.equal(hex(bytes), hex(random));
    assert.equal(hex(compressor.decompress(codec, bytes)), hex(random));
  });

  it('compresses compressible data with zstd (codec 1) and decompresses it back', () => {
    const text = utf8('boveda golden block\n'.repeat(205));
    const { codec, bytes } = compressor.compress(text);
    assert.equal(codec, Codec.zstd);
    assert.ok(bytes.length < text.length / 10, `${bytes.length} bytes`);
    assert.equal(hex(bytes.subarray(0, 4)), '28b52ffd'); // a standard zstd frame
    assert.equal(hex(compressor.decompress(codec, bytes)), hex(text));
  });

  it('keeps zstd only when it saves at least 1/32 of the size', () => {
    // Half random, half zeros: compresses to about half, so zstd is kept.
    const half = new Uint8Array(4096);
    half.set(new SeededRandom(8).bytes(2048));
    assert.equal(compressor.compress(half).codec, Codec.zstd);
    // Almost entirely random: saves less than 1/32, so raw is kept.
    const mostly = new SeededRandom(9).bytes(4096);
    mostly.fill(0, 0, 64);
    assert.equal(compressor.compress(mostly).codec, Codec.none);
  });

  it('refuses an unknown codec id and undecodable zstd data', () => {
    assert.throws(() => compressor.decompress(2, utf8('x')), /unknown codec id 2/);
    assert.throws(() => compressor.decompress(Codec.zstd, utf8('not a zstd frame')));
  });
});

describe('BlockCrypto', () => {
  const crypto = new BlockCrypto(keys, 3);
  const block = utf8('boveda golden block\n'.repeat(10));

  it('addresses are HMAC-SHA256 under the block-id / page-id keys (known answer)', () => {
    assert.equal(hex(crypto.blockAddress(block)), '88ffaae9376ae36266b6e8b7ba68cc422c1fe3f7282b37a05a7617cc820dae83');
    const page = encodeMapPage(0, crypto.blockAddress(block), 1);
    assert.equal(hex(crypto.pageAddress(page)), '6d8b9923fdd83b9214b45e64513fe86eb2c0eda6eec4a3b4d304e8b711d2fc0c');
    assert.notEqual(hex(crypto.blockAddress(page)), hex(crypto.pageAddress(page)));
  });

  it('seal/open round trip for a compressible block, a random block and a page', () => {
    const random = new SeededRandom(3).bytes(4096);
    const page = encodeMapPage(0, crypto.blockAddress(random), 1);
    const cases: Array<[Uint8Array, 'block' | 'page', number]> = [[block, 'block', Codec.zstd], [random, 'block', Codec.none], [page, 'page', Codec.none]];
    for (const [data, kind, expectedCodec] of cases) {
      const address = kind === 'block' ? crypto.blockAddress(data) : crypto.pageAddress(data);
      const { sealed, codec } = crypto.seal(address, data);
      assert.equal(codec, expectedCodec);
      assert.equal(hex(crypto.open(address, sealed, kind)!), hex(data));
    }
  });

  it('sealed = AES-256-GCM(key HMAC(encryption, address), codec byte ‖ data, aad = address)', () => {
    const random = new SeededRandom(4).bytes(4096);
    const address = crypto.blockAddress(random);
    const { sealed } = crypto.seal(address, random);
    const plain = open(objectKey(keys, address), address, sealed)!;
    assert.equal(plain[0], Codec.none);
    assert.equal(hex(plain.subarray(1)), hex(random));
    assert.equal(sealed.length, 1 + random.length + SEAL_OVERHEAD);
  });

  it('a sealed blob opened under another address fails', () => {
    const other = utf8('another block');
    const address = crypto.blockAddress(block);
    const { sealed } = crypto.seal(address, block);
    assert.equal(crypto.open(crypto.blockAddress(other), sealed, 'block'), undefined);
    assert.equal(crypto.open(flipBit(address, 0), sealed, 'block'), undefined);
  });

  it('data sealed under an address that is not its own is refused on open (re-hash check)', () => {
    const wrong = crypto.blockAddress(utf8('something else'));
    const { sealed } = crypto.seal(wrong, block);
    assert.equal(crypto.open(wrong, sealed, 'block'), undefined);
  });

  it('a block opened as a page fails (different address keys)', () => {
    const address = crypto.blockAddress(block);
    assert.equal(crypto.open(address, crypto.seal(address, block).sealed, 'page'), undefined);
  });

  it('a flipped bit anywhere in a sealed blob fails', () => {
    const address = crypto.blockAddress(block);
    const { sealed } = crypto.seal(address, block);
    for (let i = 0; i < sealed.length; i++) assert.equal(crypto.open(address, flipBit(sealed, i, 7), 'block'), undefined, `byte ${i}`);
  });

  it('opens a blob from another vault only with that vault’s keys', () => {
    const otherKeys = deriveVaultKeys(seq(0x01), unhex(VAULT_ID));
    const address = crypto.blockAddress(block);
    assert.equal(new BlockCrypto(otherKeys, 3).open(address, crypto.seal(address, block).sealed, 'block'), undefined);
  });
});

describe('key slots', () => {
  const salt = seq(0x40);
  const aad = keySlotAad(VAULT_ID, '0a1b2c3d');

  it('scrypt slot key: known answer (passphrase "golden-passphrase", salt 40..5f, N=1024 r=8 p=1)', async () => {
    const slotKey = await deriveSlotKey({ kind: 'passphrase', passphrase: 'golden-passphrase' }, salt, FAST_SCRYPT);
    assert.equal(hex(slotKey), '7f2fa4cdfdc0c55c36bb744293aa14ddbc680fbe5b6ef40e70d16d01d65a9208');
  });

  it('passphrases are NFC-normalised before scrypt', async () => {
    const composed = await deriveSlotKey({ kind: 'passphrase', passphrase: 'caf\u00e9' }, salt, FAST_SCRYPT);
    const decomposed = await deriveSlotKey({ kind: 'passphrase', passphrase: 'cafe\u0301' }, salt, FAST_SCRYPT);
    assert.equal(hex(composed), hex(decomposed));
  });

  it('key-file slot key: known answer, HKDF-SHA256(key, salt, "boveda v1 key-file slot")', async () => {
    const slotKey = await deriveSlotKey({ kind: 'key-file', key: seq(0x60) }, salt, FAST_SCRYPT);
    assert.equal(hex(slotKey), 'febf5444485e8fce57718daee246eb25777c829d1eecee7cb30382da8933c301');
    assert.equal(hex(slotKey), hex(new Uint8Array(hkdfSync('sha256', seq(0x60), salt, 'boveda v1 key-file slot', 32))));
  });

  it('wrap/unwrap with a passphrase; wrong passphrase, vault or slot id fail', async () => {
    const masterKey = seq(0x80);
    const slotKey = await deriveSlotKey({ kind: 'passphrase', passphrase: 'correct horse' }, salt, FAST_SCRYPT);
    const wrapped = wrapMasterKey(slotKey, masterKey, aad);
    assert.equal(wrapped.length, 12 + 32 + 16);
    assert.equal(hex(unwrapMasterKey(slotKey, wrapped, aad)!), hex(masterKey));
    const wrongKey = await deriveSlotKey({ kind: 'passphrase', passphrase: 'correct horsE' }, salt, FAST_SCRYPT);
    assert.equal(unwrapMasterKey(wrongKey, wrapped, aad), undefined);
    assert.equal(unwrapMasterKey(slotKey, wrapped, keySlotAad('ff0102030405060708090a0b0c0d0e0f', '0a1b2c3d')), undefined);
    assert.equal(unwrapMasterKey(slotKey, wrapped, keySlotAad(VAULT_ID, '0a1b2c3e')), undefined);
  });

  it('wrap/unwrap with a key file', async () => {
    const content = newKeyFileContent();
    const fileKey = parseKeyFileContent(content)!;
    const slotKey = await deriveSlotKey({ kind: 'key-file', key: fileKey }, salt, defaultScryptParams);
    const wrapped = wrapMasterKey(slotKey, MASTER_KEY, aad);
    assert.equal(hex(unwrapMasterKey(slotKey, wrapped, aad)!), hex(MASTER_KEY));
    const otherKey = await deriveSlotKey({ kind: 'key-file', key: parseKeyFileContent(newKeyFileContent())! }, salt, defaultScryptParams);
    assert.equal(unwrapMasterKey(otherKey, wrapped, aad), undefined);
  });

  it('frozen slots unwrap to the master key (the key slot goldens of test/format/golden.test.ts)', async () => {
    const passphraseSlot = decodeKeySlot(utf8(
      '{"version":1,"id":"0a1b2c3d","vaultId":"000102030405060708090a0b0c0d0e0f","kind":"passphrase","label":"initial key",' +
      '"createdAt":"2024-01-02T03:04:05.678Z","kdf":{"algorithm":"scrypt","N":1024,"r":8,"p":1},' +
      '"salt":"QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=",' +
      '"wrappedKey":"5hglw2yIdBi8f6+4VkCdsNwkQdtClpj3iK73CrxMPQkYmlJYsq/QkYqdNoQrC7yuTF1NfbwimUBsmUog"}',
    ), 'key slot keys/0a1b2c3d');
    assert.equal(passphraseSlot.kdf.algorithm, 'scrypt');
    const kdf = passphraseSlot.kdf as { algorithm: 'scrypt'; N: number; r: number; p: number };
    const slotKey = await deriveSlotKey({ kind: 'passphrase', passphrase: 'golden-passphrase' }, Buffer.from(passphraseSlot.salt, 'base64'), kdf);
    const master = unwrapMasterKey(slotKey, Buffer.from(passphraseSlot.wrappedKey, 'base64'), keySlotAad(passphraseSlot.vaultId, passphraseSlot.id));
    assert.equal(hex(master!), hex(MASTER_KEY));

    const keyFile = parseKeyFileContent('boveda-key-v1:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=\n')!;
    assert.equal(hex(keyFile), hex(seq(0x60)));
    const fileSlotKey = await deriveSlotKey({ kind: 'key-file', key: keyFile }, Buffer.from('gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8=', 'base64'), defaultScryptParams);
    const wrapped = Buffer.from('pfP/54INJXmEcURNfZYm8aUwo+pAMTc0mvbZ2pvJKjAxOZv8jjO/PMJWXBjcHePMzRMqC5Tw/mc3KaMd', 'base64');
    assert.equal(hex(unwrapMasterKey(fileSlotKey, wrapped, keySlotAad(VAULT_ID, '0e0f1011'))!), hex(MASTER_KEY));
  });

  it('key file content: "boveda-key-v1:" ‖ base64 of 32 random bytes ‖ newline', () => {
    const content = newKeyFileContent();
    assert.match(content, /^boveda-key-v1:[A-Za-z0-9+/]{43}=\n$/);
    assert.equal(parseKeyFileContent(content)!.length, 32);
    assert.notEqual(content, newKeyFileContent());
    // Surrounding whitespace at the end is tolerated (editors add newlines), anything else is not.
    assert.equal(hex(parseKeyFileContent('boveda-key-v1:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=')!), hex(seq(0x60)));
    assert.equal(hex(parseKeyFileContent('boveda-key-v1:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=\r\n\n')!), hex(seq(0x60)));
    for (const bad of [
      '', 'boveda-key-v2:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=', ' boveda-key-v1:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=',
      'boveda-key-v1:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8', 'boveda-key-v1:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8=x',
      'boveda-key-v1:YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8AAAA=',
    ]) {
      assert.equal(parseKeyFileContent(bad), undefined, JSON.stringify(bad));
    }
  });

  it('salts are 32 fresh random bytes; the default scrypt cost is N=32768 r=8 p=1', () => {
    const a = newSalt();
    assert.equal(a.length, 32);
    assert.notEqual(hex(a), hex(newSalt()));
    assert.deepEqual(defaultScryptParams, { N: 32768, r: 8, p: 1 });
  });
});
