// Durations: the one parser behind the config and the flags, and the two renderings reports
// use (coarse ages, exact limits). Pure functions, so plain tables of cases.

import { describe, expect, it } from 'vitest';
import { formatAge, formatDurationNs, formatExactDurationMs, formatExactDurationNs, parseDuration } from '../src/duration.js';

const SECOND_NS = 1_000_000_000n;
const DAY_NS = 86_400n * SECOND_NS;

describe('parseDuration', () => {
  it.each([
    ['30d', 30 * 86_400_000],
    ['720h', 720 * 3_600_000],
    ['90m', 90 * 60_000],
    ['1s', 1000],
    ['1.5h', 5_400_000],
    ['2 weeks', 14 * 86_400_000],
  ])('%s is %i ms', (text, expectedMs) => {
    expect(parseDuration(text)).toEqual({ ms: expectedMs });
  });

  it('gives whole milliseconds, so a limit converts to nanoseconds exactly', () => {
    expect(parseDuration('1.0001s')).toEqual({ ms: 1000 });
    expect(parseDuration('0.3333h')).toEqual({ ms: 1_199_880 });
  });

  it.each([30, '30', ' 30 ', 'soon', '0d', '-1d', '500ms', '0.5s', '', '30x', '+30d'])('rejects %j', (value) => {
    expect(parseDuration(value)).toHaveProperty('error');
  });

  it('says why: no unit, not a duration, not positive, below one second', () => {
    expect(parseDuration(30)).toEqual({ error: 'a bare number (30) has no unit; use a duration with a unit, e.g. 30d, 720h or 90m' });
    expect(parseDuration('30')).toEqual({ error: 'a bare number ("30") has no unit; use a duration with a unit, e.g. 30d, 720h or 90m' });
    expect(parseDuration('soon')).toEqual({ error: '"soon" is not a duration; use a duration with a unit, e.g. 30d, 720h or 90m' });
    expect(parseDuration('-30d')).toEqual({ error: '"-30d" must be positive' });
    expect(parseDuration('500ms')).toEqual({ error: '"500ms" is below one second; use a duration with a unit, e.g. 30d, 720h or 90m' });
  });
});

describe('formatting', () => {
  it('a coarse span is its largest whole unit, sign dropped', () => {
    expect([41n * DAY_NS + 5n, 5n * 3_600n * SECOND_NS + 59n * SECOND_NS, 3n * 60n * SECOND_NS, 12n * SECOND_NS, 999_999_999n, -2n * DAY_NS].map(formatDurationNs)).toEqual([
      '41d',
      '5h',
      '3m',
      '12s',
      '0s',
      '2d',
    ]);
  });

  it('an age says which way it points', () => {
    expect(formatAge(90n * DAY_NS)).toBe('90d ago');
    expect(formatAge(-2n * DAY_NS)).toBe('2d in the future');
    expect(formatAge(0n)).toBe('0s ago');
  });

  it('a limit reads back exactly as a user would write it', () => {
    expect([30n * DAY_NS, 36n * 3_600n * SECOND_NS, 90n * 60n * SECOND_NS, 45n * SECOND_NS, 1_500_000_000n, 0n].map(formatExactDurationNs)).toEqual([
      '30d',
      '36h',
      '90m',
      '45s',
      '1500ms',
      '0s',
    ]);
    expect([30 * 86_400_000, 90 * 60_000, 1_500].map(formatExactDurationMs)).toEqual(['30d', '90m', '1500ms']);
  });
});
