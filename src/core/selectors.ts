// Selectors: the volume-relative paths or prefixes offload and restore act on. Segment-bounded
// (`Photos/2019` never selects `Photos/2019-extra`), never outside the volume, never squirrel's
// reserved `.squirrel-*` files, and `.` for the whole volume only when given explicitly.

import path from 'node:path';
import { UsageError } from '../errors.js';
import { RESERVED_PREFIX } from '../paths.js';

/** A volume-relative path or prefix; `.` is the whole volume. */
export interface Selector {
  /** As the user typed it. */
  raw: string;
  /** Normalised: no empty or `.` segments, no trailing slash; `.` for the whole volume. */
  path: string;
}

/** The selector of the whole volume, given explicitly. */
export const WHOLE_VOLUME = '.';

/**
 * Parse the selectors of offload and restore. Segment-bounded prefixes: `Photos/2019` selects `Photos/2019` and
 * everything under it, never `Photos/2019-extra`. Anything that could reach outside the
 * volume, or that names squirrel's own reserved files, is a usage error.
 */
export function parseSelectors(raw: string[]): Selector[] {
  if (raw.length === 0) {
    throw new UsageError(
      "offload needs at least one path: give volume-relative paths or prefixes (e.g. 'Photos/2019'), or '.' for the whole volume",
      'no-selector',
    );
  }
  const selectors: Selector[] = [];
  const seen = new Set<string>();
  for (const text of raw) {
    const selector = { raw: text, path: normaliseSelector(text) };
    if (seen.has(selector.path)) continue;
    seen.add(selector.path);
    selectors.push(selector);
  }
  return selectors;
}

function normaliseSelector(text: string): string {
  const bad = (problem: string) =>
    new UsageError(`selector ${JSON.stringify(text)} ${problem}; selectors are paths relative to the volume root (e.g. 'Photos/2019'), or '.' for the whole volume`, 'bad-selector');
  if (text === '') throw bad('is empty');
  if (text.includes('\0')) throw bad('contains a NUL byte');
  if (/[\n\r]/.test(text)) throw bad('contains a line break');
  if (text.startsWith('/') || path.isAbsolute(text)) throw bad('is absolute');
  const segments = text.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw bad("contains '..'");
  if (segments.some((segment) => segment.startsWith(RESERVED_PREFIX))) throw bad(`names squirrel's own reserved '${RESERVED_PREFIX}*' files, which are never offloaded`);
  return segments.length === 0 ? WHOLE_VOLUME : segments.join('/');
}

/** Whether a normalised selector path selects a volume-relative file path (segment-bounded). */
export function selects(selector: string, filePath: string): boolean {
  return selector === WHOLE_VOLUME || filePath === selector || (filePath.startsWith(selector) && filePath.charCodeAt(selector.length) === 47 /* '/' */);
}
