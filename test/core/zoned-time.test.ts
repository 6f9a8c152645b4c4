import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalTimeZone,
  daysBetween,
  daysInMonth,
  isBovedaError,
  isLeapYear,
  isValidTimeZone,
  plusDays,
  plusMonths,
  plusYears,
  weekdayOf,
  zonedFields,
  zonedInstant,
  zoneOffsetMs,
  zonedPlus,
} from '../../src/core/index.js';

const iso = (date: Date): string => date.toISOString();

describe('zoned time', () => {
  it('reads the local fields of an instant (UTC date and local date may differ)', () => {
    assert.deepEqual(zonedFields(new Date('2026-01-04T23:30:00Z'), 'Europe/Madrid'), {
      year: 2026, month: 1, day: 5, hour: 0, minute: 30, second: 0, weekday: 1,
    });
    assert.deepEqual(zonedFields(new Date('2026-01-01T03:00:00Z'), 'America/New_York'), {
      year: 2025, month: 12, day: 31, hour: 22, minute: 0, second: 0, weekday: 3,
    });
    assert.equal(zonedFields(new Date('2026-06-15T00:00:00Z'), 'UTC').hour, 0, 'midnight is hour 0, not 24');
  });

  it('maps ordinary wall times to their instant', () => {
    assert.equal(iso(zonedInstant({ year: 2026, month: 1, day: 5, hour: 2, minute: 30 }, 'Europe/Madrid')), '2026-01-05T01:30:00.000Z');
    assert.equal(iso(zonedInstant({ year: 2026, month: 7, day: 5, hour: 2, minute: 30 }, 'Europe/Madrid')), '2026-07-05T00:30:00.000Z');
    assert.equal(iso(zonedInstant({ year: 2026, month: 7, day: 5, hour: 2, minute: 30, second: 15 }, 'UTC')), '2026-07-05T02:30:15.000Z');
  });

  it('maps a spring-forward gap to the first instant after it', () => {
    // Europe/Madrid 2026-03-29: 02:00 CET → 03:00 CEST (01:00Z).
    assert.equal(iso(zonedInstant({ year: 2026, month: 3, day: 29, hour: 2, minute: 30 }, 'Europe/Madrid')), '2026-03-29T01:00:00.000Z');
    assert.equal(iso(zonedInstant({ year: 2026, month: 3, day: 29, hour: 2, minute: 0 }, 'Europe/Madrid')), '2026-03-29T01:00:00.000Z');
    assert.equal(iso(zonedInstant({ year: 2026, month: 3, day: 29, hour: 3, minute: 0 }, 'Europe/Madrid')), '2026-03-29T01:00:00.000Z');
    assert.equal(iso(zonedInstant({ year: 2026, month: 3, day: 29, hour: 1, minute: 59 }, 'Europe/Madrid')), '2026-03-29T00:59:00.000Z');
    // America/New_York 2026-03-08: 02:00 EST → 03:00 EDT (07:00Z).
    assert.equal(iso(zonedInstant({ year: 2026, month: 3, day: 8, hour: 2, minute: 30 }, 'America/New_York')), '2026-03-08T07:00:00.000Z');
    assert.equal(zonedFields(zonedInstant({ year: 2026, month: 3, day: 8, hour: 2, minute: 30 }, 'America/New_York'), 'America/New_York').hour, 3);
  });

  it('maps an ambiguous fall-back wall time to the earlier instant', () => {
    // Europe/Madrid 2026-10-25: 03:00 CEST → 02:00 CET; 02:30 happens at 00:30Z and 01:30Z.
    assert.equal(iso(zonedInstant({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }, 'Europe/Madrid')), '2026-10-25T00:30:00.000Z');
    // America/New_York 2026-11-01: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
    assert.equal(iso(zonedInstant({ year: 2026, month: 11, day: 1, hour: 1, minute: 30 }, 'America/New_York')), '2026-11-01T05:30:00.000Z');
    assert.equal(iso(zonedInstant({ year: 2026, month: 11, day: 1, hour: 2, minute: 30 }, 'America/New_York')), '2026-11-01T07:30:00.000Z');
  });

  it('round-trips every quarter hour of a DST year outside gaps and overlaps', () => {
    for (const zone of ['Europe/Madrid', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata']) {
      for (let ms = Date.UTC(2026, 0, 1); ms < Date.UTC(2027, 0, 1); ms += 6 * 3600_000 + 15 * 60_000) {
        const fields = zonedFields(new Date(ms), zone);
        const back = zonedInstant(fields, zone).getTime();
        // An instant in the second pass of an overlap maps back to the first pass, an hour earlier.
        assert.ok(back === ms || back === ms - 3600_000, `${zone} ${new Date(ms).toISOString()} → ${new Date(back).toISOString()}`);
        if (back !== ms) assert.deepEqual(zonedFields(new Date(back), zone), fields);
      }
    }
  });

  it('knows offsets and zones', () => {
    assert.equal(zoneOffsetMs(new Date('2026-01-15T12:00:00Z'), 'Europe/Madrid'), 3600_000);
    assert.equal(zoneOffsetMs(new Date('2026-07-15T12:00:00Z'), 'Europe/Madrid'), 7200_000);
    assert.equal(zoneOffsetMs(new Date('2026-07-15T12:00:00Z'), 'Asia/Kolkata'), 5.5 * 3600_000);
    assert.ok(isValidTimeZone('UTC'));
    assert.ok(isValidTimeZone('Europe/Madrid'));
    assert.ok(!isValidTimeZone('Mars/Olympus_Mons'));
    assert.equal(canonicalTimeZone('europe/madrid'), 'Europe/Madrid');
    assert.throws(() => zonedFields(new Date(0), 'Nowhere/Land'), (error) => isBovedaError(error, 'INVALID_ARGUMENT'));
  });

  it('does calendar arithmetic with clamping and leap years', () => {
    assert.deepEqual(plusMonths({ year: 2026, month: 1, day: 31 }, 1), { year: 2026, month: 2, day: 28 });
    assert.deepEqual(plusMonths({ year: 2024, month: 1, day: 31 }, 1), { year: 2024, month: 2, day: 29 });
    assert.deepEqual(plusMonths({ year: 2026, month: 3, day: 31 }, 1), { year: 2026, month: 4, day: 30 });
    assert.deepEqual(plusMonths({ year: 2026, month: 11, day: 30 }, 14), { year: 2028, month: 1, day: 30 });
    assert.deepEqual(plusMonths({ year: 2026, month: 1, day: 15 }, -1), { year: 2025, month: 12, day: 15 });
    assert.deepEqual(plusYears({ year: 2024, month: 2, day: 29 }, 1), { year: 2025, month: 2, day: 28 });
    assert.deepEqual(plusYears({ year: 2024, month: 2, day: 29 }, 4), { year: 2028, month: 2, day: 29 });
    assert.deepEqual(plusDays({ year: 2024, month: 2, day: 28 }, 1), { year: 2024, month: 2, day: 29 });
    assert.deepEqual(plusDays({ year: 2026, month: 12, day: 31 }, 1), { year: 2027, month: 1, day: 1 });
    assert.deepEqual(plusDays({ year: 2026, month: 1, day: 1 }, -1), { year: 2025, month: 12, day: 31 });
    assert.equal(daysBetween({ year: 2026, month: 1, day: 1 }, { year: 2027, month: 1, day: 1 }), 365);
    assert.equal(daysInMonth(2100, 2), 28);
    assert.equal(daysInMonth(2000, 2), 29);
    assert.ok(isLeapYear(2024) && !isLeapYear(2100) && isLeapYear(2000) && !isLeapYear(2026));
    assert.equal(weekdayOf({ year: 2026, month: 3, day: 29 }), 0);
    assert.equal(weekdayOf({ year: 1970, month: 1, day: 1 }), 4);
    assert.equal(weekdayOf({ year: 1969, month: 12, day: 31 }), 3);
  });

  it('adds calendar days, months and years on the wall clock across DST', () => {
    // 02:00 CET + 1 day is 02:00 of the next day; on the spring-forward day that wall time is in the gap → 03:00 CEST.
    assert.equal(iso(zonedPlus(new Date('2026-03-28T01:00:00Z'), 1, 'days', 'Europe/Madrid')), '2026-03-29T01:00:00.000Z');
    // 01:00 CET + 30 days is 01:00 CEST: 30 calendar days, 719 hours.
    assert.equal(iso(zonedPlus(new Date('2026-03-10T00:00:00Z'), 30, 'days', 'Europe/Madrid')), '2026-04-08T23:00:00.000Z');
    assert.equal(iso(zonedPlus(new Date('2026-01-31T10:00:00.250Z'), 1, 'months', 'UTC')), '2026-02-28T10:00:00.250Z');
    assert.equal(iso(zonedPlus(new Date('2024-02-29T10:00:00Z'), 1, 'years', 'UTC')), '2025-02-28T10:00:00.000Z');
    // Local Jan 31 00:30 in Madrid is Jan 30 23:30Z; a month later is local Feb 28 00:30.
    assert.equal(iso(zonedPlus(new Date('2026-01-30T23:30:00Z'), 1, 'months', 'Europe/Madrid')), '2026-02-27T23:30:00.000Z');
  });
});
