import { cpus } from 'node:os';

/**
 * Memory and CPU of this process while a bench case runs: RSS (main thread, worker threads and native
 * buffers together) sampled on a timer, with the peak of each named phase, plus the kernel's own
 * high-water mark (process.resourceUsage().maxRSS), which also catches peaks between samples but
 * never goes down — so every case runs in a fresh process (see child.ts).
 * Per phase it also records CPU: this process's (all threads) and everyone else's on the machine,
 * in cores, so a measurement disturbed by other work shows it.
 */
export interface PhaseMemory {
  /** RSS when the phase began, and the highest sample during it (bytes). */
  startRss: number;
  peakRss: number;
  peakHeapUsed: number;
  peakArrayBuffers: number;
  seconds: number;
  /** CPU seconds per wall second of this process (main thread and workers). */
  ownCores: number;
  /** CPU seconds per wall second of everything else on the machine (other processes, kernel threads). */
  otherCores: number;
}

interface PhaseStart {
  at: number;
  own: NodeJS.CpuUsage;
  machineBusy: number;
}

/** Busy CPU seconds of the whole machine since boot (all cores). */
function machineBusySeconds(): number {
  let ms = 0;
  for (const cpu of cpus()) ms += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
  return ms / 1000;
}

export class MemorySampler {
  readonly #intervalMs: number;
  readonly #phases = new Map<string, PhaseMemory>();
  #current: PhaseMemory | undefined;
  #currentStart: PhaseStart | undefined;
  #timer: NodeJS.Timeout | undefined;
  #samples = 0;
  #peakRss = 0;

  constructor(intervalMs = 20) {
    this.#intervalMs = intervalMs;
  }

  start(): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Starts a named phase; samples from now until the next phase() or stop() count towards it. */
  phase(name: string): void {
    this.sample();
    this.#endPhase();
    const rss = process.memoryUsage.rss();
    this.#current = { startRss: rss, peakRss: rss, peakHeapUsed: 0, peakArrayBuffers: 0, seconds: 0, ownCores: 0, otherCores: 0 };
    this.#currentStart = { at: performance.now(), own: process.cpuUsage(), machineBusy: machineBusySeconds() };
    this.#phases.set(name, this.#current);
    this.sample();
  }

  sample(): void {
    const usage = process.memoryUsage();
    this.#samples++;
    this.#peakRss = Math.max(this.#peakRss, usage.rss);
    const phase = this.#current;
    if (!phase) return;
    phase.peakRss = Math.max(phase.peakRss, usage.rss);
    phase.peakHeapUsed = Math.max(phase.peakHeapUsed, usage.heapUsed);
    phase.peakArrayBuffers = Math.max(phase.peakArrayBuffers, usage.arrayBuffers);
  }

  #endPhase(): void {
    const phase = this.#current;
    const start = this.#currentStart;
    if (!phase || !start) return;
    const wall = (performance.now() - start.at) / 1000;
    const ownUsage = process.cpuUsage(start.own);
    const own = (ownUsage.user + ownUsage.system) / 1e6;
    const machine = machineBusySeconds() - start.machineBusy;
    phase.seconds = wall;
    phase.ownCores = wall > 0 ? own / wall : 0;
    phase.otherCores = wall > 0 ? Math.max(0, machine - own) / wall : 0;
  }

  stop(): MemoryReport {
    this.sample();
    this.#endPhase();
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#current = undefined;
    return {
      samples: this.#samples,
      intervalMs: this.#intervalMs,
      peakSampledRss: this.#peakRss,
      maxRss: process.resourceUsage().maxRSS * 1024,
      phases: Object.fromEntries(this.#phases),
    };
  }
}

export interface MemoryReport {
  samples: number;
  intervalMs: number;
  /** Highest sampled RSS over the whole case (bytes). */
  peakSampledRss: number;
  /** Kernel high-water mark of the process RSS since it started (bytes). */
  maxRss: number;
  phases: Record<string, PhaseMemory>;
}

/**
 * RSS and JS heap after a full garbage collection (when the process runs with --expose-gc, as
 * bench cases do): what is really retained, as opposed to peak figures that include garbage not
 * yet collected.
 */
export function settledMemory(): { rss: number; heapUsed: number; arrayBuffers: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heapUsed: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}
