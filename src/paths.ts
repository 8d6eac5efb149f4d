// Volume-relative paths. Index rows store POSIX-style relative paths; anything that would
// resolve outside the volume root (absolute, `..`, NUL) is rejected before it reaches the disk.

import path from 'node:path';

export const RESERVED_PREFIX = '.squirrel-';
export const VOLUME_MARKER = '.squirrel-volume';
/**
 * At a volume's root: where restore moves a different local file that stood where it puts
 * bytes back. The one reserved name that holds the user's own bytes, so index walks it and the
 * files in it are backed up like any other (they are never offloaded).
 */
export const RESTORE_HISTORY_DIR = '.squirrel-restore-history';

/** True when any segment of a relative path is a reserved `.squirrel-*` name. */
export function isReservedPath(relativePath: string): boolean {
  return relativePath.split('/').some((segment) => segment.startsWith(RESERVED_PREFIX));
}

/** A reason the relative path is unsafe, or null when it stays inside its root. */
export function unsafeRelativePath(relativePath: string): string | null {
  if (relativePath === '') return 'is empty';
  if (relativePath.includes('\0')) return 'contains a NUL byte';
  if (relativePath.startsWith('/') || path.isAbsolute(relativePath)) return 'is absolute';
  if (relativePath.split('/').some((segment) => segment === '..' )) return "contains '..'";
  return null;
}

/** The absolute path of a volume-relative path; throws when it would leave the root. */
export function resolveInside(root: string, relativePath: string): string {
  const problem = unsafeRelativePath(relativePath);
  if (problem) throw new Error(`refusing path '${relativePath}': it ${problem}`);
  const absolute = path.resolve(root, relativePath);
  const back = path.relative(root, absolute);
  if (back === '' || back.startsWith('..') || path.isAbsolute(back)) throw new Error(`refusing path '${relativePath}': it leaves ${root}`);
  return absolute;
}

/**
 * Orders paths by code point: SQLite's byte order of UTF-8 text, and S3's listing order. JS's
 * `<` compares UTF-16 units, which sorts U+E000..U+FFFF after the characters beyond U+FFFF.
 */
export function compareByCodePoint(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Surrogates (U+D800..U+DFFF) rank above every other UTF-16 unit, as the code points they encode do. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}
