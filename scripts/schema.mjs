// Regenerate schema.sql: run the real migrations runner on an empty database and dump the
// result, so the snapshot is exactly what `squirrel init` creates. A test checks it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpSchema, openDatabase } from '../dist/store/db.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'squirrel-schema-'));
try {
  const { db } = openDatabase(path.join(scratch, 'schema.db'), { create: true });
  fs.writeFileSync(path.join(root, 'schema.sql'), dumpSchema(db));
  db.close();
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
console.log('wrote schema.sql');
