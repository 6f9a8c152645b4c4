import type { CliIo } from './io.js';

interface Track {
  done: number;
  total: number;
  startedAt: number;
}

/**
 * Progress of parallel work (one track per disk). On a terminal: one redrawn line with every
 * track's bar, percentage, rate and ETA. With --json: one JSON line per update (throttled). When
 * stderr is not a terminal and --json is off: nothing.
 */
export class ProgressReporter {
  readonly #io: CliIo;
  readonly #json: boolean;
  readonly #tracks = new Map<string, Track>();
  #lastDraw = 0;
  #drawn = false;

  constructor(io: CliIo, json: boolean) {
    this.#io = io;
    this.#json = json;
  }

  update(label: string, done: number, total: number): void {
    const now = Date.now();
    const track = this.#tracks.get(label) ?? { done: 0, total, startedAt: now };
    track.done = done;
    track.total = total;
    this.#tracks.set(label, track);
    if (now - this.#lastDraw < 200 && done < total) return;
    this.#lastDraw = now;
    if (this.#json) {
      this.#io.stdout.write(JSON.stringify({ event: 'progress', disk: label, bytesDone: done, bytesTotal: total, bytesPerSecond: Math.round(rate(track, now)) }) + '\n');
      return;
    }
    if (!this.#io.stderr.isTTY) return;
    const parts = [...this.#tracks].map(([name, item]) => {
      const fraction = item.total > 0 ? Math.min(item.done / item.total, 1) : 1;
      const speed = rate(item, now);
      const eta = speed > 0 && item.total > item.done ? `${Math.ceil((item.total - item.done) / speed)}s` : fraction >= 1 ? 'done' : '-';
      const bar = '#'.repeat(Math.round(fraction * 12)).padEnd(12, '.');
      return `${name} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatBytes(item.done)} ${formatBytes(speed)}/s ETA ${eta}`;
    });
    const line = parts.join('  ');
    const width = this.#io.stderr.columns ?? 120;
    this.#io.stderr.write(`\r${line.length > width - 1 ? line.slice(0, width - 1) : line.padEnd(width - 1)}`);
    this.#drawn = true;
  }

  done(): void {
    if (this.#drawn) this.#io.stderr.write('\n');
    this.#drawn = false;
  }
}

function rate(track: Track, now: number): number {
  return track.done / Math.max((now - track.startedAt) / 1000, 0.001);
}

function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)}GiB` : `${mib.toFixed(mib >= 100 ? 0 : 1)}MiB`;
}
