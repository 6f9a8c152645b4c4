/**
 * Disk-encryption secrets end to end in process: a real vault on disk, a real SQLite catalog file,
 * real backups through runBackupJob. Covers the service rules and audit, what a point stores, that
 * no clear value reaches a file, authentication of moved objects, verify, deletion, gc, and a vault
 * that had no secrets key yet.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  LazyAppContext, listPointSecrets, listVmSecrets, readPointSecrets, removeVmSecret, runBackupJob, setVmSecret, type AuditActor,
} from '../../src/app/index.js';
import { Catalog } from '../../src/catalog/index.js';
import { isBovedaError, MAX_SECRETS_PER_VM } from '../../src/core/index.js';
import {
  Vault, collectGarbage, deletePoint, openVmSecret, readPoint, sealVmSecret, verifyVault,
} from '../../src/repository/index.js';
import { LocalStore } from '../../src/storage/index.js';
import { ManualClock, SeededRandom } from '../../src/util/index.js';

const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };
const SECRET = { kind: 'passphrase' as const, passphrase: 'secrets test' };
const admin: AuditActor = { userName: 'alice', source: '192.0.2.7' };

/** Every file under `dir` (recursively). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

function rejectsWith(code: string, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(isBovedaError(error), `not a BovedaError: ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  };
}

describe('VM secrets', () => {
  let work: string;
  let vaultDir: string;
  let clock: ManualClock;
  let catalog: Catalog;
  let vault: Vault;
  let app: LazyAppContext;
  const random = new SeededRandom(42);
  // Distinctive values, so a grep of raw bytes cannot match by chance.
  const passphrase = Buffer.from('LUKS-passphrase-7f3a9c1e-never-in-clear');
  const keyFile = Buffer.from(random.bytes(4096));

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-secrets-'));
    vaultDir = join(work, 'vault');
    clock = new ManualClock('2030-01-01T00:00:00.000Z');
    vault = await Vault.init(new LocalStore(vaultDir), { secret: SECRET, scrypt: FAST_SCRYPT, clock, blockSize: 16384 });
    catalog = await Catalog.open(join(work, 'catalog.db'), { clock });
    app = new LazyAppContext(catalog, clock, async () => vault);
    await writeFile(join(work, 'web.img'), random.bytes(64 * 1024));
    await writeFile(join(work, 'db.img'), random.bytes(32 * 1024));
    await catalog.vms.add({ name: 'web', disks: [{ path: join(work, 'web.img') }] });
    await catalog.vms.add({ name: 'db', disks: [{ path: join(work, 'db.img') }] });
  });
  after(async () => {
    await vault.close();
    await catalog.close();
    await rm(work, { recursive: true, force: true });
  });

  const backup = async (vmName: string) => {
    clock.advance(60_000);
    const outcome = await runBackupJob(app, vmName, { trigger: 'on-demand' });
    // Warnings (e.g. no reflink clone on this file system) do not matter here.
    assert.match(outcome.job.status, /^completed/, JSON.stringify(outcome.job.error));
    return outcome.value!.point.pointId;
  };

  let dbPoint = '';
  it('a VM without secrets stores none, and the vault gets no secrets key for it', async () => {
    const pointId = (dbPoint = await backup('db'));
    const point = await readPoint(vault, pointId);
    assert.equal(point.secrets, undefined);
    assert.equal(await vault.store.stat(`secrets/${pointId}`), undefined);
    assert.equal(await vault.store.stat('secrets-key'), undefined, 'a vault made before secrets existed has no key until one is needed');
    assert.deepEqual(await listPointSecrets(app, 'db', pointId), []);
  });

  it('set, list and remove; each change audited; rules refuse bad input naming the field', async () => {
    const first = await setVmSecret(app, 'web', { name: 'root-luks', kind: 'luks-passphrase', value: passphrase }, admin);
    assert.deepEqual(first, { name: 'root-luks', kind: 'luks-passphrase', sizeBytes: passphrase.length, updatedAt: clock.now().toISOString() });
    assert.ok(await vault.store.stat('secrets-key'), 'the first secret creates the vault\'s secrets key');
    await setVmSecret(app, 'web', { name: 'data.key', kind: 'key-file', value: keyFile }, admin);
    await setVmSecret(app, 'web', { name: 'scratch', kind: 'other', value: Buffer.from('x') }, admin);
    await removeVmSecret(app, 'web', 'scratch', admin);
    assert.deepEqual((await listVmSecrets(app, 'web')).map((entry) => [entry.name, entry.kind, entry.sizeBytes]), [
      ['data.key', 'key-file', 4096], ['root-luks', 'luks-passphrase', passphrase.length],
    ]);
    const audit = await catalog.audit.list({ target: 'vm:web' });
    assert.deepEqual(audit.map((entry) => [entry.action, entry.outcome, entry.userName, entry.source, entry.details?.secret]).reverse(), [
      ['secrets.set', 'succeeded', 'alice', '192.0.2.7', 'root-luks'], ['secrets.set', 'succeeded', 'alice', '192.0.2.7', 'data.key'],
      ['secrets.set', 'succeeded', 'alice', '192.0.2.7', 'scratch'], ['secrets.remove', 'succeeded', 'alice', '192.0.2.7', 'scratch'],
    ]);

    await assert.rejects(setVmSecret(app, 'web', { name: '../etc', kind: 'other', value: Buffer.from('x') }, admin), rejectsWith('INVALID_ARGUMENT', /secret name/));
    await assert.rejects(setVmSecret(app, 'web', { name: 'x'.repeat(65), kind: 'other', value: Buffer.from('x') }, admin), rejectsWith('INVALID_ARGUMENT', /secret name/));
    await assert.rejects(setVmSecret(app, 'web', { name: 'k', kind: 'bek' as never, value: Buffer.from('x') }, admin), rejectsWith('INVALID_ARGUMENT', /secret kind/));
    await assert.rejects(setVmSecret(app, 'web', { name: 'k', kind: 'other', value: Buffer.alloc(0) }, admin), rejectsWith('INVALID_ARGUMENT', /0 bytes/));
    await assert.rejects(setVmSecret(app, 'web', { name: 'k', kind: 'other', value: Buffer.alloc(65_537) }, admin), rejectsWith('INVALID_ARGUMENT', /65537 bytes/));
    await assert.rejects(setVmSecret(app, 'nope', { name: 'k', kind: 'other', value: Buffer.from('x') }, admin), rejectsWith('VM_NOT_FOUND', /nope/));
    await assert.rejects(removeVmSecret(app, 'web', 'absent', admin), rejectsWith('SECRET_NOT_FOUND', /absent/));
    await assert.rejects(listVmSecrets(app, 'nope'), rejectsWith('VM_NOT_FOUND'));
  });

  it('at most 32 secrets per VM', async () => {
    await catalog.vms.add({ name: 'many', disks: [{ path: join(work, 'db.img') }] });
    for (let i = 0; i < MAX_SECRETS_PER_VM; i++) await setVmSecret(app, 'many', { name: `s${i}`, kind: 'other', value: Buffer.from([i + 1]) }, admin);
    await assert.rejects(setVmSecret(app, 'many', { name: 'one-more', kind: 'other', value: Buffer.from('x') }, admin), rejectsWith('INVALID_ARGUMENT', /32 secrets/));
    // Replacing an existing one is not adding.
    await setVmSecret(app, 'many', { name: 's0', kind: 'other', value: Buffer.from('new') }, admin);
  });

  let firstPoint = '';
  let secondPoint = '';
  it('a backup stores the VM\'s secrets with the point; a later change does not alter that point', async () => {
    firstPoint = await backup('web');
    const manifest = await readPoint(vault, firstPoint);
    // The manifest lists names, kinds and sizes only.
    assert.deepEqual(manifest.secrets, [{ name: 'data.key', kind: 'key-file', sizeBytes: 4096 }, { name: 'root-luks', kind: 'luks-passphrase', sizeBytes: passphrase.length }]);
    assert.deepEqual((await listPointSecrets(app, 'web', firstPoint)).map((entry) => entry.name), ['data.key', 'root-luks']);

    await setVmSecret(app, 'web', { name: 'root-luks', kind: 'luks-passphrase', value: Buffer.from('a-new-passphrase') }, admin);
    await removeVmSecret(app, 'web', 'data.key', admin);
    secondPoint = await backup('web');

    const before = await readPointSecrets(app, 'web', firstPoint, admin);
    assert.equal(before.pointId, firstPoint);
    assert.deepEqual(before.secrets.map((entry) => [entry.name, entry.kind, entry.sizeBytes]), [['data.key', 'key-file', 4096], ['root-luks', 'luks-passphrase', passphrase.length]]);
    assert.ok(before.secrets[0]!.value.equals(keyFile), 'the key file comes back byte for byte');
    assert.ok(before.secrets[1]!.value.equals(passphrase));
    const later = await readPointSecrets(app, 'web', secondPoint.slice(0, 8), admin);
    assert.deepEqual(later.secrets.map((entry) => [entry.name, entry.value.toString()]), [['root-luks', 'a-new-passphrase']]);

    const reads = (await catalog.audit.list({ action: 'secrets.read' })).reverse();
    assert.deepEqual(reads.map((entry) => [entry.userName, entry.source, entry.target, entry.outcome, entry.details]), [
      ['alice', '192.0.2.7', 'vm:web', 'succeeded', { pointId: firstPoint, secrets: ['data.key', 'root-luks'] }],
      ['alice', '192.0.2.7', 'vm:web', 'succeeded', { pointId: secondPoint, secrets: ['root-luks'] }],
    ]);
  });

  it('a failed read is audited too: unknown point, another VM\'s point', async () => {
    const count = async () => (await catalog.audit.list({ action: 'secrets.read' })).length;
    const start = await count();
    await assert.rejects(readPointSecrets(app, 'web', 'ffffffffffffffff', admin), rejectsWith('POINT_NOT_FOUND'));
    await assert.rejects(readPointSecrets(app, 'web', dbPoint, admin), rejectsWith('POINT_NOT_FOUND', /not a point of VM "web"/));
    await assert.rejects(readPointSecrets(app, 'web', 'zz', admin), rejectsWith('INVALID_ARGUMENT'));
    const entries = (await catalog.audit.list({ action: 'secrets.read' })).slice(0, (await count()) - start);
    assert.equal(entries.length, 3);
    for (const entry of entries) {
      assert.equal(entry.outcome, 'failed');
      assert.equal(typeof entry.details?.error, 'string');
    }
  });

  it('no clear value is in any file of the vault or of the catalog', async () => {
    const files = [...await filesUnder(vaultDir), ...(await filesUnder(work)).filter((file) => file.includes('catalog.db'))];
    assert.ok(files.some((file) => file.includes('secrets/')) && files.some((file) => file.endsWith('catalog.db')));
    for (const file of files) {
      const bytes = await readFile(file);
      for (const value of [passphrase, keyFile.subarray(0, 64), Buffer.from('a-new-passphrase')]) {
        assert.equal(bytes.indexOf(value), -1, `${file} holds a clear secret`);
      }
    }
  });

  it('a secrets object moved to another point, or a catalog value moved to another VM or name, does not authenticate', async () => {
    const kek = await vault.secretsKey();
    const sealed = sealVmSecret(vault, kek, 'web', 'root-luks', passphrase);
    assert.ok(Buffer.from(openVmSecret(vault, kek, 'web', 'root-luks', sealed)).equals(passphrase));
    assert.throws(() => openVmSecret(vault, kek, 'db', 'root-luks', sealed), rejectsWith('VAULT_OBJECT_CORRUPT', /VM "db"/));
    assert.throws(() => openVmSecret(vault, kek, 'web', 'other', sealed), rejectsWith('VAULT_OBJECT_CORRUPT'));

    // The second point's object put in place of the first one's: same KEK, wrong AAD.
    const first = join(vaultDir, 'secrets', firstPoint);
    const saved = await readFile(first);
    await rm(first);
    await copyFile(join(vaultDir, 'secrets', secondPoint), first);
    await assert.rejects(readPointSecrets(app, 'web', firstPoint, admin), rejectsWith('VAULT_OBJECT_CORRUPT', new RegExp(`point ${firstPoint}`)));
    assert.equal((await catalog.audit.list({ action: 'secrets.read', limit: 1 }))[0]!.outcome, 'failed');
    await rm(first);
    await writeFile(first, saved);
  });

  it('verify reports a corrupted secrets object naming the point; clean again once repaired', async () => {
    assert.equal((await verifyVault(vault)).ok, true);
    const path = join(vaultDir, 'secrets', firstPoint);
    const saved = await readFile(path);
    const damaged = Buffer.from(saved);
    damaged[damaged.length - 20]! ^= 0x01;
    await rm(path);
    await writeFile(path, damaged);
    const report = await verifyVault(vault);
    assert.equal(report.ok, false);
    assert.deepEqual(report.problems.map((problem) => [problem.object, problem.affectedPoints]), [[`secrets/${firstPoint}`, [firstPoint]]]);
    assert.match(report.problems[0]!.problem, new RegExp(firstPoint));
    await rm(path);
    const missing = await verifyVault(vault);
    assert.deepEqual(missing.problems.map((problem) => [problem.object, problem.affectedPoints]), [[`secrets/${firstPoint}`, [firstPoint]]]);
    assert.match(missing.problems[0]!.problem, /missing/);
    await writeFile(path, saved);
    assert.equal((await verifyVault(vault)).ok, true);
  });

  it('the vault alone (a new catalog, the vault reopened with its passphrase) gives the secrets back', async () => {
    const reopened = await Vault.open(new LocalStore(vaultDir), [SECRET], { clock });
    const fresh = await Catalog.openInMemory({ clock });
    try {
      const recovered = await readPointSecrets(new LazyAppContext(fresh, clock, async () => reopened), 'web', firstPoint, admin);
      assert.ok(recovered.secrets.find((entry) => entry.name === 'data.key')!.value.equals(keyFile));
    } finally {
      await fresh.close();
      await reopened.close();
    }
  });

  it('gc keeps the secrets of existing points; deleting a point deletes its secrets; gc removes orphans', async () => {
    const orphan = 'aaaaaaaaaaaaaaaa';
    await copyFile(join(vaultDir, 'secrets', secondPoint), join(vaultDir, 'secrets', orphan));
    const gc = await collectGarbage(vault);
    assert.equal(gc.orphanSecretsDeleted, 1);
    assert.equal(await vault.store.stat(`secrets/${orphan}`), undefined);
    assert.ok(await vault.store.stat(`secrets/${firstPoint}`));
    assert.ok(await vault.store.stat(`secrets/${secondPoint}`));

    await deletePoint(vault, firstPoint);
    assert.equal(await vault.store.stat(`secrets/${firstPoint}`), undefined);
    assert.equal((await collectGarbage(vault)).orphanSecretsDeleted, 0);
    assert.equal((await verifyVault(vault)).ok, true);
    assert.ok(Buffer.from((await readPointSecrets(app, 'web', secondPoint, admin)).secrets[0]!.value).equals(Buffer.from('a-new-passphrase')));
  });

  it('two openers creating the secrets key at once agree on one key', async () => {
    const store = new LocalStore(join(work, 'race'));
    const a = await Vault.init(store, { secret: SECRET, scrypt: FAST_SCRYPT, clock });
    const b = await Vault.open(new LocalStore(join(work, 'race')), [SECRET], { clock });
    try {
      const [ka, kb] = await Promise.all([a.secretsKey(), b.secretsKey()]);
      assert.deepEqual(Buffer.from(ka), Buffer.from(kb));
      const keys = (await filesUnder(join(work, 'race'))).filter((file) => file.endsWith('secrets-key'));
      assert.equal(keys.length, 1);
      assert.equal((await readFile(keys[0]!)).length, 68);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
