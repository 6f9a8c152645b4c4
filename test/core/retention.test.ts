/**
 * Retention against reviewable expected-output files: test/core/fixtures/retention/<case>.txt holds
 * one line per point, rendered by render() below, and is compared byte for byte. After a deliberate
 * rule change, run with BOVEDA_UPDATE_EXPECTED=1 to rewrite the files, then review the diff by eye.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  anchorDate,
  applyRetention,
  checkPolicy,
  describeRetention,
  describeSchedule,
  isBovedaError,
  monthlyPeriodStart,
  slotsBetween,
  weekStart,
  yearlyPeriodStart,
  type PolicyDefinition,
  type ProtectionState,
  type RetentionDecision,
  type RetentionPoint,
  type RetentionRules,
  type Schedule,
} from '../../src/core/index.js';

/** dist/test/core/ → the source tree's test/core/fixtures/retention/. */
const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'core', 'fixtures', 'retention');
const UPDATE = process.env.BOVEDA_UPDATE_EXPECTED === '1';

const short = (iso: string): string => new Date(iso).toISOString().replace('.000Z', 'Z');

function policy(schedule: Schedule, retention: RetentionRules): PolicyDefinition {
  return checkPolicy({ name: 'test', description: null, schedule, retention, instantRestoreDays: 2 });
}

/** Scheduled points at the schedule's slots in (after, until], minus the `missing` ones (failed backups). */
function scheduledPoints(schedule: Schedule, after: string, until: string, missing: string[] = []): RetentionPoint[] {
  const skip = new Set(missing.map(short));
  return slotsBetween(schedule, new Date(after), new Date(until))
    .map((slot) => short(slot.toISOString()))
    .filter((createdAt) => !skip.has(createdAt))
    .map((createdAt) => ({ id: `s-${createdAt}`, createdAt, trigger: 'scheduled' as const, expiresAt: null }));
}

function onDemand(createdAt: string, expiresAt: string | null): RetentionPoint {
  return { id: `o-${createdAt}`, createdAt, trigger: 'on-demand', expiresAt };
}

const byCreation = (a: RetentionPoint, b: RetentionPoint): number => Date.parse(a.createdAt) - Date.parse(b.createdAt);

/** One line per point: `<createdAt> <trigger> keep <reasons> until <when|forever>` or `… remove expired <when>`. */
function render(title: string, p: PolicyDefinition | null, state: ProtectionState | null, now: string, points: RetentionPoint[], decisions: RetentionDecision[]): string {
  const lines = [
    `# ${title}`,
    `# policy: ${p === null ? 'none' : `${describeSchedule(p.schedule)}; ${describeRetention(p.retention)}`}`,
    `# state: ${state ?? 'no item'}`,
    `# now: ${short(now)}`,
    `# kept ${decisions.filter((d) => d.keep).length} of ${decisions.length}`,
  ];
  points.forEach((point, i) => {
    const decision = decisions[i]!;
    assert.equal(decision.id, point.id, 'decisions come in input order');
    const trigger = point.trigger === 'on-demand' ? `on-demand(expires ${point.expiresAt === null ? 'never' : short(point.expiresAt)})` : 'scheduled';
    const when = decision.keepUntil === null ? 'forever' : short(decision.keepUntil);
    lines.push(decision.keep ? `${short(point.createdAt)} ${trigger} keep ${decision.reasons.join(',')} until ${when}` : `${short(point.createdAt)} ${trigger} remove expired ${when}`);
  });
  return `${lines.join('\n')}\n`;
}

/** Invariants every decision list holds, whatever the case. */
function checkInvariants(points: RetentionPoint[], decisions: RetentionDecision[], now: string): void {
  assert.equal(decisions.length, points.length);
  for (const decision of decisions) {
    assert.equal(decision.keep, decision.reasons.length > 0);
    if (decision.keep && decision.keepUntil !== null) assert.ok(Date.parse(decision.keepUntil) > Date.parse(now), `${decision.id} kept until the past`);
    if (!decision.keep) assert.ok(decision.keepUntil !== null && Date.parse(decision.keepUntil) <= Date.parse(now), `${decision.id} removed before it expired`);
  }
  if (points.length > 0) {
    const newest = Math.max(...points.map((point) => Date.parse(point.createdAt)));
    points.forEach((point, i) => {
      if (Date.parse(point.createdAt) === newest) assert.ok(decisions[i]!.keep, 'the newest point is always kept');
    });
  }
}

function expectFixture(name: string, title: string, p: PolicyDefinition | null, state: ProtectionState | null, now: string, points: RetentionPoint[]): RetentionDecision[] {
  const decisions = applyRetention(points, p, new Date(now), { state });
  checkInvariants(points, decisions, now);
  const actual = render(title, p, state, now, points, decisions);
  const file = join(FIXTURES, `${name}.txt`);
  if (UPDATE) {
    mkdirSync(FIXTURES, { recursive: true });
    writeFileSync(file, actual);
  } else {
    assert.ok(existsSync(file), `${file} is missing; run the tests with BOVEDA_UPDATE_EXPECTED=1 and review it`);
    assert.equal(actual, readFileSync(file, 'utf8'), `${name}: retention changed; if deliberate, rerun with BOVEDA_UPDATE_EXPECTED=1 and review the diff`);
  }
  return decisions;
}

const dailyUtc: Schedule = { kind: 'daily', time: '02:00', timeZone: 'UTC' };
const gfs: RetentionRules = {
  dailyDays: 30,
  weekly: { weeks: 12, weekday: 'sun' },
  monthly: { months: 12, on: { kind: 'day', day: 1 } },
  yearly: { years: 3, month: 1, on: { kind: 'day', day: 1 } },
};

describe('retention fixtures', () => {
  it('gfs-daily-year: a year of daily points under daily 30 d / weekly 12 w / monthly 12 m / yearly 3 y', () => {
    const points = scheduledPoints(dailyUtc, '2024-12-31T12:00:00Z', '2025-12-31T12:00:00Z');
    assert.equal(points.length, 365);
    const decisions = expectFixture('gfs-daily-year', 'a year of daily points under GFS, at the end of the year', policy(dailyUtc, gfs), 'protected', '2025-12-31T12:00:00Z', points);
    // 30 daily (Dec 2-31), 8 weekly beyond them (Sundays Oct 12-Nov 30), 12 monthly (Jan 1-Dec 1; Jan 1 also yearly).
    assert.equal(decisions.filter((d) => d.keep).length, 30 + 8 + 12);
  });

  it('weekly-stand-in: when the Sunday backup failed, the next point of that week is its weekly point', () => {
    const retention: RetentionRules = { dailyDays: 7, weekly: { weeks: 8, weekday: 'sun' }, monthly: null, yearly: null };
    const points = scheduledPoints(dailyUtc, '2026-01-01T00:00:00Z', '2026-02-28T12:00:00Z', [
      '2026-01-11T02:00:00Z', // Sunday failed → Monday 12th stands in
      '2026-01-25T02:00:00Z', // Sunday and Monday failed → Tuesday 27th stands in
      '2026-01-26T02:00:00Z',
    ]);
    expectFixture('weekly-stand-in', 'weekly (sun) with failed Sunday backups', policy(dailyUtc, retention), 'protected', '2026-02-28T12:00:00Z', points);
  });

  it('monthly-last-weekday: the last Friday of each month, with a stand-in when it failed', () => {
    const retention: RetentionRules = { dailyDays: 7, weekly: null, monthly: { months: 6, on: { kind: 'weekday', which: 'last', weekday: 'fri' } }, yearly: null };
    const points = scheduledPoints(dailyUtc, '2025-11-01T00:00:00Z', '2026-03-31T12:00:00Z', ['2026-01-30T02:00:00Z']);
    expectFixture(
      'monthly-last-weekday',
      'monthly (last fri) 6 months; the last Friday of January 2026 failed, Saturday 31st stands in; the first point (Nov 1) is the earliest of the period that began Oct 31',
      policy(dailyUtc, retention),
      'protected',
      '2026-03-31T12:00:00Z',
      points,
    );
  });

  it('hourly: every 4 h from 22:00 for 12 h in America/New_York, weeks beginning on Monday', () => {
    const schedule: Schedule = { kind: 'hourly', everyHours: 4, windowStart: '22:00', windowHours: 12, timeZone: 'America/New_York' };
    const retention: RetentionRules = { dailyDays: 7, weekly: { weeks: 2, weekday: 'mon' }, monthly: null, yearly: null };
    const points = scheduledPoints(schedule, '2026-02-01T00:00:00Z', '2026-02-22T12:00:00Z');
    expectFixture('hourly', 'slots 22:00, 02:00, 06:00 local (the window runs past midnight); Sunday 22:00 still belongs to the week that began on Monday, the Monday 02:00 slot opens each week', policy(schedule, retention), 'protected', '2026-02-22T12:00:00Z', points);
  });

  it('on-demand-mix: on-demand points with and without expiry among daily points', () => {
    const retention: RetentionRules = { dailyDays: 7, weekly: null, monthly: null, yearly: null };
    const points = [
      ...scheduledPoints(dailyUtc, '2026-03-01T00:00:00Z', '2026-03-20T03:00:00Z'),
      onDemand('2026-03-02T15:00:00Z', '2026-03-12T15:00:00Z'), // expired
      onDemand('2026-03-05T15:00:00Z', '2026-04-05T15:00:00Z'), // in force, beyond the daily points
      onDemand('2026-03-06T15:00:00Z', null), // never expires
      onDemand('2026-03-20T09:00:00Z', '2026-03-21T09:00:00Z'), // the newest point: latest too
    ].sort(byCreation);
    expectFixture('on-demand-mix', 'on-demand points mixed in; the newest point is an on-demand one', policy(dailyUtc, retention), 'protected', '2026-03-20T12:00:00Z', points);
  });

  const smallSet = (): RetentionPoint[] =>
    [...scheduledPoints(dailyUtc, '2026-01-01T00:00:00Z', '2026-02-15T03:00:00Z'), onDemand('2026-01-10T10:00:00Z', '2026-01-20T10:00:00Z')].sort(byCreation);
  const shortPolicy = (): PolicyDefinition => policy(dailyUtc, { dailyDays: 7, weekly: { weeks: 2, weekday: 'sun' }, monthly: null, yearly: null });

  it('soft-deleted: every point kept (purge is a separate step), expired ones too', () => {
    const decisions = expectFixture('soft-deleted', 'soft-deleted item', shortPolicy(), 'soft-deleted', '2026-03-01T12:00:00Z', smallSet());
    assert.ok(decisions.every((d) => d.keep && d.reasons.join() === 'soft-deleted' && d.keepUntil === null));
  });

  it('stopped-retain: every point kept forever', () => {
    const decisions = expectFixture('stopped-retain', 'protection stopped, data retained', shortPolicy(), 'stopped-retain', '2026-03-01T12:00:00Z', smallSet());
    assert.ok(decisions.every((d) => d.keep && d.reasons.join() === 'retained-data' && d.keepUntil === null));
  });

  it('backups-stopped: a VM whose backups stopped months ago keeps only its latest point', () => {
    const decisions = expectFixture('backups-stopped', 'still protected, but no backup since 2026-02-15 (the VM disappeared)', shortPolicy(), 'protected', '2026-08-01T12:00:00Z', smallSet());
    assert.equal(decisions.filter((d) => d.keep).length, 1);
    assert.deepEqual(decisions.at(-1), { id: 's-2026-02-15T02:00:00Z', keep: true, reasons: ['latest'], keepUntil: null });
  });

  it('policy-missing: scheduled points of a deleted policy are kept, on-demand ones still expire', () => {
    expectFixture('policy-missing', 'protected item whose policy is missing', null, 'protected', '2026-03-01T12:00:00Z', smallSet());
  });

  it('madrid-dst-spring: daily 02:30 Europe/Madrid across the spring-forward gap', () => {
    const schedule: Schedule = { kind: 'daily', time: '02:30', timeZone: 'Europe/Madrid' };
    const retention: RetentionRules = { dailyDays: 7, weekly: { weeks: 2, weekday: 'mon' }, monthly: { months: 1, on: { kind: 'day', day: 1 } }, yearly: null };
    const points = scheduledPoints(schedule, '2026-03-18T00:00:00Z', '2026-04-12T12:00:00Z');
    expectFixture('madrid-dst-spring', 'the 2026-03-29 slot runs at 03:00 CEST (01:00Z), and so does the 7-day expiry of the 2026-03-22 point; later expiries keep the point\'s local time of day', policy(schedule, retention), 'protected', '2026-04-12T12:00:00Z', points);
  });

  it('madrid-dst-autumn: daily 00:30 Europe/Madrid, local weekdays and months differ from UTC, across fall-back', () => {
    const schedule: Schedule = { kind: 'daily', time: '00:30', timeZone: 'Europe/Madrid' };
    const retention: RetentionRules = { dailyDays: 7, weekly: { weeks: 2, weekday: 'mon' }, monthly: { months: 1, on: { kind: 'day', day: 1 } }, yearly: null };
    const points = scheduledPoints(schedule, '2026-10-10T00:00:00Z', '2026-11-05T12:00:00Z');
    expectFixture(
      'madrid-dst-autumn',
      'Monday 00:30 local is Sunday 22:30Z (23:30Z after Oct 25); 1 Nov 00:30 local is 31 Oct 23:30Z and is the November point',
      policy(schedule, retention),
      'protected',
      '2026-11-05T12:00:00Z',
      points,
    );
  });
});

describe('applyRetention rules', () => {
  const rules: RetentionRules = { dailyDays: 7, weekly: null, monthly: null, yearly: null };

  it('lapses a reason exactly at its end', () => {
    const points = scheduledPoints(dailyUtc, '2026-01-01T00:00:00Z', '2026-01-02T12:00:00Z');
    const p = policy(dailyUtc, rules);
    const [first] = applyRetention(points, p, new Date('2026-01-08T01:59:59.999Z'), { state: 'protected' });
    assert.deepEqual(first, { id: points[0]!.id, keep: true, reasons: ['daily'], keepUntil: '2026-01-08T02:00:00.000Z' });
    const [lapsed] = applyRetention(points, p, new Date('2026-01-08T02:00:00Z'), { state: 'protected' });
    assert.deepEqual(lapsed, { id: points[0]!.id, keep: false, reasons: [], keepUntil: '2026-01-08T02:00:00.000Z' });
  });

  it('keeps every point sharing the newest createdAt, and treats a null state like protected', () => {
    const points: RetentionPoint[] = [
      { id: 'a', createdAt: '2026-01-01T02:00:00Z', trigger: 'scheduled', expiresAt: null },
      { id: 'b', createdAt: '2026-01-01T02:00:00Z', trigger: 'on-demand', expiresAt: '2026-01-02T00:00:00Z' },
      { id: 'c', createdAt: '2025-12-01T02:00:00Z', trigger: 'scheduled', expiresAt: null },
    ];
    const decisions = applyRetention(points, policy(dailyUtc, rules), new Date('2026-06-01T00:00:00Z'), { state: null });
    assert.deepEqual(decisions.map((d) => [d.id, d.keep, d.reasons.join()]), [
      ['a', true, 'latest'],
      ['b', true, 'latest'],
      ['c', false, ''],
    ]);
  });

  it('handles no points, and names a point with a bad date', () => {
    assert.deepEqual(applyRetention([], null, new Date(), { state: 'protected' }), []);
    assert.throws(
      () => applyRetention([{ id: 'p1', createdAt: 'yesterday', trigger: 'scheduled', expiresAt: null }], null, new Date(), { state: 'protected' }),
      (error) => isBovedaError(error, 'INVALID_ARGUMENT') && error.message.includes('p1') && error.message.includes('createdAt'),
    );
    assert.throws(
      () => applyRetention([{ id: 'p2', createdAt: '2026-01-01T00:00:00Z', trigger: 'on-demand', expiresAt: 'soon' }], null, new Date(), { state: 'protected' }),
      /p2: expiresAt/,
    );
  });

  it('counts monthly and yearly expiry in calendar months and years, clamping the day', () => {
    const schedule: Schedule = { kind: 'daily', time: '10:00', timeZone: 'UTC' };
    const p = policy(schedule, { dailyDays: 7, weekly: null, monthly: { months: 1, on: { kind: 'day', day: 'last' } }, yearly: { years: 1, month: 2, on: { kind: 'day', day: 'last' } } });
    const points: RetentionPoint[] = [
      { id: 'jan31', createdAt: '2026-01-31T10:00:00Z', trigger: 'scheduled', expiresAt: null },
      { id: 'feb29', createdAt: '2028-02-29T10:00:00Z', trigger: 'scheduled', expiresAt: null },
    ];
    const monthlyOnly = policy(schedule, { dailyDays: 7, weekly: null, monthly: { months: 1, on: { kind: 'day', day: 'last' } }, yearly: null });
    const [jan31] = applyRetention(points, monthlyOnly, new Date('2026-02-01T00:00:00Z'), { state: 'protected' });
    assert.deepEqual(jan31!.reasons, ['daily', 'monthly']);
    assert.equal(jan31!.keepUntil, '2026-02-28T10:00:00.000Z'); // monthly: Jan 31 + 1 month, clamped
    // With the yearly rule too, Jan 31 2026 is the earliest point of the year that began Feb 28 2025: a yearly stand-in.
    const [jan31Yearly, feb29] = applyRetention(points, p, new Date('2026-02-01T00:00:00Z'), { state: 'protected' });
    assert.equal(jan31Yearly!.keepUntil, '2027-01-31T10:00:00.000Z');
    assert.deepEqual(feb29!.reasons, ['daily', 'monthly', 'yearly', 'latest']);
    const [, feb29Later] = applyRetention(points, p, new Date('2028-03-30T00:00:00Z'), { state: 'protected' });
    assert.deepEqual(feb29Later!.reasons, ['yearly', 'latest']);
    assert.equal(
      applyRetention(points.slice(1), policy(schedule, { dailyDays: 7, weekly: null, monthly: null, yearly: { years: 1, month: 2, on: { kind: 'day', day: 'last' } } }), new Date('2028-04-01T00:00:00Z'), { state: 'protected' })[0]!.reasons.join(),
      'yearly,latest',
    );
  });

  it('computes five years of daily GFS points', () => {
    const points = scheduledPoints(dailyUtc, '2021-01-01T00:00:00Z', '2025-12-31T12:00:00Z');
    const decisions = applyRetention(points, policy(dailyUtc, gfs), new Date('2025-12-31T12:00:00Z'), { state: 'protected' });
    checkInvariants(points, decisions, '2025-12-31T12:00:00Z');
    // As for one year, plus the yearly Jan 1 points of 2023 and 2024 (2022 + 3 years lapsed on 2025-01-01).
    assert.equal(decisions.filter((d) => d.keep).length, 30 + 8 + 12 + 2);
  });
});

describe('retention periods', () => {
  it('finds month anchors', () => {
    assert.deepEqual(anchorDate(2026, 1, { kind: 'weekday', which: 'last', weekday: 'fri' }), { year: 2026, month: 1, day: 30 });
    assert.deepEqual(anchorDate(2026, 1, { kind: 'weekday', which: 'first', weekday: 'thu' }), { year: 2026, month: 1, day: 1 });
    assert.deepEqual(anchorDate(2026, 1, { kind: 'weekday', which: 'first', weekday: 'wed' }), { year: 2026, month: 1, day: 7 });
    assert.deepEqual(anchorDate(2026, 2, { kind: 'day', day: 'last' }), { year: 2026, month: 2, day: 28 });
    assert.deepEqual(anchorDate(2028, 2, { kind: 'day', day: 'last' }), { year: 2028, month: 2, day: 29 });
    assert.deepEqual(anchorDate(2026, 5, { kind: 'weekday', which: 'last', weekday: 'sun' }), { year: 2026, month: 5, day: 31 });
  });

  it('finds week, month and year period starts', () => {
    assert.deepEqual(weekStart({ year: 2026, month: 1, day: 1 }, 0), { year: 2025, month: 12, day: 28 });
    assert.deepEqual(weekStart({ year: 2026, month: 1, day: 4 }, 0), { year: 2026, month: 1, day: 4 });
    assert.deepEqual(monthlyPeriodStart({ year: 2026, month: 2, day: 3 }, { kind: 'weekday', which: 'last', weekday: 'fri' }), { year: 2026, month: 1, day: 30 });
    assert.deepEqual(monthlyPeriodStart({ year: 2026, month: 2, day: 27 }, { kind: 'weekday', which: 'last', weekday: 'fri' }), { year: 2026, month: 2, day: 27 });
    assert.deepEqual(monthlyPeriodStart({ year: 2026, month: 1, day: 10 }, { kind: 'day', day: 15 }), { year: 2025, month: 12, day: 15 });
    assert.deepEqual(yearlyPeriodStart({ year: 2026, month: 3, day: 1 }, 6, { kind: 'day', day: 1 }), { year: 2025, month: 6, day: 1 });
    assert.deepEqual(yearlyPeriodStart({ year: 2026, month: 6, day: 1 }, 6, { kind: 'day', day: 1 }), { year: 2026, month: 6, day: 1 });
  });
});
