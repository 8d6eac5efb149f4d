// Flag value parsers: bad values are usage errors (exit 2) that say what is expected. Durations
// go through src/duration.ts, the config's own parser, so a flag takes what the config takes.

import { parseDuration } from '../duration.js';
import { UsageError } from '../errors.js';

export function parseCount(flag: string, value: string, min = 0): number {
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag} expects a whole number${min > 0 ? ` of at least ${min}` : ''}, got '${value}'`);
  }
  return Number(value);
}

export function parseDurationFlag(flag: string, value: string): number {
  const parsed = parseDuration(value);
  if ('error' in parsed) throw new UsageError(`${flag}: ${parsed.error}`);
  return parsed.ms;
}

export function parsePercent(flag: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)%?$/.exec(value);
  const percent = match ? Number(match[1]) : NaN;
  if (!(percent > 0 && percent <= 100)) throw new UsageError(`${flag} expects a percentage in (0, 100], e.g. 10 or 10%, got '${value}'`);
  return percent;
}
