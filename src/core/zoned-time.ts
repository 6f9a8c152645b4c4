/**
 * Wall-clock time in an IANA time zone, with Intl only (no date library): the local calendar
 * fields of an instant, the instant of a local wall time, and calendar arithmetic on local dates.
 * Schedules and retention use it so that "02:00 Europe/Madrid", "every Sunday" and "12 months
 * later" mean what a person in that zone means, across DST changes.
 *
 * DST rules (the same as most schedulers):
 * - a wall time in a spring-forward gap (02:30 when clocks jump 02:00 → 03:00) maps to the first
 *   instant after the gap (03:00 local), so a slot in the gap still runs that day;
 * - an ambiguous fall-back wall time (02:30 happening twice) maps to the earlier instant.
 */
import { BovedaError } from './errors.js';

/** A calendar date; month 1-12, day 1-31. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** A wall time on a calendar date; hour 0-23, minute 0-59, second 0-59. */
export interface LocalDateTime extends LocalDate {
  hour: number;
  minute: number;
  second: number;
}

/** Local fields of an instant; weekday 0 = Sunday … 6 = Saturday (the index in WEEKDAYS). */
export interface ZonedFields extends LocalDateTime {
  weekday: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

// Building a DateTimeFormat costs far more than using one; schedules and retention call these
// functions thousands of times per run, with a handful of zones.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    try {
      formatter = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        era: 'short',
      });
    } catch (error) {
      throw new BovedaError('INVALID_ARGUMENT', `unknown time zone ${JSON.stringify(timeZone)}`, { cause: error, details: { timeZone } });
    }
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when Intl knows the zone (IANA names such as "Europe/Madrid", and "UTC"). */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The zone's canonical spelling as Intl resolves it ("europe/madrid" → "Europe/Madrid"). */
export function canonicalTimeZone(timeZone: string): string {
  return formatterFor(timeZone).resolvedOptions().timeZone;
}

/** Wall-clock milliseconds: the local fields read as if they were UTC. */
function wallMs(fields: LocalDateTime): number {
  return Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second);
}

function wallOf(instantMs: number, timeZone: string): LocalDateTime {
  const fields: LocalDateTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  let bc = false;
  for (const part of formatterFor(timeZone).formatToParts(instantMs)) {
    switch (part.type) {
      case 'year': fields.year = Number(part.value); break;
      case 'month': fields.month = Number(part.value); break;
      case 'day': fields.day = Number(part.value); break;
      case 'hour': fields.hour = Number(part.value); break;
      case 'minute': fields.minute = Number(part.value); break;
      case 'second': fields.second = Number(part.value); break;
      case 'era': bc = part.value === 'BC' || part.value === 'B'; break;
    }
  }
  if (bc) fields.year = 1 - fields.year;
  return fields;
}

/** The zone's offset from UTC at an instant, in ms (local = UTC + offset). Whole seconds. */
export function zoneOffsetMs(instant: Date | number, timeZone: string): number {
  const ms = typeof instant === 'number' ? instant : instant.getTime();
  const wholeSecond = Math.floor(ms / 1000) * 1000;
  return wallMs(wallOf(wholeSecond, timeZone)) - wholeSecond;
}

/** The local calendar fields of an instant in a zone. */
export function zonedFields(instant: Date | number, timeZone: string): ZonedFields {
  const ms = typeof instant === 'number' ? instant : instant.getTime();
  if (!Number.isFinite(ms)) throw new BovedaError('INVALID_ARGUMENT', 'zonedFields: invalid date');
  const fields = wallOf(ms, timeZone);
  return { ...fields, weekday: weekdayOf(fields) };
}

/** The local calendar date of an instant in a zone. */
export function zonedDate(instant: Date | number, timeZone: string): LocalDate {
  const { year, month, day } = zonedFields(instant, timeZone);
  return { year, month, day };
}

/**
 * The instant at which the zone's clocks show `local` (seconds default to 0). Gap → the first
 * instant after the gap; ambiguous → the earlier instant (see the module comment).
 */
export function zonedInstant(local: LocalDate & { hour: number; minute: number; second?: number }, timeZone: string): Date {
  const wall = wallMs({ ...local, second: local.second ?? 0 });
  if (!Number.isFinite(wall)) throw new BovedaError('INVALID_ARGUMENT', 'zonedInstant: invalid local time');
  // Offsets a day either side bracket any single transition near this wall time (zones change
  // offset at most a few times a year, never twice within a day).
  const offsetBefore = zoneOffsetMs(wall - DAY_MS, timeZone);
  const offsetAfter = zoneOffsetMs(wall + DAY_MS, timeZone);
  const early = wall - Math.max(offsetBefore, offsetAfter);
  const late = wall - Math.min(offsetBefore, offsetAfter);
  // Earlier candidate first: for an ambiguous wall time both are valid and the earlier wins.
  for (const candidate of early === late ? [early] : [early, late]) {
    if (candidate + zoneOffsetMs(candidate, timeZone) === wall) return new Date(candidate);
  }
  // In a gap: neither offset gives this wall time. The transition lies between the candidate
  // read with the old offset and the one read with the new offset; find it to the second.
  let lo = Math.floor(early / 1000); // offset still offsetBefore
  let hi = Math.ceil(late / 1000); // offset already offsetAfter
  const oldOffset = zoneOffsetMs(lo * 1000, timeZone);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (zoneOffsetMs(mid * 1000, timeZone) === oldOffset) lo = mid;
    else hi = mid;
  }
  return new Date(hi * 1000);
}

/** The instant of a local date at a given time of day ("HH:MM" minutes since midnight). */
export function zonedInstantAtMinutes(date: LocalDate, minutesOfDay: number, timeZone: string): Date {
  const days = Math.floor(minutesOfDay / 1440);
  const rest = minutesOfDay - days * 1440;
  const onDate = days === 0 ? date : plusDays(date, days);
  return zonedInstant({ ...onDate, hour: Math.floor(rest / 60), minute: rest % 60 }, timeZone);
}

// --- Calendar arithmetic on local dates (proleptic Gregorian, via Date.UTC day numbers) ---

function dayNumber(date: LocalDate): number {
  return Math.floor(Date.UTC(date.year, date.month - 1, date.day) / DAY_MS);
}

function fromDayNumber(days: number): LocalDate {
  const d = new Date(days * DAY_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** 0 = Sunday … 6 = Saturday. */
export function weekdayOf(date: LocalDate): number {
  return ((dayNumber(date) + 4) % 7 + 7) % 7; // 1970-01-01 was a Thursday
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export function plusDays(date: LocalDate, days: number): LocalDate {
  return fromDayNumber(dayNumber(date) + days);
}

/** Calendar months later (or earlier); the day is clamped to the target month (Jan 31 + 1 → Feb 28/29). */
export function plusMonths(date: LocalDate, months: number): LocalDate {
  const index = date.year * 12 + (date.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = index - year * 12 + 1;
  return { year, month, day: Math.min(date.day, daysInMonth(year, month)) };
}

/** Calendar years later (or earlier); Feb 29 → Feb 28 in a common year. */
export function plusYears(date: LocalDate, years: number): LocalDate {
  return plusMonths(date, years * 12);
}

/** Days from a to b (b - a). */
export function daysBetween(a: LocalDate, b: LocalDate): number {
  return dayNumber(b) - dayNumber(a);
}

/** -1, 0, 1. */
export function compareDates(a: LocalDate, b: LocalDate): number {
  return Math.sign(dayNumber(a) - dayNumber(b));
}

/** "2026-03-29". */
export function formatDate(date: LocalDate): string {
  return `${String(date.year).padStart(4, '0')}-${String(date.month).padStart(2, '0')}-${String(date.day).padStart(2, '0')}`;
}

/**
 * The instant `amount` calendar units after `instant`, counted on the zone's wall clock: the same
 * local time of day on the target date (day clamped to the month for months and years). That is
 * what "kept 30 days" or "kept 12 months" means to the person who set the policy, DST or not.
 */
export function zonedPlus(instant: Date, amount: number, unit: 'days' | 'months' | 'years', timeZone: string): Date {
  const ms = instant.getTime();
  const fields = zonedFields(ms, timeZone);
  const subSecond = ms - Math.floor(ms / 1000) * 1000;
  const date = unit === 'days' ? plusDays(fields, amount) : unit === 'months' ? plusMonths(fields, amount) : plusYears(fields, amount);
  const target = zonedInstant({ ...date, hour: fields.hour, minute: fields.minute, second: fields.second }, timeZone);
  return new Date(target.getTime() + subSecond);
}
