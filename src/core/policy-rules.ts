/**
 * Validation, defaults and descriptions of backup policies. The ranges are Azure VM backup's:
 * daily points 7-9999 days, weekly 1-5163 weeks, monthly 1-1188 months, yearly 1-99 years,
 * instant restore 1-5 days, hourly every 4/6/8/12 h in a 4-24 h window.
 *
 * Choices where Azure differs or is silent (documented here because users see their effect):
 * - `retention.dailyDays` applies to every scheduled point whatever the schedule kind: with a
 *   weekly schedule it is "each weekly backup is kept at least this many days", with an hourly one
 *   "each hourly point is kept this many days". Weekly/monthly/yearly rules are optional for every
 *   kind (Azure forces weekly retention on weekly schedules; we do not, since dailyDays already
 *   bounds every point).
 * - The weekly retention weekday need not be a scheduled day: the first point of each week that
 *   begins on that weekday stands in (see retention.ts).
 * - No ordering between the tiers is enforced (Azure does not require monthly > weekly either).
 * - Unknown fields are dropped rather than rejected, so a PolicyRecord (with its timestamps) can be
 *   checked as is; the normalized copy holds only PolicyDefinition fields.
 * - Normalization: "2:00" → "02:00", weekdays sorted sun..sat, the zone spelled as Intl canonicalizes
 *   it ("utc" → "UTC"), description trimmed (empty → null).
 */
import { BovedaError } from './errors.js';
import {
  WEEKDAYS,
  type MonthAnchor,
  type PolicyDefinition,
  type RetentionRules,
  type Schedule,
  type Weekday,
} from './policy.js';
import { canonicalTimeZone, isValidTimeZone } from './zoned-time.js';

export const POLICY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const POLICY_DESCRIPTION_MAX = 1024;
export const HOURLY_INTERVALS = [4, 6, 8, 12] as const;

/** Inclusive ranges of the numeric fields. */
export const POLICY_LIMITS = {
  dailyDays: { min: 7, max: 9999 },
  weeks: { min: 1, max: 5163 },
  months: { min: 1, max: 1188 },
  years: { min: 1, max: 99 },
  month: { min: 1, max: 12 },
  anchorDay: { min: 1, max: 28 },
  windowHours: { min: 4, max: 24 },
  instantRestoreDays: { min: 1, max: 5 },
} as const;

const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const;

function render(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Names the policy and the field at fault: `policy "gold": retention.weekly.weeks must be …, got 0`. */
class Checker {
  constructor(private readonly policyName: string | null) {}

  fail(field: string, expectation: string, got: unknown): never {
    const prefix = this.policyName === null ? 'policy' : `policy ${JSON.stringify(this.policyName)}`;
    throw new BovedaError('INVALID_ARGUMENT', `${prefix}: ${field} must be ${expectation}, got ${render(got)}`, {
      details: { policy: this.policyName, field, value: got },
    });
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, 'an object', value);
    return value as Record<string, unknown>;
  }

  integer(value: unknown, field: string, range: { min: number; max: number }): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < range.min || value > range.max) {
      this.fail(field, `an integer ${range.min}..${range.max}`, value);
    }
    return value;
  }

  time(value: unknown, field: string): string {
    const match = typeof value === 'string' ? /^(\d{1,2}):(\d{2})$/.exec(value) : null;
    if (match === null || Number(match[1]) > 23 || Number(match[2]) > 59) this.fail(field, 'a time "HH:MM" from 00:00 to 23:59', value);
    return `${match[1]!.padStart(2, '0')}:${match[2]}`;
  }

  timeZone(value: unknown, field: string): string {
    // IANA names only: Intl may also accept offsets ("+01:00") in some versions; a schedule must
    // follow the zone's DST rules, so a fixed offset is refused (use "Etc/GMT-1" if really meant).
    if (typeof value !== 'string' || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(value) || !isValidTimeZone(value)) {
      this.fail(field, 'an IANA time zone such as "Europe/Madrid" or "UTC"', value);
    }
    return canonicalTimeZone(value);
  }

  weekday(value: unknown, field: string): Weekday {
    if (typeof value !== 'string' || !(WEEKDAYS as readonly string[]).includes(value)) this.fail(field, `one of ${WEEKDAYS.join(',')}`, value);
    return value as Weekday;
  }
}

function checkSchedule(c: Checker, input: unknown): Schedule {
  const s = c.object(input, 'schedule');
  switch (s.kind) {
    case 'daily':
      return { kind: 'daily', time: c.time(s.time, 'schedule.time'), timeZone: c.timeZone(s.timeZone, 'schedule.timeZone') };
    case 'weekly': {
      if (!Array.isArray(s.days) || s.days.length === 0) c.fail('schedule.days', 'a non-empty list of weekdays', s.days);
      const days = (s.days as unknown[]).map((day, i) => c.weekday(day, `schedule.days[${i}]`));
      const duplicate = days.find((day, i) => days.indexOf(day) !== i);
      if (duplicate !== undefined) c.fail('schedule.days', 'a list without duplicates', s.days);
      days.sort((a, b) => WEEKDAYS.indexOf(a) - WEEKDAYS.indexOf(b));
      return { kind: 'weekly', days, time: c.time(s.time, 'schedule.time'), timeZone: c.timeZone(s.timeZone, 'schedule.timeZone') };
    }
    case 'hourly': {
      if (!(HOURLY_INTERVALS as readonly unknown[]).includes(s.everyHours)) c.fail('schedule.everyHours', `one of ${HOURLY_INTERVALS.join(', ')}`, s.everyHours);
      const everyHours = s.everyHours as 4 | 6 | 8 | 12;
      const windowStart = c.time(s.windowStart, 'schedule.windowStart');
      const windowHours = c.integer(s.windowHours, 'schedule.windowHours', POLICY_LIMITS.windowHours);
      if (windowHours < everyHours) c.fail('schedule.windowHours', `at least schedule.everyHours (${everyHours})`, windowHours);
      return { kind: 'hourly', everyHours, windowStart, windowHours, timeZone: c.timeZone(s.timeZone, 'schedule.timeZone') };
    }
    default:
      return c.fail('schedule.kind', 'one of daily, weekly, hourly', s.kind);
  }
}

function checkAnchor(c: Checker, input: unknown, field: string): MonthAnchor {
  const a = c.object(input, field);
  if (a.kind === 'day') {
    if (a.day === 'last') return { kind: 'day', day: 'last' };
    if (typeof a.day !== 'number' || !Number.isInteger(a.day) || a.day < POLICY_LIMITS.anchorDay.min || a.day > POLICY_LIMITS.anchorDay.max) {
      c.fail(`${field}.day`, `an integer ${POLICY_LIMITS.anchorDay.min}..${POLICY_LIMITS.anchorDay.max} or "last"`, a.day);
    }
    return { kind: 'day', day: a.day };
  }
  if (a.kind === 'weekday') {
    if (a.which !== 'first' && a.which !== 'last') c.fail(`${field}.which`, '"first" or "last"', a.which);
    return { kind: 'weekday', which: a.which, weekday: c.weekday(a.weekday, `${field}.weekday`) };
  }
  return c.fail(`${field}.kind`, '"day" or "weekday"', a.kind);
}

function checkRetention(c: Checker, input: unknown): RetentionRules {
  const r = c.object(input, 'retention');
  const dailyDays = c.integer(r.dailyDays, 'retention.dailyDays', POLICY_LIMITS.dailyDays);
  let weekly: RetentionRules['weekly'] = null;
  if (r.weekly !== null && r.weekly !== undefined) {
    const w = c.object(r.weekly, 'retention.weekly');
    weekly = { weeks: c.integer(w.weeks, 'retention.weekly.weeks', POLICY_LIMITS.weeks), weekday: c.weekday(w.weekday, 'retention.weekly.weekday') };
  }
  let monthly: RetentionRules['monthly'] = null;
  if (r.monthly !== null && r.monthly !== undefined) {
    const m = c.object(r.monthly, 'retention.monthly');
    monthly = { months: c.integer(m.months, 'retention.monthly.months', POLICY_LIMITS.months), on: checkAnchor(c, m.on, 'retention.monthly.on') };
  }
  let yearly: RetentionRules['yearly'] = null;
  if (r.yearly !== null && r.yearly !== undefined) {
    const y = c.object(r.yearly, 'retention.yearly');
    yearly = {
      years: c.integer(y.years, 'retention.yearly.years', POLICY_LIMITS.years),
      month: c.integer(y.month, 'retention.yearly.month', POLICY_LIMITS.month),
      on: checkAnchor(c, y.on, 'retention.yearly.on'),
    };
  }
  return { dailyDays, weekly, monthly, yearly };
}

/**
 * Validates a policy and returns a normalized copy (see the module comment). Throws
 * INVALID_ARGUMENT naming the policy and the field at fault.
 */
export function checkPolicy(input: PolicyDefinition): PolicyDefinition {
  const root = new Checker(null).object(input, 'definition');
  if (typeof root.name !== 'string' || !POLICY_NAME_PATTERN.test(root.name)) {
    new Checker(null).fail('name', '1-64 letters, digits, ".", "_" or "-", starting with a letter or digit', root.name);
  }
  const name = root.name as string;
  const c = new Checker(name);
  let description: string | null = null;
  if (root.description !== null && root.description !== undefined) {
    if (typeof root.description !== 'string' || root.description.length > POLICY_DESCRIPTION_MAX) {
      c.fail('description', `a string of at most ${POLICY_DESCRIPTION_MAX} characters, or null`, root.description);
    }
    const trimmed = (root.description as string).trim();
    description = trimmed === '' ? null : trimmed;
  }
  const schedule = checkSchedule(c, root.schedule);
  const retention = checkRetention(c, root.retention);
  const instantRestoreDays = c.integer(root.instantRestoreDays, 'instantRestoreDays', POLICY_LIMITS.instantRestoreDays);
  return { name, description, schedule, retention, instantRestoreDays };
}

/**
 * What `policy create NAME` starts from before its flags: daily at 02:00 UTC; every point 30 days,
 * Sunday's 12 weeks, the 1st of the month's 12 months, no yearly; instant restore 2 days. No
 * description: a text describing these values would go stale as soon as a flag changed one
 * (describeSchedule/describeRetention derive the summary from the values).
 */
export function defaultPolicy(name = 'default'): PolicyDefinition {
  return checkPolicy({
    name,
    description: null,
    schedule: { kind: 'daily', time: '02:00', timeZone: 'UTC' },
    retention: {
      dailyDays: 30,
      weekly: { weeks: 12, weekday: 'sun' },
      monthly: { months: 12, on: { kind: 'day', day: 1 } },
      yearly: null,
    },
    instantRestoreDays: 2,
  });
}

/** "daily at 02:00 Europe/Madrid", "weekly mon,thu at 22:30 UTC", "every 4 h from 08:00 for 12 h UTC". */
export function describeSchedule(schedule: Schedule): string {
  switch (schedule.kind) {
    case 'daily':
      return `daily at ${schedule.time} ${schedule.timeZone}`;
    case 'weekly':
      return `weekly ${schedule.days.join(',')} at ${schedule.time} ${schedule.timeZone}`;
    case 'hourly':
      return `every ${schedule.everyHours} h from ${schedule.windowStart} for ${schedule.windowHours} h ${schedule.timeZone}`;
  }
}

/** "day 1", "last day", "first sun", "last fri". */
export function describeAnchor(anchor: MonthAnchor): string {
  if (anchor.kind === 'day') return anchor.day === 'last' ? 'last day' : `day ${anchor.day}`;
  return `${anchor.which} ${anchor.weekday}`;
}

function count(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** "daily 30 days; weekly (sun) 12 weeks; monthly (day 1) 12 months; yearly (jan, last sun) 3 years". */
export function describeRetention(retention: RetentionRules): string {
  const parts = [`daily ${count(retention.dailyDays, 'day')}`];
  if (retention.weekly !== null) parts.push(`weekly (${retention.weekly.weekday}) ${count(retention.weekly.weeks, 'week')}`);
  if (retention.monthly !== null) parts.push(`monthly (${describeAnchor(retention.monthly.on)}) ${count(retention.monthly.months, 'month')}`);
  if (retention.yearly !== null) {
    const month = MONTH_NAMES[retention.yearly.month - 1] ?? String(retention.yearly.month);
    parts.push(`yearly (${month}, ${describeAnchor(retention.yearly.on)}) ${count(retention.yearly.years, 'year')}`);
  }
  return parts.join('; ');
}
