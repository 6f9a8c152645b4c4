import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Catalog, PRICE_TABLE_SETTING, SOFT_DELETE_SETTING } from '../../src/catalog/index.js';
import { ManualClock } from '../../src/util/index.js';
import { coded, point } from './helpers.js';

describe('RecoveryPointCatalog (the vault mirror)', () => {
  let catalog: Catalog;
  beforeEach(async () => {
    catalog = await Catalog.openInMemory({ clock: new ManualClock('2026-03-01T10:00:00Z') });
  });
  afterEach(async () => {
    await catalog.close();
  });

  it('upserts points (inserting or replacing by id); meta round-trips as JSON', async () => {
    const full = point('00000000000000a1', 'web', '2026-03-01T23:00:00Z', { meta: { disks: [{ name: 'disk0', role: 'os' }], warnings: ['w'], note: null, n: 1.5 } });
    await catalog.points.upsert(full);
    assert.deepEqual(await catalog.points.get(full.id), { ...full, createdAt: '2026-03-01T23:00:00.000Z' });
    const remeasured = { ...full, uniqueBytes: 0, uniqueStoredBytes: null };
    await catalog.points.upsert([remeasured, point('00000000000000a2', 'web', '2026-03-02T23:00:00.000Z', { parentId: full.id, type: 'incremental' })]);
    const listed = await catalog.points.listForVm('web');
    assert.deepEqual(listed.map((row) => [row.id, row.uniqueBytes, row.uniqueStoredBytes, row.parentId]), [
      ['00000000000000a1', 0, null, null], ['00000000000000a2', 100, 50, '00000000000000a1'],
    ]);
    assert.equal(await catalog.points.find('nope'), null);
    await assert.rejects(catalog.points.get('nope'), coded('POINT_NOT_FOUND', /no recovery point nope in the catalog/));
    await catalog.points.upsert([]);
  });

  it('refuses malformed rows, writing none of the batch', async () => {
    const good = point('00000000000000b1', 'web', '2026-03-01T23:00:00Z');
    await assert.rejects(catalog.points.upsert([good, point('00000000000000b2', 'web', '2026-03-02T23:00:00Z', { type: 'differential' as never })]), coded('INVALID_ARGUMENT', /b2: type must be one of full, incremental/));
    await assert.rejects(catalog.points.upsert(point('00000000000000b3', 'web', '2026-03-02T23:00:00Z', { logicalBytes: -1 })), coded('INVALID_ARGUMENT', /logicalBytes must be a non-negative integer/));
    await assert.rejects(catalog.points.upsert(point('00000000000000b4', '', '2026-03-02T23:00:00Z')), coded('INVALID_ARGUMENT', /VM name/));
    await assert.rejects(catalog.points.upsert(point('00000000000000b5', 'web', 'soon')), coded('INVALID_ARGUMENT', /createdAt "soon"/));
    await assert.rejects(catalog.points.upsert(point('00000000000000b6', 'web', '2026-03-02T23:00:00Z', { meta: [] as never })), coded('INVALID_ARGUMENT', /meta must be an object/));
    assert.deepEqual(await catalog.points.listAll(), []);
  });

  it('removes by ids and by VM, lists all by VM then age, and sums up per VM', async () => {
    await catalog.points.upsert([
      point('p1', 'web', '2026-03-01T23:00:00Z', { protectedBytes: 40, introducedBytes: 300, introducedStoredBytes: 150 }),
      point('p2', 'web', '2026-03-02T23:00:00Z', { type: 'incremental', protectedBytes: 47, logicalBytes: 1100, introducedBytes: 20, introducedStoredBytes: null, uniqueBytes: 20 }),
      point('p3', 'app', '2026-03-01T12:00:00Z', { trigger: 'on-demand', expiresAt: '2026-04-01T12:00:00Z', introducedBytes: null, introducedStoredBytes: null, uniqueBytes: null, uniqueStoredBytes: null }),
      point('p4', 'db', '2026-03-01T12:00:00Z'),
    ]);
    assert.deepEqual((await catalog.points.listAll()).map((row) => row.id), ['p3', 'p4', 'p1', 'p2']);
    assert.equal((await catalog.points.get('p3')).expiresAt, '2026-04-01T12:00:00.000Z');
    assert.deepEqual(await catalog.points.totals(), [
      { vmName: 'app', points: 1, oldestAt: '2026-03-01T12:00:00.000Z', newestAt: '2026-03-01T12:00:00.000Z', latestPointId: 'p3', latestProtectedBytes: 470, latestLogicalBytes: 1000, introducedBytes: null, introducedStoredBytes: null, uniqueBytes: null, uniqueStoredBytes: null },
      { vmName: 'db', points: 1, oldestAt: '2026-03-01T12:00:00.000Z', newestAt: '2026-03-01T12:00:00.000Z', latestPointId: 'p4', latestProtectedBytes: 470, latestLogicalBytes: 1000, introducedBytes: 300, introducedStoredBytes: 150, uniqueBytes: 100, uniqueStoredBytes: 50 },
      { vmName: 'web', points: 2, oldestAt: '2026-03-01T23:00:00.000Z', newestAt: '2026-03-02T23:00:00.000Z', latestPointId: 'p2', latestProtectedBytes: 47, latestLogicalBytes: 1100, introducedBytes: 320, introducedStoredBytes: 150, uniqueBytes: 120, uniqueStoredBytes: 100 },
    ]);
    assert.deepEqual((await catalog.points.totals('web')).map((total) => total.points), [2]);
    assert.deepEqual(await catalog.points.totals('nope'), []);
    assert.equal(await catalog.points.remove(['p1', 'nope']), 1);
    assert.equal(await catalog.points.remove([]), 0);
    assert.equal(await catalog.points.removeForVm('db'), 1);
    assert.deepEqual((await catalog.points.listAll()).map((row) => row.id), ['p3', 'p2']);
  });

  it('replaceAll swaps the whole mirror in one transaction (catalog rebuild)', async () => {
    await catalog.points.upsert([point('old1', 'web', '2026-03-01T23:00:00Z'), point('keep', 'web', '2026-03-02T23:00:00Z', { uniqueBytes: 1 })]);
    const rebuilt = Array.from({ length: 250 }, (_, index) => point(`n${String(index).padStart(4, '0')}`, `vm${index % 3}`, new Date(Date.UTC(2026, 0, 1) + index * 3_600_000).toISOString()));
    rebuilt.push(point('keep', 'web', '2026-03-02T23:00:00Z', { uniqueBytes: 2 }));
    await catalog.points.replaceAll(rebuilt);
    const all = await catalog.points.listAll();
    assert.equal(all.length, 251);
    assert.equal(await catalog.points.find('old1'), null);
    assert.equal((await catalog.points.get('keep')).uniqueBytes, 2);
    assert.deepEqual(await catalog.points.get('n0123'), rebuilt[123]);
    // A bad batch replaces nothing.
    await assert.rejects(catalog.points.replaceAll([point('x', 'web', '2026-03-01T00:00:00Z'), point('x', 'web', '2026-03-01T00:00:00Z')]), coded('INVALID_ARGUMENT', /recovery point x is given twice/));
    assert.equal((await catalog.points.listAll()).length, 251);
    await catalog.points.replaceAll([]);
    assert.deepEqual(await catalog.points.listAll(), []);
  });
});

describe('SettingsCatalog', () => {
  it('returns the default until set, stores JSON values, lists and removes', async () => {
    const catalog = await Catalog.openInMemory();
    try {
      assert.equal(await catalog.settings.get(SOFT_DELETE_SETTING, true), true);
      assert.equal(await catalog.settings.get(PRICE_TABLE_SETTING, null), null);
      await catalog.settings.set(SOFT_DELETE_SETTING, false);
      const prices = { currency: 'EUR', perGbMonth: 0.02, tiers: [{ upToBytes: 50e9, perMonth: 5 }, { upToBytes: null, perMonth: 10 }] };
      await catalog.settings.set(PRICE_TABLE_SETTING, prices);
      assert.equal(await catalog.settings.get(SOFT_DELETE_SETTING, true), false);
      assert.deepEqual(await catalog.settings.get(PRICE_TABLE_SETTING, null), prices);
      await catalog.settings.set(SOFT_DELETE_SETTING, true);
      assert.deepEqual(await catalog.settings.list(), { [PRICE_TABLE_SETTING]: prices, [SOFT_DELETE_SETTING]: true });
      assert.equal(await catalog.settings.remove(PRICE_TABLE_SETTING), true);
      assert.equal(await catalog.settings.remove(PRICE_TABLE_SETTING), false);
      assert.equal(await catalog.settings.get(PRICE_TABLE_SETTING, 'none'), 'none');
      await assert.rejects(catalog.settings.set('', 1), coded('INVALID_ARGUMENT', /setting name/));
      await assert.rejects(catalog.settings.set('x', undefined), coded('INVALID_ARGUMENT', /setting x cannot be stored as JSON/));
      await assert.rejects(catalog.settings.set('x', 10n), coded('INVALID_ARGUMENT', /setting x cannot be stored as JSON/));
    } finally {
      await catalog.close();
    }
  });
});
