// Mapping SQLite rows to domain objects. Statements run with safeIntegers so nanosecond
// timestamps (beyond 2^53) arrive exact as bigint; ids and counts become plain numbers.

import type { Statement } from 'better-sqlite3';

type AnyRow = Record<string, unknown>;

const camelNames = new Map<string, string>();

/** Column names repeat on every row: each is converted once. */
function camel(key: string): string {
  let name = camelNames.get(key);
  if (name === undefined) camelNames.set(key, (name = key.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase())));
  return name;
}

export function mapRow<T>(row: AnyRow | undefined): T | undefined {
  if (row === undefined) return undefined;
  const out: AnyRow = {};
  for (const [key, value] of Object.entries(row)) {
    out[camel(key)] = typeof value === 'bigint' && !key.endsWith('_ns') ? Number(value) : value;
  }
  return out as T;
}

export function one<T>(stmt: Statement, ...params: unknown[]): T | undefined {
  return mapRow<T>(stmt.get(...params) as AnyRow | undefined);
}

export function all<T>(stmt: Statement, ...params: unknown[]): T[] {
  return (stmt.all(...params) as AnyRow[]).map((row) => mapRow<T>(row) as T);
}
