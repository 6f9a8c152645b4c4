/**
 * Backward compatibility: test/fixtures/golden-vault-v1/ is a vault written once by format version 1
 * (test/fixtures/make-golden-vault.ts) and FROZEN. Every later Boveda must open it, list its points,
 * restore both disks bit for bit and verify it clean. If this test fails, old vaults broke: fix the
 * code, never the fixture or the literals below.
 *
 * The fixture is copied to a temporary directory first, because opening a vault takes locks
 * (objects under locks/) and the fixture itself must stay untouched.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isBovedaError } from '../../src/core/errors.js';
import { decodeKeySlot, decodeVaultConfig, encodeKeySlot, encodeVaultConfig } from '../../src/format/index.js';
import { listPointIds, loadPoints } from '../../src/repository/points.js';
import { VaultReader } from '../../src/repository/vault-reader.js';
import { Vault } from '../../src/repository/vault.js';
import { verifyVault } from '../../src/repository/verify.js';
import { LocalStore } from '../../src/storage/local/local-store.js';

/** dist/test/format/ → the source tree's test/fixtures/golden-vault-v1/. */
const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'golden-vault-v1');
const PASSPHRASE = 'golden-passphrase';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Every object of the fixture, by storage key. */
const FIXTURE_OBJECTS = [
  'config',
  'index/4e17a27e354277aab9d3aa9c1a94583d998b1735702f7689c607c554ed9236bd',
  'index/511166656d29cb1057635039bac848ef761166e55d91fdf000c63bbd4216c18a',
  'index/c8dcf5028ca199fad0957c20952532fac4c3fa1cb3c10bae98983af07abe0a7d',
  'index/d28ea7f08df9fbc1469b90a5c91d52ed7acede7cb9c40b4ce9ba03097f72b862',
  'keys/2313dd1d',
  'packs/6b/6bd2e75fb23696dd000142f304b65c0df9e28c5c576e56b2ea0f5b20e986c8b9',
  'packs/ed/ed06a5fab0b756a78777e36e7d87f9738869fa97025a18a9da6f522c6f02435f',
  'points/a000000000000001',
  'points/a000000000000002',
];

const CONFIG = {
  format: 'boveda-vault',
  version: 1,
  vaultId: '6a862d1c616e811c2344c0e068775224',
  createdAt: '2024-05-01T10:00:00.000Z',
  blockSize: 4096,
  hash: 'hmac-sha256',
  cipher: 'aes-256-gcm-hmac-sha256-subkey',
  compression: { algorithm: 'zstd', level: 3 },
  packSize: 1048576,
  mapFanout: 16,
  mac: 'f2f12bdb7d5e8a0fc50eb00a8c097cf14de95ec9897fb67ebece7ba0b2384a19',
};

const POINTS = [
  {
    pointId: 'a000000000000001',
    parentId: null,
    createdAt: '2024-05-01T10:00:00.000Z',
    meta: { type: 'full' },
    map: { root: 'f7662d1d1f3299d8a995823e5ca6aeb785630a13118c316aabf2ccb90ebce54c', depth: 2, fanout: 16, blockCount: 51 },
    stats: { changedBlocks: 33, zeroBlocks: 18, newBlocks: 32, newBytes: 127976, bytesRead: 205800 },
    nonZeroBlocks: 33,
    diskSha256: '32567cb98094eea59bb9057962c628f47188424ea016e2ed7ef354cbec3ca975',
  },
  {
    pointId: 'a000000000000002',
    parentId: 'a000000000000001',
    createdAt: '2024-05-02T10:00:00.000Z',
    meta: { type: 'incremental' },
    map: { root: '23d4581f1ebb98fa3585510ab617941fa1944213404306c857facbef0e2f2640', depth: 2, fanout: 16, blockCount: 51 },
    stats: { changedBlocks: 4, zeroBlocks: 17, newBlocks: 3, newBytes: 12288, bytesRead: 205800 },
    nonZeroBlocks: 34,
    diskSha256: '90c3e589a3ce903bb740faa6b74264a14a1b1a6c1042d41745041ab7d5ab9ce9',
  },
];

async function listFiles(root: string, dir = root): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await listFiles(root, path)));
    else found.push(relative(root, path).split('\\').join('/'));
  }
  return found.sort();
}

describe('golden vault v1 (frozen fixture)', () => {
  let root = '';
  let vault: Vault;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'boveda-golden-'));
    await cp(FIXTURE, root, { recursive: true });
    vault = await Vault.open(new LocalStore(root), [{ kind: 'passphrase', passphrase: PASSPHRASE }], { threads: 2 });
  });

  after(async () => {
    await vault?.close();
    if (root !== '') await rm(root, { recursive: true, force: true });
  });

  it('holds exactly the objects it was written with, each content-named object named by its SHA-256', async () => {
    assert.deepEqual(await listFiles(FIXTURE), FIXTURE_OBJECTS);
    for (const key of FIXTURE_OBJECTS.filter((name) => name.startsWith('packs/') || name.startsWith('index/'))) {
      const name = key.slice(key.lastIndexOf('/') + 1);
      assert.equal(sha256(await readFile(join(FIXTURE, key))), name, key);
      if (key.startsWith('packs/')) assert.equal(key.slice('packs/'.length, 'packs/'.length + 2), name.slice(0, 2));
    }
  });

  it('its config and key slot decode, and re-encode to the very same bytes', async () => {
    const configBytes = new Uint8Array(await readFile(join(FIXTURE, 'config')));
    const config = decodeVaultConfig(configBytes);
    assert.deepEqual(config, CONFIG);
    assert.equal(Buffer.from(encodeVaultConfig(config)).toString('utf8'), Buffer.from(configBytes).toString('utf8'));
    assert.deepEqual(await Vault.readConfig(new LocalStore(root)), CONFIG);
    const slotBytes = new Uint8Array(await readFile(join(FIXTURE, 'keys/2313dd1d')));
    const slot = decodeKeySlot(slotBytes, 'key slot keys/2313dd1d');
    assert.deepEqual({ id: slot.id, vaultId: slot.vaultId, kind: slot.kind, label: slot.label, kdf: slot.kdf }, {
      id: '2313dd1d', vaultId: CONFIG.vaultId, kind: 'passphrase', label: 'golden key', kdf: { algorithm: 'scrypt', N: 1024, r: 8, p: 1 },
    });
    assert.equal(Buffer.from(encodeKeySlot(slot)).toString('utf8'), Buffer.from(slotBytes).toString('utf8'));
  });

  it('opens with its passphrase and lists its key slot', async () => {
    assert.equal(vault.openedWithSlot, '2313dd1d');
    assert.deepEqual(await vault.listKeySlots(), [{ id: '2313dd1d', kind: 'passphrase', label: 'golden key', createdAt: '2024-05-01T10:00:00.000Z' }]);
  });

  it('refuses a wrong passphrase', async () => {
    await assert.rejects(
      Vault.open(new LocalStore(root), [{ kind: 'passphrase', passphrase: 'golden-passphrasE' }]),
      (error: unknown) => isBovedaError(error, 'VAULT_WRONG_KEY'),
    );
  });

  it('lists both points with their manifests', async () => {
    assert.deepEqual(await listPointIds(vault), POINTS.map((point) => point.pointId));
    const { points, damaged } = await loadPoints(vault);
    assert.deepEqual(damaged, []);
    assert.equal(points.length, 2);
    points.forEach((manifest, i) => {
      const expected = POINTS[i]!;
      assert.equal(manifest.version, 1);
      assert.equal(manifest.pointId, expected.pointId);
      assert.equal(manifest.subject, 'golden-vm');
      assert.equal(manifest.parentId, expected.parentId);
      assert.equal(manifest.createdAt, expected.createdAt);
      assert.deepEqual(manifest.meta, expected.meta);
      assert.equal(manifest.disks.length, 1);
      const disk = manifest.disks[0]!;
      assert.deepEqual({ name: disk.name, sizeBytes: disk.sizeBytes, blockSize: disk.blockSize, meta: disk.meta }, { name: 'disk0', sizeBytes: 205800, blockSize: 4096, meta: { format: 'raw' } });
      assert.deepEqual(disk.map, expected.map);
      // newStoredBytes is left out: it depends on the zstd build that wrote the fixture, not on the format.
      const { newStoredBytes: _ignored, ...stats } = disk.stats;
      assert.deepEqual(stats, expected.stats);
    });
  });

  it('restores both disks bit for bit', async () => {
    const reader = await VaultReader.open(vault);
    try {
      const { points } = await loadPoints(vault);
      for (const [i, point] of points.entries()) {
        const expected = POINTS[i]!;
        const disk = reader.disk(point, 'disk0');
        const image = new Uint8Array(disk.sizeBytes);
        let blocks = 0;
        for await (const block of reader.readDisk(disk)) {
          image.set(block.data, block.index * disk.blockSize);
          blocks++;
        }
        assert.equal(blocks, expected.nonZeroBlocks, point.pointId);
        assert.equal(sha256(image), expected.diskSha256, point.pointId);
      }
    } finally {
      await reader.close();
    }
  });

  it('verifies clean, reading every byte', async () => {
    const report = await verifyVault(vault, { readData: true });
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.unindexedPacks, []);
    assert.equal(report.ok, true);
    assert.equal(report.points, 2);
    assert.equal(report.packs, 2);
    assert.equal(report.blobsChecked, 43);
    assert.equal(report.bytesChecked, 5965 + 87388);
  });
});
