import { BovedaError } from '../../../core/errors.js';

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short, printable excerpt of what the peer sent, for error messages. */
export function excerpt(text: string, max = 80): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** Parses one protocol line into a JSON object, or throws QEMU_PROTOCOL naming the peer. */
export function parseMessage(line: string, label: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new BovedaError('QEMU_PROTOCOL', `${label} sent a line that is not JSON: "${excerpt(line)}"`, { cause: error });
  }
  if (!isJsonObject(value)) {
    throw new BovedaError('QEMU_PROTOCOL', `${label} sent JSON that is not an object: "${excerpt(line)}"`);
  }
  return value;
}

/** The {class, desc} of an error reply, or undefined when malformed. */
export function errorBody(value: unknown): { errorClass: string; desc: string } | undefined {
  if (!isJsonObject(value)) return undefined;
  const errorClass = value.class;
  const desc = value.desc;
  if (typeof errorClass !== 'string' || typeof desc !== 'string') return undefined;
  return { errorClass, desc };
}
