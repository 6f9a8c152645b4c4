/**
 * Retention: which recovery points of one VM are kept at `now`, why, and until when.
 *
 * Rules, in order:
 * - soft-deleted item: every point kept ('soft-deleted'); purging is a separate step.
 * - stopped-retain item: every point kept forever ('retained-data').
 * - otherwise (protected, or no item):
 *   - the newest point (all points sharing the greatest createdAt) is always kept ('latest'), so a
 *     VM whose backups stop (e.g. it disappeared) never loses its last point;
 *   - on-demand points are kept until their own expiresAt ('on-demand'; null = never);
 *   - scheduled points without a policy (the policy was deleted) are kept ('retained-data'): data is
 *     never deleted because configuration is missing;
 *   - scheduled points with a policy, every period and expiry reckoned on the schedule zone's wall
 *     clock and calendar:
 *     'daily'   every point, dailyDays days after createdAt;
 *     'weekly'  the earliest point of each week beginning on the chosen weekday (so when that day's
 *               backup failed the next point of the week stands in), weeks × 7 days;
 *     'monthly' the earliest point of each period [anchor(m), anchor(m+1)), `months` months;
 *     'yearly'  the earliest point of each period [anchor(year, month), anchor(year+1, month)),
 *               `years` years (Feb 29 + 1 year → Feb 28).
 * A reason is in force while its end is after `now` (at the end instant it has lapsed). keepUntil is
 * the end of the last in-force reason (null when one has no end); for a removed point, when its last
 * reason lapsed.
 *
 * Cost: one Intl lookup per scheduled point plus a few per selected point; O(n log n) at worst.
 */
import { BovedaError } from './errors.js';
import { WEEKDAYS, type MonthAnchor, type PolicyDefinition } from './policy.js';
import type { ProtectionState } from './protection.js';
import type { KeepReason, RetentionDecision, RetentionPoint } from './retention-decision.js';
import { daysInMonth, formatDate, plusDays, plusMonths, weekdayOf, zonedFields, zonedPlus, type LocalDate } from './zoned-time.js';

/** The order reasons are listed in. */
export const KEEP_REASON_ORDER: readonly KeepReason[] = ['daily', 'weekly', 'monthly', 'yearly', 'on-demand', 'latest', 'retained-data', 'soft-deleted'];

/** The local date a month anchor designates in (year, month). */
export function anchorDate(year: number, month: number, anchor: MonthAnchor): LocalDate {
  const last = daysInMonth(year, month);
  if (anchor.kind === 'day') return { year, month, day: anchor.day === 'last' ? last : Math.min(anchor.day, last) };
  const target = WEEKDAYS.indexOf(anchor.weekday);
  if (anchor.which === 'first') {
    const firstWeekday = weekdayOf({ year, month, day: 1 });
    return { year, month, day: 1 + ((target - firstWeekday + 7) % 7) };
  }
  const lastWeekday = weekdayOf({ year, month, day: last });
  return { year, month, day: last - ((lastWeekday - target + 7) % 7) };
}

function before(a: LocalDate, b: LocalDate): boolean {
  return a.year !== b.year ? a.year < b.year : a.month !== b.month ? a.month < b.month : a.day < b.day;
}

/** The start (local date) of the week, beginning on `weekday` (0-6), that holds `date`. */
export function weekStart(date: LocalDate, weekday: number): LocalDate {
  return plusDays(date, -((weekdayOf(date) - weekday + 7) % 7));
}

/** The start of the monthly period [anchor(m), anchor(m+1)) that holds `date`. */
export function monthlyPeriodStart(date: LocalDate, anchor: MonthAnchor): LocalDate {
  const here = anchorDate(date.year, date.month, anchor);
  if (!before(date, here)) return here;
  const previous = plusMonths({ year: date.year, month: date.month, day: 1 }, -1);
  return anchorDate(previous.year, previous.month, anchor);
}

/** The start of the yearly period [anchor(y, month), anchor(y+1, month)) that holds `date`. */
export function yearlyPeriodStart(date: LocalDate, month: number, anchor: MonthAnchor): LocalDate {
  const here = anchorDate(date.year, month, anchor);
  return before(date, here) ? anchorDate(date.year - 1, month, anchor) : here;
}

function parseInstant(value: string | null, point: RetentionPoint, field: string): number {
  const ms = value === null ? NaN : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new BovedaError('INVALID_ARGUMENT', `recovery point ${point.id}: ${field} must be an ISO-8601 date, got ${JSON.stringify(value)}`, {
      details: { pointId: point.id, field, value },
    });
  }
  return ms;
}

/** For each period key, the index of the earliest point in it (ties: the first in input order). */
function earliestPerPeriod(indices: number[], created: number[], keyOf: (i: number) => string): Set<number> {
  const best = new Map<string, number>();
  for (const i of indices) {
    const key = keyOf(i);
    const current = best.get(key);
    if (current === undefined || created[i]! < created[current]!) best.set(key, i);
  }
  return new Set(best.values());
}

/** An end per reason; Infinity = no end. */
type Ends = Map<KeepReason, number>;

/**
 * The retention decision for each point, in input order (see the module comment for the rules).
 * Throws INVALID_ARGUMENT naming the point when a date does not parse.
 */
export function applyRetention(
  points: RetentionPoint[],
  policy: PolicyDefinition | null,
  now: Date,
  context: { state: ProtectionState | null },
): RetentionDecision[] {
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new BovedaError('INVALID_ARGUMENT', 'retention: now is not a valid date');
  const created = points.map((point) => parseInstant(point.createdAt, point, 'createdAt'));

  if (context.state === 'soft-deleted' || context.state === 'stopped-retain') {
    const reason: KeepReason = context.state === 'soft-deleted' ? 'soft-deleted' : 'retained-data';
    return points.map((point) => ({ id: point.id, keep: true, reasons: [reason], keepUntil: null }));
  }

  const ends: Ends[] = points.map(() => new Map());
  let newest = -Infinity; // a loop, not Math.max(...): spreading years of points can overflow the stack
  for (const ms of created) if (ms > newest) newest = ms;
  created.forEach((ms, i) => {
    if (ms === newest) ends[i]!.set('latest', Infinity);
  });

  const scheduled: number[] = [];
  points.forEach((point, i) => {
    if (point.trigger === 'on-demand') {
      ends[i]!.set('on-demand', point.expiresAt === null ? Infinity : parseInstant(point.expiresAt, point, 'expiresAt'));
    } else if (policy === null) {
      ends[i]!.set('retained-data', Infinity);
    } else {
      scheduled.push(i);
    }
  });

  if (policy !== null && scheduled.length > 0) {
    const zone = policy.schedule.timeZone;
    const rules = policy.retention;
    const dates = new Map<number, LocalDate>();
    for (const i of scheduled) {
      const { year, month, day } = zonedFields(created[i]!, zone);
      dates.set(i, { year, month, day });
      ends[i]!.set('daily', zonedPlus(new Date(created[i]!), rules.dailyDays, 'days', zone).getTime());
    }
    const dateOf = (i: number): LocalDate => dates.get(i)!;
    if (rules.weekly !== null) {
      const weekday = WEEKDAYS.indexOf(rules.weekly.weekday);
      for (const i of earliestPerPeriod(scheduled, created, (j) => formatDate(weekStart(dateOf(j), weekday)))) {
        ends[i]!.set('weekly', zonedPlus(new Date(created[i]!), rules.weekly.weeks * 7, 'days', zone).getTime());
      }
    }
    if (rules.monthly !== null) {
      const { on, months } = rules.monthly;
      for (const i of earliestPerPeriod(scheduled, created, (j) => formatDate(monthlyPeriodStart(dateOf(j), on)))) {
        ends[i]!.set('monthly', zonedPlus(new Date(created[i]!), months, 'months', zone).getTime());
      }
    }
    if (rules.yearly !== null) {
      const { on, month, years } = rules.yearly;
      for (const i of earliestPerPeriod(scheduled, created, (j) => formatDate(yearlyPeriodStart(dateOf(j), month, on)))) {
        ends[i]!.set('yearly', zonedPlus(new Date(created[i]!), years, 'years', zone).getTime());
      }
    }
  }

  return points.map((point, i) => {
    const pointEnds = ends[i]!;
    const reasons = KEEP_REASON_ORDER.filter((reason) => {
      const end = pointEnds.get(reason);
      return end !== undefined && end > nowMs;
    });
    const relevant = reasons.length > 0 ? reasons.map((reason) => pointEnds.get(reason)!) : [...pointEnds.values()];
    const until = relevant.length === 0 ? nowMs : Math.max(...relevant);
    return { id: point.id, keep: reasons.length > 0, reasons, keepUntil: until === Infinity ? null : new Date(until).toISOString() };
  });
}
