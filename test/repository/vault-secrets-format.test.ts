/**
 * The secrets objects as docs/vault-format.md §18 describes them: decrypted here with node:crypto
 * alone, from the vault directory and its passphrase (the disaster-recovery path), so the document
 * and the code cannot drift apart. Also the frozen wrap-key derivation and the manifest golden of a
 * point without secrets (no "secrets" field, as before).
 */
import assert from 'node:assert/strict';
import { createDecipheriv, hkdfSync, scryptSync } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deriveSecretsWrapKey } from '../../src/crypto/vault-keys.js';
import { Vault, VaultWriter } from '../../src/repository/index.js';
import { LocalStore } from '../../src/storage/index.js';

function gcmOpen(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
}

describe('secrets format', () => {
  it('the wrap key is HKDF-SHA256(master, vault id, "boveda v1 secrets-key-wrap") (frozen)', () => {
    const key = deriveSecretsWrapKey(new Uint8Array([...Array(32).keys()]), new Uint8Array([...Array(16).keys()]));
    assert.equal(Buffer.from(key).toString('hex'), '8509833a660bf592de5db16ec69fdccb3762812148e72358413f11c9720ce389');
  });

  it('secrets-key and secrets/<point id> open with node:crypto as documented, from the vault files and the passphrase only', async () => {
    const work = await mkdtemp(join(tmpdir(), 'boveda-secrets-format-'));
    try {
      const dir = join(work, 'vault');
      const vault = await Vault.init(new LocalStore(dir), { secret: { kind: 'passphrase', passphrase: 'pw' }, scrypt: { N: 1024, r: 8, p: 1 } });
      const writer = await VaultWriter.open(vault);
      const secrets = [{ name: 'root', kind: 'luks-passphrase', value: Buffer.from('s3cret') }, { name: 'k.bin', kind: 'key-file', value: Buffer.from([0, 1, 2, 255]) }];
      const point = await writer.commitPoint({ subject: 'web', parentId: null, disks: [], pointId: '0123456789abcdef', secrets });
      await writer.close();
      await vault.close();
      assert.deepEqual(point.secrets, [{ name: 'root', kind: 'luks-passphrase', sizeBytes: 6 }, { name: 'k.bin', kind: 'key-file', sizeBytes: 4 }]);

      // §5: the master key from the key slot.
      const config = JSON.parse(await readFile(join(dir, 'config'), 'utf8')) as { vaultId: string };
      const slotFile = (await readdir(join(dir, 'keys')))[0]!;
      const slot = JSON.parse(await readFile(join(dir, 'keys', slotFile), 'utf8')) as { id: string; salt: string; wrappedKey: string; kdf: { N: number; r: number; p: number } };
      const slotKey = scryptSync(Buffer.from('pw'), Buffer.from(slot.salt, 'base64'), 32, { N: slot.kdf.N, r: slot.kdf.r, p: slot.kdf.p });
      const master = gcmOpen(slotKey, Buffer.from(`boveda key slot v1 ${config.vaultId} ${slot.id}`), Buffer.from(slot.wrappedKey, 'base64'));

      // §18.1: secrets-key = "BVSK" 01 000000 ‖ seal(wrap key, header ‖ vault id ASCII, KEK): 68 bytes.
      const keyObject = await readFile(join(dir, 'secrets-key'));
      assert.equal(keyObject.length, 68);
      assert.equal(keyObject.subarray(0, 8).toString('hex'), '4256534b01000000');
      const wrapKey = Buffer.from(hkdfSync('sha256', master, Buffer.from(config.vaultId, 'hex'), 'boveda v1 secrets-key-wrap', 32));
      const kek = gcmOpen(wrapKey, Buffer.concat([keyObject.subarray(0, 8), Buffer.from(config.vaultId, 'ascii')]), keyObject.subarray(8));
      assert.equal(kek.length, 32);

      // §18.2: secrets/<id> = "BVSC" 01 000000 ‖ seal(KEK, header ‖ JSON AAD, JSON with per-secret seals).
      const object = await readFile(join(dir, 'secrets', '0123456789abcdef'));
      assert.equal(object.subarray(0, 8).toString('hex'), '4256534301000000');
      const outerAad = Buffer.concat([object.subarray(0, 8), Buffer.from(JSON.stringify(['boveda point secrets v1', config.vaultId, 'web', '0123456789abcdef']))]);
      const content = JSON.parse(gcmOpen(kek, outerAad, object.subarray(8)).toString('utf8')) as { version: number; pointId: string; subject: string; secrets: Array<{ name: string; kind: string; sizeBytes: number; sealed: string }> };
      assert.deepEqual([content.version, content.pointId, content.subject], [1, '0123456789abcdef', 'web']);
      const values = content.secrets.map((secret) => [secret.name, secret.kind, secret.sizeBytes,
        gcmOpen(kek, Buffer.from(JSON.stringify(['boveda point secret v1', config.vaultId, 'web', '0123456789abcdef', secret.name])), Buffer.from(secret.sealed, 'base64')).toString('hex')]);
      assert.deepEqual(values, [['root', 'luks-passphrase', 6, Buffer.from('s3cret').toString('hex')], ['k.bin', 'key-file', 4, '000102ff']]);
      // Another point id in the AAD does not open it.
      assert.throws(() => gcmOpen(kek, Buffer.concat([object.subarray(0, 8), Buffer.from(JSON.stringify(['boveda point secrets v1', config.vaultId, 'web', '0123456789abcdee']))]), object.subarray(8)));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
