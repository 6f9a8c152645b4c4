import { BovedaError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/error-codes.js';
import { throwIfAborted } from '../../util/abort.js';
import { SeededRandom } from '../../util/seeded-random.js';
import type { BlobInfo, BlobStore, OperationOptions } from '../blob-store.js';

export type FaultOperation = 'put' | 'get' | 'getRange' | 'stat' | 'list' | 'delete' | 'sweepPartials';
export type FaultKind = 'no-space' | 'read-only' | 'io' | 'not-found';

/** When a FaultyStore fails a call instead of passing it on. */
export interface FaultRule {
  /** The operation it applies to; 'any' matches every operation. */
  op: FaultOperation | 'any';
  /** Only calls whose key (list: prefix; sweepPartials: "") starts with this. */
  keyPrefix?: string;
  /** Lets the first N matching calls through. */
  after?: number;
  /** Fires at most this many times (default: no limit). */
  times?: number;
  /** Fires on each eligible call with this probability, drawn from the store's seeded PRNG. */
  probability?: number;
  error: FaultKind;
}

/** Live counters of one rule, returned by addRule. */
export interface FaultRuleCounters {
  readonly rule: Readonly<FaultRule>;
  /** Calls that matched op and keyPrefix (including those let through). */
  readonly matched: number;
  /** Calls the rule failed. */
  readonly fired: number;
}

export interface FaultyStoreOptions {
  /** Seed of the PRNG behind `probability` (default 1): a failing run replays exactly. */
  seed?: number;
  rules?: readonly FaultRule[];
}

const codes: Record<FaultKind, ErrorCode> = {
  'no-space': 'STORAGE_NO_SPACE',
  'read-only': 'STORAGE_READ_ONLY',
  io: 'STORAGE_IO',
  'not-found': 'STORAGE_NOT_FOUND',
};

const operations: readonly FaultOperation[] = ['put', 'get', 'getRange', 'stat', 'list', 'delete', 'sweepPartials'];

class RuleState implements FaultRuleCounters {
  matched = 0;
  fired = 0;
  constructor(readonly rule: Readonly<FaultRule>) {}
}

/** Space accounting of failPutAfterBytes; replaced as a whole when the limit changes. */
interface SpaceBudget {
  limit: number;
  used: number;
  /** Sizes of objects put since the limit was set, so that deleting them frees space. */
  sizes: Map<string, number>;
}

/**
 * A BlobStore wrapper for tests that fails chosen calls with real BovedaErrors, the way a broken
 * disk or network would. Faults are raised before the call reaches the inner store, so a failed
 * put stores nothing. Rules are checked in the order they were added; the first that fires wins
 * and the rules after it do not count that call.
 */
export class FaultyStore implements BlobStore {
  readonly #inner: BlobStore;
  readonly #random: SeededRandom;
  #rules: RuleState[] = [];
  #calls = zeroCounts();
  #faultsInjected = 0;
  #space: SpaceBudget | undefined;

  constructor(inner: BlobStore, options: FaultyStoreOptions = {}) {
    this.#inner = inner;
    this.#random = new SeededRandom(options.seed ?? 1);
    for (const rule of options.rules ?? []) this.addRule(rule);
  }

  get location(): string {
    return this.#inner.location;
  }

  /** Calls received per operation (including failed ones) since construction or resetCounters(). */
  get calls(): Readonly<Record<FaultOperation, number>> {
    return { ...this.#calls };
  }

  /** How many calls this store failed on purpose (rules and the space limit). */
  get faultsInjected(): number {
    return this.#faultsInjected;
  }

  addRule(rule: FaultRule): FaultRuleCounters {
    checkRule(rule);
    const state = new RuleState({ ...rule });
    this.#rules.push(state);
    return state;
  }

  clearRules(): void {
    this.#rules = [];
  }

  resetCounters(): void {
    this.#calls = zeroCounts();
    this.#faultsInjected = 0;
  }

  /**
   * Simulates a disk with `limit` free bytes: puts succeed while the bytes put since this call
   * (minus those of objects deleted through this wrapper) stay within the limit; a put that
   * would exceed it fails with STORAGE_NO_SPACE and stores nothing. `undefined` lifts the limit.
   */
  failPutAfterBytes(limit: number | undefined): void {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
      throw new BovedaError('INVALID_ARGUMENT', `failPutAfterBytes needs a non-negative integer, got ${limit}`);
    }
    this.#space = limit === undefined ? undefined : { limit, used: 0, sizes: new Map() };
  }

  async put(key: string, data: Uint8Array, options?: OperationOptions): Promise<void> {
    this.#enter('put', key, options);
    const space = this.#space;
    if (space === undefined) return this.#inner.put(key, data, options);
    if (space.used + data.length > space.limit) {
      this.#faultsInjected++;
      throw new BovedaError(
        'STORAGE_NO_SPACE',
        `injected fault: cannot write "${key}" (${data.length} bytes) in ${this.location}: simulated disk full (${space.used} of ${space.limit} bytes used)`,
        { details: { injected: true, op: 'put', location: this.location, key } },
      );
    }
    // Reserved before awaiting, so that concurrent puts cannot overshoot the limit together.
    space.used += data.length;
    try {
      await this.#inner.put(key, data, options);
    } catch (error) {
      space.used -= data.length;
      throw error;
    }
    space.sizes.set(key, data.length);
  }

  async get(key: string, options?: OperationOptions): Promise<Uint8Array> {
    this.#enter('get', key, options);
    return this.#inner.get(key, options);
  }

  async getRange(key: string, offset: number, length: number, options?: OperationOptions): Promise<Uint8Array> {
    this.#enter('getRange', key, options);
    return this.#inner.getRange(key, offset, length, options);
  }

  async stat(key: string, options?: OperationOptions): Promise<BlobInfo | undefined> {
    this.#enter('stat', key, options);
    return this.#inner.stat(key, options);
  }

  list(prefix: string, options?: OperationOptions): AsyncIterable<BlobInfo> {
    // Counted and decided when called, like the other operations; raised when iterated.
    let fault: BovedaError | undefined;
    try {
      this.#enter('list', prefix, options);
    } catch (error) {
      fault = error as BovedaError;
    }
    return this.#list(fault, prefix, options);
  }

  async delete(key: string, options?: OperationOptions): Promise<void> {
    this.#enter('delete', key, options);
    const space = this.#space;
    await this.#inner.delete(key, options);
    const size = space?.sizes.get(key);
    if (space !== undefined && size !== undefined) {
      space.used -= size;
      space.sizes.delete(key);
    }
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  async sweepPartials(olderThanMs: number, options?: OperationOptions): Promise<number> {
    this.#enter('sweepPartials', '', options);
    return this.#inner.sweepPartials(olderThanMs, options);
  }

  async *#list(fault: BovedaError | undefined, prefix: string, options?: OperationOptions): AsyncIterable<BlobInfo> {
    if (fault !== undefined) throw fault;
    yield* this.#inner.list(prefix, options);
  }

  /** Counts the call and throws the fault of the first rule that fires for it. */
  #enter(op: FaultOperation, key: string, options: OperationOptions | undefined): void {
    this.#calls[op]++;
    // A cancelled call reports ABORTED, as the inner store would, rather than a fault.
    throwIfAborted(options?.signal, `${op} of "${key}" in ${this.location}`);
    for (const state of this.#rules) {
      const { rule } = state;
      if (rule.op !== 'any' && rule.op !== op) continue;
      if (rule.keyPrefix !== undefined && !key.startsWith(rule.keyPrefix)) continue;
      state.matched++;
      if (state.matched <= (rule.after ?? 0)) continue;
      if (rule.times !== undefined && state.fired >= rule.times) continue;
      if (rule.probability !== undefined && this.#random.next() >= rule.probability) continue;
      state.fired++;
      this.#faultsInjected++;
      const code = codes[rule.error];
      const subject = key === '' ? this.location : `"${key}" in ${this.location}`;
      throw new BovedaError(code, `injected fault: ${op} of ${subject} failed with ${code}`, {
        details: { injected: true, op, location: this.location, key },
      });
    }
  }
}

function zeroCounts(): Record<FaultOperation, number> {
  return Object.fromEntries(operations.map((op) => [op, 0])) as Record<FaultOperation, number>;
}

function checkRule(rule: FaultRule): void {
  const problems: string[] = [];
  if (rule.op !== 'any' && !operations.includes(rule.op)) problems.push(`unknown op ${JSON.stringify(rule.op)}`);
  if (!(rule.error in codes)) problems.push(`unknown error ${JSON.stringify(rule.error)}`);
  for (const field of ['after', 'times'] as const) {
    const value = rule[field];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) problems.push(`${field} must be a non-negative integer`);
  }
  const { probability } = rule;
  if (probability !== undefined && !(probability >= 0 && probability <= 1)) problems.push('probability must be within [0, 1]');
  if (problems.length > 0) {
    throw new BovedaError('INVALID_ARGUMENT', `invalid fault rule ${JSON.stringify(rule)}: ${problems.join('; ')}`);
  }
}
