import { ADDRESS_BYTES, type BlobKindId } from '../format/index.js';

export interface BlobLocation {
  packId: string;
  kind: BlobKindId;
  offset: number;
  length: number;
  rawLength: number;
}

/**
 * The in-memory index: address → where the sealed blob lives. Open addressing over typed arrays,
 * about 60 bytes an entry (a Map of hex strings costs three times that), so a vault of tens of
 * millions of blocks fits in memory. Addresses are keyed-hash outputs, uniformly distributed, so
 * their first 4 bytes are a good hash. The first location added for an address wins; later
 * duplicates (two writers that stored the same block) are ignored here and collected by gc.
 */
export class BlockIndex {
  #addresses = new Uint8Array(1024 * ADDRESS_BYTES);
  #pack = new Uint32Array(1024);
  #offset = new Uint32Array(1024);
  #length = new Uint32Array(1024);
  #raw = new Uint32Array(1024);
  #kind = new Uint8Array(1024);
  #slots = new Int32Array(2048);
  #count = 0;
  readonly #packIds: string[] = [];
  readonly #packNumbers = new Map<string, number>();

  get size(): number {
    return this.#count;
  }

  /** Dense number of the entry (0 ≤ n < size) for side tables, or -1 when absent. */
  entryNumber(address: Uint8Array): number {
    return this.#find(address);
  }

  /** Location of entry number `entry` (see entryNumber). */
  locationOf(entry: number): BlobLocation {
    return {
      packId: this.#packIds[this.#pack[entry]!]!,
      kind: this.#kind[entry]! as BlobKindId,
      offset: this.#offset[entry]!,
      length: this.#length[entry]!,
      rawLength: this.#raw[entry]!,
    };
  }

  addressOf(entry: number): Uint8Array {
    return this.#addresses.subarray(entry * ADDRESS_BYTES, (entry + 1) * ADDRESS_BYTES);
  }

  has(address: Uint8Array): boolean {
    return this.#find(address) >= 0;
  }

  get(address: Uint8Array): BlobLocation | undefined {
    const entry = this.#find(address);
    return entry < 0 ? undefined : this.locationOf(entry);
  }

  /** Adds a location; returns false (and changes nothing) when the address is already indexed. */
  add(address: Uint8Array, location: BlobLocation): boolean {
    if (this.#find(address) >= 0) return false;
    if (this.#count * 2 >= this.#slots.length) this.#grow();
    let packNumber = this.#packNumbers.get(location.packId);
    if (packNumber === undefined) {
      packNumber = this.#packIds.length;
      this.#packIds.push(location.packId);
      this.#packNumbers.set(location.packId, packNumber);
    }
    const entry = this.#count++;
    this.#addresses.set(address.subarray(0, ADDRESS_BYTES), entry * ADDRESS_BYTES);
    this.#pack[entry] = packNumber;
    this.#offset[entry] = location.offset;
    this.#length[entry] = location.length;
    this.#raw[entry] = location.rawLength;
    this.#kind[entry] = location.kind;
    this.#insertSlot(entry);
    return true;
  }

  /** Every indexed address with its location, in insertion order. */
  *entries(): IterableIterator<[Uint8Array, BlobLocation]> {
    for (let entry = 0; entry < this.#count; entry++) yield [this.addressOf(entry), this.locationOf(entry)];
  }

  #hash(address: Uint8Array): number {
    return (address[0]! | (address[1]! << 8) | (address[2]! << 16) | (address[3]! << 24)) >>> 0;
  }

  #find(address: Uint8Array): number {
    const mask = this.#slots.length - 1;
    let slot = this.#hash(address) & mask;
    while (true) {
      const stored = this.#slots[slot]!;
      if (stored === 0) return -1;
      const entry = stored - 1;
      if (this.#equals(entry, address)) return entry;
      slot = (slot + 1) & mask;
    }
  }

  #equals(entry: number, address: Uint8Array): boolean {
    const base = entry * ADDRESS_BYTES;
    for (let i = 0; i < ADDRESS_BYTES; i++) if (this.#addresses[base + i] !== address[i]) return false;
    return true;
  }

  #insertSlot(entry: number): void {
    const mask = this.#slots.length - 1;
    const base = entry * ADDRESS_BYTES;
    let slot = this.#hash(this.#addresses.subarray(base, base + 4)) & mask;
    while (this.#slots[slot] !== 0) slot = (slot + 1) & mask;
    this.#slots[slot] = entry + 1;
  }

  #grow(): void {
    const capacity = this.#pack.length * 2;
    const grow = <T extends Uint8Array | Uint32Array>(old: T, make: (n: number) => T, per = 1): T => {
      const next = make(capacity * per);
      next.set(old);
      return next;
    };
    this.#addresses = grow(this.#addresses, (n) => new Uint8Array(n), ADDRESS_BYTES);
    this.#pack = grow(this.#pack, (n) => new Uint32Array(n));
    this.#offset = grow(this.#offset, (n) => new Uint32Array(n));
    this.#length = grow(this.#length, (n) => new Uint32Array(n));
    this.#raw = grow(this.#raw, (n) => new Uint32Array(n));
    this.#kind = grow(this.#kind, (n) => new Uint8Array(n));
    this.#slots = new Int32Array(capacity * 2);
    for (let entry = 0; entry < this.#count; entry++) this.#insertSlot(entry);
  }
}

export function toHex(address: Uint8Array): string {
  return Buffer.from(address.buffer, address.byteOffset, address.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
