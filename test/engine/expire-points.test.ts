import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupVm, expirePoints, listVmPoints, restoreToDirectory } from '../../src/engine/index.js';
import { measureVaultUsage, readPoint, type Vault } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { BLOCK, assertBytesEqual, createVault, makeWorkDir, rewriteBlock } from './helpers.js';

/**
 * The seeds' three merge cases ("Administración de puntos de recuperación"): when a point expires,
 * the blocks it shares with later points carry over and only the blocks overwritten since are freed.
 * Each case checks the exact bytes freed, the accounting afterwards, and that every remaining point
 * still restores exactly.
 */
describe('expiring points: the seeds\' merge cases', () => {
  let work: string;
  let vault: Vault;
  let disk: string;
  const random = new SeededRandom(404);
  let vmCount = 0;

  before(async () => {
    work = await makeWorkDir('expire');
    vault = await createVault(work);
  });
  after(async () => {
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  /** A fresh VM with a disk of `blocks` random blocks; returns its name and a function taking a point. */
  async function newVm(blocks: number) {
    const name = `vm${++vmCount}`;
    disk = join(work, `${name}.img`);
    await writeFile(disk, random.bytes(blocks * BLOCK));
    const path = disk;
    const states = new Map<string, Uint8Array>();
    const backup = async (trigger: 'scheduled' | 'on-demand' = 'scheduled') => {
      const content = await readFile(path);
      const result = await backupVm(vault, { name, disks: [{ name: 'os', path, role: 'os' }] }, { trigger });
      states.set(result.point.pointId, content);
      return result.point.pointId;
    };
    return { name, path, backup, states };
  }

  async function assertRestores(states: Map<string, Uint8Array>, pointIds: string[]) {
    for (const pointId of pointIds) {
      const target = join(work, `restore-${pointId}`);
      await restoreToDirectory(vault, await readPoint(vault, pointId), target);
      assertBytesEqual(await readFile(join(target, 'os.img')), states.get(pointId)!, `point ${pointId}`);
      await rm(target, { recursive: true });
    }
  }

  async function expireAndCheck(pointIds: string[], expectedFreedBlocks: number) {
    const before = await measureVaultUsage(vault);
    const dry = await expirePoints(vault, pointIds, { dryRun: true });
    assert.equal(dry.freedBytes, expectedFreedBlocks * BLOCK, 'dry run measures the bytes freed');
    assert.equal((await measureVaultUsage(vault)).liveBytes, before.liveBytes, 'a dry run changes nothing');
    const report = await expirePoints(vault, pointIds);
    assert.deepEqual(report.removed.sort(), [...pointIds].sort());
    assert.equal(report.freedBlocks, expectedFreedBlocks);
    assert.equal(report.freedBytes, expectedFreedBlocks * BLOCK);
    assert.equal(report.freedStoredBytes, dry.freedStoredBytes);
    assert.equal(report.gcDeferred, null);
    const afterUsage = await measureVaultUsage(vault);
    assert.equal(afterUsage.liveBytes, before.liveBytes - report.freedBytes, 'accounting drops by exactly what was freed');
    assert.equal(afterUsage.liveStoredBytes, before.liveStoredBytes - report.freedStoredBytes);
    assert.equal(afterUsage.unreferencedBlobs, 0, 'gc released every freed blob');
    return report;
  }

  it('case 1: the initial full point expires; its current blocks carry into the next point, overwritten ones go', async () => {
    const vm = await newVm(4); // A B C D
    const p1 = await vm.backup();
    await rewriteBlock(vm.path, 1, random); // B → B'
    const p2 = await vm.backup();
    await rewriteBlock(vm.path, 2, random); // C → C'
    const p3 = await vm.backup();
    await expireAndCheck([p1], 1); // only B is freed; A, C, D carry over into p2
    const remaining = await listVmPoints(vault, vm.name);
    assert.deepEqual(remaining.map((point) => point.id), [p2, p3]);
    await assertRestores(vm.states, [p2, p3]);
  });

  it('case 2: an intermediate incremental point expires; blocks only it held go', async () => {
    const vm = await newVm(4);
    const p1 = await vm.backup();
    await rewriteBlock(vm.path, 0, random); // A → A2 (rewritten again in p3: only p2 holds A2)
    await rewriteBlock(vm.path, 3, random); // D → D2 (still current in p3: carries over)
    const p2 = await vm.backup();
    await rewriteBlock(vm.path, 0, random); // A2 → A3
    const p3 = await vm.backup();
    await expireAndCheck([p2], 1);
    await assertRestores(vm.states, [p1, p3]);
  });

  it('case 3: an on-demand point between scheduled ones expires the same way', async () => {
    const vm = await newVm(4);
    const p1 = await vm.backup('scheduled');
    await rewriteBlock(vm.path, 1, random);
    await rewriteBlock(vm.path, 2, random);
    const onDemand = await vm.backup('on-demand');
    await rewriteBlock(vm.path, 2, random); // only the on-demand point holds this version of block 2
    const p3 = await vm.backup('scheduled');
    await expireAndCheck([onDemand], 1);
    await assertRestores(vm.states, [p1, p3]);
  });

  it('a block shared with another VM is never counted as freed', async () => {
    const vm = await newVm(2);
    const twin = join(work, 'twin.img');
    await writeFile(twin, await readFile(vm.path));
    const p1 = await vm.backup();
    await backupVm(vault, { name: 'twin', disks: [{ name: 'os', path: twin, role: 'os' }] });
    await expireAndCheck([p1], 0);
  });

  it('unknown ids are ignored and nothing is removed', async () => {
    const report = await expirePoints(vault, ['0123456789abcdef']);
    assert.deepEqual(report.removed, []);
    assert.equal(report.freedBytes, 0);
  });
});
