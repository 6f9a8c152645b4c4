import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FORMAT_VERSION, Paths } from '../../src/format/index.js';
import { Vault } from '../../src/repository/vault.js';
import { LocalStore } from '../../src/storage/local/local-store.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import {
  FAST_SCRYPT, MiB, PASSPHRASE, WRONG_PASSPHRASE, assertRestores, backup, code, createVault, listKeys, makeDisk, snapshot, snapshotDirectory,
} from './helpers.js';

async function replaceConfig(store: MemoryStore, edit: (config: Record<string, unknown>) => void): Promise<void> {
  const config = JSON.parse(new TextDecoder().decode(await store.get(Paths.config))) as Record<string, unknown>;
  edit(config);
  await store.delete(Paths.config);
  await store.put(Paths.config, new TextEncoder().encode(JSON.stringify(config, null, 2)));
}

describe('Vault init and open', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'boveda-vault-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('inits a vault that opens again with the right passphrase and keeps its settings', async () => {
    const store = new MemoryStore();
    const created = await Vault.init(store, { secret: PASSPHRASE, scrypt: FAST_SCRYPT, blockSize: 16384, packSize: 2 * MiB, mapFanout: 64, label: 'ops' });
    const data = makeDisk(1, 5 * 16384 + 10, 16384);
    let point;
    try {
      point = await backup(created, 'vm', [{ name: 'sda', data }]);
    } finally {
      await created.close();
    }
    assert.deepEqual(await listKeys(store, Paths.config), ['config']);
    assert.equal((await listKeys(store, Paths.keys)).length, 1);

    const opened = await Vault.open(store, [PASSPHRASE]);
    try {
      assert.equal(opened.config.vaultId, created.config.vaultId);
      assert.equal(opened.config.version, FORMAT_VERSION);
      assert.equal(opened.config.blockSize, 16384);
      assert.equal(opened.config.packSize, 2 * MiB);
      assert.equal(opened.config.mapFanout, 64);
      assert.equal(opened.openedWithSlot, created.openedWithSlot);
      assert.deepEqual(opened.keys, created.keys);
      await assertRestores(opened, point, 'sda', data);
    } finally {
      await opened.close();
    }
  });

  it('reads the config without any key', async () => {
    const { vault, store } = await createVault();
    await vault.close();
    const config = await Vault.readConfig(store);
    assert.equal(config.vaultId, vault.config.vaultId);
    assert.equal(config.blockSize, 4096);
  });

  it('refuses a wrong passphrase with VAULT_WRONG_KEY and writes nothing (MemoryStore)', async () => {
    const { vault, store } = await createVault();
    await vault.close();
    const before = await snapshot(store);
    await assert.rejects(Vault.open(store, [WRONG_PASSPHRASE]), code('VAULT_WRONG_KEY', 'memory', 'passphrase'));
    await assert.rejects(Vault.open(store, [{ kind: 'key-file', key: new Uint8Array(32).fill(7) }]), code('VAULT_WRONG_KEY', 'key file'));
    assert.deepEqual(await snapshot(store), before);
  });

  it('refuses a wrong passphrase and leaves the vault directory untouched (LocalStore)', async () => {
    const dir = join(root, 'wrong-key');
    const { vault } = await createVault({ store: new LocalStore(dir) });
    await vault.close();
    const before = await snapshotDirectory(dir);
    assert.ok(before.has('config'));
    await assert.rejects(Vault.open(new LocalStore(dir), [WRONG_PASSPHRASE]), code('VAULT_WRONG_KEY', dir));
    assert.deepEqual(await snapshotDirectory(dir), before);
    const reopened = await Vault.open(new LocalStore(dir), [WRONG_PASSPHRASE, PASSPHRASE]);
    await reopened.close();
  });

  it('asks for a key with VAULT_NO_KEY when no secret is given', async () => {
    const { vault, store } = await createVault();
    await vault.close();
    await assert.rejects(Vault.open(store, []), code('VAULT_NO_KEY'));
  });

  it('says VAULT_NOT_FOUND for a store without a config, empty or not', async () => {
    const store = new MemoryStore();
    await assert.rejects(Vault.open(store, [PASSPHRASE]), code('VAULT_NOT_FOUND', 'memory'));
    await assert.rejects(Vault.readConfig(store), code('VAULT_NOT_FOUND'));
    await store.put('something/else', new Uint8Array(3));
    await assert.rejects(Vault.open(store, []), code('VAULT_NOT_FOUND'));
    await assert.rejects(Vault.open(new LocalStore(join(root, 'does-not-exist')), [PASSPHRASE]), code('VAULT_NOT_FOUND'));
  });

  it('refuses a newer format version with VAULT_UNSUPPORTED_VERSION before any key is checked', async () => {
    const { vault, store } = await createVault();
    await vault.close();
    await replaceConfig(store as MemoryStore, (config) => {
      config.version = 2;
      config.blockSize = 'something the new version means';
    });
    await assert.rejects(Vault.open(store, []), code('VAULT_UNSUPPORTED_VERSION', 'version 2'));
    await assert.rejects(Vault.open(store, [WRONG_PASSPHRASE]), code('VAULT_UNSUPPORTED_VERSION'));
    await assert.rejects(Vault.open(store, [PASSPHRASE]), code('VAULT_UNSUPPORTED_VERSION'));
    await assert.rejects(Vault.readConfig(store), code('VAULT_UNSUPPORTED_VERSION'));
  });

  it('refuses a config whose fields were changed with the mac kept (VAULT_CONFIG_INVALID)', async () => {
    const { vault, store } = await createVault();
    await vault.close();
    await replaceConfig(store as MemoryStore, (config) => {
      config.blockSize = 8192;
    });
    // Still well-formed: only the key can tell it was altered.
    assert.equal((await Vault.readConfig(store)).blockSize, 8192);
    await assert.rejects(Vault.open(store, [PASSPHRASE]), code('VAULT_CONFIG_INVALID', 'mac'));
  });

  it('refuses malformed configs with VAULT_CONFIG_INVALID', async () => {
    const edits: Array<(config: Record<string, unknown>) => void> = [
      (config) => { config.blockSize = 3000; },
      (config) => { config.format = 'some-other-tool'; },
      (config) => { config.cipher = 'rot13'; },
      (config) => { config.mac = 'xyz'; },
      (config) => { config.mapFanout = 4; },
      (config) => { delete config.vaultId; },
    ];
    for (const edit of edits) {
      const { vault, store } = await createVault();
      await vault.close();
      await replaceConfig(store as MemoryStore, edit);
      await assert.rejects(Vault.open(store, [PASSPHRASE]), code('VAULT_CONFIG_INVALID'));
    }
    const { vault, store } = await createVault();
    await vault.close();
    (store as MemoryStore).corrupt(Paths.config, (bytes) => bytes.subarray(0, 20));
    await assert.rejects(Vault.open(store, [PASSPHRASE]), code('VAULT_CONFIG_INVALID', 'not valid JSON'));
  });

  it('refuses to init twice with VAULT_EXISTS and leaves the first vault as it was', async () => {
    const { vault, store } = await createVault();
    await vault.close();
    const before = await snapshot(store);
    await assert.rejects(createVault({ store }), code('VAULT_EXISTS'));
    assert.deepEqual(await snapshot(store), before);

    const dir = join(root, 'twice');
    const first = await createVault({ store: new LocalStore(dir) });
    await first.vault.close();
    const files = await snapshotDirectory(dir);
    await assert.rejects(createVault({ store: new LocalStore(dir) }), code('VAULT_EXISTS', dir));
    assert.deepEqual(await snapshotDirectory(dir), files);
    const reopened = await Vault.open(new LocalStore(dir), [PASSPHRASE]);
    assert.equal(reopened.config.vaultId, first.vault.config.vaultId);
    await reopened.close();
  });

  it('refuses invalid block sizes with INVALID_ARGUMENT and writes nothing', async () => {
    for (const blockSize of [3000, 2 * MiB + 1, 8 * MiB, 2048, 0, -4096, 4096.5]) {
      const store = new MemoryStore();
      await assert.rejects(Vault.init(store, { secret: PASSPHRASE, scrypt: FAST_SCRYPT, blockSize }), code('INVALID_ARGUMENT', 'block size'));
      assert.deepEqual(await listKeys(store), [], `block size ${blockSize} wrote nothing`);
    }
    for (const blockSize of [4096, 2 * MiB, 4 * MiB]) {
      const { vault } = await createVault({ blockSize });
      assert.equal(vault.config.blockSize, blockSize);
      await vault.close();
    }
  });

  it('refuses invalid pack sizes, compression levels and map fanouts before writing anything', async () => {
    const bad = [
      { packSize: MiB - 1 }, { packSize: 2 * 1024 * MiB }, { packSize: 1.5 * MiB + 0.5 },
      { compressionLevel: 23 }, { compressionLevel: 1.5 },
      { mapFanout: 8 }, { mapFanout: 1 }, { mapFanout: 0 }, { mapFanout: 16.5 }, { mapFanout: 65537 },
    ];
    for (const options of bad) {
      const store = new MemoryStore();
      await assert.rejects(Vault.init(store, { secret: PASSPHRASE, scrypt: FAST_SCRYPT, ...options }), code('INVALID_ARGUMENT'), JSON.stringify(options));
      assert.deepEqual(await listKeys(store), [], `${JSON.stringify(options)} wrote nothing`);
    }
    // The limits themselves are accepted, and the vault opens again.
    for (const mapFanout of [16, 65536]) {
      const { vault, store } = await createVault({ mapFanout });
      await vault.close();
      const opened = await Vault.open(store, [PASSPHRASE]);
      assert.equal(opened.config.mapFanout, mapFanout);
      await opened.close();
    }
  });

  it('refuses an empty passphrase', async () => {
    const store = new MemoryStore();
    await assert.rejects(Vault.init(store, { secret: { kind: 'passphrase', passphrase: '' }, scrypt: FAST_SCRYPT }), code('INVALID_ARGUMENT', 'empty'));
    assert.deepEqual(await listKeys(store), []);
  });

  it('close is idempotent and the vault can be used again after it (a new pool is made)', async () => {
    const { vault } = await createVault();
    await vault.close();
    await vault.close();
    const data = makeDisk(2, 3 * 4096, 4096);
    try {
      const point = await backup(vault, 'vm', [{ name: 'a', data }]);
      await assertRestores(vault, point, 'a', data);
    } finally {
      await vault.close();
    }
  });
});
