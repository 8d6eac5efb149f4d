// A database squirrel cannot use (newer than the binary, not SQLite, truncated, another
// program's), met through the real binary: exit 2 with a message that says what to do, never
// an internal error, and the file left byte for byte as it was. The store-level cases of the
// same refusals are in test/store/migrations.test.ts.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_MIGRATIONS_DIR, loadMigrations, openDatabase } from '../../src/store/db.js';
import { bin, cleanupTempDirs, fingerprint, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

describe('refusals through the real binary', () => {
  function squirrelDatabase(): string {
    const dbPath = path.join(tempDir(), 'index.db');
    openDatabase(dbPath, { create: true }).db.close();
    return dbPath;
  }

  it.each([
    [
      'newer than the binary',
      () => {
        const dbPath = squirrelDatabase();
        const db = new Database(dbPath);
        db.prepare('INSERT INTO schema_version (version, name) VALUES (?, ?)').run(loadMigrations(DEFAULT_MIGRATIONS_DIR).length + 1, 'from_the_future');
        db.close();
        return dbPath;
      },
      /schema version \d+, newer than this squirrel understands \(\d+\)\. Upgrade squirrel; nothing was changed\./,
    ],
    [
      'garbage',
      () => {
        const dbPath = path.join(tempDir(), 'index.db');
        fs.writeFileSync(dbPath, 'garbage '.repeat(1000));
        return dbPath;
      },
      /is not a squirrel database \(not an SQLite file/,
    ],
    [
      'truncated',
      () => {
        const dbPath = squirrelDatabase();
        fs.truncateSync(dbPath, 5000);
        return dbPath;
      },
      /cannot (open|use) the database .*Nothing was changed/,
    ],
    [
      'another program\'s SQLite database',
      () => {
        const dbPath = path.join(tempDir(), 'places.sqlite');
        const other = new Database(dbPath);
        other.exec('CREATE TABLE places (url TEXT)');
        other.close();
        return dbPath;
      },
      /is an SQLite database but not a squirrel database/,
    ],
  ])('%s -> exit 2, clear message, file untouched', (_label, makeDatabase, message) => {
    // setup
    const dbPath = makeDatabase();
    const before = fingerprint(dbPath);
    // act
    const result = bin(['--db', dbPath, 'runs']);
    // expect
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toContain('internal error');
    expect(fingerprint(dbPath)).toBe(before);
  });
});
