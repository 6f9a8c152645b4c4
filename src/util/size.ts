import { BovedaError } from '../core/errors.js';

const units: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1000, kib: 1024,
  m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

/** Parses "16KiB", "4M", "65536" into bytes (binary units for bare letters). */
export function parseSize(text: string, what = 'size'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const factor = match ? units[match[2]!.toLowerCase()] : undefined;
  if (!match || factor === undefined) {
    throw new BovedaError('INVALID_ARGUMENT', `${what} "${text}" is not a size (examples: 65536, 16KiB, 4MiB)`);
  }
  const bytes = Number(match[1]) * factor;
  if (!Number.isSafeInteger(bytes)) throw new BovedaError('INVALID_ARGUMENT', `${what} "${text}" is not a whole number of bytes`);
  return bytes;
}

/** 16384 → "16 KiB"; exact binary units when possible, otherwise one decimal. */
export function formatSize(bytes: number): string {
  const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let step = 0;
  while (Math.abs(value) >= 1024 && step < steps.length - 1) {
    value /= 1024;
    step++;
  }
  const text = Number.isInteger(value) ? String(value) : value.toFixed(1);
  return `${text} ${steps[step]}`;
}
