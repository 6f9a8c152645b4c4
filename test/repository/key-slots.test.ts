import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { newKeyFileContent, parseKeyFileContent, type SlotSecret } from '../../src/crypto/index.js';
import { Paths } from '../../src/format/index.js';
import { Vault } from '../../src/repository/vault.js';
import { LocalStore } from '../../src/storage/local/local-store.js';
import {
  FAST_SCRYPT, PASSPHRASE, WRONG_PASSPHRASE, assertRestores, backup, code, createVault, listKeys, makeDisk, snapshot,
} from './helpers.js';

const SECOND: SlotSecret = { kind: 'passphrase', passphrase: 'second passphrase for the ops team' };

function keyFile(): SlotSecret {
  return { kind: 'key-file', key: parseKeyFileContent(newKeyFileContent())! };
}

describe('Vault key slots', () => {
  it('adds a passphrase slot and a key-file slot, opens with each, lists them', async () => {
    const { vault, store } = await createVault({ label: 'initial' });
    const file = keyFile();
    try {
      const passSlot = await vault.addKeySlot(SECOND, 'backup admin', FAST_SCRYPT);
      const fileSlot = await vault.addKeySlot(file, 'offsite key file');
      assert.equal(passSlot.kind, 'passphrase');
      assert.equal(fileSlot.kind, 'key-file');
      const slots = await vault.listKeySlots();
      assert.deepEqual(slots.map((slot) => [slot.id, slot.kind, slot.label]), [
        [vault.openedWithSlot, 'passphrase', 'initial'],
        [passSlot.id, 'passphrase', 'backup admin'],
        [fileSlot.id, 'key-file', 'offsite key file'],
      ]);
      assert.deepEqual(await listKeys(store, Paths.keys), [vault.openedWithSlot, passSlot.id, fileSlot.id].map((id) => `${Paths.keys}${id}`).sort());

      for (const [secret, slotId] of [[PASSPHRASE, vault.openedWithSlot], [SECOND, passSlot.id], [file, fileSlot.id]] as const) {
        const opened = await Vault.open(store, [secret]);
        assert.equal(opened.openedWithSlot, slotId);
        assert.deepEqual(opened.keys, vault.keys);
        await opened.close();
      }
      // Several secrets: the first that opens a slot wins, wrong ones are skipped.
      const mixed = await Vault.open(store, [WRONG_PASSPHRASE, keyFile(), file]);
      assert.equal(mixed.openedWithSlot, fileSlot.id);
      await mixed.close();
      await assert.rejects(Vault.open(store, [WRONG_PASSPHRASE, keyFile()]), code('VAULT_WRONG_KEY', 'passphrase or key file', '3 slots'));
    } finally {
      await vault.close();
    }
  });

  it('removes slots, refuses unknown ones and the last one', async () => {
    const { vault, store } = await createVault();
    try {
      const second = await vault.addKeySlot(SECOND, 'second', FAST_SCRYPT);
      await assert.rejects(vault.removeKeySlot('deadbeef'), code('VAULT_KEY_SLOT_NOT_FOUND', 'deadbeef'));
      await vault.removeKeySlot(vault.openedWithSlot);
      assert.deepEqual((await vault.listKeySlots()).map((slot) => slot.id), [second.id]);
      await assert.rejects(Vault.open(store, [PASSPHRASE]), code('VAULT_WRONG_KEY'));
      const reopened = await Vault.open(store, [SECOND]);
      await reopened.close();

      const before = await snapshot(store);
      await assert.rejects(vault.removeKeySlot(second.id), code('VAULT_LAST_KEY_SLOT', second.id));
      await assert.rejects(vault.removeKeySlot(vault.openedWithSlot), code('VAULT_KEY_SLOT_NOT_FOUND'));
      assert.deepEqual(await snapshot(store), before);
      const stillOpens = await Vault.open(store, [SECOND]);
      await stillOpens.close();
    } finally {
      await vault.close();
    }
  });

  it('reads data written before a slot was added when opened with the new slot (nothing re-encrypted)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'boveda-slots-'));
    try {
      const { vault, store } = await createVault({ store: new LocalStore(root), blockSize: 16384 });
      const data = makeDisk(11, 40 * 16384 + 123, 16384, [3, 4, 17]);
      const file = keyFile();
      let point;
      try {
        point = await backup(vault, 'vm', [{ name: 'sda', data }]);
        const before = await snapshot(store);
        const slot = await vault.addKeySlot(file, 'key file');
        const after = await snapshot(store);
        // Exactly one new object, the slot; every pack, index file and manifest byte-identical.
        assert.deepEqual([...after.keys()].filter((key) => !before.has(key)), [`${Paths.keys}${slot.id}`]);
        for (const [key, hash] of before) assert.equal(after.get(key), hash, key);
        await vault.removeKeySlot(vault.openedWithSlot);
      } finally {
        await vault.close();
      }
      const opened = await Vault.open(new LocalStore(root), [file]);
      try {
        await assertRestores(opened, point, 'sda', data);
      } finally {
        await opened.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('ignores slots of another vault and unreadable slot objects', async () => {
    const a = await createVault();
    const b = await createVault();
    try {
      const foreignKey = (await listKeys(b.store, Paths.keys))[0]!;
      await a.store.put(foreignKey, await b.store.get(foreignKey));
      await a.store.put(`${Paths.keys}00000000`, new TextEncoder().encode('not json'));
      // b's passphrase is the same, but its slot wraps b's master key for b's vault id: not a slot of a.
      assert.deepEqual((await a.vault.listKeySlots()).map((slot) => slot.id), [a.vault.openedWithSlot]);
      const opened = await Vault.open(a.store, [PASSPHRASE]);
      assert.equal(opened.config.vaultId, a.vault.config.vaultId);
      assert.equal(opened.openedWithSlot, a.vault.openedWithSlot);
      await opened.close();
      await assert.rejects(a.vault.removeKeySlot(foreignKey.slice(Paths.keys.length)), code('VAULT_KEY_SLOT_NOT_FOUND'));
    } finally {
      await a.vault.close();
      await b.vault.close();
    }
  });

  it('refuses a slot with an empty passphrase', async () => {
    const { vault, store } = await createVault();
    try {
      const before = await snapshot(store);
      await assert.rejects(vault.addKeySlot({ kind: 'passphrase', passphrase: '' }, 'empty', FAST_SCRYPT), code('INVALID_ARGUMENT'));
      assert.deepEqual(await snapshot(store), before);
    } finally {
      await vault.close();
    }
  });
});
