/**
 * Pure: the policy editor's flat form values to a policy and back. (Policies in words come from the
 * API — scheduleText, retentionText — worded by core, so CLI and UI say the same.)
 */
import type { MonthAnchor, Policy, Schedule, Weekday } from './types.js';

export const WEEKDAYS: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** The editor's fields, all strings (as a form gives them); `days` is the checked weekdays. */
export interface PolicyFields {
  name: string;
  description: string;
  kind: string;
  time: string;
  days: string[];
  everyHours: string;
  windowStart: string;
  windowHours: string;
  timeZone: string;
  dailyDays: string;
  weeklyOn: boolean;
  weeks: string;
  weeklyDay: string;
  monthlyOn: boolean;
  months: string;
  monthlyAnchor: string;
  yearlyOn: boolean;
  years: string;
  yearlyMonth: string;
  yearlyAnchor: string;
  instantRestoreDays: string;
}

/** "1".."31", "last", or "first-mon" / "last-fri". */
export function parseAnchor(text: string): MonthAnchor {
  if (text === 'last') return { kind: 'day', day: 'last' };
  const weekday = /^(first|last)-(sun|mon|tue|wed|thu|fri|sat)$/.exec(text);
  if (weekday) return { kind: 'weekday', which: weekday[1] as 'first' | 'last', weekday: weekday[2] as Weekday };
  return { kind: 'day', day: Number(text) };
}

export function anchorValue(on: MonthAnchor): string {
  return on.kind === 'day' ? String(on.day) : `${on.which}-${on.weekday}`;
}

/**
 * Every anchor core accepts, as [value, label]: days 1..28 (POLICY_LIMITS.anchorDay), the last day,
 * and the first and last of each weekday.
 */
export function anchorChoices(): [string, string][] {
  return [
    ...Array.from({ length: 28 }, (_, i): [string, string] => [String(i + 1), `day ${i + 1}`]),
    ['last', 'last day'],
    ...(['first', 'last'] as const).flatMap((which) => WEEKDAYS.map((day): [string, string] => [`${which}-${day}`, `${which} ${day}`])),
  ];
}

/**
 * The policy the fields describe. Numbers are passed as typed (NaN for garbage) so the server's
 * validation names the field; the UI does not second-guess it.
 */
export function policyFromFields(f: PolicyFields): Policy {
  const timeZone = f.timeZone || 'UTC';
  let schedule: Schedule;
  if (f.kind === 'weekly') schedule = { kind: 'weekly', days: f.days as Weekday[], time: f.time, timeZone };
  else if (f.kind === 'hourly') schedule = { kind: 'hourly', everyHours: Number(f.everyHours) as 4 | 6 | 8 | 12, windowStart: f.windowStart, windowHours: Number(f.windowHours), timeZone };
  else schedule = { kind: 'daily', time: f.time, timeZone };
  return {
    name: f.name,
    description: f.description === '' ? null : f.description,
    schedule,
    retention: {
      dailyDays: Number(f.dailyDays),
      weekly: f.weeklyOn ? { weeks: Number(f.weeks), weekday: f.weeklyDay as Weekday } : null,
      monthly: f.monthlyOn ? { months: Number(f.months), on: parseAnchor(f.monthlyAnchor) } : null,
      yearly: f.yearlyOn ? { years: Number(f.years), month: Number(f.yearlyMonth), on: parseAnchor(f.yearlyAnchor) } : null,
    },
    instantRestoreDays: Number(f.instantRestoreDays),
  };
}

/** The fields showing a policy (the editor's starting values); the defaults match core's defaultPolicy. */
export function fieldsFromPolicy(p: Policy | null): PolicyFields {
  const s = p?.schedule ?? { kind: 'daily', time: '02:00', timeZone: 'UTC' };
  const r = p?.retention ?? { dailyDays: 30, weekly: { weeks: 12, weekday: 'sun' }, monthly: { months: 12, on: { kind: 'day', day: 1 } }, yearly: null };
  return {
    name: p?.name ?? '',
    description: p?.description ?? '',
    kind: s.kind,
    time: s.kind === 'hourly' ? '02:00' : s.time,
    days: s.kind === 'weekly' ? s.days : ['sun'],
    everyHours: s.kind === 'hourly' ? String(s.everyHours) : '4',
    windowStart: s.kind === 'hourly' ? s.windowStart : '08:00',
    windowHours: s.kind === 'hourly' ? String(s.windowHours) : '12',
    timeZone: s.timeZone,
    dailyDays: String(r.dailyDays),
    weeklyOn: r.weekly !== null,
    weeks: String(r.weekly?.weeks ?? 12),
    weeklyDay: r.weekly?.weekday ?? 'sun',
    monthlyOn: r.monthly !== null,
    months: String(r.monthly?.months ?? 12),
    monthlyAnchor: r.monthly ? anchorValue(r.monthly.on) : '1',
    yearlyOn: r.yearly !== null,
    years: String(r.yearly?.years ?? 5),
    yearlyMonth: String(r.yearly?.month ?? 1),
    yearlyAnchor: r.yearly ? anchorValue(r.yearly.on) : '1',
    instantRestoreDays: String(p?.instantRestoreDays ?? 2),
  };
}
