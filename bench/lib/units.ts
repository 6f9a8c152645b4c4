/** Formatting helpers shared by every bench table. MB/s is 10^6 bytes per second; sizes are binary. */

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * 1024 * 1024;

/** 16384 → "16 KiB", 2147483648 → "2 GiB", 1.5 GiB → "1.50 GiB". */
export function size(bytes: number): string {
  const steps = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let step = 0;
  while (Math.abs(value) >= 1024 && step < steps.length - 1) {
    value /= 1024;
    step++;
  }
  if (Number.isInteger(value)) return `${value} ${steps[step]}`;
  return `${value.toFixed(Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2)} ${steps[step]}`;
}

/** Bytes as MiB with one decimal ("123.4"), for table columns headed "MiB". */
export function mib(bytes: number, digits = 1): string {
  return (bytes / MiB).toFixed(digits);
}

/** Decimal megabytes per second. */
export function mbps(bytes: number, seconds: number): string {
  if (seconds <= 0) return '-';
  const value = bytes / 1e6 / seconds;
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function seconds(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function ratio(value: number, digits = 3): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

export function percent(value: number, digits = 1): string {
  return `${(value * 100).toFixed(digits)}%`;
}

/** Parses "16K", "64KiB", "1M", "2G", "4096" (binary units). */
export function parseBytes(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kib|m|mib|g|gib)?\s*$/i.exec(text);
  if (!match) throw new Error(`"${text}" is not a size (examples: 4096, 16K, 64KiB, 1M, 2G)`);
  const factor = { b: 1, k: KiB, kib: KiB, m: MiB, mib: MiB, g: GiB, gib: GiB }[(match[2] ?? 'b').toLowerCase() as 'b'];
  const bytes = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`"${text}" is not a positive whole number of bytes`);
  return bytes;
}
