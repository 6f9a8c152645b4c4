import assert from 'node:assert/strict';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupVm, listVmPoints, restoreToDirectory } from '../../src/engine/index.js';
import { Vault, measureVaultUsage, readPoint } from '../../src/repository/index.js';
import { LocalStore } from '../../src/storage/index.js';
import { SeededRandom } from '../../src/util/index.js';

const BLOCK = 16 * 1024;

/**
 * The seeds' example (Azure VM backup, "about VM backup"): a disk of four 16 KiB blocks.
 * Point 1 after writing blocks 1 and 2 holds D1+D2; point 2 after writing block 3 holds D3;
 * point 3 after rewriting blocks 2 and 3 holds D2'+D3'. What is stored is the sum of the blocks
 * of all points: 5 blocks.
 */
describe("the seeds' four-block example, through the backup engine on real files", () => {
  let work: string;
  let vault: Vault;
  let diskPath: string;
  const random = new SeededRandom(2019);
  const states: Uint8Array[] = [];

  async function writeBlock(number: number): Promise<void> {
    const handle = await open(diskPath, 'r+');
    await handle.write(random.bytes(BLOCK), 0, BLOCK, (number - 1) * BLOCK);
    await handle.close();
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-seeds-'));
    diskPath = join(work, 'disk.img');
    await writeFile(diskPath, new Uint8Array(4 * BLOCK));
    vault = await Vault.init(new LocalStore(join(work, 'vault')), { secret: { kind: 'passphrase', passphrase: 'seeds' }, blockSize: BLOCK, scrypt: { N: 1024, r: 8, p: 1 } });
  });
  after(async () => {
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  const vm = () => ({ name: 'seeds-vm', disks: [{ name: 'os', path: diskPath, role: 'os' as const }] });

  it('stores D1+D2, then D3, then D2\'+D3\', and the total is the sum of the blocks of all points', async () => {
    await writeBlock(1);
    await writeBlock(2);
    states.push(await readFile(diskPath));
    const first = await backupVm(vault, vm());
    assert.equal(first.meta.type, 'full');
    assert.equal(first.meta.consistency, 'crash');

    await writeBlock(3);
    states.push(await readFile(diskPath));
    const second = await backupVm(vault, vm());
    assert.equal(second.meta.type, 'incremental');
    assert.equal(second.point.parentId, first.point.pointId);

    await writeBlock(2);
    await writeBlock(3);
    states.push(await readFile(diskPath));
    await backupVm(vault, vm());

    const points = await listVmPoints(vault, 'seeds-vm');
    assert.deepEqual(points.map((point) => point.introducedBytes), [2 * BLOCK, 1 * BLOCK, 2 * BLOCK]);
    assert.deepEqual(points.map((point) => point.disks[0]!.changedBlocks), [2, 1, 2]);
    assert.deepEqual(points.map((point) => point.disks[0]!.newBytes), [2 * BLOCK, 1 * BLOCK, 2 * BLOCK]);
    assert.deepEqual(points.map((point) => point.disks[0]!.changeDetection), ['full', 'checksum', 'checksum']);
    // Only point 2 holds D3 (point 3 has D3'); only point 3 holds D2' and D3'; D1 and D2 are shared.
    assert.deepEqual(points.map((point) => point.uniqueBytes), [0, 1 * BLOCK, 2 * BLOCK]);
    const usage = await measureVaultUsage(vault);
    assert.equal(usage.liveBytes, 5 * BLOCK, 'stored data is the sum of the blocks of all points');
    assert.equal(usage.liveBlocks, 5);
    // Random blocks do not compress: what is stored per point is its blocks plus the sealing overhead.
    for (const point of points) assert.ok(point.disks[0]!.storedBytes >= point.disks[0]!.newBytes);
  });

  it('restores every point exactly', async () => {
    const points = await listVmPoints(vault, 'seeds-vm');
    for (let i = 0; i < points.length; i++) {
      const target = join(work, `restore-${i}`);
      const manifest = await readPoint(vault, points[i]!.id);
      const [restored] = await restoreToDirectory(vault, manifest, target);
      assert.equal(Buffer.compare(await readFile(restored!.path), states[i]!), 0, `point ${i + 1} restores to the disk as it was`);
    }
  });
});
