// Small formatting helpers shared by the text renderers.

import { NS_PER_SECOND } from '../../clock.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** A coarse age: 41d, 5h, 3m, 12s. */
export function formatAge(ageNs: bigint): string {
  const negative = ageNs < 0n;
  const seconds = Number((negative ? -ageNs : ageNs) / NS_PER_SECOND);
  const text =
    seconds >= 86400 ? `${Math.floor(seconds / 86400)}d` : seconds >= 3600 ? `${Math.floor(seconds / 3600)}h` : seconds >= 60 ? `${Math.floor(seconds / 60)}m` : `${seconds}s`;
  return negative ? `${text} in the future` : `${text} ago`;
}

export function formatDurationMs(durationMs: number): string {
  return formatAge(BigInt(Math.round(durationMs)) * 1_000_000n).replace(' ago', '');
}

export function table(rows: string[][]): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd());
}
