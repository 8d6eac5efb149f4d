// schema.sql is the readable snapshot of what migrations/ builds. It is generated
// (`npm run schema`), never edited; this test fails when the two drift apart.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dumpSchema, loadMigrations, openDatabase } from '../../src/store/db.js';
import { REPO_ROOT, cleanupTempDirs, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

describe('schema.sql', () => {
  it('is exactly what applying migrations/ to an empty database produces', () => {
    // setup
    const { db } = openDatabase(path.join(tempDir(), 'index.db'), { create: true });
    // act
    const actual = dumpSchema(db);
    db.close();
    // expect
    const snapshot = fs.readFileSync(path.join(REPO_ROOT, 'schema.sql'), 'utf8');
    expect(actual, 'schema.sql is stale: run `npm run schema` and commit it with the migration').toBe(snapshot);
  });

  it('uses STRICT tables throughout', () => {
    // setup
    const { db } = openDatabase(path.join(tempDir(), 'index.db'), { create: true });
    // act
    const tables = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string; sql: string }[];
    db.close();
    // expect
    for (const table of tables) expect(table.sql, table.name).toMatch(/\)\s*STRICT$/);
  });

  it('the migrations are numbered from 0001 without gaps and named in snake case', () => {
    // act
    const migrations = loadMigrations();
    const files = fs.readdirSync(path.join(REPO_ROOT, 'migrations')).filter((f) => f.endsWith('.sql'));
    // expect: no .sql file is silently skipped by the loader's name pattern
    expect(migrations.map((m) => `${String(m.version).padStart(4, '0')}_${m.name}.sql`)).toEqual(files.sort());
  });
});
