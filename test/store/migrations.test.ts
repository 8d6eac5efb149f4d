// The migrations runner, exercised the way upgrades really happen: a database made by an
// older migration set is opened by a newer one. Also the refusals: a database newer than
// the binary, a file that is not SQLite, an SQLite file that is not squirrel's. A refused
// file is left byte for byte as it was. The same refusals through the binary are in
// test/cli/unusable-database.test.ts.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { APPLICATION_ID, loadMigrations, openDatabase } from '../../src/store/db.js';
import { REPO_ROOT, cleanupTempDirs, fileMode, fingerprint, tempDir } from '../helpers.js';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
const V1 = path.join(FIXTURES, 'migrations-v1');
const V2 = path.join(FIXTURES, 'migrations-v2');
const BROKEN = path.join(FIXTURES, 'migrations-broken');

afterEach(cleanupTempDirs);

function errorOf(fn: () => unknown): { code: string; message: string; exitCode: number } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string; exitCode: number };
  }
  throw new Error('expected an error');
}

/** A database at version 1 of the fixture set, with two notes, closed. */
function databaseAtV1(): string {
  const dbPath = path.join(tempDir(), 'index.db');
  const { db } = openDatabase(dbPath, { create: true, migrationsDir: V1 });
  db.prepare('INSERT INTO notes (body) VALUES (?), (?)').run('first', 'second');
  db.close();
  return dbPath;
}

describe('migrating from empty', () => {
  it('applies every migration to a new file, marks it as squirrel, and keeps it private', () => {
    // setup
    const dbPath = path.join(tempDir(), 'sub', 'index.db');
    const latest = loadMigrations().length;
    // act
    const { db, appliedVersions, backupPath } = openDatabase(dbPath, { create: true });
    // expect
    expect(appliedVersions).toEqual(Array.from({ length: latest }, (_, i) => i + 1));
    expect(backupPath).toBeNull();
    expect(db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const versions = db.prepare('SELECT version, name FROM schema_version ORDER BY version').all();
    expect(versions).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name })));
    db.close();
    expect(fileMode(dbPath)).toBe(0o600);
    expect(fileMode(path.dirname(dbPath))).toBe(0o700);
  });

  it('opening an up-to-date database applies nothing and takes no backup', () => {
    // setup
    const dbPath = path.join(tempDir(), 'index.db');
    openDatabase(dbPath, { create: true }).db.close();
    // act
    const { db, appliedVersions, backupPath } = openDatabase(dbPath);
    db.close();
    // expect
    expect(appliedVersions).toEqual([]);
    expect(backupPath).toBeNull();
    expect(fs.readdirSync(path.dirname(dbPath)).filter((f) => f.includes('.bak'))).toEqual([]);
  });

  it('does not create a database unless asked to', () => {
    // setup
    const dbPath = path.join(tempDir(), 'index.db');
    // act
    const error = errorOf(() => openDatabase(dbPath));
    // expect
    expect(error.code).toBe('database-missing');
    expect(error.message).toContain('squirrel init');
    expect(fs.existsSync(dbPath)).toBe(false);
  });
});

describe('upgrading N -> N+1', () => {
  it('applies only the new migration; rows written at N read the new nullable column as NULL', () => {
    // setup
    const dbPath = databaseAtV1();
    // act
    const { db, appliedVersions } = openDatabase(dbPath, { migrationsDir: V2 });
    // expect
    expect(appliedVersions).toEqual([2]);
    expect(db.prepare('SELECT body, author FROM notes ORDER BY id').all()).toEqual([
      { body: 'first', author: null },
      { body: 'second', author: null },
    ]);
    expect(db.prepare('SELECT max(version) AS v FROM schema_version').get()).toEqual({ v: 2 });
    db.prepare('INSERT INTO notes (body, author) VALUES (?, ?)').run('third', 'ann');
    db.close();
  });

  it('takes a VACUUM INTO backup next to the database first; it opens, private, at version N with the old rows', () => {
    // setup
    const dbPath = databaseAtV1();
    // act
    const { db, backupPath } = openDatabase(dbPath, { migrationsDir: V2 });
    db.close();
    // expect
    expect(backupPath).toBe(`${dbPath}.pre-v2.bak`);
    expect(fileMode(backupPath!)).toBe(0o600);
    const backup = new Database(backupPath!, { readonly: true, fileMustExist: true });
    expect(backup.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(backup.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(backup.prepare('SELECT max(version) AS v FROM schema_version').get()).toEqual({ v: 1 });
    expect(backup.prepare('SELECT body FROM notes ORDER BY id').all()).toEqual([{ body: 'first' }, { body: 'second' }]);
    const columns = (backup.prepare('PRAGMA table_info(notes)').all() as { name: string }[]).map((c) => c.name);
    expect(columns).toEqual(['id', 'body']);
    backup.close();
  });

  it('never overwrites an earlier backup', () => {
    // setup
    const dbPath = databaseAtV1();
    fs.writeFileSync(`${dbPath}.pre-v2.bak`, 'an older backup');
    // act
    const { db, backupPath } = openDatabase(dbPath, { migrationsDir: V2 });
    db.close();
    // expect
    expect(backupPath).toBe(`${dbPath}.pre-v2.bak.1`);
    expect(fs.readFileSync(`${dbPath}.pre-v2.bak`, 'utf8')).toBe('an older backup');
  });

  it('a migration that fails halfway is rolled back whole; the database stays at N and says so', () => {
    // setup
    const dbPath = databaseAtV1();
    // act
    const error = errorOf(() => openDatabase(dbPath, { migrationsDir: BROKEN }));
    // expect
    expect(error.code).toBe('migration-failed');
    expect(error.message).toContain('migration 0002_half_done failed');
    expect(error.message).toContain(`${dbPath}.pre-v2.bak`);
    const db = new Database(dbPath, { readonly: true });
    expect(db.prepare('SELECT max(version) AS v FROM schema_version').get()).toEqual({ v: 1 });
    expect((db.prepare('PRAGMA table_info(notes)').all() as { name: string }[]).map((c) => c.name)).toEqual(['id', 'body']);
    db.close();
  });

  it('a read-only open of a database that needs upgrading refuses instead of migrating', () => {
    // setup
    const dbPath = databaseAtV1();
    // act
    const error = errorOf(() => openDatabase(dbPath, { migrationsDir: V2, readonly: true }));
    // expect
    expect(error.code).toBe('database-needs-upgrade');
    expect(fs.existsSync(`${dbPath}.pre-v2.bak`)).toBe(false);
  });

  it('migration files must be numbered without gaps', () => {
    // setup
    const dir = tempDir();
    fs.copyFileSync(path.join(V1, '0001_notes.sql'), path.join(dir, '0001_notes.sql'));
    fs.writeFileSync(path.join(dir, '0003_skipped_two.sql'), 'SELECT 1;');
    // act + expect
    expect(() => loadMigrations(dir)).toThrow(/without gaps; found 3 at 2/);
  });
});

describe('refusing databases that are not ours to change', () => {
  it('a database newer than the binary: refused, untouched', () => {
    // setup: made by the v2 set, opened by the v1 set
    const dbPath = databaseAtV1();
    openDatabase(dbPath, { migrationsDir: V2 }).db.close();
    const before = fingerprint(dbPath);
    // act
    const error = errorOf(() => openDatabase(dbPath, { migrationsDir: V1 }));
    // expect
    expect(error.code).toBe('database-too-new');
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('has schema version 2, newer than this squirrel understands (1). Upgrade squirrel');
    expect(fingerprint(dbPath)).toBe(before);
  });

  it('an SQLite file that is not a squirrel database: refused, and not even switched to WAL', () => {
    // setup
    const dbPath = path.join(tempDir(), 'other.sqlite');
    const other = new Database(dbPath);
    other.exec('CREATE TABLE bookmarks (url TEXT)');
    other.close();
    const before = fingerprint(dbPath);
    // act
    const error = errorOf(() => openDatabase(dbPath));
    // expect
    expect(error.code).toBe('database-not-squirrel');
    expect(error.message).toContain('is an SQLite database but not a squirrel database');
    expect(fingerprint(dbPath)).toBe(before);
    expect(fs.existsSync(`${dbPath}-wal`)).toBe(false);
  });

  it.each([
    ['garbage', () => Buffer.from('this is a text file, not a database\n'.repeat(100))],
    ['a truncated header', () => Buffer.from('SQLite for')],
  ])('%s: refused as not an SQLite file', (_label, bytes) => {
    // setup
    const dbPath = path.join(tempDir(), 'index.db');
    fs.writeFileSync(dbPath, bytes());
    const before = fingerprint(dbPath);
    // act
    const error = errorOf(() => openDatabase(dbPath));
    // expect
    expect(error.code).toBe('database-not-squirrel');
    expect(error.message).toContain('not an SQLite file');
    expect(fingerprint(dbPath)).toBe(before);
  });

  it('a squirrel database truncated mid-file: refused, untouched', () => {
    // setup: a real database cut after its first page
    const dbPath = path.join(tempDir(), 'index.db');
    openDatabase(dbPath, { create: true }).db.close();
    fs.truncateSync(dbPath, 4096 + 100);
    const before = fingerprint(dbPath);
    // act
    const error = errorOf(() => openDatabase(dbPath));
    // expect
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/cannot (open|use) the database .*Nothing was changed/s);
    expect(fingerprint(dbPath)).toBe(before);
  });
});
