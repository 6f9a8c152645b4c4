import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LocalStore } from '../../src/storage/index.js';
import { Vault, VaultWriter, writeDisk } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';

const bin = join(process.cwd(), 'dist/src/cli/main.js');
/** A private data directory (catalog), so the tests never open the user's default one. */
let dataDir: string | undefined;

function boveda(args: string[], env: Record<string, string | undefined> = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, BOVEDA_SCRYPT_N: '1024', BOVEDA_PASSPHRASE: 'correct horse', BOVEDA_VAULT: undefined, BOVEDA_DATA: dataDir, XDG_DATA_HOME: undefined, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name));
  }
  return out.sort();
}

function diskImage(seed: number, size: number): Uint8Array {
  const random = new SeededRandom(seed);
  const image = new Uint8Array(size);
  // Every third 16 KiB block stays zero, so the restored image must be sparse.
  for (let at = 0; at < size; at += 16384) if ((at / 16384) % 3 !== 0) random.fill(image.subarray(at, Math.min(size, at + 16384)));
  return image;
}

describe('boveda vault (CLI, real processes and files)', () => {
  let work: string;
  let vaultDir: string;
  const images = new Map<string, Uint8Array>();

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-cli-'));
    dataDir = join(work, 'data');
    vaultDir = join(work, 'vault');
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('creates a vault and describes it without a key', async () => {
    const init = boveda(['vault', 'init', '--vault', vaultDir, '--block-size', '16KiB', '--json']);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(JSON.parse(init.stdout).blockSize, 16384);
    const info = boveda(['vault', 'info', '--json'], { BOVEDA_VAULT: vaultDir, BOVEDA_PASSPHRASE: undefined });
    assert.equal(info.code, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).version, 1);
  });

  it('refuses a second init, a non-empty directory and a bad block size, leaving nothing behind', async () => {
    assert.equal(boveda(['vault', 'init', '--vault', vaultDir]).code, 1);
    await writeFile(join(work, 'notes.txt'), 'mine');
    const busy = boveda(['vault', 'init', '--vault', work]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /not empty.*VAULT_EXISTS/);
    const bad = boveda(['vault', 'init', '--vault', join(work, 'new', 'deeper'), '--block-size', '3000']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /block size 3000/);
    await assert.rejects(stat(join(work, 'new')), /ENOENT/);
  });

  it('stores points written through the repository and lists them from the vault alone', async () => {
    const vault = await Vault.open(new LocalStore(vaultDir), [{ kind: 'passphrase', passphrase: 'correct horse' }]);
    try {
      const writer = await VaultWriter.open(vault);
      for (const [subject, seed] of [['web', 1], ['db', 2]] as const) {
        const image = diskImage(seed, 3 * 1024 * 1024 + 5000);
        images.set(subject, image);
        const disk = await writeDisk(writer, { name: 'os', sizeBytes: image.length, read: async (offset, length) => image.subarray(offset, offset + length) });
        await writer.commitPoint({ subject, parentId: null, disks: [disk] });
      }
      await writer.close();
    } finally {
      await vault.close();
    }
    const points = boveda(['vault', 'points', '--vault', vaultDir, '--json']);
    assert.equal(points.code, 0, points.stderr);
    const listed = JSON.parse(points.stdout).points as Array<{ id: string; subject: string }>;
    assert.deepEqual(listed.map((point) => point.subject).sort(), ['db', 'web']);
  });

  it('restores a point to a sparse image equal to the source, and never overwrites', async () => {
    const listed = JSON.parse(boveda(['vault', 'points', '--vault', vaultDir, '--json', '--subject', 'web']).stdout).points as Array<{ id: string }>;
    const target = join(work, 'restored');
    const restore = boveda(['vault', 'restore', listed[0]!.id.slice(0, 6), '--vault', vaultDir, '--to', target]);
    assert.equal(restore.code, 0, restore.stderr);
    const restored = await readFile(join(target, 'os.img'));
    assert.equal(createHash('sha256').update(restored).digest('hex'), createHash('sha256').update(images.get('web')!).digest('hex'));
    const info = await stat(join(target, 'os.img'));
    assert.ok(info.blocks * 512 < info.size, `restored image should be sparse (${info.blocks * 512} bytes allocated of ${info.size})`);
    const again = boveda(['vault', 'restore', listed[0]!.id, '--vault', vaultDir, '--to', target]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists/);
  });

  it('rejects a wrong passphrase with exit 5 and writes nothing', async () => {
    const before = await listFiles(vaultDir);
    const wrong = boveda(['vault', 'points', '--vault', vaultDir], { BOVEDA_PASSPHRASE: 'wrong' });
    assert.equal(wrong.code, 5);
    assert.match(wrong.stderr, /no key slot .* opens .*VAULT_WRONG_KEY/);
    assert.deepEqual(await listFiles(vaultDir), before);
    const json = boveda(['vault', 'points', '--vault', vaultDir, '--json'], { BOVEDA_PASSPHRASE: 'wrong' });
    assert.equal(JSON.parse(json.stderr).error.code, 'VAULT_WRONG_KEY');
  });

  it('reads the passphrase from a file and manages key slots', async () => {
    const passFile = join(work, 'pass');
    await writeFile(passFile, 'correct horse\n');
    const add = boveda(['vault', 'key', 'add', '--vault', vaultDir, '--passphrase-file', passFile, '--new-key-file', join(work, 'vault.key'), '--json'], { BOVEDA_PASSPHRASE: undefined });
    assert.equal(add.code, 0, add.stderr);
    const slotId = JSON.parse(add.stdout).id as string;
    const list = boveda(['vault', 'key', 'list', '--vault', vaultDir, '--key-file', join(work, 'vault.key'), '--json'], { BOVEDA_PASSPHRASE: undefined });
    assert.equal(list.code, 0, list.stderr);
    const slots = JSON.parse(list.stdout) as Array<{ id: string; current: boolean }>;
    assert.equal(slots.length, 2);
    assert.ok(slots.find((slot) => slot.id === slotId)!.current);
    const passphraseSlot = slots.find((slot) => slot.id !== slotId)!.id;
    assert.equal(boveda(['vault', 'key', 'remove', passphraseSlot, '--vault', vaultDir, '--key-file', join(work, 'vault.key')]).code, 0);
    const last = boveda(['vault', 'key', 'remove', slotId, '--vault', vaultDir, '--key-file', join(work, 'vault.key')]);
    assert.equal(last.code, 1);
    assert.match(last.stderr, /VAULT_LAST_KEY_SLOT/);
    // The passphrase no longer opens the vault; the key file does.
    assert.equal(boveda(['vault', 'points', '--vault', vaultDir]).code, 5);
    assert.equal(boveda(['vault', 'points', '--vault', vaultDir, '--key-file', join(work, 'vault.key')]).code, 0);
    const restoreKey = boveda(['vault', 'key', 'add', '--vault', vaultDir, '--key-file', join(work, 'vault.key')], { BOVEDA_NEW_PASSPHRASE: 'correct horse' });
    assert.equal(restoreKey.code, 0, restoreKey.stderr);
  });

  it('verifies, and names the damaged pack and the affected point with exit 3', async () => {
    assert.equal(boveda(['vault', 'verify', '--vault', vaultDir, '--read-data']).code, 0);
    const copy = join(work, 'damaged');
    await (await import('node:fs/promises')).cp(vaultDir, copy, { recursive: true });
    const packs = (await listFiles(join(copy, 'packs')));
    const victim = packs[0]!;
    const bytes = await readFile(victim);
    bytes[100] = bytes[100]! ^ 0x40;
    await writeFile(victim, bytes);
    const verify = boveda(['vault', 'verify', '--vault', copy, '--read-data', '--json']);
    assert.equal(verify.code, 3, verify.stderr);
    const report = JSON.parse(verify.stdout) as { ok: boolean; problems: Array<{ object: string; affectedPoints: string[] }> };
    assert.equal(report.ok, false);
    const problem = report.problems.find((entry) => victim.endsWith(entry.object));
    assert.ok(problem, `the report names ${victim}: ${verify.stdout}`);
    assert.ok(problem.affectedPoints.length >= 1);
  });

  it('reports a vault of a newer format and a directory that is not a vault', async () => {
    const newer = join(work, 'newer');
    await (await import('node:fs/promises')).cp(vaultDir, newer, { recursive: true });
    const config = JSON.parse(await readFile(join(newer, 'config'), 'utf8'));
    await rm(join(newer, 'config'));
    await writeFile(join(newer, 'config'), JSON.stringify({ ...config, version: 2 }));
    const opened = boveda(['vault', 'points', '--vault', newer]);
    assert.equal(opened.code, 1);
    assert.match(opened.stderr, /format version 2.*VAULT_UNSUPPORTED_VERSION/);
    const notVault = boveda(['vault', 'points', '--vault', work]);
    assert.equal(notVault.code, 1);
    assert.match(notVault.stderr, /is not a Boveda vault.*VAULT_NOT_FOUND/);
    // Without --vault or $BOVEDA_VAULT the data directory's default vault is used, and named.
    const defaultVault = boveda(['vault', 'points', '--data-dir', join(work, 'fresh-data')]);
    assert.equal(defaultVault.code, 1);
    assert.match(defaultVault.stderr, new RegExp(`${join(work, 'fresh-data', 'vault')} does not exist.*VAULT_NOT_FOUND`));
  });

  it('refuses gc while another live process holds a lock (exit 4), then deletes a point and frees space', async () => {
    const lockKey = 'locks/00000000deadbeef';
    const store = new LocalStore(vaultDir);
    const now = new Date().toISOString();
    await store.put(lockKey, new TextEncoder().encode(JSON.stringify({ host: hostname(), pid: process.pid, mode: 'shared', purpose: 'a backup in another process', createdAt: now, refreshedAt: now })));
    const locked = boveda(['vault', 'gc', '--vault', vaultDir]);
    assert.equal(locked.code, 4);
    assert.match(locked.stderr, /locked by a backup in another process \(pid \d+/);
    await store.delete(lockKey);

    const listed = JSON.parse(boveda(['vault', 'points', '--vault', vaultDir, '--json', '--subject', 'db']).stdout).points as Array<{ id: string }>;
    const usageBefore = JSON.parse(boveda(['vault', 'usage', '--vault', vaultDir, '--json']).stdout) as { totalStoredBytes: number; points: Array<{ pointId: string; uniqueStoredBytes: number }> };
    const freedExpected = usageBefore.points.find((point) => point.pointId === listed[0]!.id)!.uniqueStoredBytes;
    assert.equal(boveda(['vault', 'delete-point', listed[0]!.id, '--vault', vaultDir]).code, 0);
    const gc = boveda(['vault', 'gc', '--vault', vaultDir, '--json']);
    assert.equal(gc.code, 0, gc.stderr);
    const usageAfter = JSON.parse(boveda(['vault', 'usage', '--vault', vaultDir, '--json']).stdout) as { totalStoredBytes: number; points: unknown[]; unreferencedStoredBytes: number };
    assert.equal(usageAfter.points.length, 1);
    assert.equal(usageAfter.unreferencedStoredBytes, 0);
    assert.ok(usageBefore.totalStoredBytes - usageAfter.totalStoredBytes >= freedExpected, 'gc freed at least what the point alone referenced');
    assert.equal(boveda(['vault', 'verify', '--vault', vaultDir, '--read-data']).code, 0);
  });
});
