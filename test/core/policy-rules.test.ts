import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkPolicy,
  defaultPolicy,
  describeRetention,
  describeSchedule,
  isBovedaError,
  type PolicyDefinition,
} from '../../src/core/index.js';

/** Tests poke at policies as untyped JSON, as the CLI may hand them over. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

function gold(): PolicyDefinition {
  return {
    name: 'gold',
    description: null,
    schedule: { kind: 'daily', time: '02:00', timeZone: 'Europe/Madrid' },
    retention: {
      dailyDays: 30,
      weekly: { weeks: 12, weekday: 'sun' },
      monthly: { months: 12, on: { kind: 'day', day: 1 } },
      yearly: { years: 3, month: 1, on: { kind: 'weekday', which: 'first', weekday: 'mon' } },
    },
    instantRestoreDays: 2,
  };
}

/** Applies `change` to a fresh gold policy and expects checkPolicy to reject it naming `field`. */
function rejects(change: (policy: Loose) => void, field: string, got?: string): void {
  const policy = gold() as unknown as Loose;
  change(policy);
  assert.throws(
    () => checkPolicy(policy as unknown as PolicyDefinition),
    (error) => {
      assert.ok(isBovedaError(error, 'INVALID_ARGUMENT'), String(error));
      const prefix = typeof policy.name === 'string' && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(policy.name) ? `policy "${policy.name}": ` : 'policy: ';
      assert.ok(error.message.startsWith(`${prefix}${field} must be `), error.message);
      if (got !== undefined) assert.ok(error.message.endsWith(`, got ${got}`), error.message);
      assert.equal(error.details.field, field);
      return true;
    },
    field,
  );
}

describe('checkPolicy', () => {
  it('accepts a valid policy and returns an equal, separate copy', () => {
    const input = gold();
    const checked = checkPolicy(input);
    assert.deepEqual(checked, input);
    assert.notEqual(checked, input);
    assert.notEqual(checked.retention, input.retention);
  });

  it('normalizes times, weekday order, zone spelling and description; drops unknown fields', () => {
    const input = {
      ...gold(),
      createdAt: '2026-01-01T00:00:00Z',
      description: '  nightly  ',
      schedule: { kind: 'weekly', days: ['thu', 'mon', 'sun'], time: '2:05', timeZone: 'europe/madrid' },
    } as unknown as PolicyDefinition;
    const checked = checkPolicy(input);
    assert.deepEqual(checked.schedule, { kind: 'weekly', days: ['sun', 'mon', 'thu'], time: '02:05', timeZone: 'Europe/Madrid' });
    assert.equal(checked.description, 'nightly');
    assert.ok(!('createdAt' in checked));
    assert.equal(checkPolicy({ ...gold(), description: '   ' }).description, null);
    assert.equal(checkPolicy({ ...gold(), description: undefined } as unknown as PolicyDefinition).description, null);
    assert.equal(checkPolicy({ ...gold(), retention: { ...gold().retention, weekly: undefined } } as unknown as PolicyDefinition).retention.weekly, null);
  });

  it('accepts the range bounds', () => {
    const policy = gold();
    policy.retention = {
      dailyDays: 9999,
      weekly: { weeks: 5163, weekday: 'sat' },
      monthly: { months: 1188, on: { kind: 'day', day: 'last' } },
      yearly: { years: 99, month: 12, on: { kind: 'day', day: 28 } },
    };
    policy.instantRestoreDays = 5;
    checkPolicy(policy);
    policy.retention = { dailyDays: 7, weekly: { weeks: 1, weekday: 'sun' }, monthly: { months: 1, on: { kind: 'weekday', which: 'last', weekday: 'fri' } }, yearly: { years: 1, month: 1, on: { kind: 'day', day: 1 } } };
    policy.instantRestoreDays = 1;
    policy.schedule = { kind: 'hourly', everyHours: 12, windowStart: '23:59', windowHours: 12, timeZone: 'UTC' };
    checkPolicy(policy);
    policy.schedule = { kind: 'hourly', everyHours: 4, windowStart: '00:00', windowHours: 24, timeZone: 'America/New_York' };
    checkPolicy(policy);
    checkPolicy({ ...gold(), name: 'a' });
    checkPolicy({ ...gold(), name: `A${'b'.repeat(63)}` });
    checkPolicy({ ...gold(), name: '9.gold_tier-2' });
  });

  it('rejects a bad name', () => {
    rejects((p) => (p.name = ''), 'name', '""');
    rejects((p) => (p.name = '-gold'), 'name');
    rejects((p) => (p.name = '.gold'), 'name');
    rejects((p) => (p.name = 'gold tier'), 'name');
    rejects((p) => (p.name = 'gold/1'), 'name');
    rejects((p) => (p.name = `a${'b'.repeat(64)}`), 'name');
    rejects((p) => (p.name = 7), 'name', '7');
    rejects((p) => (p.description = 12), 'description', '12');
    rejects((p) => (p.description = 'x'.repeat(1025)), 'description');
  });

  it('rejects a bad schedule', () => {
    rejects((p) => (p.schedule = null), 'schedule', 'null');
    rejects((p) => (p.schedule.kind = 'monthly'), 'schedule.kind', '"monthly"');
    for (const time of ['24:00', '23:60', '2', '02:0', '02:00:00', ' 02:00', '-1:00', 'noon']) rejects((p) => (p.schedule.time = time), 'schedule.time', JSON.stringify(time));
    rejects((p) => (p.schedule.time = 200), 'schedule.time', '200');
    rejects((p) => (p.schedule.timeZone = 'Europe/Atlantis'), 'schedule.timeZone', '"Europe/Atlantis"');
    rejects((p) => (p.schedule.timeZone = '+01:00'), 'schedule.timeZone');
    rejects((p) => (p.schedule.timeZone = ''), 'schedule.timeZone');
    rejects((p) => delete p.schedule.timeZone, 'schedule.timeZone', 'nothing');
  });

  it('rejects bad weekly days', () => {
    const weekly = (p: Loose, days: unknown): void => {
      p.schedule = { kind: 'weekly', days, time: '22:30', timeZone: 'UTC' };
    };
    rejects((p) => weekly(p, []), 'schedule.days', '[]');
    rejects((p) => weekly(p, 'mon'), 'schedule.days');
    rejects((p) => weekly(p, ['mon', 'mon']), 'schedule.days', '["mon","mon"]');
    rejects((p) => weekly(p, ['mon', 'monday']), 'schedule.days[1]', '"monday"');
  });

  it('rejects bad hourly settings', () => {
    const hourly = (p: Loose, everyHours: unknown, windowHours: unknown, windowStart: unknown = '08:00'): void => {
      p.schedule = { kind: 'hourly', everyHours, windowStart, windowHours, timeZone: 'UTC' };
    };
    for (const every of [0, 1, 2, 3, 5, 24, '4']) rejects((p) => hourly(p, every, 12), 'schedule.everyHours');
    for (const window of [3, 25, 12.5, '12']) rejects((p) => hourly(p, 4, window), 'schedule.windowHours');
    rejects((p) => hourly(p, 8, 6), 'schedule.windowHours', '6');
    rejects((p) => hourly(p, 4, 12, '8'), 'schedule.windowStart');
  });

  it('rejects every out-of-range retention field', () => {
    for (const days of [6, 10000, 30.5, '30', null]) rejects((p) => (p.retention.dailyDays = days), 'retention.dailyDays');
    rejects((p) => (p.retention.dailyDays = 0), 'retention.dailyDays', '0');
    rejects((p) => (p.retention.weekly.weeks = 0), 'retention.weekly.weeks', '0');
    rejects((p) => (p.retention.weekly.weeks = 5164), 'retention.weekly.weeks', '5164');
    rejects((p) => (p.retention.weekly.weekday = 'sunday'), 'retention.weekly.weekday');
    rejects((p) => (p.retention.weekly = 12), 'retention.weekly', '12');
    rejects((p) => (p.retention.monthly.months = 0), 'retention.monthly.months');
    rejects((p) => (p.retention.monthly.months = 1189), 'retention.monthly.months');
    rejects((p) => (p.retention.monthly.on = null), 'retention.monthly.on');
    rejects((p) => (p.retention.monthly.on = { kind: 'day', day: 29 }), 'retention.monthly.on.day', '29');
    rejects((p) => (p.retention.monthly.on = { kind: 'day', day: 0 }), 'retention.monthly.on.day');
    rejects((p) => (p.retention.monthly.on = { kind: 'day', day: 'first' }), 'retention.monthly.on.day');
    rejects((p) => (p.retention.monthly.on = { kind: 'weekday', which: 'second', weekday: 'mon' }), 'retention.monthly.on.which');
    rejects((p) => (p.retention.monthly.on = { kind: 'weekday', which: 'first', weekday: 'lunes' }), 'retention.monthly.on.weekday');
    rejects((p) => (p.retention.monthly.on = { kind: 'week' }), 'retention.monthly.on.kind');
    rejects((p) => (p.retention.yearly.years = 0), 'retention.yearly.years');
    rejects((p) => (p.retention.yearly.years = 100), 'retention.yearly.years', '100');
    rejects((p) => (p.retention.yearly.month = 0), 'retention.yearly.month');
    rejects((p) => (p.retention.yearly.month = 13), 'retention.yearly.month', '13');
    rejects((p) => (p.retention.yearly.on = { kind: 'day', day: 31 }), 'retention.yearly.on.day');
    rejects((p) => (p.retention = undefined), 'retention', 'nothing');
    for (const days of [0, 6, 2.5]) rejects((p) => (p.instantRestoreDays = days), 'instantRestoreDays');
  });

  it('words the error as the CLI shows it', () => {
    const policy = gold();
    policy.retention.weekly = { weeks: 0, weekday: 'sun' };
    assert.throws(() => checkPolicy(policy), { message: 'policy "gold": retention.weekly.weeks must be an integer 1..5163, got 0' });
  });
});

describe('defaultPolicy', () => {
  it('is daily at 02:00 UTC with 30 d / 12 w / 12 m retention and 2 days of instant restore', () => {
    const policy = defaultPolicy();
    assert.equal(policy.name, 'default');
    assert.deepEqual(policy.schedule, { kind: 'daily', time: '02:00', timeZone: 'UTC' });
    assert.deepEqual(policy.retention, {
      dailyDays: 30,
      weekly: { weeks: 12, weekday: 'sun' },
      monthly: { months: 12, on: { kind: 'day', day: 1 } },
      yearly: null,
    });
    assert.equal(policy.instantRestoreDays, 2);
    assert.deepEqual(checkPolicy(policy), policy);
    assert.equal(defaultPolicy('nightly').name, 'nightly');
    assert.throws(() => defaultPolicy('bad name'), (error) => isBovedaError(error, 'INVALID_ARGUMENT'));
  });
});

describe('describeSchedule / describeRetention', () => {
  it('describes schedules', () => {
    assert.equal(describeSchedule({ kind: 'daily', time: '02:00', timeZone: 'Europe/Madrid' }), 'daily at 02:00 Europe/Madrid');
    assert.equal(describeSchedule({ kind: 'weekly', days: ['mon', 'thu'], time: '22:30', timeZone: 'UTC' }), 'weekly mon,thu at 22:30 UTC');
    assert.equal(describeSchedule({ kind: 'hourly', everyHours: 4, windowStart: '08:00', windowHours: 12, timeZone: 'UTC' }), 'every 4 h from 08:00 for 12 h UTC');
  });

  it('describes retention', () => {
    assert.equal(describeRetention(defaultPolicy().retention), 'daily 30 days; weekly (sun) 12 weeks; monthly (day 1) 12 months');
    assert.equal(describeRetention(gold().retention), 'daily 30 days; weekly (sun) 12 weeks; monthly (day 1) 12 months; yearly (jan, first mon) 3 years');
    assert.equal(
      describeRetention({ dailyDays: 7, weekly: { weeks: 1, weekday: 'fri' }, monthly: { months: 1, on: { kind: 'day', day: 'last' } }, yearly: { years: 1, month: 12, on: { kind: 'weekday', which: 'last', weekday: 'sun' } } }),
      'daily 7 days; weekly (fri) 1 week; monthly (last day) 1 month; yearly (dec, last sun) 1 year',
    );
    assert.equal(describeRetention({ dailyDays: 7, weekly: null, monthly: null, yearly: null }), 'daily 7 days');
  });
});
