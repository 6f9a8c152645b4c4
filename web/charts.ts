/**
 * Inline SVG charts, generated as markup (no library, works offline). Pure functions: every text
 * that reaches the markup goes through escapeXml, so VM names cannot inject elements.
 */
import { formatBytes, formatDate } from './format.js';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export interface Series {
  label: string;
  /** x: milliseconds since the epoch; y: a byte count. */
  points: { x: number; y: number }[];
}

const COLORS = ['#2f6fdb', '#d9822b', '#2e9d5b', '#b5488f', '#7a6bd1', '#c23b3b'];

/**
 * A line chart of byte counts over time with a y axis in bytes and dates on the x axis. An empty
 * series list gives an empty string (callers show an empty state instead).
 */
export function lineChart(series: Series[], options: { width?: number; height?: number; title: string }): string {
  const width = options.width ?? 960;
  const height = options.height ?? 240;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const left = 70, right = 10, top = 24, bottom = 40;
  const minX = Math.min(...all.map((p) => p.x));
  const maxX = Math.max(...all.map((p) => p.x));
  const maxY = Math.max(1, ...all.map((p) => p.y));
  const spanX = maxX - minX || 1;
  const sx = (x: number) => left + ((x - minX) / spanX) * (width - left - right);
  const sy = (y: number) => top + (1 - y / maxY) * (height - top - bottom);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" class="line-chart">`);
  parts.push(`<title>${escapeXml(options.title)}</title>`);
  for (let i = 0; i <= 4; i++) {
    const y = (maxY * i) / 4;
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${sy(y).toFixed(1)}" y2="${sy(y).toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${left - 6}" y="${(sy(y) + 4).toFixed(1)}" text-anchor="end" class="axis">${escapeXml(formatBytes(Math.round(y)))}</text>`);
  }
  const ticks = minX === maxX ? [minX] : [minX, minX + spanX / 2, maxX];
  for (const x of ticks) {
    parts.push(`<text x="${sx(x).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle" class="axis">${escapeXml(formatDate(new Date(x).toISOString()))}</text>`);
  }
  series.forEach((s, index) => {
    const color = COLORS[index % COLORS.length];
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    const path = sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"><title>${escapeXml(s.label)}</title></path>`);
    for (const p of sorted) parts.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="2.5" fill="${color}"/>`);
    const legendX = left + index * 150;
    parts.push(`<rect x="${legendX}" y="${height - 14}" width="10" height="10" fill="${color}"/>`);
    parts.push(`<text x="${legendX + 14}" y="${height - 5}" class="legend">${escapeXml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export interface Bar {
  label: string;
  value: number;
  /** A CSS class for the bar (e.g. full / incremental). */
  kind: string;
  title: string;
}

/** Vertical bars, oldest left: the bytes of each recovery point on the VM page's timeline. */
export function barChart(bars: Bar[], options: { width?: number; height?: number; title: string }): string {
  if (bars.length === 0) return '';
  const width = options.width ?? 960;
  const height = options.height ?? 160;
  const top = 16, bottom = 22, left = 70;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const slot = (width - left) / bars.length;
  const barWidth = Math.max(2, Math.min(40, slot * 0.7));
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" class="bar-chart">`];
  parts.push(`<title>${escapeXml(options.title)}</title>`);
  parts.push(`<text x="${left - 6}" y="${top + 4}" text-anchor="end" class="axis">${escapeXml(formatBytes(max))}</text>`);
  parts.push(`<text x="${left - 6}" y="${height - bottom}" text-anchor="end" class="axis">0</text>`);
  parts.push(`<line x1="${left}" x2="${width}" y1="${height - bottom}" y2="${height - bottom}" class="grid"/>`);
  bars.forEach((bar, i) => {
    const barHeight = Math.max(1, (bar.value / max) * (height - top - bottom));
    const x = left + i * slot + (slot - barWidth) / 2;
    const y = height - bottom - barHeight;
    parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${barHeight.toFixed(1)}" class="bar ${escapeXml(bar.kind)}"><title>${escapeXml(bar.title)}</title></rect>`);
    if (bars.length <= 16) parts.push(`<text x="${(x + barWidth / 2).toFixed(1)}" y="${height - 6}" text-anchor="middle" class="axis">${escapeXml(bar.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
