import { FormatError } from './binary.js';

/** Field readers for the JSON objects of the vault: each throws FormatError naming the object and field. */
export class JsonFields {
  readonly #object: Record<string, unknown>;
  readonly #what: string;

  constructor(value: unknown, what: string) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FormatError(`${what} is not a JSON object`);
    this.#object = value as Record<string, unknown>;
    this.#what = what;
  }

  static parse(bytes: Uint8Array, what: string): JsonFields {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch (error) {
      throw new FormatError(`${what} is not valid JSON: ${(error as Error).message}`);
    }
    return new JsonFields(value, what);
  }

  /** True when the field is present and not null. */
  has(name: string): boolean {
    return this.#object[name] !== undefined && this.#object[name] !== null;
  }

  string(name: string, pattern?: RegExp): string {
    const value = this.#object[name];
    if (typeof value !== 'string' || (pattern && !pattern.test(value))) throw this.#bad(name, 'a string' + (pattern ? ` matching ${pattern}` : ''));
    return value;
  }

  optionalString(name: string): string | null {
    const value = this.#object[name];
    if (value === undefined || value === null) return null;
    return this.string(name);
  }

  integer(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.#object[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw this.#bad(name, `an integer from ${min} to ${max}`);
    return value;
  }

  object(name: string): JsonFields {
    return new JsonFields(this.#object[name], `${this.#what} field "${name}"`);
  }

  record(name: string): Record<string, unknown> {
    const value = this.#object[name];
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw this.#bad(name, 'an object');
    return value as Record<string, unknown>;
  }

  array(name: string): unknown[] {
    const value = this.#object[name];
    if (!Array.isArray(value)) throw this.#bad(name, 'an array');
    return value;
  }

  #bad(name: string, expected: string): FormatError {
    return new FormatError(`${this.#what} field "${name}" must be ${expected} (found ${JSON.stringify(this.#object[name])})`);
  }
}

export function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
