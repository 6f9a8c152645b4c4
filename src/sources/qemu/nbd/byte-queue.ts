/**
 * The receive backlog as a queue of the socket's chunks: bytes are taken from the front without
 * ever re-concatenating what is queued (that made reads 15× slower). Data payloads are copied
 * once, straight from the socket's buffers into the caller's target.
 */
export class ByteQueue {
  readonly #chunks: Buffer[] = [];
  /** Chunks that are views of a buffer the socket will reuse: copied out by detach() before it does. */
  #transient = false;
  #head = 0; // read position inside #chunks[0]
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** Queues `chunk`; `transient`: it is only valid until detach() (the socket reads into one reused buffer). */
  push(chunk: Buffer, transient = false): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    if (transient) this.#transient = true;
  }

  /** Copies what is left of transient chunks into memory of their own (each byte at most once). */
  detach(): void {
    if (!this.#transient) return;
    this.#transient = false;
    const last = this.#chunks.length - 1;
    if (last < 0) return;
    // Only the newest chunk can be transient: every earlier one was detached by an earlier call.
    const start = last === 0 ? this.#head : 0;
    this.#chunks[last] = Buffer.from(this.#chunks[last]!.subarray(start));
    if (last === 0) this.#head = 0;
  }

  clear(): void {
    this.#transient = false;
    this.#chunks.length = 0;
    this.#head = 0;
    this.#length = 0;
  }

  /** The u32 at the front (requires length ≥ 4), without consuming it. */
  peekUint32(): number {
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= 4) return first.readUInt32BE(this.#head);
    const bytes = Buffer.allocUnsafe(4);
    this.#copyOut(bytes, 0, 4, false);
    return bytes.readUInt32BE(0);
  }

  /** Removes `n` bytes (n ≤ length); a view when they lie in one chunk, else one small copy. */
  take(n: number): Buffer {
    if (n > this.#length) throw new RangeError(`ByteQueue.take(${n}) with ${this.#length} queued`);
    const first = this.#chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length - this.#head >= n) {
      const view = first.subarray(this.#head, this.#head + n);
      this.#advance(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    this.#copyOut(out, 0, n, true);
    return out;
  }

  /** Moves up to `n` bytes into target[at…] (or drops them when target is null); returns how many. */
  moveInto(target: Uint8Array | null, at: number, n: number): number {
    const count = Math.min(n, this.#length);
    if (target === null) this.#advance(count);
    else this.#copyOut(target, at, count, true);
    return count;
  }

  #copyOut(target: Uint8Array, at: number, n: number, consume: boolean): void {
    let index = 0;
    let head = this.#head;
    let done = 0;
    while (done < n) {
      const chunk = this.#chunks[index]!;
      const step = Math.min(chunk.length - head, n - done);
      target.set(chunk.subarray(head, head + step), at + done);
      done += step;
      head += step;
      if (head === chunk.length) {
        index++;
        head = 0;
      }
    }
    if (consume) this.#advance(n);
  }

  #advance(n: number): void {
    this.#length -= n;
    let left = n;
    while (left > 0) {
      const first = this.#chunks[0]!;
      const rest = first.length - this.#head;
      if (left < rest) {
        this.#head += left;
        return;
      }
      left -= rest;
      this.#chunks.shift();
      this.#head = 0;
    }
  }
}
