/** Little-endian byte writer/reader used by every binary layout; the reader throws FormatError on short input. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

export class ByteWriter {
  #buffer: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(initialCapacity = 256) {
    this.#buffer = new Uint8Array(initialCapacity);
    this.#view = new DataView(this.#buffer.buffer);
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    let capacity = this.#buffer.length * 2;
    while (capacity < this.#length + extra) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = next;
    this.#view = new DataView(next.buffer);
  }

  u8(value: number): this {
    this.#reserve(1);
    this.#view.setUint8(this.#length, value);
    this.#length += 1;
    return this;
  }
  u16(value: number): this {
    this.#reserve(2);
    this.#view.setUint16(this.#length, value, true);
    this.#length += 2;
    return this;
  }
  u32(value: number): this {
    this.#reserve(4);
    this.#view.setUint32(this.#length, value, true);
    this.#length += 4;
    return this;
  }
  u64(value: number): this {
    this.#reserve(8);
    this.#view.setBigUint64(this.#length, BigInt(value), true);
    this.#length += 8;
    return this;
  }
  bytes(value: Uint8Array): this {
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
    return this;
  }
  ascii(value: string): this {
    return this.bytes(new TextEncoder().encode(value));
  }
  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}

export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #what: string;
  #at = 0;

  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#what = what;
  }

  get offset(): number {
    return this.#at;
  }
  get remaining(): number {
    return this.#bytes.length - this.#at;
  }

  #need(count: number): void {
    if (this.#at + count > this.#bytes.length) {
      throw new FormatError(`${this.#what} is truncated: needs ${count} more bytes at offset ${this.#at} of ${this.#bytes.length}`);
    }
  }
  u8(): number {
    this.#need(1);
    return this.#view.getUint8(this.#at++);
  }
  u16(): number {
    this.#need(2);
    const value = this.#view.getUint16(this.#at, true);
    this.#at += 2;
    return value;
  }
  u32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    return value;
  }
  u64(): number {
    this.#need(8);
    const value = this.#view.getBigUint64(this.#at, true);
    this.#at += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`${this.#what}: 64-bit value ${value} is too large`);
    return Number(value);
  }
  bytes(count: number): Uint8Array {
    this.#need(count);
    const value = this.#bytes.subarray(this.#at, this.#at + count);
    this.#at += count;
    return value;
  }
  ascii(count: number): string {
    return new TextDecoder().decode(this.bytes(count));
  }
  expectEnd(): void {
    if (this.remaining !== 0) throw new FormatError(`${this.#what} has ${this.remaining} unexpected trailing bytes`);
  }
}
