/**
 * Damage with real files: a vault in a temp directory (LocalStore) holds several points of two
 * subjects; each case damages one pack, index file or manifest of a fresh copy of it (flipped
 * bits, truncation or deletion, chosen by a seeded PRNG) and checks that
 * - verifyVault (readData) is not ok and names the damaged object,
 * - its affectedPoints are exactly the points that no longer restore whole, where the truth is
 *   found by restoring every point and comparing with the original bytes,
 * - a restore either returns exactly the original bytes or throws a BovedaError: never wrong data.
 * Also: a flipped bit in the config and the loss of the only key slot make opening fail clearly.
 *
 * Environment overrides: BOVEDA_CORRUPTION_CASES (cases per object kind and damage, default 4),
 * BOVEDA_CORRUPTION_SEED.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isBovedaError, type ErrorCode } from '../../src/core/index.js';
import { Paths, type IndexContent, type ManifestDisk } from '../../src/format/index.js';
import {
  Vault, VaultReader, VaultWriter, readPoint, verifyVault, writeDisk, type VerifyReport,
} from '../../src/repository/index.js';
import { openIndexFile } from '../../src/repository/vault-objects.js';
import { LocalStore } from '../../src/storage/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { envInt } from './env-int.js';

const CASES_PER_KIND = envInt('BOVEDA_CORRUPTION_CASES', 4);
const SEED = envInt('BOVEDA_CORRUPTION_SEED', 0xda3a6e);
const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK_SIZE = 4096;
const secret = { kind: 'passphrase', passphrase: 'corruption test passphrase' } as const;
/** What a failed restore may throw: it names the damage, it never returns wrong bytes. */
const RESTORE_ERRORS = new Set<ErrorCode>(['VAULT_OBJECT_CORRUPT', 'VAULT_OBJECT_MISSING', 'POINT_NOT_FOUND']);

const OBJECT_KINDS = [
  { kind: 'pack', prefix: Paths.packs },
  { kind: 'index file', prefix: Paths.index },
  { kind: 'manifest', prefix: Paths.points },
] as const;
const DAMAGES = ['flip', 'truncate', 'delete'] as const;
type Damage = (typeof DAMAGES)[number];

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A disk of `subject` at generation `generation`: a base shared by every generation (and, for the
 * "root" disks, a region shared by both subjects, so one pack can hold blocks of both), a run of
 * zero blocks, and about 300 KiB that are new in each generation.
 */
function diskBytes(subject: string, disk: string, generation: number): Uint8Array {
  const size = disk === 'data' ? 768 * KiB + 1000 : MiB + (generation % 2) * 8 * BLOCK_SIZE;
  const seed = [...`${subject}/${disk}`].reduce((sum, char) => sum * 31 + char.charCodeAt(0), 7) >>> 0;
  const bytes = new SeededRandom(seed).bytes(size);
  if (disk === 'root') bytes.set(new SeededRandom(1).bytes(256 * KiB), 0);
  bytes.fill(0, 70 * BLOCK_SIZE, 90 * BLOCK_SIZE);
  if (generation > 0) {
    const rng = new SeededRandom(seed + generation);
    const blocks = Math.floor(size / BLOCK_SIZE);
    const first = 100 + rng.int(blocks - 100 - 75);
    rng.fill(bytes.subarray(first * BLOCK_SIZE, (first + 75) * BLOCK_SIZE));
    for (let i = 0; i < 6; i++) {
      const block = rng.int(blocks);
      rng.fill(bytes.subarray(block * BLOCK_SIZE, (block + 1) * BLOCK_SIZE));
    }
  }
  return bytes;
}

async function listKeys(store: LocalStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of store.list(prefix)) keys.push(key);
  return keys.sort();
}

function keyPath(dir: string, key: string): string {
  return join(dir, ...key.split('/'));
}

/** Restores every disk of every point; returns the ids of the points that did not restore whole. */
async function failedRestores(vault: Vault, expected: Map<string, Map<string, string>>): Promise<Map<string, ErrorCode>> {
  const failed = new Map<string, ErrorCode>();
  const reader = await VaultReader.open(vault, { purpose: 'a corruption-test restore' });
  try {
    for (const [pointId, disks] of expected) {
      try {
        const point = await readPoint(vault, pointId);
        assert.deepEqual(point.disks.map((disk) => disk.name).sort(), [...disks.keys()].sort());
        for (const [name, digest] of disks) {
          const disk = reader.disk(point, name);
          const out = new Uint8Array(disk.sizeBytes);
          for await (const block of reader.readDisk(disk)) out.set(block.data, block.index * disk.blockSize);
          assert.equal(sha256(out), digest, `disk ${name} of point ${pointId} restored without error, so it must be exactly the original`);
        }
      } catch (error) {
        if (!isBovedaError(error) || !RESTORE_ERRORS.has(error.code)) throw error;
        failed.set(pointId, error.code);
      }
    }
  } finally {
    await reader.close();
  }
  return failed;
}

function affectedBy(report: VerifyReport): string[] {
  return [...new Set(report.problems.flatMap((problem) => problem.affectedPoints))].sort();
}

describe('vault damage: verify names it, restores never return wrong data', () => {
  let root = '';
  let pristine = '';
  /** point id → disk name → SHA-256 of the disk as written. */
  const expected = new Map<string, Map<string, string>>();
  const subjectOf = new Map<string, string>();

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'boveda-corruption-'));
    pristine = join(root, 'pristine');
    const vault = await Vault.init(new LocalStore(pristine), {
      secret, label: 'corruption test', blockSize: BLOCK_SIZE, packSize: MiB, mapFanout: 16, scrypt: { N: 1024, r: 8, p: 1 },
    });
    try {
      const plan = [
        { subject: 'web', disks: ['root'] },
        { subject: 'db', disks: ['root', 'data'] },
      ];
      const latest = new Map<string, { pointId: string; disks: ManifestDisk[] }>();
      for (let generation = 0; generation < 3; generation++) {
        for (const { subject, disks } of plan) {
          const parent = latest.get(subject);
          const writer = await VaultWriter.open(vault);
          try {
            const written: ManifestDisk[] = [];
            const digests = new Map<string, string>();
            for (const name of disks) {
              const bytes = diskBytes(subject, name, generation);
              digests.set(name, sha256(bytes));
              written.push(await writeDisk(writer, {
                name, sizeBytes: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length),
              }, { parent: parent?.disks.find((disk) => disk.name === name) }));
            }
            const manifest = await writer.commitPoint({ subject, parentId: parent?.pointId ?? null, disks: written });
            latest.set(subject, manifest);
            expected.set(manifest.pointId, digests);
            subjectOf.set(manifest.pointId, subject);
          } finally {
            await writer.close();
          }
        }
      }
      // The pristine vault is sound: every check below is about the damage alone.
      const report = await verifyVault(vault, { readData: true });
      assert.deepEqual(report.problems, []);
      assert.deepEqual(report.unindexedPacks, []);
      assert.deepEqual(await failedRestores(vault, expected), new Map());
    } finally {
      await vault.close();
    }
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  let caseNumber = 0;
  for (const { kind, prefix } of OBJECT_KINDS) {
    for (const damage of DAMAGES) {
      for (let n = 0; n < CASES_PER_KIND; n++) {
        const number = ++caseNumber;
        it(`case ${number}: ${damage} ${kind === 'index file' ? 'an' : 'a'} ${kind}`, async (t) => {
          const rng = new SeededRandom(SEED + number * 7919);
          const dir = join(root, `case-${number}`);
          await cp(pristine, dir, { recursive: true });
          const store = new LocalStore(dir);
          const vault = await Vault.open(store, [secret], { threads: 2 });
          try {
            const candidates = await listKeys(store, prefix);
            const target = candidates[rng.int(candidates.length)]!;
            const path = keyPath(dir, target);
            const original = await readFile(path);
            // What a lost index file listed: its packs become unindexed, its points unrecorded.
            const indexed: IndexContent | undefined = kind === 'index file' ? openIndexFile(vault.keys, original, target) : undefined;
            const description = await applyDamage(path, original, damage, focusOf(kind, damage, n), rng);
            t.diagnostic(`${description} ${target}`);

            const report = await verifyVault(vault, { readData: true });
            const failed = await failedRestores(vault, expected);
            const affected = affectedBy(report);
            t.diagnostic(`failed restores: ${[...failed].map(([id, code]) => `${id} (${subjectOf.get(id)}): ${code}`).join(', ') || 'none'}`);
            t.diagnostic(`problems: ${JSON.stringify(report.problems)}`);
            const named = report.problems.find((problem) => problem.object === target);

            if (kind === 'index file' && damage === 'delete' && indexed!.packs.length === 0) {
              // An index file that only records point ids (written after each manifest) is referenced
              // by nothing, so its loss cannot be seen; nothing is lost either: every point restores.
              assert.deepEqual(failed, new Map());
              assert.deepEqual(report.problems, []);
              assert.equal(report.ok, true);
              return;
            }
            assert.equal(report.ok, false, 'verify reports the damage');
            if (kind === 'index file' && damage === 'delete') {
              // Index files are named by their content and listed nowhere, so a lost one cannot be
              // named: verify names each point that references blocks no index lists any more, and
              // the packs the lost file listed show up as unindexed.
              assert.ok(failed.size > 0, 'the lost index file listed blocks some point needs');
              for (const pointId of failed.keys()) {
                assert.ok(report.problems.some((problem) => problem.object === `${Paths.points}${pointId}` && problem.affectedPoints.includes(pointId)),
                  `a problem names point ${pointId}`);
              }
              for (const pack of indexed!.packs) {
                assert.ok(report.unindexedPacks.includes(`${Paths.packs}${pack.packId.slice(0, 2)}/${pack.packId}`), `pack ${pack.packId} is unindexed now`);
              }
            } else {
              assert.ok(named, `a problem names ${target}`);
              // And only it: a sound manifest or pack is never blamed for another object's damage.
              assert.deepEqual(report.problems.filter((problem) => problem.object !== target), [], `only ${target} is blamed`);
            }
            if (kind === 'manifest') {
              const pointId = target.slice(Paths.points.length);
              assert.deepEqual(named!.affectedPoints, [pointId]);
              if (damage === 'delete') {
                assert.match(named!.problem, /manifest is missing/);
                assert.equal(failed.get(pointId), 'POINT_NOT_FOUND');
              }
            }

            const lost = [...failed.keys()].sort();
            if (kind === 'pack' && damage === 'truncate') {
              // Verify counts every point that references a blob of a truncated pack as affected,
              // without reading what is left of it. The blobs before the cut still restore, so when the
              // cut only takes the trailer (or blobs no point needs), affectedPoints is a strict
              // superset of the points that fail to restore: on the safe side, never below.
              for (const pointId of lost) assert.ok(affected.includes(pointId), `point ${pointId} no longer restores and is reported`);
            } else {
              assert.deepEqual(affected, lost, 'affectedPoints are exactly the points that no longer restore whole');
            }
          } finally {
            await vault.close();
            await rm(dir, { recursive: true, force: true });
          }
        });
      }
    }
  }

  it('a flipped bit in any byte of the config: opening fails with VAULT_CONFIG_INVALID', async (t) => {
    const dir = join(root, 'config-flips');
    await cp(pristine, dir, { recursive: true });
    const path = join(dir, Paths.config);
    const original = await readFile(path);
    const text = original.toString('latin1');
    // The digits of the version number (`"version": 1`) and of the vault id: fields opening treats apart.
    const spanOf = (field: string, pattern: RegExp) => {
      const from = text.indexOf(`"${field}": `) + field.length + 4;
      return { from, to: from + pattern.exec(text.slice(from))![0].length };
    };
    const version = spanOf('version', /^\d+/);
    const vaultId = spanOf('vaultId', /^"[0-9a-f]+"/);
    const rng = new SeededRandom(SEED ^ 0xc0f16);
    // One seeded bit of every byte, and every bit of the bytes of those two fields.
    const bits: number[] = [];
    for (let byte = 0; byte < original.length; byte++) {
      const all = (byte >= version.from && byte < version.to) || (byte >= vaultId.from && byte < vaultId.to);
      if (all) for (let bit = 0; bit < 8; bit++) bits.push(byte * 8 + bit);
      else bits.push(byte * 8 + rng.int(8));
    }
    const outcomes = new Map<string, number>();
    try {
      for (const bit of bits) {
        const bytes = Buffer.from(original);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        await writeFile(path, bytes);
        const error = await Vault.open(new LocalStore(dir), [secret]).then(
          async (vault) => {
            await vault.close();
            return undefined;
          },
          (caught: unknown) => caught,
        );
        const byte = bit >> 3;
        const label = `bit ${bit & 7} of byte ${byte} (${JSON.stringify(text[byte])} in ${JSON.stringify(text.slice(Math.max(0, byte - 12), byte + 12))})`;
        assert.ok(isBovedaError(error), `flipping ${label} makes opening fail with a BovedaError, not ${String(error)}`);
        outcomes.set(error.code, (outcomes.get(error.code) ?? 0) + 1);
        if (error.code === 'VAULT_UNSUPPORTED_VERSION') {
          // A version number changed into a larger one reads as a vault of a newer format, which this
          // version cannot authenticate: all it can say is to upgrade. Any other flip is caught.
          assert.ok(byte >= version.from && byte < version.to, `only a flip in the version number reads as a newer format (${label})`);
        } else {
          assert.equal(error.code, 'VAULT_CONFIG_INVALID', `${label}: ${error.message}`);
        }
      }
      t.diagnostic(`${bits.length} flips: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the only key slot deleted: opening fails with VAULT_WRONG_KEY, saying no slot was tried', async () => {
    const dir = join(root, 'no-key-slot');
    await cp(pristine, dir, { recursive: true });
    try {
      const store = new LocalStore(dir);
      const slots = await listKeys(store, Paths.keys);
      assert.equal(slots.length, 1);
      await unlink(keyPath(dir, slots[0]!));
      await Vault.readConfig(store); // the config itself is fine
      await assert.rejects(Vault.open(store, [secret]), (error: unknown) => {
        assert.ok(isBovedaError(error, 'VAULT_WRONG_KEY'), String(error));
        assert.match(error.message, /\(0 slots tried\)/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Where in the file the damage goes: mostly anywhere, but every fourth case of a group aims at a
 * part a random position seldom hits: the 8-byte header (magic, version) of a pack or envelope,
 * or the end of a pack (trailer and footer, which a truncation of a few bytes takes off).
 */
type Focus = 'anywhere' | 'header' | 'end';

function focusOf(kind: string, damage: Damage, n: number): Focus {
  if (n % 4 === 1 && damage === 'flip' && kind !== 'index file') return 'header';
  if (n % 4 === 2 && kind === 'pack' && damage !== 'delete') return 'end';
  return 'anywhere';
}

async function applyDamage(path: string, original: Buffer, damage: Damage, focus: Focus, rng: SeededRandom): Promise<string> {
  switch (damage) {
    case 'flip': {
      const bytes = Buffer.from(original);
      // Bit positions to choose from: the whole file, its first 8 bytes or its last 64.
      const [from, to] = focus === 'header' ? [0, 64] : focus === 'end' ? [(bytes.length - 64) * 8, bytes.length * 8] : [0, bytes.length * 8];
      const flips = Math.min(1 + rng.int(3), to - from);
      const bits = new Set<number>();
      while (bits.size < flips) bits.add(from + rng.int(to - from));
      const at = [...bits].sort((a, b) => a - b);
      for (const bit of at) bytes[bit >> 3]! ^= 1 << (bit & 7);
      await writeFile(path, bytes);
      return `flipped bit${flips === 1 ? '' : 's'} ${at.join(', ')} of`;
    }
    case 'truncate': {
      // 'end': only a few bytes off the end, so the footer is gone but every blob is whole.
      const length = focus === 'end' ? original.length - 1 - rng.int(8) : rng.int(original.length);
      await truncate(path, length);
      return `truncated to ${length} of ${original.length} bytes`;
    }
    case 'delete':
      await unlink(path);
      return 'deleted';
  }
}
