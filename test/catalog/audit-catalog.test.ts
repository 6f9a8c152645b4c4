import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Catalog } from '../../src/catalog/index.js';
import { ManualClock } from '../../src/util/index.js';

describe('audit catalog', () => {
  it('appends entries and lists them newest first, filtered and paged', async () => {
    const clock = new ManualClock(new Date('2027-01-01T00:00:00Z'));
    const catalog = await Catalog.openInMemory({ clock });
    try {
      await catalog.audit.record({ userName: 'alice', source: '10.0.0.1', action: 'protection.delete-data', target: 'vm:web', outcome: 'succeeded', details: { softDelete: true } });
      clock.advance(1000);
      await catalog.audit.record({ userName: 'bob', source: 'cli', action: 'user.add', target: 'user:carol', outcome: 'refused' });
      const all = await catalog.audit.list();
      assert.deepEqual(all.map((entry) => [entry.userName, entry.action, entry.outcome]), [['bob', 'user.add', 'refused'], ['alice', 'protection.delete-data', 'succeeded']]);
      assert.equal(all[1]!.time, '2027-01-01T00:00:00.000Z');
      assert.deepEqual(all[1]!.details, { softDelete: true });
      assert.equal(all[0]!.details, null);
      assert.deepEqual((await catalog.audit.list({ target: 'vm:web' })).map((entry) => entry.userName), ['alice']);
      assert.deepEqual((await catalog.audit.list({ beforeId: all[0]!.id })).map((entry) => entry.userName), ['alice']);
      assert.equal((await catalog.audit.list({ limit: 1 })).length, 1);
      await assert.rejects(catalog.audit.record({ userName: '', source: 'cli', action: 'x', outcome: 'succeeded' }), { code: 'INVALID_ARGUMENT' });
    } finally {
      await catalog.close();
    }
  });
});
