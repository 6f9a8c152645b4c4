import type { Command } from 'commander';
import { BovedaError, WEEKDAYS, isBovedaError, type MonthAnchor, type PolicyDefinition, type Schedule, type Weekday } from '../core/index.js';

/** The policy flags `policy create` and `policy update` share; only given ones change the policy. */
export interface PolicyFlags {
  description?: string;
  daily?: boolean;
  days?: string;
  everyHours?: string;
  windowHours?: string;
  at?: string;
  timeZone?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  instantRestoreDays?: string;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

export function addPolicyFlags(command: Command): Command {
  return command
    .option('--description <text>', 'what the policy is for')
    .option('--daily', 'back up every day (at --at)')
    .option('--days <days>', 'back up weekly on these days, e.g. mon,thu (sun…sat)')
    .option('--every-hours <n>', 'back up every N hours (4, 6, 8 or 12) within a daily window starting at --at')
    .option('--window-hours <n>', 'length of that window in hours (4-24, default 24)')
    .option('--at <HH:MM>', 'time of the backup, or start of the hourly window')
    .option('--time-zone <zone>', 'IANA time zone of the schedule and of retention days, e.g. Europe/Madrid (default UTC)')
    .option('--keep-daily <days>', 'keep every scheduled point N days (7-9999)')
    .option('--keep-weekly <spec>', 'WEEKS[@DAY]: keep the point of DAY (default sun) N weeks; "off" to stop')
    .option('--keep-monthly <spec>', 'MONTHS[@ANCHOR]: keep the point of ANCHOR (1-28, last, first-DAY, last-DAY; default 1) N months; "off"')
    .option('--keep-yearly <spec>', 'YEARS[@MONTH[/ANCHOR]]: keep the point of ANCHOR in MONTH (jan… or 1-12, default jan/1) N years; "off"')
    .option('--instant-restore-days <n>', 'days the instant-restore snapshot is kept (1-5)');
}

function bad(flag: string, value: string, why: string): BovedaError {
  return new BovedaError('INVALID_ARGUMENT', `${flag} "${value}": ${why}`);
}

function wholeNumber(flag: string, value: string): number {
  if (!/^\d+$/.test(value.trim())) throw bad(flag, value, 'must be a whole number');
  return Number(value);
}

function weekday(flag: string, whole: string, value: string): Weekday {
  const day = value.trim().toLowerCase().slice(0, 3);
  if (!(WEEKDAYS as readonly string[]).includes(day) || value.trim().length > 9) throw bad(flag, whole, `"${value}" is not a weekday (${WEEKDAYS.join(', ')})`);
  return day as Weekday;
}

function monthAnchor(flag: string, whole: string, value: string): MonthAnchor {
  const text = value.trim().toLowerCase();
  if (text === 'last') return { kind: 'day', day: 'last' };
  if (/^\d+$/.test(text)) return { kind: 'day', day: Number(text) };
  const match = /^(first|last)-(\w+)$/.exec(text);
  if (!match) throw bad(flag, whole, `"${value}" is not a day of the month (1-28, last, first-mon … last-sun)`);
  return { kind: 'weekday', which: match[1] as 'first' | 'last', weekday: weekday(flag, whole, match[2]!) };
}

function isOff(value: string): boolean {
  return ['off', 'none', '0'].includes(value.trim().toLowerCase());
}

/**
 * Applies the given flags to `base` (the defaults for create, the current policy for update) and
 * returns the new definition, still to be checked by checkPolicy (which names the field out of range).
 * Syntax errors name the flag here.
 */
export function applyPolicyFlags(base: PolicyDefinition, flags: PolicyFlags): PolicyDefinition {
  const policy: PolicyDefinition = structuredClone(base);
  if (flags.description !== undefined) policy.description = flags.description.trim() === '' ? null : flags.description;

  const kinds = [flags.daily ? 'daily' : null, flags.days !== undefined ? 'weekly' : null, flags.everyHours !== undefined ? 'hourly' : null].filter(Boolean);
  if (kinds.length > 1) throw new BovedaError('INVALID_ARGUMENT', 'give only one of --daily, --days and --every-hours');
  const previous = policy.schedule;
  const time = flags.at ?? (previous.kind === 'hourly' ? previous.windowStart : previous.time);
  const timeZone = flags.timeZone ?? previous.timeZone;
  const kind = kinds[0] ?? previous.kind;
  let schedule: Schedule;
  if (kind === 'daily') schedule = { kind: 'daily', time, timeZone };
  else if (kind === 'weekly') {
    const days = flags.days !== undefined
      ? flags.days.split(',').filter((day) => day.trim() !== '').map((day) => weekday('--days', flags.days!, day))
      : previous.kind === 'weekly' ? previous.days : [];
    if (days.length === 0) throw bad('--days', flags.days ?? '', 'name at least one weekday');
    schedule = { kind: 'weekly', days, time, timeZone };
  } else {
    const everyHours = flags.everyHours !== undefined ? wholeNumber('--every-hours', flags.everyHours) : previous.kind === 'hourly' ? previous.everyHours : 0;
    const windowHours = flags.windowHours !== undefined ? wholeNumber('--window-hours', flags.windowHours) : previous.kind === 'hourly' ? previous.windowHours : 24;
    schedule = { kind: 'hourly', everyHours: everyHours as 4 | 6 | 8 | 12, windowStart: time, windowHours, timeZone };
  }
  if (flags.windowHours !== undefined && schedule.kind !== 'hourly') throw new BovedaError('INVALID_ARGUMENT', '--window-hours needs an hourly schedule (--every-hours)');
  policy.schedule = schedule;

  const retention = policy.retention;
  if (flags.keepDaily !== undefined) retention.dailyDays = wholeNumber('--keep-daily', flags.keepDaily);
  if (flags.keepWeekly !== undefined) {
    const value = flags.keepWeekly;
    if (isOff(value)) retention.weekly = null;
    else {
      const [count = '', day] = value.split('@');
      retention.weekly = { weeks: wholeNumber('--keep-weekly', count), weekday: day === undefined ? retention.weekly?.weekday ?? 'sun' : weekday('--keep-weekly', value, day) };
    }
  }
  if (flags.keepMonthly !== undefined) {
    const value = flags.keepMonthly;
    if (isOff(value)) retention.monthly = null;
    else {
      const [count = '', anchor] = value.split('@');
      retention.monthly = {
        months: wholeNumber('--keep-monthly', count),
        on: anchor === undefined ? retention.monthly?.on ?? { kind: 'day', day: 1 } : monthAnchor('--keep-monthly', value, anchor),
      };
    }
  }
  if (flags.keepYearly !== undefined) {
    const value = flags.keepYearly;
    if (isOff(value)) retention.yearly = null;
    else {
      const [count = '', where] = value.split('@');
      let month = retention.yearly?.month ?? 1;
      let on: MonthAnchor = retention.yearly?.on ?? { kind: 'day', day: 1 };
      if (where !== undefined) {
        const [monthText = '', anchor] = where.split('/');
        const lower = monthText.trim().toLowerCase();
        const named = MONTHS.indexOf(lower.slice(0, 3));
        month = /^\d+$/.test(lower) ? Number(lower) : named >= 0 && lower.length >= 3 ? named + 1 : NaN;
        if (Number.isNaN(month)) throw bad('--keep-yearly', value, `"${monthText}" is not a month (jan…dec or 1-12)`);
        if (anchor !== undefined) on = monthAnchor('--keep-yearly', value, anchor);
      }
      retention.yearly = { years: wholeNumber('--keep-yearly', count), month, on };
    }
  }
  if (flags.instantRestoreDays !== undefined) policy.instantRestoreDays = wholeNumber('--instant-restore-days', flags.instantRestoreDays);
  return policy;
}

/** The flag that sets each policy field checkPolicy may refuse. */
const FIELD_FLAGS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^retention\.dailyDays$/, '--keep-daily'], [/^retention\.weekly\b/, '--keep-weekly'], [/^retention\.monthly\b/, '--keep-monthly'],
  [/^retention\.yearly\b/, '--keep-yearly'], [/^schedule\.(time|windowStart)$/, '--at'], [/^schedule\.timeZone$/, '--time-zone'],
  [/^schedule\.everyHours$/, '--every-hours'], [/^schedule\.windowHours$/, '--window-hours'], [/^schedule\.days\b/, '--days'],
  [/^instantRestoreDays$/, '--instant-restore-days'], [/^description$/, '--description'],
];

/**
 * A policy check names the field at fault ("retention.dailyDays must be …"); on the command line
 * the user typed a flag, so the message names it too: "retention.dailyDays (--keep-daily) must be …".
 */
export function withFlagName(error: unknown): unknown {
  if (!isBovedaError(error, 'INVALID_ARGUMENT')) return error;
  const field = error.details.field;
  const flag = typeof field === 'string' ? FIELD_FLAGS.find(([pattern]) => pattern.test(field))?.[1] : undefined;
  if (flag === undefined || !error.message.includes(`${field} must`)) return error;
  return new BovedaError('INVALID_ARGUMENT', error.message.replace(`${field} must`, `${field} (${flag}) must`), { details: { ...error.details, flag }, cause: error });
}
