// `exclude:` of a volume: gitignore-style patterns (through the `ignore` package, the matcher
// eslint and others use) naming what is never indexed, pushed or offloaded. Patterns are
// checked when the config loads, so a pattern that could never match, or would match
// something else than it says, is an error naming its key path rather than a silent no-op.

import ignore from 'ignore';

/** Answers "is this volume-relative path excluded?"; a folder's path ends with '/'. */
export type ExcludeMatcher = (relativePath: string) => boolean;

const NEVER: ExcludeMatcher = () => false;

/** The matcher of a volume's patterns (in order: a later `!pattern` re-includes). */
export function excludeMatcher(patterns: readonly string[]): ExcludeMatcher {
  if (patterns.length === 0) return NEVER;
  const rules = ignore({ allowRelativePaths: false }).add([...patterns]);
  return (relativePath) => rules.ignores(relativePath);
}

/** Why a pattern is not acceptable, or null. */
export function excludePatternProblem(pattern: string): string | null {
  if (pattern.trim() === '') return 'is empty';
  if (/[\0\r\n]/.test(pattern)) return 'contains a line break or NUL';
  if (pattern.startsWith('#')) return "starts with '#', which makes it a comment that matches nothing; write \\# for a name starting with #";
  if (pattern === '!' || pattern === '!/') return "is a lone '!' (a negation of nothing)";
  if (pattern !== pattern.trimStart()) return 'starts with a space; names with leading spaces are rare, remove it (or write \\  for one)';
  if (/(^|[^\\])(\\\\)*\\$/.test(pattern)) return 'ends with a lone backslash';
  const body = pattern.replace(/^!/, '').replace(/^\//, '');
  if (body.split('/').some((segment) => segment === '..' || segment === '.')) return "contains a '.' or '..' segment; patterns match paths inside the volume";
  if (body.startsWith('/') || body.includes('//')) return "contains an empty segment ('//')";
  for (const range of body.matchAll(/\[!?([^\]]*)\]/g)) {
    for (const [, from, to] of range[1].matchAll(/(.)-(.)/g)) {
      if (from > to) return `has the range [${from}-${to}], which is backwards and matches nothing`;
    }
  }
  if (/\[[^\]]*$/.test(body)) return "has a '[' that is never closed";
  return null;
}
