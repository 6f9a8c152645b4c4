import { BovedaError } from '../../../core/errors.js';

/** The default bound of one protocol line: QEMU's largest replies (query-qmp-schema) are < 1 MiB. */
export const defaultMaxLineBytes = 16 * 1024 * 1024;

const newline = 0x0a;
/** The QGA delimiter: 0xFF never occurs in UTF-8 text, so it can mark a resynchronisation point. */
export const syncMarker = 0xff;

/**
 * Splits a byte stream into lines (without the trailing "\n"; a "\r" before it is kept and is
 * JSON whitespace). A partial line is kept as a list of chunks whose total is bounded by
 * `maxLineBytes`: the line that would exceed it is a QEMU_PROTOCOL error thrown from push(),
 * before it is buffered, so a peer that never sends a newline costs at most that many bytes.
 *
 * With `markers` (the guest agent), a 0xFF byte discards the partial line before it and is
 * reported through `onMarker`, so a caller can skip everything up to the delimited sync reply.
 */
export class LineDecoder {
  readonly #maxLineBytes: number;
  readonly #label: string;
  readonly #markers: boolean;
  #parts: Buffer[] = [];
  #partBytes = 0;

  constructor(label: string, options: { maxLineBytes?: number; markers?: boolean } = {}) {
    this.#label = label;
    this.#maxLineBytes = options.maxLineBytes ?? defaultMaxLineBytes;
    this.#markers = options.markers ?? false;
  }

  /** Bytes held for the line not yet complete. */
  get bufferedBytes(): number {
    return this.#partBytes;
  }

  /**
   * Feeds a chunk; calls `onLine` for each complete line and `onMarker` for each 0xFF (markers
   * mode), in stream order. Throws QEMU_PROTOCOL when a line exceeds the bound.
   */
  push(chunk: Buffer, onLine: (line: string) => void, onMarker?: () => void): void {
    let start = 0;
    while (start < chunk.length) {
      const end = this.#nextBoundary(chunk, start);
      if (end === -1) {
        this.#append(chunk.subarray(start));
        return;
      }
      const byte = chunk[end];
      if (byte === newline) {
        this.#append(chunk.subarray(start, end));
        const line = this.#take();
        onLine(line);
      } else {
        // 0xFF: whatever came before it on this line is noise from before the resync
        this.#parts = [];
        this.#partBytes = 0;
        onMarker?.();
      }
      start = end + 1;
    }
  }

  /** Drops the partial line (the connection is gone). */
  reset(): void {
    this.#parts = [];
    this.#partBytes = 0;
  }

  #nextBoundary(chunk: Buffer, start: number): number {
    const nl = chunk.indexOf(newline, start);
    if (!this.#markers) return nl;
    const ff = chunk.indexOf(syncMarker, start);
    if (ff === -1) return nl;
    if (nl === -1) return ff;
    return Math.min(nl, ff);
  }

  #append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.#partBytes + part.length > this.#maxLineBytes) {
      const seen = this.#partBytes + part.length;
      this.reset();
      throw new BovedaError(
        'QEMU_PROTOCOL',
        `${this.#label} sent a line longer than ${this.#maxLineBytes} bytes (${seen} bytes without a newline)`,
        { details: { maxLineBytes: this.#maxLineBytes } },
      );
    }
    // copy: the socket's chunk may be a slice of a larger pooled buffer
    this.#parts.push(Buffer.from(part));
    this.#partBytes += part.length;
  }

  #take(): string {
    const line =
      this.#parts.length === 1 ? this.#parts[0]!.toString('utf8') : Buffer.concat(this.#parts, this.#partBytes).toString('utf8');
    this.#parts = [];
    this.#partBytes = 0;
    return line;
  }
}
