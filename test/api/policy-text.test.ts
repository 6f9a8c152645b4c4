import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { describeRetention, describeSchedule, type PolicyRecord } from '../../src/core/index.js';
import { call, startTestServer, type TestServer } from './helpers.js';

describe('policies in words', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(async () => {
    await t.close();
  });

  it('lists and shows each policy with core\'s wording of its schedule and retention (what the CLI prints)', async () => {
    const created = await call(t.server, 'POST', '/api/policies', {
      role: 'contributor',
      body: {
        name: 'gold', instantRestoreDays: 2,
        schedule: { kind: 'weekly', days: ['mon', 'thu'], time: '22:30', timeZone: 'Europe/Madrid' },
        retention: { dailyDays: 7, weekly: null, monthly: { months: 6, on: { kind: 'weekday', which: 'last', weekday: 'fri' } }, yearly: null },
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const listed = (await call(t.server, 'GET', '/api/policies', { role: 'reader' })).json<{ policies: Array<PolicyRecord & { scheduleText: string; retentionText: string }> }>().policies;
    const gold = listed.find((policy) => policy.name === 'gold')!;
    assert.equal(gold.scheduleText, 'weekly mon,thu at 22:30 Europe/Madrid');
    assert.equal(gold.retentionText, describeRetention(gold.retention));
    assert.match(gold.retentionText, /monthly \(last fri\) 6 months/);
    const one = (await call(t.server, 'GET', '/api/policies/gold', { role: 'reader' })).json<{ policy: PolicyRecord & { scheduleText: string } }>().policy;
    assert.equal(one.scheduleText, describeSchedule(one.schedule));
  });
});
