/** Deterministic PRNG (mulberry32) for tests and benchmarks: the same seed always gives the same data. */
export class SeededRandom {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }
  /** Uniform integer in [0, bound). */
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
  fill(target: Uint8Array): Uint8Array {
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    let i = 0;
    for (; i + 4 <= target.length; i += 4) view.setUint32(i, this.nextUint32(), true);
    for (; i < target.length; i++) target[i] = this.nextUint32() & 0xff;
    return target;
  }
  bytes(length: number): Uint8Array {
    return this.fill(new Uint8Array(length));
  }
}
