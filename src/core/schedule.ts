/**
 * When a schedule fires: its slots (the scheduled instants), the next and latest slot around an
 * instant, the slot a scheduler should run now (catch-up once after downtime), and a per-VM spread
 * so that VMs sharing a start time do not all start at the same second.
 *
 * Slots are wall-clock times in the schedule's zone (see zoned-time.ts for the DST rules): a daily
 * 02:30 slot in Europe/Madrid runs at 03:00 on the spring-forward day and once (the first 02:30) on
 * the fall-back day. Hourly slots are wall-clock too: windowStart, windowStart + everyHours, …
 * while < windowStart + windowHours, the window belonging to the day it starts on (it may run past
 * midnight into the next day).
 */
import { BovedaError } from './errors.js';
import { WEEKDAYS, type Schedule } from './policy.js';
import { plusDays, zonedDate, zonedInstantAtMinutes, weekdayOf, type LocalDate } from './zoned-time.js';

const DAY_MS = 86_400_000;

/** How far latestSlotAtOrBefore looks back, and nextSlotAfter forward: a week plus DST slack. */
export const SLOT_SEARCH_DAYS = 9;

/** "HH:MM" → minutes since midnight (the schedule is assumed checked by checkPolicy). */
export function minutesOfTime(time: string): number {
  const match = /^(\d{1,2}):(\d{2})$/.exec(time);
  if (match === null) throw new BovedaError('INVALID_ARGUMENT', `time must be "HH:MM", got ${JSON.stringify(time)}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

/** The wall times (minutes from the date's midnight, possibly ≥ 1440) the schedule fires for a local date. */
function slotMinutesFor(schedule: Schedule, date: LocalDate): number[] {
  switch (schedule.kind) {
    case 'daily':
      return [minutesOfTime(schedule.time)];
    case 'weekly': {
      const weekday = WEEKDAYS[weekdayOf(date)]!;
      return schedule.days.includes(weekday) ? [minutesOfTime(schedule.time)] : [];
    }
    case 'hourly': {
      const start = minutesOfTime(schedule.windowStart);
      const minutes: number[] = [];
      for (let offset = 0; offset < schedule.windowHours * 60; offset += schedule.everyHours * 60) minutes.push(start + offset);
      return minutes;
    }
  }
}

function checkDate(date: Date, what: string): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new BovedaError('INVALID_ARGUMENT', `${what} is not a valid date`);
  return ms;
}

/**
 * The slots in (afterExclusive, untilInclusive], ascending. Works day by day on local dates, so a
 * year of an hourly schedule is a few thousand Intl calls.
 */
export function slotsBetween(schedule: Schedule, afterExclusive: Date, untilInclusive: Date): Date[] {
  const after = checkDate(afterExclusive, 'afterExclusive');
  const until = checkDate(untilInclusive, 'untilInclusive');
  if (until <= after) return [];
  // A slot of local date D lies within [D 00:00 - 14 h, D+2 00:00 + 14 h] (windows run up to 24 h
  // past the day's start; offsets are within ±14 h), so one local day of margin each side suffices.
  const first = plusDays(zonedDate(after, schedule.timeZone), -1);
  const last = plusDays(zonedDate(until, schedule.timeZone), 1);
  const slots: number[] = [];
  for (let date = first; compare(date, last) <= 0; date = plusDays(date, 1)) {
    for (const minutes of slotMinutesFor(schedule, date)) {
      const slot = zonedInstantAtMinutes(date, minutes, schedule.timeZone).getTime();
      if (slot > after && slot <= until) slots.push(slot);
    }
  }
  slots.sort((a, b) => a - b);
  // Two wall times can only meet in one instant through a DST gap; keep one.
  return slots.filter((slot, i) => i === 0 || slot !== slots[i - 1]).map((slot) => new Date(slot));
}

function compare(a: LocalDate, b: LocalDate): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

/** The first slot strictly after t. */
export function nextSlotAfter(schedule: Schedule, t: Date): Date {
  const ms = checkDate(t, 't');
  const slot = slotsBetween(schedule, t, new Date(ms + SLOT_SEARCH_DAYS * DAY_MS))[0];
  // Every checked schedule fires at least once a week.
  if (slot === undefined) throw new BovedaError('INTERNAL', `schedule has no slot within ${SLOT_SEARCH_DAYS} days after ${t.toISOString()}`);
  return slot;
}

/** The last slot at or before t, looking back SLOT_SEARCH_DAYS days; null when there is none. */
export function latestSlotAtOrBefore(schedule: Schedule, t: Date): Date | null {
  const ms = checkDate(t, 't');
  const slots = slotsBetween(schedule, new Date(ms - SLOT_SEARCH_DAYS * DAY_MS), t);
  return slots[slots.length - 1] ?? null;
}

/**
 * The slot a scheduler should run at `now`: the most recent slot ≤ now that is after `lastSlot`
 * (the last slot already run, or null) and not before `since` (when protection started or resumed).
 * After downtime this is only the latest missed slot: the scheduler catches up once, never once
 * per missed slot. null = nothing is due.
 */
export function dueSlot(schedule: Schedule, state: { lastSlot: Date | null; since: Date; now: Date }): Date | null {
  const since = checkDate(state.since, 'since');
  const slot = latestSlotAtOrBefore(schedule, state.now);
  if (slot === null || slot.getTime() < since) return null;
  if (state.lastSlot !== null && slot.getTime() <= checkDate(state.lastSlot, 'lastSlot')) return null;
  return slot;
}

/**
 * A deterministic offset in [0, windowMs) for a key (a VM name): FNV-1a over the key's UTF-16 code
 * units, finished with a murmur3 mixer so that similar names ("vm1", "vm2") land far apart. The same
 * key always gets the same offset, so a VM starts at a stable time. windowMs 0 → 0.
 */
export function spreadOffsetMs(key: string, windowMs: number): number {
  if (!Number.isFinite(windowMs) || windowMs < 0) {
    throw new BovedaError('INVALID_ARGUMENT', `spread window must be a non-negative number of ms, got ${windowMs}`);
  }
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  const offset = Math.floor(((hash >>> 0) / 2 ** 32) * windowMs);
  return Math.min(offset, Math.max(0, Math.ceil(windowMs) - 1));
}
