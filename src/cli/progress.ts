import type { CliIo } from './io.js';

/**
 * Progress on a terminal: one redrawn line with bytes, rate and ETA. With --json it writes one JSON
 * object per update instead (throttled), and nothing at all when stderr is not a terminal.
 */
export class ProgressReporter {
  readonly #io: CliIo;
  readonly #json: boolean;
  readonly #startedAt = Date.now();
  #lastDraw = 0;
  #drawn = false;

  constructor(io: CliIo, json: boolean) {
    this.#io = io;
    this.#json = json;
  }

  update(label: string, done: number, total: number): void {
    const now = Date.now();
    if (now - this.#lastDraw < 200 && done < total) return;
    this.#lastDraw = now;
    const seconds = Math.max((now - this.#startedAt) / 1000, 0.001);
    const rate = done / seconds;
    if (this.#json) {
      this.#io.stdout.write(JSON.stringify({ event: 'progress', label, bytesDone: done, bytesTotal: total, bytesPerSecond: Math.round(rate) }) + '\n');
      return;
    }
    if (!this.#io.stderr.isTTY) return;
    const width = 24;
    const fraction = total > 0 ? Math.min(done / total, 1) : 1;
    const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
    const eta = rate > 0 && total > done ? `${Math.ceil((total - done) / rate)}s` : '-';
    this.#io.stderr.write(`\r${label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatRate(rate)} ETA ${eta}   `);
    this.#drawn = true;
  }

  done(): void {
    if (this.#drawn) this.#io.stderr.write('\n');
    this.#drawn = false;
  }
}

function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / (1024 * 1024)).toFixed(1)} MiB/s`;
}
