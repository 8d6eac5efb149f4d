// The catalog travels with the data (SPEC §8). After a command that changed the index or the
// evidence, a consistent snapshot of the whole database, gzip-compressed and named with the run
// it covers and its BLAKE3, goes to every reachable destination the command touched, at
// `<root>/.squirrel-catalog/<node>/`; the newest `keep` stay. Publishing is best effort: a
// failure is a warning (and an amber status), never a failed run. A snapshot is placed like
// any file (staged, then linked), and recovery checks its hash, so a kill while publishing
// never leaves one that would be taken for intact.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { CATALOG_DIR, Destination, STAGING_DIR } from '../destinations/destination.js';
import { errorMessage } from '../errors.js';
import { StreamingBlake3 } from '../hash.js';
import { databaseFileProblem } from '../store/db.js';
import { Store } from '../store/store.js';
import { NodeKey, sign } from './node-key.js';
import { Hooks, Reporter } from './reporter.js';

export const DEFAULT_CATALOG_KEEP = 7;

/** The index id was added later: a snapshot named without one is an older squirrel's. */
const NAME = /^run-(\d{12})-(?:([0-9a-f]{32})-)?([0-9a-f]{64})\.db\.gz$/;

/**
 * `run-000000000042-<index id>-<blake3 of the compressed bytes>.db.gz`: sorted by name is
 * sorted by run; the index id tells apart two machines (or databases) publishing as one node.
 */
export function snapshotName(coversRunId: number, indexId: string, blake3Hex: string): string {
  return `run-${String(coversRunId).padStart(12, '0')}-${indexId}-${blake3Hex}.db.gz`;
}

export function parseSnapshotName(name: string): { coversRunId: number; indexId: string | null; blake3Hex: string } | null {
  const m = NAME.exec(name);
  return m ? { coversRunId: Number(m[1]), indexId: m[2] ?? null, blake3Hex: m[3] } : null;
}

/** Where a node's snapshots live at a destination. */
export function catalogFolder(node: string): string {
  return `${CATALOG_DIR}/${node}`;
}

export interface PublishOptions {
  node: string;
  /** Signs each snapshot's name (which carries its BLAKE3), so a peer verifying for this node knows the catalog is this node's. */
  key: NodeKey;
  hooks: Hooks;
  keep: number;
  nowNs: bigint;
  reporter: Reporter;
  /** A directory on the database's disk for the temporary snapshot (it is private, as the database is). */
  scratchDir: string;
}

export interface PublishOutcome {
  destination: string;
  snapshot: string | null;
  removed: string[];
  error: string | null;
}

/** Snapshot the database and place it at each destination; never throws for a destination's failure. */
export async function publishCatalog(store: Store, destinations: Destination[], o: PublishOptions): Promise<PublishOutcome[]> {
  if (destinations.length === 0) return [];
  const coversRunId = store.catalog.newestRunId();
  const scratch = path.join(o.scratchDir, `.squirrel-catalog-${process.pid}-${randomBytes(4).toString('hex')}`);
  const outcomes: PublishOutcome[] = [];
  try {
    store.catalog.snapshotTo(`${scratch}.db`);
    const blake3Hex = await compress(`${scratch}.db`, `${scratch}.db.gz`);
    const indexId = store.catalog.indexId();
    const name = snapshotName(coversRunId, indexId, blake3Hex);
    for (const destination of destinations) {
      const outcome: PublishOutcome = { destination: destination.name, snapshot: null, removed: [], error: null };
      try {
        if ((await destination.rootState()) !== 'ok') throw new Error(`${destination.location} is not there or not marked`);
        o.hooks.at('catalog.before-place');
        await placeSnapshot(destination, o.node, name, `${scratch}.db.gz`, o.key);
        outcome.snapshot = name;
        const pruned = await prune(destination, o.node, o.keep, indexId);
        outcome.removed = pruned.removed;
        if (pruned.otherIndexes > 0) {
          // Published, but recovery from here would have to be told which index is this one's.
          outcome.error = `.squirrel-catalog/${o.node}/ there also holds snapshots of ${pruned.otherIndexes} other index(es): two machines (or databases) publish as node '${o.node}'; give each its own \`node:\` name (theirs are never pruned from here)`;
          o.reporter.warn(`destination '${destination.name}': ${outcome.error}`);
        }
      } catch (err) {
        outcome.error = errorMessage(err);
        o.reporter.warn(`the catalog could not be published to '${destination.name}': ${outcome.error}; status shows it until a later command publishes one`);
      }
      store.catalog.recordPublication({ destination: destination.name, snapshot: outcome.snapshot, coversRunId: outcome.snapshot ? coversRunId : null, publishedAtNs: o.nowNs, error: outcome.error });
      outcomes.push(outcome);
    }
  } catch (err) {
    // The snapshot itself failed (a full disk next to the database): every destination misses it.
    const error = errorMessage(err);
    o.reporter.warn(`the catalog snapshot could not be taken: ${error}`);
    for (const destination of destinations) {
      store.catalog.recordPublication({ destination: destination.name, snapshot: null, coversRunId: null, publishedAtNs: o.nowNs, error });
      outcomes.push({ destination: destination.name, snapshot: null, removed: [], error });
    }
  } finally {
    for (const file of [`${scratch}.db`, `${scratch}.db.gz`]) fs.rmSync(file, { force: true });
  }
  return outcomes;
}

/** gzip `from` into `to` (created private); returns the BLAKE3 of the compressed bytes. */
async function compress(from: string, to: string): Promise<string> {
  const hasher = new StreamingBlake3();
  const hash = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hasher.update(chunk);
      done(null, chunk);
    },
  });
  // Level 1: at 100k files it compresses the snapshot nearly as well as level 6 (18.2 MB against 17.3) in less than half the time.
  await pipeline(fs.createReadStream(from), zlib.createGzip({ level: 1 }), hash, fs.createWriteStream(to, { mode: 0o600, flags: 'wx' }));
  return hasher.digest().toString('hex');
}

/**
 * Put the snapshot under its name, then its signature beside it; the same name already there
 * is the same bytes (the name is their hash).
 */
async function placeSnapshot(destination: Destination, node: string, name: string, file: string, key: NodeKey): Promise<void> {
  const target = `${catalogFolder(node)}/${name}`;
  if ((await destination.stat(target)).kind !== 'present') await destination.put(target, file, `${CATALOG_DIR}/${STAGING_DIR}/${node}-${name}`);
  await destination.writeSmall(`${target}${SIGNATURE_SUFFIX}`, Buffer.from(`${sign(key, Buffer.from(name))}\n`), 'create');
}

/** A snapshot's signature: the node's signature over the snapshot's name. */
export const SIGNATURE_SUFFIX = '.sig';

/**
 * Keep the newest `keep` snapshots of this index (and an older squirrel's, named without an
 * index id); remove the older ones. Another index's snapshots in the folder are never touched.
 */
async function prune(destination: Destination, node: string, keep: number, indexId: string): Promise<{ removed: string[]; otherIndexes: number }> {
  const snapshots = await listSnapshots(destination, node);
  const others = new Set(snapshots.map((s) => s.indexId).filter((id) => id !== null && id !== indexId));
  const older = snapshots
    .filter((s) => s.indexId === null || s.indexId === indexId)
    .slice(keep)
    .map((s) => s.name);
  for (const name of older) {
    await destination.removeCatalogFile(`${catalogFolder(node)}/${name}`);
    await destination.removeCatalogFile(`${catalogFolder(node)}/${name}${SIGNATURE_SUFFIX}`);
  }
  return { removed: older, otherIndexes: others.size };
}

/** A snapshot at a destination, as listed. */
export interface SnapshotInfo {
  name: string;
  coversRunId: number;
  /** The index that published it; null for an older squirrel's snapshot. */
  indexId: string | null;
  sizeBytes: number;
}

export async function listSnapshots(destination: Destination, node: string): Promise<SnapshotInfo[]> {
  const folder = catalogFolder(node);
  const found: SnapshotInfo[] = [];
  for await (const file of destination.list(folder)) {
    const name = file.path.slice(folder.length + 1);
    const parsed = name.includes('/') ? null : parseSnapshotName(name);
    if (parsed) found.push({ name, coversRunId: parsed.coversRunId, indexId: parsed.indexId, sizeBytes: file.sizeBytes });
  }
  return found.sort((a, b) => (a.name < b.name ? 1 : -1));
}

/**
 * A snapshot this very index published at the destination that covers a later run than any
 * publication this database recorded: the database is older than that catalog (put back from
 * a backup, or recovered from an older snapshot), and the catalog knows more than it does.
 * Run ids are not compared with the database's own: an older database numbers its new runs
 * again from where it stood.
 */
export async function newerSnapshotOfThisIndex(store: Store, destination: Destination, node: string): Promise<SnapshotInfo | null> {
  const indexId = store.catalog.indexId();
  const known = Math.max(0, ...store.catalog.publications().map((p) => (p.snapshot !== null ? p.coversRunId ?? 0 : 0)));
  return (await listSnapshots(destination, node)).find((s) => s.indexId === indexId && s.coversRunId > known) ?? null;
}

export async function listNodes(destination: Destination): Promise<string[]> {
  const nodes = new Set<string>();
  for await (const file of destination.list(CATALOG_DIR)) {
    const [node, name] = file.path.slice(CATALOG_DIR.length + 1).split('/');
    if (name && parseSnapshotName(name)) nodes.add(node);
  }
  return [...nodes].sort();
}

/** Download, check the hash its name carries, decompress, check the database: `${scratch}.db`. */
export async function fetchSnapshot(destination: Destination, node: string, snapshot: SnapshotInfo, scratch: string): Promise<void> {
  const hasher = new StreamingBlake3();
  const hash = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hasher.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(Readable.from(destination.read(`${catalogFolder(node)}/${snapshot.name}`)), hash, fs.createWriteStream(`${scratch}.gz`, { mode: 0o600, flags: 'wx' }));
  const expected = parseSnapshotName(snapshot.name)!.blake3Hex;
  const actual = hasher.digest().toString('hex');
  if (actual !== expected) throw new Error(`its bytes hash to ${actual.slice(0, 16)}…, not the ${expected.slice(0, 16)}… its name records (truncated or altered)`);
  try {
    await pipeline(fs.createReadStream(`${scratch}.gz`), zlib.createGunzip(), fs.createWriteStream(`${scratch}.db`, { mode: 0o600, flags: 'wx' }));
  } catch (err) {
    throw new Error(`it does not decompress: ${errorMessage(err)}`);
  }
  const problem = databaseFileProblem(`${scratch}.db`);
  if (problem !== null) throw new Error(problem);
}
