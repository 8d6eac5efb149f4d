// Regenerate schema.sql: apply every migration to an empty in-memory database and dump it.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { loadMigrations, dumpSchema } from '../dist/store/db.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const db = new Database(':memory:');
db.exec('CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT');
for (const m of loadMigrations()) db.exec(m.sql);
fs.writeFileSync(path.join(root, 'schema.sql'), dumpSchema(db));
console.log('wrote schema.sql');
