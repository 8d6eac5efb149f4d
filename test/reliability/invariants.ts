// The invariant checker: what must hold after any squirrel run, however it ended. It reads the
// database on its own (plain SQL, independent of the store's queries, so a bug there cannot
// hide itself) and judges durability from the bytes at the destinations, never the ledger:
// a copy counts only if its (st_dev, st_ino) differs from every file of the volume and from
// the copy counted for every other required destination (a symlink or bind mount joining two
// places makes one physical copy, not two). Every suite under test/reliability, and the soak
// script, calls it after each step.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { hashBytes } from '../../src/hash.js';

export interface InvariantVolume {
  name: string;
  root: string;
  /** Destinations that must hold an offloaded file's bytes (the volume's offload_requires). */
  offloadRequires: string[];
  /** The volume's folder at each destination; default: the volume's name. */
  namespaces?: Record<string, string>;
}

export interface InvariantWorld {
  dbPath: string;
  volumes: InvariantVolume[];
  /** Local destination roots by destination name. */
  destinations: Record<string, string>;
  /**
   * What the test wrote into each volume and did not remove itself: volume → relative path →
   * BLAKE3. Absent: the "nothing deleted silently" check is skipped.
   */
  written?: Map<string, Map<string, Buffer>>;
}

export interface CheckOptions {
  /**
   * No squirrel process is running and a command has opened the database since the last
   * kill: no run may still be `running` and no offload intent may still be open.
   */
  settled?: boolean;
  /** A snapshot taken earlier: append-only tables must still hold every row it saw, unchanged. */
  before?: DbSnapshot;
}

export interface Violation {
  invariant: string;
  detail: string;
}

/** Rows that may only ever be added to, as they were at one moment. */
export interface DbSnapshot {
  contents: Map<number, string>;
  history: Map<number, string>;
  finishedRuns: Map<number, string>;
}

type Row = Record<string, unknown>;

function openReadOnly(dbPath: string): Database.Database {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 15000');
  return db;
}

function rows(db: Database.Database, sql: string, ...params: unknown[]): Row[] {
  return db.prepare(sql).safeIntegers(true).all(...params) as Row[];
}

function describe(row: Row): string {
  return JSON.stringify(row, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : Buffer.isBuffer(value) ? value.toString('hex') : value));
}

export function snapshotDb(dbPath: string): DbSnapshot {
  const db = openReadOnly(dbPath);
  try {
    return db.transaction(() => ({
      contents: new Map(rows(db, 'SELECT * FROM contents').map((r) => [Number(r.id), describe(r)])),
      history: new Map(rows(db, 'SELECT * FROM destination_run_ids_history').map((r) => [Number(r.id), describe(r)])),
      finishedRuns: new Map(rows(db, "SELECT * FROM runs WHERE status <> 'running'").map((r) => [Number(r.id), describe(r)])),
    }))();
  } finally {
    db.close();
  }
}

/**
 * BLAKE3 of every regular file under a directory -> the identities (`dev:ino`) holding it,
 * skipping names `skip` rejects (`.squirrel-staging`: scratch a put may replace). The directory
 * itself may be reached through a link (a joined namespace, a volume path that is an alias);
 * links below it are not followed, as squirrel never follows them. Hashes are cached by
 * identity, so repeated checks of a large tree stay cheap.
 */
const hashCache = new Map<string, string>();

function hashesUnder(dir: string, skip: (name: string) => boolean = () => false): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const walk = (current: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(current);
    } catch {
      return;
    }
    for (const name of names) {
      if (skip(name)) continue;
      const full = path.join(current, name);
      let stat: fs.BigIntStats;
      try {
        stat = fs.lstatSync(full, { bigint: true });
      } catch {
        continue;
      }
      if (stat.isDirectory()) walk(full);
      else if (stat.isFile()) {
        const hash = fileHash(full);
        if (!hash) continue;
        const ids = found.get(hash) ?? new Set<string>();
        ids.add(`${stat.dev}:${stat.ino}`);
        found.set(hash, ids);
      }
    }
  };
  walk(dir);
  return found;
}

function fileHash(file: string): string | null {
  let stat: fs.BigIntStats;
  try {
    stat = fs.lstatSync(file, { bigint: true });
  } catch {
    return null;
  }
  if (!stat.isFile()) return null;
  const key = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
  let hash = hashCache.get(key);
  if (hash === undefined) {
    try {
      hash = hashBytes(fs.readFileSync(file)).toString('hex');
    } catch {
      return null;
    }
    if (hashCache.size > 50_000) hashCache.clear();
    hashCache.set(key, hash);
  }
  return hash;
}

/** Check every invariant; returns the violations (empty: all hold). */
export function checkInvariants(world: InvariantWorld, options: CheckOptions = {}): Violation[] {
  const violations: Violation[] = [];
  const fail = (invariant: string, detail: string) => violations.push({ invariant, detail });
  if (!fs.existsSync(world.dbPath)) return violations;
  const db = openReadOnly(world.dbPath);
  try {
    db.transaction(() => {
      checkIntegrity(db, fail);
      checkDurability(db, world, fail);
      checkNothingLost(db, world, fail);
      checkVectors(db, fail);
      if (options.settled) checkSettled(db, fail);
      if (options.before) checkAppendOnly(db, options.before, fail);
    })();
  } finally {
    db.close();
  }
  return violations;
}

type Fail = (invariant: string, detail: string) => void;

function checkIntegrity(db: Database.Database, fail: Fail): void {
  const integrity = db.pragma('integrity_check', { simple: true });
  if (integrity !== 'ok') fail('integrity', `PRAGMA integrity_check: ${String(integrity)}`);
  const dangling = rows(db, 'PRAGMA foreign_key_check');
  if (dangling.length > 0) fail('integrity', `foreign keys: ${dangling.slice(0, 3).map(describe).join(', ')}`);
  for (const dup of rows(db, "SELECT volume_id, path, count(*) AS n FROM files WHERE status <> 'superseded' GROUP BY volume_id, path HAVING n > 1")) {
    fail('integrity', `more than one live row for a path: ${describe(dup)}`);
  }
}

/**
 * The promise itself: an offloaded file's bytes sit on every required destination, each in a
 * physical file of its own (not the volume's, not another required destination's).
 */
function checkDurability(db: Database.Database, world: InvariantWorld, fail: Fail): void {
  for (const volume of world.volumes) {
    const offloaded = rows(
      db,
      `SELECT f.path, f.status, c.blake3, c.size FROM files f JOIN contents c ON c.id = f.content_id JOIN volumes v ON v.id = f.volume_id
       WHERE v.name = ? AND f.status = 'offloaded'`,
      volume.name,
    );
    const openIntents = rows(
      db,
      `SELECT i.path, c.blake3 FROM offload_intents i JOIN files f ON f.id = i.file_id JOIN contents c ON c.id = f.content_id
       JOIN volumes v ON v.id = i.volume_id WHERE v.name = ? AND i.state = 'open'`,
      volume.name,
    );
    const mustHold = [...offloaded, ...openIntents];
    if (mustHold.length === 0) continue;
    const local = new Set<string>();
    for (const ids of hashesUnder(volume.root).values()) for (const id of ids) local.add(id);
    const held = volume.offloadRequires.map((target) => {
      const root = world.destinations[target];
      const namespace = volume.namespaces?.[target] ?? volume.name;
      return { target, byHash: root ? hashesUnder(path.join(root, namespace), (name) => name === '.squirrel-staging') : new Map<string, Set<string>>() };
    });
    for (const row of mustHold) {
      const hash = (row.blake3 as Buffer).toString('hex');
      const counted = new Set<string>();
      for (const { target, byHash } of held) {
        const ids = [...(byHash.get(hash) ?? [])];
        const own = ids.find((id) => !local.has(id) && !counted.has(id));
        if (own !== undefined) {
          counted.add(own);
          continue;
        }
        const what = row.status === 'offloaded' ? 'offloaded' : 'under an open offload intent';
        const why = ids.length === 0 ? `no file at '${target}' has its bytes` : `at '${target}' only the volume's own file or another destination's copy has its bytes`;
        fail('offloaded-durable', `${volume.name}/${String(row.path)} is ${what}, but ${why} (${hash.slice(0, 16)}…)`);
      }
    }
  }
}

/**
 * Nothing the test wrote is gone unless squirrel recorded it offloaded (or is mid-offload):
 * each written file is on disk at its path, or moved aside by restore, or its path's live
 * row is `offloaded` with these very bytes, or an open intent covers it.
 */
function checkNothingLost(db: Database.Database, world: InvariantWorld, fail: Fail): void {
  if (!world.written) return;
  for (const volume of world.volumes) {
    const written = world.written.get(volume.name);
    if (!written || written.size === 0) continue;
    let asideHashes: Set<string> | null = null;
    const live = new Map(
      rows(
        db,
        `SELECT f.path, f.status, c.blake3 FROM files f JOIN contents c ON c.id = f.content_id JOIN volumes v ON v.id = f.volume_id
         WHERE v.name = ? AND f.status <> 'superseded'`,
        volume.name,
      ).map((r) => [String(r.path), r]),
    );
    const intents = new Set(
      rows(db, `SELECT i.path FROM offload_intents i JOIN volumes v ON v.id = i.volume_id WHERE v.name = ? AND i.state = 'open'`, volume.name).map((r) => String(r.path)),
    );
    for (const [relativePath, blake3] of written) {
      const hash = blake3.toString('hex');
      if (fileHash(path.join(volume.root, relativePath)) === hash) continue;
      asideHashes ??= new Set(hashesUnder(path.join(volume.root, '.squirrel-restore-history')).keys());
      if (asideHashes.has(hash)) continue;
      const row = live.get(relativePath);
      if (row && row.status === 'offloaded' && (row.blake3 as Buffer).toString('hex') === hash) continue;
      if (intents.has(relativePath)) continue;
      const onDisk = fs.existsSync(path.join(volume.root, relativePath)) ? 'other bytes are there' : 'it is gone';
      fail('nothing-lost', `${volume.name}/${relativePath}: ${onDisk}, and the index does not record it offloaded (row: ${row ? String(row.status) : 'none'})`);
    }
  }
}

/**
 * Each vector component's history is versions 1..N with no gap or repeat (N = the current
 * version, so no write went unrecorded and none was lost), starts with a create, never moves
 * origin_run_id backwards, and ends at the current row.
 */
function checkVectors(db: Database.Database, fail: Fail): void {
  const components = rows(db, 'SELECT * FROM destination_run_ids ORDER BY volume_id, destination, origin_node_id');
  const history = rows(db, 'SELECT * FROM destination_run_ids_history ORDER BY volume_id, destination, origin_node_id, version, id');
  const byKey = new Map<string, Row[]>();
  const keyOf = (r: Row) => `${r.volume_id}/${r.destination}/${r.origin_node_id}`;
  for (const h of history) {
    const list = byKey.get(keyOf(h)) ?? [];
    list.push(h);
    byKey.set(keyOf(h), list);
  }
  for (const c of components) {
    const key = keyOf(c);
    const list = byKey.get(key) ?? [];
    byKey.delete(key);
    const version = Number(c.version);
    if (list.length !== version) fail('vector-history', `${key}: version ${version} but ${list.length} history row(s)`);
    list.forEach((h, i) => {
      if (Number(h.version) !== i + 1) fail('vector-history', `${key}: history row ${i + 1} has version ${String(h.version)}`);
      if (i === 0 && h.change !== 'create') fail('vector-history', `${key}: first history row is '${String(h.change)}', not 'create'`);
      if (i > 0 && (h.origin_run_id as bigint) < (list[i - 1].origin_run_id as bigint)) {
        fail('vector-history', `${key}: origin_run_id went back from ${String(list[i - 1].origin_run_id)} to ${String(h.origin_run_id)} at version ${String(h.version)}`);
      }
    });
    const last = list.at(-1);
    if (last) {
      for (const column of ['origin_run_id', 'verify_method', 'source_node_id', 'updated_at_ns', 'verified_at_ns', 'version']) {
        if (last[column] !== c[column]) fail('vector-history', `${key}: current ${column}=${String(c[column])} but the last history row says ${String(last[column])}`);
      }
    }
  }
  for (const key of byKey.keys()) fail('vector-history', `${key}: history rows for a component that does not exist`);
}

function checkSettled(db: Database.Database, fail: Fail): void {
  for (const run of rows(db, "SELECT id, kind, pid FROM runs WHERE status = 'running'")) {
    fail('runs-settled', `run ${String(run.id)} (${String(run.kind)}, pid ${String(run.pid)}) is still 'running' after the next command`);
  }
  for (const run of rows(db, "SELECT id FROM runs WHERE status <> 'running' AND ended_at_ns IS NULL")) {
    fail('runs-settled', `run ${String(run.id)} ended without an end time`);
  }
  for (const intent of rows(db, "SELECT id, path FROM offload_intents WHERE state = 'open'")) {
    fail('intents-settled', `offload intent ${String(intent.id)} for '${String(intent.path)}' is still open after the next command`);
  }
}

function checkAppendOnly(db: Database.Database, before: DbSnapshot, fail: Fail): void {
  const now = {
    contents: new Map(rows(db, 'SELECT * FROM contents').map((r) => [Number(r.id), describe(r)])),
    history: new Map(rows(db, 'SELECT * FROM destination_run_ids_history').map((r) => [Number(r.id), describe(r)])),
    finishedRuns: new Map(rows(db, 'SELECT * FROM runs').map((r) => [Number(r.id), describe(r)])),
  };
  const compare = (table: keyof DbSnapshot, invariant: string) => {
    for (const [id, was] of before[table]) {
      const is = now[table].get(id);
      if (is !== was) fail(invariant, `${table} row ${id} changed: was ${was}, now ${is ?? '(deleted)'}`);
    }
  };
  compare('contents', 'append-only');
  compare('history', 'append-only');
  compare('finishedRuns', 'append-only');
}

export function formatViolations(violations: Violation[]): string {
  return violations.map((v) => `[${v.invariant}] ${v.detail}`).join('\n');
}
