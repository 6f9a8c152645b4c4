/** Injectable time source so that tests never sleep and retention can run over months in milliseconds. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to: for tests. */
export class ManualClock implements Clock {
  #ms: number;
  constructor(start: Date | string | number) {
    this.#ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
  set(time: Date | string | number): void {
    this.#ms = new Date(time).getTime();
  }
}

/**
 * A clock that starts at `start` and then advances with real time: what `--now TIME` runs on, so a
 * command acts as if it ran at TIME (jobs, recovery points and retention all see that time).
 */
export class OffsetClock implements Clock {
  readonly #offsetMs: number;
  readonly #base: Clock;
  constructor(start: Date | string | number, base: Clock = systemClock) {
    this.#base = base;
    this.#offsetMs = new Date(start).getTime() - base.now().getTime();
  }
  now(): Date {
    return new Date(this.#base.now().getTime() + this.#offsetMs);
  }
}
