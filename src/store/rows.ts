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

/** A statement's columns as the objects name them, and which keep bigint (nanoseconds). */
interface RowPlan {
  names: string[];
  exact: boolean[];
}

const plans = new WeakMap<Statement, RowPlan>();

function planOf(stmt: Statement): RowPlan {
  let plan = plans.get(stmt);
  if (plan === undefined) {
    const columns = stmt.columns().map((column) => column.name);
    plans.set(stmt, (plan = { names: columns.map(camel), exact: columns.map((column) => column.endsWith('_ns')) }));
  }
  return plan;
}

function build<T>(plan: RowPlan, values: unknown[]): T {
  const out: AnyRow = {};
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    out[plan.names[i]] = typeof value === 'bigint' && !plan.exact[i] ? Number(value) : value;
  }
  return out as T;
}

/**
 * Rows are read as arrays and named from the statement's columns once: better-sqlite3's named
 * rows cost twice as much on a million-row read (1.13 s against 0.53 s per 100k file rows).
 * For statements in the default (named-row) mode only: the mode is set back to it afterwards.
 */
function rawRows(stmt: Statement, read: (raw: Statement) => unknown): unknown {
  stmt.raw(true);
  try {
    return read(stmt);
  } finally {
    stmt.raw(false);
  }
}

export function one<T>(stmt: Statement, ...params: unknown[]): T | undefined {
  const values = rawRows(stmt, (raw) => raw.get(...params)) as unknown[] | undefined;
  return values === undefined ? undefined : build<T>(planOf(stmt), values);
}

export function all<T>(stmt: Statement, ...params: unknown[]): T[] {
  const plan = planOf(stmt);
  return (rawRows(stmt, (raw) => raw.all(...params)) as unknown[][]).map((values) => build<T>(plan, values));
}

/**
 * Rows in path order, a page at a time: `read(after, limit)` answers at most `limit` rows whose
 * path (column 0) sorts after `after`. No statement stays open between pages, so the caller may
 * await and write between rows; memory holds one page.
 */
export function* rawPagesByPath<Row extends [string, ...unknown[]]>(read: (after: string, limit: number) => Row[], first: string, pageSize: number): Generator<Row> {
  for (let after = first; ; ) {
    const page = read(after, pageSize);
    yield* page;
    if (page.length < pageSize) return;
    after = page[page.length - 1][0];
  }
}
