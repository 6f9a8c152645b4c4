import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/index.js';
import { ManualClock } from '../../src/util/index.js';
import { coded, dailyPolicy } from './helpers.js';

describe('PolicyCatalog', () => {
  let catalog: Catalog;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock('2026-03-01T10:00:00Z');
    catalog = await Catalog.openInMemory({ clock });
  });
  afterEach(async () => {
    await catalog.close();
  });

  it('creates, gets, finds and lists policies; the definition round-trips as JSON', async () => {
    const weekly = dailyPolicy('weekly', {
      description: null,
      schedule: { kind: 'weekly', days: ['mon', 'thu'], time: '01:30', timeZone: 'America/Bogota' },
      retention: { dailyDays: 7, weekly: null, monthly: { months: 6, on: { kind: 'day', day: 15 } }, yearly: null },
    });
    const created = await catalog.policies.create(dailyPolicy('gold'));
    assert.deepEqual(created, { ...dailyPolicy('gold'), createdAt: '2026-03-01T10:00:00.000Z', updatedAt: '2026-03-01T10:00:00.000Z' });
    await catalog.policies.create(weekly);
    await catalog.policies.create(dailyPolicy('bronze', { schedule: { kind: 'hourly', everyHours: 6, windowStart: '08:00', windowHours: 12, timeZone: 'UTC' } }));
    assert.deepEqual(await catalog.policies.get('gold'), created);
    assert.deepEqual((await catalog.policies.get('weekly')).schedule, weekly.schedule);
    assert.deepEqual((await catalog.policies.get('weekly')).retention, weekly.retention);
    assert.equal((await catalog.policies.get('weekly')).description, null);
    assert.equal(await catalog.policies.find('nope'), null);
    assert.deepEqual((await catalog.policies.list()).map((policy) => policy.name), ['bronze', 'gold', 'weekly']);
    await assert.rejects(catalog.policies.get('nope'), coded('POLICY_NOT_FOUND', /no policy named "nope"/));
  });

  it('refuses a second policy of the same name and an empty name', async () => {
    await catalog.policies.create(dailyPolicy('gold'));
    await assert.rejects(catalog.policies.create(dailyPolicy('gold', { instantRestoreDays: 5 })), coded('POLICY_EXISTS', /policy gold already exists/));
    assert.equal((await catalog.policies.get('gold')).instantRestoreDays, 2);
    await assert.rejects(catalog.policies.create(dailyPolicy('')), coded('INVALID_ARGUMENT', /policy name must be a non-empty string/));
  });

  it('updates a definition, keeping createdAt', async () => {
    await catalog.policies.create(dailyPolicy('gold'));
    clock.advance(60_000);
    const updated = await catalog.policies.update(dailyPolicy('gold', { retention: { dailyDays: 3, weekly: null, monthly: null, yearly: null } }));
    assert.equal(updated.createdAt, '2026-03-01T10:00:00.000Z');
    assert.equal(updated.updatedAt, '2026-03-01T10:01:00.000Z');
    assert.deepEqual((await catalog.policies.get('gold')).retention, { dailyDays: 3, weekly: null, monthly: null, yearly: null });
    await assert.rejects(catalog.policies.update(dailyPolicy('nope')), coded('POLICY_NOT_FOUND', /"nope"/));
  });

  it('deletes an unused policy; refuses one that protects VMs (POLICY_IN_USE naming them), nothing changed', async () => {
    await catalog.policies.create(dailyPolicy('gold'));
    await catalog.policies.create(dailyPolicy('silver'));
    await catalog.items.create('web', 'gold');
    await catalog.items.create('db', 'gold');
    assert.deepEqual(await catalog.policies.itemsUsing('gold'), ['db', 'web']);
    assert.deepEqual(await catalog.policies.itemsUsing('silver'), []);
    await assert.rejects(catalog.policies.itemsUsing('nope'), coded('POLICY_NOT_FOUND', /nope/));
    await assert.rejects(catalog.policies.delete('gold'), coded('POLICY_IN_USE', /policy gold still protects VMs db, web/));
    assert.equal((await catalog.items.get('web')).policyName, 'gold');
    const deleted = await catalog.policies.delete('silver');
    assert.equal(deleted.name, 'silver');
    await assert.rejects(catalog.policies.delete('silver'), coded('POLICY_NOT_FOUND', /silver/));
    // Stopped items do not keep a policy in use: they lose it; the protected one still blocks.
    await catalog.items.transition('db', ['protected'], { state: 'stopped-retain', stoppedAt: clock.now() });
    await assert.rejects(catalog.policies.delete('gold'), coded('POLICY_IN_USE', /still protects VM web; move it/));
    await catalog.items.setPolicy('web', (await catalog.policies.create(dailyPolicy('silver'))).name);
    await catalog.policies.delete('gold');
    assert.equal((await catalog.items.get('db')).policyName, null);
    assert.equal((await catalog.items.get('web')).policyName, 'silver');
  });
});

describe('ProtectedItemCatalog', () => {
  let catalog: Catalog;
  let clock: ManualClock;
  beforeEach(async () => {
    clock = new ManualClock('2026-03-01T10:00:00Z');
    catalog = await Catalog.openInMemory({ clock });
    await catalog.policies.create(dailyPolicy('gold'));
    await catalog.policies.create(dailyPolicy('silver'));
  });
  afterEach(async () => {
    await catalog.close();
  });

  it('protects a VM by name (no VM definition needed), gets, finds and lists', async () => {
    const web = await catalog.items.create('web', 'gold');
    assert.deepEqual(web, {
      vmName: 'web', policyName: 'gold', state: 'protected', protectedAt: '2026-03-01T10:00:00.000Z',
      stoppedAt: null, softDeletedAt: null, purgeAfter: null, stateBeforeDelete: null,
      firstBackupAt: null, lastSlot: null, updatedAt: '2026-03-01T10:00:00.000Z',
    });
    await catalog.items.create('app', 'silver', '2026-02-01T00:00:00+01:00');
    assert.equal((await catalog.items.get('app')).protectedAt, '2026-01-31T23:00:00.000Z');
    assert.deepEqual(await catalog.items.get('web'), web);
    assert.equal(await catalog.items.find('nope'), null);
    await assert.rejects(catalog.items.get('nope'), coded('NOT_PROTECTED', /VM nope is not protected/));
    assert.deepEqual((await catalog.items.list()).map((item) => item.vmName), ['app', 'web']);
    assert.deepEqual((await catalog.items.list({ policyName: 'silver' })).map((item) => item.vmName), ['app']);
    await catalog.items.transition('app', ['protected'], { state: 'stopped-retain', stoppedAt: clock.now() });
    assert.deepEqual((await catalog.items.list({ states: ['stopped-retain', 'soft-deleted'] })).map((item) => item.vmName), ['app']);
    assert.deepEqual(await catalog.items.list({ states: [] }), []);
  });

  it('refuses to protect a VM twice (whatever the state) or with an unknown policy', async () => {
    await catalog.items.create('web', 'gold');
    await assert.rejects(catalog.items.create('web', 'silver'), coded('ALREADY_PROTECTED', /VM web already has a protected item \(state protected\)/));
    await catalog.items.transition('web', ['protected'], { state: 'stopped-retain', stoppedAt: clock.now() });
    await assert.rejects(catalog.items.create('web', 'gold'), coded('ALREADY_PROTECTED', /state stopped-retain; resume or undelete/));
    await assert.rejects(catalog.items.create('db', 'nope'), coded('POLICY_NOT_FOUND', /"nope"/));
    assert.equal(await catalog.items.find('db'), null);
    await assert.rejects(catalog.items.create('', 'gold'), coded('INVALID_ARGUMENT', /VM name/));
    await assert.rejects(catalog.items.create('db', 'gold', 'yesterday'), coded('INVALID_ARGUMENT', /protection time "yesterday"/));
  });

  it('transitions only from the expected states, atomically; INVALID_STATE names the current one', async () => {
    await catalog.items.create('web', 'gold');
    const stopped = await catalog.items.transition('web', ['protected'], { state: 'stopped-retain', stoppedAt: '2026-03-02T00:00:00Z' });
    assert.equal(stopped.state, 'stopped-retain');
    assert.equal(stopped.stoppedAt, '2026-03-02T00:00:00.000Z');
    await assert.rejects(catalog.items.transition('web', ['protected'], { state: 'stopped-retain' }), coded('INVALID_STATE', /VM web is stopped-retain, not protected/));
    const deleted = await catalog.items.transition('web', ['protected', 'stopped-retain'], {
      state: 'soft-deleted', softDeletedAt: '2026-03-03T00:00:00Z', purgeAfter: '2026-03-17T00:00:00Z', stateBeforeDelete: 'stopped-retain',
    });
    assert.deepEqual([deleted.state, deleted.softDeletedAt, deleted.purgeAfter, deleted.stateBeforeDelete], ['soft-deleted', '2026-03-03T00:00:00.000Z', '2026-03-17T00:00:00.000Z', 'stopped-retain']);
    const undeleted = await catalog.items.transition('web', ['soft-deleted'], { state: 'stopped-retain', softDeletedAt: null, purgeAfter: null, stateBeforeDelete: null });
    assert.deepEqual([undeleted.state, undeleted.softDeletedAt, undeleted.stoppedAt], ['stopped-retain', null, '2026-03-02T00:00:00.000Z']);
    const resumed = await catalog.items.transition('web', ['stopped-retain'], { state: 'protected', stoppedAt: null, policyName: 'silver' });
    assert.deepEqual([resumed.state, resumed.policyName, resumed.stoppedAt], ['protected', 'silver', null]);
    await assert.rejects(catalog.items.transition('nope', ['protected'], {}), coded('NOT_PROTECTED', /nope/));
  });

  it('refuses transitions that would leave an inconsistent item, changing nothing', async () => {
    await catalog.items.create('web', 'gold');
    const before = await catalog.items.get('web');
    await assert.rejects(catalog.items.transition('web', ['protected'], { state: 'soft-deleted', softDeletedAt: clock.now() }), coded('INVALID_ARGUMENT', /soft-deleted without softDeletedAt and purgeAfter/));
    await assert.rejects(catalog.items.transition('web', ['protected'], { policyName: null }), coded('INVALID_ARGUMENT', /cannot be protected without a policy/));
    await assert.rejects(catalog.items.transition('web', ['protected'], { policyName: 'nope' }), coded('POLICY_NOT_FOUND', /nope/));
    await assert.rejects(catalog.items.transition('web', ['protected'], { state: 'paused' as never }), coded('INVALID_ARGUMENT', /unknown protection state "paused"/));
    await assert.rejects(catalog.items.transition('web', ['protected'], { stoppedAt: 'never' }), coded('INVALID_ARGUMENT', /stoppedAt "never"/));
    assert.deepEqual(await catalog.items.get('web'), before);
  });

  it('changes the policy, records the first backup once, and removes (purges) the item', async () => {
    await catalog.items.create('web', 'gold');
    clock.advance(1000);
    assert.equal((await catalog.items.setPolicy('web', 'silver')).policyName, 'silver');
    await assert.rejects(catalog.items.setPolicy('web', 'nope'), coded('POLICY_NOT_FOUND', /nope/));
    await assert.rejects(catalog.items.setPolicy('db', 'gold'), coded('NOT_PROTECTED', /db/));
    assert.equal(await catalog.items.markFirstBackup('web', '2026-03-05T23:00:00Z'), true);
    assert.equal(await catalog.items.markFirstBackup('web'), false);
    assert.equal((await catalog.items.get('web')).firstBackupAt, '2026-03-05T23:00:00.000Z');
    await assert.rejects(catalog.items.markFirstBackup('db'), coded('NOT_PROTECTED', /db/));
    const removed = await catalog.items.remove('web');
    assert.equal(removed.firstBackupAt, '2026-03-05T23:00:00.000Z');
    assert.equal(await catalog.items.find('web'), null);
    await assert.rejects(catalog.items.remove('web'), coded('NOT_PROTECTED', /web/));
    // The name can be protected again, from scratch.
    assert.equal((await catalog.items.create('web', 'gold')).firstBackupAt, null);
  });

  it('keeps the item when the VM definition is removed and re-added under the same name', async () => {
    await catalog.vms.add({ name: 'web', disks: [{ path: '/srv/web.img' }] });
    await catalog.items.create('web', 'gold');
    await catalog.items.markFirstBackup('web');
    await catalog.vms.remove('web');
    assert.equal((await catalog.items.get('web')).state, 'protected');
    await catalog.vms.add({ name: 'web', disks: [{ path: '/srv/web2.img' }] });
    assert.equal((await catalog.items.get('web')).firstBackupAt, '2026-03-01T10:00:00.000Z');
  });
});
