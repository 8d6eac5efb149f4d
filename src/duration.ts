// Durations as users write them (the `ms` syntax: 30d, 720h, 90m) and as reports show them:
// coarse for ages ("41d ago"), exact for limits a user configured ("36h", never "1d"). The
// config, the command-line flags, the gate's coordinates and the renderers all share these, so
// a limit reads back the way it was written. Pure: no I/O, and no clock (ages come in as spans).

import ms from 'ms';
import { NS_PER_MS, NS_PER_SECOND } from './clock.js';

export const DURATION_HINT = 'use a duration with a unit, e.g. 30d, 720h or 90m';

/**
 * Parse a duration with a unit, to whole milliseconds (every reader turns them into bigint
 * nanoseconds, which a fraction would break). A bare number (YAML `30` or `"30"`), garbage,
 * zero, negative and sub-second values are errors: an age limit of "30" is a typo.
 */
export function parseDuration(value: string | number): { ms: number } | { error: string } {
  if (typeof value === 'number') return { error: `a bare number (${value}) has no unit; ${DURATION_HINT}` };
  const text = value.trim();
  if (/^[+-]?\d+(\.\d+)?$/.test(text)) return { error: `a bare number ("${value}") has no unit; ${DURATION_HINT}` };
  if (!/^[+-]?\d+(\.\d+)?\s*[a-z]+$/i.test(text)) return { error: `"${value}" is not a duration; ${DURATION_HINT}` };
  const parsed = ms(text as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed)) return { error: `"${value}" is not a duration; ${DURATION_HINT}` };
  if (parsed <= 0) return { error: `"${value}" must be positive` };
  if (parsed < 1000) return { error: `"${value}" is below one second; ${DURATION_HINT}` };
  return { ms: Math.round(parsed) };
}

const COARSE_UNITS: [string, bigint][] = [['d', 86_400n], ['h', 3_600n], ['m', 60n]];

/** A coarse span for reports, in its largest whole unit, sign dropped: 41d, 5h, 3m, 12s. */
export function formatDurationNs(durationNs: bigint): string {
  const seconds = (durationNs < 0n ? -durationNs : durationNs) / NS_PER_SECOND;
  for (const [unit, size] of COARSE_UNITS) if (seconds >= size) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

/** How long ago an instant was, from the span now - then: "41d ago", "2d in the future". */
export function formatAge(ageNs: bigint): string {
  return ageNs < 0n ? `${formatDurationNs(ageNs)} in the future` : `${formatDurationNs(ageNs)} ago`;
}

const EXACT_UNITS: [string, bigint][] = [['d', 86_400n * NS_PER_SECOND], ['h', 3_600n * NS_PER_SECOND], ['m', 60n * NS_PER_SECOND], ['s', NS_PER_SECOND], ['ms', NS_PER_MS]];

/** A configured limit in the largest unit that states it exactly: 30d, 36h, 90m, 45s, 1500ms. */
export function formatExactDurationNs(durationNs: bigint): string {
  if (durationNs === 0n) return '0s';
  for (const [unit, size] of EXACT_UNITS) if (durationNs % size === 0n) return `${durationNs / size}${unit}`;
  return `${durationNs}ns`;
}

/** formatExactDurationNs for a limit held in milliseconds (the config's unit). */
export function formatExactDurationMs(durationMs: number): string {
  return formatExactDurationNs(BigInt(Math.round(durationMs)) * NS_PER_MS);
}
