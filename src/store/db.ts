// Opening the one SQLite connection and bringing its schema up to date.
// Migrations are forward-only files `NNNN_name.sql`; each runs in its own IMMEDIATE
// transaction together with its schema_version row. An existing database is copied with
// VACUUM INTO before any migration touches it.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseError, errorDetail, errorMessage, errorWithPath, OperationalError, SquirrelError } from '../errors.js';
import { makeDirectories } from '../mkdirs.js';

export type Db = Database.Database;

/** 'SQR1': marks a SQLite file as a squirrel database. */
export const APPLICATION_ID = 0x53515231;
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface OpenOptions {
  migrationsDir?: string;
  /** Create the file if absent (init, index). Otherwise a missing database is an error. */
  create?: boolean;
  readonly?: boolean;
}

export interface OpenResult {
  db: Db;
  /** Path of the VACUUM INTO copy taken before migrating, if any migration ran on old data. */
  backupPath: string | null;
  appliedVersions: number[];
}

export function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Migration[] {
  const migrations = fs
    .readdirSync(dir)
    .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
    .sort()
    .map((name) => ({
      version: Number(name.slice(0, 4)),
      name: name.slice(5, -4),
      sql: fs.readFileSync(path.join(dir, name), 'utf8'),
    }));
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations must be numbered 0001.. without gaps; found ${m.version} at ${i + 1}`);
  });
  return migrations;
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

function assertLooksLikeSqlite(dbPath: string): void {
  let header: Buffer;
  try {
    const fd = fs.openSync(dbPath, 'r');
    try {
      header = Buffer.alloc(16);
      header = header.subarray(0, fs.readSync(fd, header, 0, 16, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw new DatabaseError(`cannot read the database ${dbPath}: ${errorDetail(err)}`);
  }
  // squirrel never leaves an empty database behind (WAL mode writes page 1 at once), so an
  // empty file was truncated or is being created by another process this very moment.
  if (header.length === 0) {
    throw new DatabaseError(
      `${dbPath} is empty (0 bytes): it was truncated, or another squirrel command is creating it right now. Nothing was changed. ` +
        `If a squirrel command is starting up, run this one again; otherwise restore the database from a backup (a *.bak file next to it), ` +
        `or move the empty file away to start a new index.`,
      'database-empty',
    );
  }
  if (!header.equals(SQLITE_HEADER)) {
    throw new DatabaseError(
      `${dbPath} is not a squirrel database (not an SQLite file; it may be truncated or overwritten). ` +
        `Nothing was changed. Restore it from a backup (a *.bak file next to it) or point --db elsewhere.`,
      'database-not-squirrel',
    );
  }
}

export function openDatabase(dbPath: string, options: OpenOptions = {}): OpenResult {
  const migrations = loadMigrations(options.migrationsDir);
  const exists = fs.existsSync(dbPath);
  if (!exists && !options.create) {
    throw new DatabaseError(
      `no database at ${dbPath}. For a new setup run \`squirrel init\` or \`squirrel index <volume>\`; ` +
        `if this machine's index was lost, \`squirrel recover --from <destination>\` brings it back from a destination's catalog`,
      'database-missing',
    );
  }
  if (exists) assertLooksLikeSqlite(dbPath);
  else {
    try {
      makeDirectories(path.dirname(dbPath), 0o700);
      fs.closeSync(fs.openSync(dbPath, 'a', 0o600));
    } catch (err) {
      throw new DatabaseError(`cannot create the database ${dbPath}: ${errorWithPath(err)}`, 'database-create');
    }
  }

  let db: Db;
  try {
    db = new Database(dbPath, { readonly: options.readonly ?? false });
    db.pragma('busy_timeout = 15000');
  } catch (err) {
    throw unwritable(err, dbPath) ?? new DatabaseError(`cannot open the database ${dbPath}: ${errorMessage(err)}. Nothing was changed.`);
  }
  try {
    // Identity first: switching to WAL rewrites the file header, which must never happen to
    // a file that is not ours or that this binary is too old to understand.
    const startVersion = checkIdentity(db, dbPath, migrations.length);
    if (!options.readonly) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // 64 MiB of page cache instead of SQLite's 2 MiB: a million-file scan looks up each file's
    // content row, and re-reading those pages from the OS costs more than the scan itself.
    db.pragma('cache_size = -65536');
    if (options.readonly && startVersion < migrations.length) {
      throw new DatabaseError(`${dbPath} has schema version ${startVersion} and needs upgrading to ${migrations.length}; run any writing command (e.g. \`squirrel index <volume>\`) first.`, 'database-needs-upgrade');
    }
    const result = migrate(db, dbPath, migrations);
    return { db, ...result };
  } catch (err) {
    db.close();
    if (err instanceof SquirrelError) throw err;
    throw unwritable(err, dbPath) ?? new DatabaseError(`cannot use the database ${dbPath}: ${errorMessage(err)}. Nothing was changed.`);
  }
}

/** SQLite found the file damaged: nothing read from it further can be trusted. */
export function isDatabaseDamage(err: unknown): boolean {
  return err instanceof Database.SqliteError && (err.code.startsWith('SQLITE_CORRUPT') || err.code === 'SQLITE_NOTADB');
}

/**
 * A SQLite failure that is about the database file, not a bug in squirrel: damaged, not
 * writable, full, failing I/O, or locked too long by another process. Returned as a typed
 * error that says what to do (damaged and unwritable: exit 2, like any unusable database);
 * null for anything else. SQLite rolls back the failed statement's transaction itself.
 */
export function databaseFailure(err: unknown, dbPath: string): SquirrelError | null {
  if (!(err instanceof Database.SqliteError)) return null;
  const code = err.code;
  if (isDatabaseDamage(err)) {
    return new DatabaseError(
      `the database ${dbPath} is damaged (${err.message}); squirrel stopped at the damage, and only what it had recorded before stands. ` +
        `Restore the database from a backup (a *.bak file next to it); \`PRAGMA integrity_check\` in the sqlite3 shell shows the extent.`,
      'database-damaged',
    );
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH') {
    return new DatabaseError(
      `cannot write the database ${dbPath} (${err.message}): squirrel records every run, so even reading commands need the file and ` +
        `its directory writable (it keeps -wal and -shm files beside it). Fix the permissions or the mount, or point --db at a writable copy. Nothing more was changed.`,
      'database-read-only',
    );
  }
  if (code === 'SQLITE_FULL') {
    return new OperationalError(`the disk holding the database ${dbPath} is full (${err.message}); the interrupted transaction was rolled back. Free some space and run the command again.`, 'database-full');
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new OperationalError(`the database ${dbPath} stayed locked by another process for too long (${err.message}); run the command again once it is done.`, 'database-busy');
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return new OperationalError(`I/O error on the database ${dbPath} (${err.message}); check the disk, then run the command again.`, 'database-io');
  }
  return null;
}

/** At open, only a database squirrel cannot write gets its own advice; the rest changed nothing. */
function unwritable(err: unknown, dbPath: string): SquirrelError | null {
  const failure = databaseFailure(err, dbPath);
  return failure?.code === 'database-read-only' ? failure : null;
}

function currentVersion(db: Db): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT max(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/** Refuse a file that is not a squirrel database or is newer than this binary; returns its version. */
function checkIdentity(db: Db, dbPath: string, latest: number): number {
  const tableCount = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (tableCount > 0 && appId !== APPLICATION_ID) {
    throw new DatabaseError(
      `${dbPath} is an SQLite database but not a squirrel database; nothing was changed. Point --db (or db: in the config) at a squirrel database.`,
      'database-not-squirrel',
    );
  }
  const version = currentVersion(db);
  if (version > latest) {
    throw new DatabaseError(
      `${dbPath} has schema version ${version}, newer than this squirrel understands (${latest}). ` +
        `Upgrade squirrel; nothing was changed.`,
      'database-too-new',
    );
  }
  return version;
}

function migrate(db: Db, dbPath: string, migrations: Migration[]): Omit<OpenResult, 'db'> {
  const latest = migrations.length;
  const startVersion = currentVersion(db);
  if (startVersion === latest) return { backupPath: null, appliedVersions: [] };

  let backupPath: string | null = null;
  if (startVersion > 0) {
    backupPath = freeBackupPath(`${dbPath}.pre-v${latest}.bak`);
    // Created empty with mode 0600 first (VACUUM INTO accepts an empty file), so the copy is
    // never readable by others, not even for a moment.
    fs.closeSync(fs.openSync(backupPath, 'wx', 0o600));
    db.prepare('VACUUM INTO ?').run(backupPath);
  }
  const applied: number[] = [];
  for (const migration of migrations.slice(startVersion)) {
    const apply = db.transaction(() => {
      // Another process may have migrated while we waited for the write lock.
      if (currentVersion(db) >= migration.version) return;
      if (migration.version === 1) {
        db.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT');
        db.pragma(`application_id = ${APPLICATION_ID}`);
      }
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_version (version, name) VALUES (?, ?)').run(migration.version, migration.name);
      applied.push(migration.version);
    });
    try {
      apply.immediate();
    } catch (err) {
      const kept = backupPath ? `; the copy taken before the upgrade is at ${backupPath}` : '';
      throw new OperationalError(
        `migration ${String(migration.version).padStart(4, '0')}_${migration.name} failed on ${dbPath}: ${errorMessage(err)}. ` +
          `It was rolled back, so the database is as it was${kept}. Please report this.`,
        'migration-failed',
      );
    }
  }
  return { backupPath, appliedVersions: applied };
}

function freeBackupPath(base: string): string {
  if (!fs.existsSync(base)) return base;
  for (let i = 1; ; i++) {
    const candidate = `${base}.${i}`;
    if (!fs.existsSync(candidate)) return candidate;
  }
}

/** The schema as SQLite reports it, normalised: the source of schema.sql. */
export function dumpSchema(db: Db): string {
  const rows = db
    .prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, name")
    .all() as { sql: string }[];
  const header = '-- Generated by `npm run schema` from migrations/. Do not edit; a test checks it.\n';
  return header + rows.map((r) => `${r.sql};\n`).join('\n');
}

/**
 * Why a database file (a recovered catalog snapshot) cannot be installed, or null when it can:
 * it must be SQLite, squirrel's (by application id), not newer than this binary, and pass
 * PRAGMA integrity_check. Opened read-only; nothing is written.
 */
export function databaseFileProblem(dbPath: string): string | null {
  let db: Db | null = null;
  try {
    assertLooksLikeSqlite(dbPath);
    db = new Database(dbPath, { readonly: true, fileMustExist: true });
    checkIdentity(db, dbPath, loadMigrations().length);
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    return integrity === 'ok' ? null : `integrity_check: ${integrity}`;
  } catch (err) {
    return (err as Error).message;
  } finally {
    db?.close();
  }
}
