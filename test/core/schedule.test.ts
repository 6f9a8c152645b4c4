import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dueSlot,
  latestSlotAtOrBefore,
  nextSlotAfter,
  slotsBetween,
  spreadOffsetMs,
  zonedFields,
  type Schedule,
} from '../../src/core/index.js';

const d = (text: string): Date => new Date(text);
const isos = (dates: Date[]): string[] => dates.map((date) => date.toISOString().replace('.000Z', 'Z'));

const dailyUtc: Schedule = { kind: 'daily', time: '02:00', timeZone: 'UTC' };

describe('schedule slots', () => {
  it('lists daily slots in (after, until]', () => {
    assert.deepEqual(isos(slotsBetween(dailyUtc, d('2026-01-01T02:00:00Z'), d('2026-01-04T02:00:00Z'))), [
      '2026-01-02T02:00:00Z',
      '2026-01-03T02:00:00Z',
      '2026-01-04T02:00:00Z',
    ]);
    assert.deepEqual(slotsBetween(dailyUtc, d('2026-01-04T02:00:00Z'), d('2026-01-01T00:00:00Z')), []);
  });

  it('follows the wall clock across DST in Europe/Madrid (gap → after the gap, overlap → once)', () => {
    const schedule: Schedule = { kind: 'daily', time: '02:30', timeZone: 'Europe/Madrid' };
    assert.deepEqual(isos(slotsBetween(schedule, d('2026-03-27T12:00:00Z'), d('2026-03-31T12:00:00Z'))), [
      '2026-03-28T01:30:00Z', // 02:30 CET
      '2026-03-29T01:00:00Z', // 02:30 is in the gap → 03:00 CEST
      '2026-03-30T00:30:00Z', // 02:30 CEST
      '2026-03-31T00:30:00Z',
    ]);
    assert.deepEqual(isos(slotsBetween(schedule, d('2026-10-24T12:00:00Z'), d('2026-10-26T12:00:00Z'))), [
      '2026-10-25T00:30:00Z', // the first 02:30 (CEST) only
      '2026-10-26T01:30:00Z',
    ]);
  });

  it('follows the wall clock across DST in America/New_York', () => {
    const schedule: Schedule = { kind: 'daily', time: '02:15', timeZone: 'America/New_York' };
    assert.deepEqual(isos(slotsBetween(schedule, d('2026-03-07T00:00:00Z'), d('2026-03-10T00:00:00Z'))), [
      '2026-03-07T07:15:00Z',
      '2026-03-08T07:00:00Z', // gap → 03:00 EDT
      '2026-03-09T06:15:00Z',
    ]);
  });

  it('uses local weekdays for weekly schedules', () => {
    // Monday 00:30 in Madrid is Sunday 23:30Z.
    const schedule: Schedule = { kind: 'weekly', days: ['mon', 'thu'], time: '00:30', timeZone: 'Europe/Madrid' };
    const slots = slotsBetween(schedule, d('2026-01-01T00:00:00Z'), d('2026-01-15T00:00:00Z'));
    assert.deepEqual(isos(slots), ['2026-01-04T23:30:00Z', '2026-01-07T23:30:00Z', '2026-01-11T23:30:00Z', '2026-01-14T23:30:00Z']);
    for (const slot of slots) assert.ok([1, 4].includes(zonedFields(slot, 'Europe/Madrid').weekday));
  });

  it('runs hourly windows, including windows across midnight', () => {
    const day: Schedule = { kind: 'hourly', everyHours: 4, windowStart: '08:00', windowHours: 12, timeZone: 'UTC' };
    assert.deepEqual(isos(slotsBetween(day, d('2026-01-01T00:00:00Z'), d('2026-01-02T00:00:00Z'))), [
      '2026-01-01T08:00:00Z',
      '2026-01-01T12:00:00Z',
      '2026-01-01T16:00:00Z', // 20:00 = start + 12 h is outside the window
    ]);
    const night: Schedule = { kind: 'hourly', everyHours: 6, windowStart: '22:00', windowHours: 8, timeZone: 'UTC' };
    assert.deepEqual(isos(slotsBetween(night, d('2026-01-01T00:00:00Z'), d('2026-01-03T00:00:00Z'))), [
      '2026-01-01T04:00:00Z', // from the window that began 2025-12-31 22:00
      '2026-01-01T22:00:00Z',
      '2026-01-02T04:00:00Z',
      '2026-01-02T22:00:00Z',
    ]);
    const fullDay: Schedule = { kind: 'hourly', everyHours: 8, windowStart: '06:00', windowHours: 24, timeZone: 'UTC' };
    assert.deepEqual(isos(slotsBetween(fullDay, d('2026-01-01T00:00:00Z'), d('2026-01-02T00:00:00Z'))), [
      '2026-01-01T06:00:00Z',
      '2026-01-01T14:00:00Z',
      '2026-01-01T22:00:00Z',
    ]);
  });

  it('lists a year of a 4-hourly schedule in a DST zone, every slot once', () => {
    const schedule: Schedule = { kind: 'hourly', everyHours: 4, windowStart: '00:00', windowHours: 24, timeZone: 'Europe/Madrid' };
    const slots = slotsBetween(schedule, d('2025-12-31T23:00:00Z'), d('2026-12-31T23:00:00Z'));
    assert.equal(slots.length, 365 * 6);
    for (let i = 1; i < slots.length; i++) assert.ok(slots[i]!.getTime() > slots[i - 1]!.getTime());
  });

  it('finds the next and the latest slot', () => {
    assert.equal(nextSlotAfter(dailyUtc, d('2026-01-01T02:00:00Z')).toISOString(), '2026-01-02T02:00:00.000Z');
    assert.equal(nextSlotAfter(dailyUtc, d('2026-01-01T01:59:59Z')).toISOString(), '2026-01-01T02:00:00.000Z');
    assert.equal(latestSlotAtOrBefore(dailyUtc, d('2026-01-01T02:00:00Z'))?.toISOString(), '2026-01-01T02:00:00.000Z');
    assert.equal(latestSlotAtOrBefore(dailyUtc, d('2026-01-01T01:59:59Z'))?.toISOString(), '2025-12-31T02:00:00.000Z');
    const weekly: Schedule = { kind: 'weekly', days: ['sat'], time: '23:00', timeZone: 'UTC' };
    // Saturday 2026-01-03 23:00 → the next one is a week later; the latest before it a week earlier.
    assert.equal(nextSlotAfter(weekly, d('2026-01-03T23:00:00Z')).toISOString(), '2026-01-10T23:00:00.000Z');
    assert.equal(latestSlotAtOrBefore(weekly, d('2026-01-03T22:59:59Z'))?.toISOString(), '2025-12-27T23:00:00.000Z');
  });
});

describe('dueSlot', () => {
  const since = d('2026-01-01T00:00:00Z');

  it('is the latest slot not yet run', () => {
    assert.equal(dueSlot(dailyUtc, { lastSlot: null, since, now: d('2026-01-01T02:00:00Z') })?.toISOString(), '2026-01-01T02:00:00.000Z');
    assert.equal(dueSlot(dailyUtc, { lastSlot: d('2026-01-01T02:00:00Z'), since, now: d('2026-01-01T23:00:00Z') }), null);
    assert.equal(dueSlot(dailyUtc, { lastSlot: d('2026-01-01T02:00:00Z'), since, now: d('2026-01-02T02:00:01Z') })?.toISOString(), '2026-01-02T02:00:00.000Z');
  });

  it('catches up once after downtime: only the latest missed slot', () => {
    const lastSlot = d('2026-01-01T02:00:00Z');
    const now = d('2026-01-05T10:00:00Z');
    assert.equal(dueSlot(dailyUtc, { lastSlot, since, now })?.toISOString(), '2026-01-05T02:00:00.000Z');
    // Once that slot ran, nothing else is due until the next slot.
    assert.equal(dueSlot(dailyUtc, { lastSlot: d('2026-01-05T02:00:00Z'), since, now }), null);
    assert.equal(dueSlot(dailyUtc, { lastSlot: d('2026-01-05T02:00:00Z'), since, now: d('2026-01-06T02:00:00Z') })?.toISOString(), '2026-01-06T02:00:00.000Z');
  });

  it('never runs a slot from before protection started', () => {
    assert.equal(dueSlot(dailyUtc, { lastSlot: null, since: d('2026-01-01T03:00:00Z'), now: d('2026-01-01T10:00:00Z') }), null);
    assert.equal(dueSlot(dailyUtc, { lastSlot: null, since: d('2026-01-01T02:00:00Z'), now: d('2026-01-01T10:00:00Z') })?.toISOString(), '2026-01-01T02:00:00.000Z');
  });
});

describe('spreadOffsetMs', () => {
  it('is deterministic and within [0, window)', () => {
    const window = 30 * 60_000;
    assert.equal(spreadOffsetMs('web-01', window), spreadOffsetMs('web-01', window));
    const offsets = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const offset = spreadOffsetMs(`vm-${i}`, window);
      assert.ok(Number.isInteger(offset) && offset >= 0 && offset < window, `vm-${i}: ${offset}`);
      offsets.add(offset);
    }
    assert.ok(offsets.size > 990, 'similar names spread apart');
    // The spread covers the window: every tenth of it gets some VMs.
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 1000; i++) buckets[Math.floor((spreadOffsetMs(`vm-${i}`, window) / window) * 10)]! += 1;
    for (const count of buckets) assert.ok(count > 50, `buckets ${buckets.join(',')}`);
  });

  it('is stable across releases (the documented hash)', () => {
    // Changing the hash would move every VM's start time; these literals pin it.
    assert.deepEqual(['vm1', 'vm2', 'vm3'].map((key) => spreadOffsetMs(key, 3_600_000)), [3010216, 701330, 1259590]);
    assert.equal(spreadOffsetMs('anything', 1), 0);
    assert.equal(spreadOffsetMs('anything', 0), 0);
    assert.throws(() => spreadOffsetMs('x', -1), /non-negative/);
  });
});
