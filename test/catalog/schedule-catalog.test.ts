import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/index.js';
import { ManualClock } from '../../src/util/index.js';
import { coded, dailyPolicy } from './helpers.js';

const catalogModule = join(process.cwd(), 'dist/src/catalog/index.js');

describe('ScheduleCatalog', () => {
  let catalog: Catalog;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock('2026-03-02T23:00:05Z');
    catalog = await Catalog.openInMemory({ clock });
    await catalog.policies.create(dailyPolicy('gold'));
    await catalog.items.create('web', 'gold');
  });
  afterEach(async () => {
    await catalog.close();
  });

  it('claims a slot once: queues its scheduled backup and advances lastSlot, never backwards', async () => {
    const job = await catalog.schedule.claim('web', '2026-03-02T23:00:00Z', { owner: '42@host' });
    assert.ok(job);
    assert.deepEqual([job.type, job.item, job.trigger, job.status, job.slot, job.owner, job.queuedAt], ['backup', 'web', 'scheduled', 'queued', '2026-03-02T23:00:00.000Z', '42@host', '2026-03-02T23:00:05.000Z']);
    assert.equal(await catalog.schedule.claim('web', new Date('2026-03-02T23:00:00Z')), null);
    assert.equal((await catalog.jobs.list()).length, 1);
    assert.equal((await catalog.items.get('web')).lastSlot, '2026-03-02T23:00:00.000Z');
    assert.deepEqual(await catalog.schedule.lastClaim('web'), { vmName: 'web', slot: '2026-03-02T23:00:00.000Z', jobId: job.id, claimedAt: '2026-03-02T23:00:05.000Z' });
    // An older slot (a late catch-up) can still be claimed once, but lastSlot stays on the latest.
    assert.ok(await catalog.schedule.claim('web', '2026-03-01T23:00:00Z'));
    assert.equal((await catalog.items.get('web')).lastSlot, '2026-03-02T23:00:00.000Z');
    assert.equal((await catalog.schedule.lastClaim('web'))!.slot, '2026-03-02T23:00:00.000Z');
    assert.equal((await catalog.schedule.findClaim('web', '2026-03-01T23:00:00Z'))!.slot, '2026-03-01T23:00:00.000Z');
    assert.equal(await catalog.schedule.findClaim('web', '2026-02-01T23:00:00Z'), null);
    assert.equal(await catalog.schedule.lastClaim('nope'), null);
  });

  it('refuses slots of VMs that are not protected or not in state protected', async () => {
    await assert.rejects(catalog.schedule.claim('nope', '2026-03-02T23:00:00Z'), coded('NOT_PROTECTED', /VM nope is not protected/));
    await catalog.items.transition('web', ['protected'], { state: 'stopped-retain', stoppedAt: clock.now() });
    await assert.rejects(catalog.schedule.claim('web', '2026-03-02T23:00:00Z'), coded('INVALID_STATE', /VM web is stopped-retain: no scheduled backups/));
    await assert.rejects(catalog.schedule.claim('web', 'tonight'), coded('INVALID_ARGUMENT', /slot "tonight"/));
    assert.deepEqual(await catalog.jobs.list(), []);
    assert.equal(await catalog.schedule.lastClaim('web'), null);
  });
});

describe('ScheduleCatalog across processes', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boveda-schedule-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  function claimer(file: string, goAt: number, name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const code = `
      const { Catalog } = await import(process.argv[1]);
      const [file, goAt, name] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
      const catalog = await Catalog.open(file);
      // Every (VM, slot) pair in this process's own random order, so the two collide all along.
      const pairs = [];
      for (let i = 0; i < 50; i++) for (const vm of ['web', 'db']) pairs.push([vm, new Date(Date.UTC(2026, 0, 1) + i * 6 * 3600_000)]);
      for (let i = pairs.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
      }
      while (Date.now() < goAt) {}
      const won = [];
      for (const [vm, slot] of pairs) {
        const job = await catalog.schedule.claim(vm, slot, { owner: name + '@test' });
        if (job) won.push(vm + ' ' + job.slot + ' ' + job.id);
      }
      await catalog.close();
      console.log(JSON.stringify(won));
    `;
    return new Promise((resolve, reject) => {
      const proc = spawn(process.execPath, ['--input-type=module', '-e', code, catalogModule, file, String(goAt), name], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      proc.on('error', reject);
      proc.on('close', (exit) => resolve({ code: exit, stdout, stderr }));
    });
  }

  // SQLite's busy handler is not fair (the waiter sleeps while the other keeps committing), so one
  // process usually wins most slots; what matters is that none is claimed twice and none fails.
  it('two processes racing on one file claim every slot exactly once, without busy errors', async () => {
    const file = join(work, 'race.db');
    const setup = await Catalog.open(file);
    await setup.policies.create(dailyPolicy('gold'));
    await setup.items.create('web', 'gold');
    await setup.items.create('db', 'gold');
    await setup.close();

    const goAt = Date.now() + 1500;
    const [a, b] = await Promise.all([claimer(file, goAt, '1'), claimer(file, goAt, '2')]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const wonA = JSON.parse(a.stdout) as string[];
    const wonB = JSON.parse(b.stdout) as string[];
    const slots = [...wonA, ...wonB].map((line) => line.split(' ').slice(0, 2).join(' '));
    assert.equal(slots.length, 100, `claimed ${slots.length} of 100 (a ${wonA.length}, b ${wonB.length})`);
    assert.equal(new Set(slots).size, 100);

    const check = await Catalog.open(file);
    try {
      const jobs = await check.jobs.list();
      assert.equal(jobs.length, 100);
      assert.equal(new Set(jobs.map((job) => `${job.item} ${job.slot}`)).size, 100);
      assert.ok([...new Set(jobs.map((job) => job.owner))].every((owner) => owner === '1@test' || owner === '2@test'));
      const last = new Date(Date.UTC(2026, 0, 1) + 49 * 6 * 3600_000).toISOString();
      assert.equal((await check.items.get('web')).lastSlot, last);
      assert.equal((await check.items.get('db')).lastSlot, last);
      assert.equal((await check.schedule.lastClaim('db'))!.slot, last);
    } finally {
      await check.close();
    }
  });
});
