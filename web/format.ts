/**
 * Pure formatting of sizes, times, rates and durations for the UI. No DOM here: test/web runs
 * these under Node.
 */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 ? String(value) : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return `${bytes < 0 ? '-' : ''}${shown} ${UNITS[unit]}`;
}

export function formatRate(bytesPerSecond: number | null | undefined): string {
  return bytesPerSecond === null || bytesPerSecond === undefined ? '—' : `${formatBytes(bytesPerSecond)}/s`;
}

/** "2026-11-23 14:05 UTC": always UTC, so screenshots and tests do not depend on the browser's zone. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().slice(0, 10);
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Percent 0-100 from a job's progress (null when the total is not known yet). */
export function progressPercent(progress: { bytesDone: number; bytesTotal: number | null; percent: number | null }): number | null {
  if (progress.percent !== null && Number.isFinite(progress.percent)) return Math.max(0, Math.min(100, progress.percent));
  if (progress.bytesTotal !== null && progress.bytesTotal > 0) return Math.max(0, Math.min(100, (progress.bytesDone / progress.bytesTotal) * 100));
  return null;
}

export function formatMoney(amount: number | null | undefined, currency: string | null | undefined): string {
  if (amount === null || amount === undefined || !Number.isFinite(amount)) return '—';
  return `${amount.toFixed(2)} ${currency ?? ''}`.trim();
}

/** Short form of a long id (point and job ids are hex or uuid). */
export function shortId(id: string): string {
  return id.length > 12 ? id.slice(0, 12) : id;
}
