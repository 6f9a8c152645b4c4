/**
 * A backup policy: when a protected VM is backed up (schedule) and how long its scheduled recovery
 * points are kept (retention). Plain data; policy-rules.ts validates it and holds the defaults.
 * Times of day are "HH:MM" (24 h) in the schedule's IANA time zone; the same zone defines which
 * calendar day, weekday and month a point belongs to for retention.
 */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Every day at `time`. */
export interface DailySchedule {
  kind: 'daily';
  time: string;
  timeZone: string;
}

/** On each of `days` at `time`. */
export interface WeeklySchedule {
  kind: 'weekly';
  days: Weekday[];
  time: string;
  timeZone: string;
}

/** Every `everyHours` hours (4, 6, 8 or 12) starting at `windowStart`, for `windowHours` hours a day. */
export interface HourlySchedule {
  kind: 'hourly';
  everyHours: 4 | 6 | 8 | 12;
  windowStart: string;
  windowHours: number;
  timeZone: string;
}

export type Schedule = DailySchedule | WeeklySchedule | HourlySchedule;

/** Which day of a month a monthly or yearly point is taken from. */
export type MonthAnchor =
  | { kind: 'day'; day: number | 'last' }
  | { kind: 'weekday'; which: 'first' | 'last'; weekday: Weekday };

export interface RetentionRules {
  /** Every scheduled point is kept this many days. */
  dailyDays: number;
  /** The point of the chosen weekday is kept this many weeks. */
  weekly: { weeks: number; weekday: Weekday } | null;
  /** The point of the anchor day is kept this many months. */
  monthly: { months: number; on: MonthAnchor } | null;
  /** The point of the anchor day in `month` (1-12) is kept this many years. */
  yearly: { years: number; month: number; on: MonthAnchor } | null;
}

export interface PolicyDefinition {
  name: string;
  description: string | null;
  schedule: Schedule;
  retention: RetentionRules;
  /** Days the instant-restore snapshot is kept (1-5); used by instant restore. */
  instantRestoreDays: number;
}

export interface PolicyRecord extends PolicyDefinition {
  createdAt: string;
  updatedAt: string;
}
