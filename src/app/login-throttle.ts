import { BovedaError } from '../core/index.js';
import type { Clock } from '../util/index.js';

export const DEFAULT_LOGIN_MAX_FAILURES = 5;
export const DEFAULT_LOGIN_WINDOW_MS = 15 * 60 * 1000;
// Keys kept at most (an attacker cycling names or addresses must not grow memory without bound).
const MAX_KEYS = 10_000;

/**
 * Slows password guessing: after `maxFailures` failed logins within `windowMs` for the same user
 * name OR from the same source, check() refuses (RATE_LIMITED) until the oldest of those failures
 * leaves the window. A success resets the name's count only: an attacker holding one valid account
 * must not reset the count of its address. In memory, per process (a restart forgets).
 */
export class LoginThrottle {
  readonly #clock: Clock;
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #failures = new Map<string, number[]>();

  constructor(clock: Clock, options: { maxFailures?: number; windowMs?: number } = {}) {
    this.#clock = clock;
    this.#maxFailures = options.maxFailures ?? DEFAULT_LOGIN_MAX_FAILURES;
    this.#windowMs = options.windowMs ?? DEFAULT_LOGIN_WINDOW_MS;
  }

  /** Seconds until a login for `name` from `source` is allowed again; 0 when it is now. */
  retryAfterSeconds(name: string, source: string): number {
    const now = this.#clock.now().getTime();
    let waitMs = 0;
    for (const key of keys(name, source)) {
      const recent = this.#recent(key, now);
      if (recent.length >= this.#maxFailures) waitMs = Math.max(waitMs, recent[recent.length - this.#maxFailures]! + this.#windowMs - now);
    }
    return Math.ceil(waitMs / 1000);
  }

  /** RATE_LIMITED (details.retryAfterSeconds, and the message says when) while either key is over the limit. */
  check(name: string, source: string): void {
    const seconds = this.retryAfterSeconds(name, source);
    if (seconds > 0) {
      throw new BovedaError('RATE_LIMITED', `too many failed logins for this user name or from this address; try again in ${seconds} s`, { details: { retryAfterSeconds: seconds } });
    }
  }

  recordFailure(name: string, source: string): void {
    const now = this.#clock.now().getTime();
    for (const key of keys(name, source)) {
      const recent = this.#recent(key, now);
      recent.push(now);
      this.#failures.delete(key); // re-insert: Map order is then least recently failed first
      this.#failures.set(key, recent.slice(-this.#maxFailures));
    }
    if (this.#failures.size > MAX_KEYS) this.#prune(now);
  }

  /** `source` is accepted for symmetry and ignored (see the class comment). */
  recordSuccess(name: string, _source?: string): void {
    this.#failures.delete(`name:${name}`);
  }

  #recent(key: string, now: number): number[] {
    return (this.#failures.get(key) ?? []).filter((time) => time > now - this.#windowMs);
  }

  #prune(now: number): void {
    for (const [key, times] of this.#failures) {
      if (times.every((time) => time <= now - this.#windowMs)) this.#failures.delete(key);
    }
    // Still too many: forget the keys that failed longest ago.
    for (const key of this.#failures.keys()) {
      if (this.#failures.size <= MAX_KEYS) break;
      this.#failures.delete(key);
    }
  }
}

function keys(name: string, source: string): [string, string] {
  return [`name:${name}`, `source:${source}`];
}
