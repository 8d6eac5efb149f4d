// Rebuilding a lost index from the catalog a destination carries (SPEC §8). The newest intact
// snapshot of this node (hash checked against its name, then PRAGMA integrity_check) becomes
// the config's database, migrated forward if older, private to the user. An existing database
// is never overwritten. A damaged snapshot falls back to the next older one, saying so.
// Runs after the snapshot are unknown to the recovered index: it forgets the write counts of
// its namespace and volume markers (the next sync and index adopt theirs), and files the
// snapshot thinks present but that were offloaded since show as missing after `index`,
// restorable like any.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Destination } from '../destinations/destination.js';
import { errorMessage, OperationalError, UsageError } from '../errors.js';
import { Store } from '../store/store.js';
import { fetchSnapshot, listNodes, listSnapshots, SnapshotInfo } from './catalog.js';
import { placeNoClobber } from './fs-safety.js';
import { checkDestinationRoot } from '../destinations/destination.js';
import { Reporter } from './reporter.js';

export interface RecoverOptions {
  destination: Destination;
  /** Whose catalog: the config's node by default. */
  node: string;
  /** A snapshot's name or the run it covers; null: the newest intact one. */
  snapshot: string | null;
  dryRun: boolean;
  /** Where the database goes (the config's db). */
  dbPath: string;
  /** The config's other destinations: one holding a newer snapshot of the same index is named. */
  others: Destination[];
  nowNs: bigint;
  reporter: Reporter;
}


export interface RecoverResult {
  destination: string;
  node: string;
  dbPath: string;
  dryRun: boolean;
  /** Every snapshot of the node at the destination, newest first. */
  snapshots: SnapshotInfo[];
  /** The snapshot installed (or, in a dry run, that would be). */
  installed: string | null;
  /** Snapshots tried and found damaged, with why. */
  damaged: { name: string; reason: string }[];
}

export async function recoverIndex(o: RecoverOptions): Promise<RecoverResult> {
  if (['', '-wal', '-journal'].some((suffix) => fs.existsSync(o.dbPath + suffix))) {
    throw new UsageError(
      `a database already exists at ${o.dbPath}; recover never overwrites one. If it is damaged or empty, move it (and its -wal and -shm files) aside first.`,
      'database-exists',
    );
  }
  await checkDestinationRoot(o.destination, false);
  const result: RecoverResult = { destination: o.destination.name, node: o.node, dbPath: o.dbPath, dryRun: o.dryRun, snapshots: await listSnapshots(o.destination, o.node), installed: null, damaged: [] };
  if (result.snapshots.length === 0) {
    const nodes = await listNodes(o.destination);
    throw new OperationalError(
      `destination '${o.destination.name}' holds no catalog of node '${o.node}'${nodes.length ? `; it holds catalogs of: ${nodes.join(', ')} (choose one with --node)` : ''}`,
      'catalog-missing',
    );
  }
  const indexes = new Set(result.snapshots.map((s) => s.indexId).filter((id) => id !== null));
  if (o.snapshot === null && indexes.size > 1) {
    const ambiguous = new UsageError(
      `destination '${o.destination.name}' holds snapshots of ${indexes.size} different indexes published as node '${o.node}' (two machines, or two databases, with one node name): ` +
        `which is this machine's cannot be told from here. \`squirrel recover --from ${o.destination.name} --dry-run\` lists them with their index ids; ` +
        `choose one with --snapshot (the index id is in a volume's .squirrel-volume marker on this machine: "index"), and give each machine its own \`node:\` name.`,
      'catalog-ambiguous',
    );
    if (!o.dryRun) throw ambiguous;
    o.reporter.warn(ambiguous.message);
    return result;
  }
  const candidates = o.snapshot === null ? result.snapshots : result.snapshots.filter((s) => s.name === o.snapshot || String(s.coversRunId) === o.snapshot);
  if (candidates.length === 0) throw new UsageError(`--snapshot ${o.snapshot}: no such snapshot of node '${o.node}' at '${o.destination.name}'; run \`squirrel recover --from ${o.destination.name} --dry-run\` to list them`);
  if (new Set(candidates.map((s) => s.indexId)).size > 1) {
    throw new UsageError(`--snapshot ${o.snapshot}: run ${o.snapshot} has a snapshot of more than one index here; name the snapshot itself (\`squirrel recover --from ${o.destination.name} --dry-run\` lists them)`, 'catalog-ambiguous');
  }

  fs.mkdirSync(path.dirname(o.dbPath), { recursive: true, mode: 0o700 });
  for (const snapshot of candidates) {
    const scratch = `${o.dbPath}.recover-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await fetchSnapshot(o.destination, o.node, snapshot, scratch);
      if (o.snapshot === null) await refuseNewerElsewhere(o, snapshot);
      // What recover saw here, damaged snapshots included, is no news to the index it installs.
      const seen = Math.max(...result.snapshots.filter((s) => s.indexId === snapshot.indexId).map((s) => s.coversRunId));
      if (!o.dryRun) install(`${scratch}.db`, o.dbPath, { destination: o.destination.name, snapshot: snapshot.name, coversRunId: seen }, o.nowNs);
      result.installed = snapshot.name;
      break;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      const reason = errorMessage(err);
      result.damaged.push({ name: snapshot.name, reason });
      o.reporter.warn(`snapshot ${snapshot.name} is damaged (${reason})${candidates.length > result.damaged.length ? '; trying the next older one' : ''}`);
    } finally {
      for (const suffix of ['.gz', '.db', '.db-wal', '.db-shm']) fs.rmSync(scratch + suffix, { force: true });
      for (const leftover of fs.readdirSync(path.dirname(o.dbPath)).filter((n) => n.startsWith(`${path.basename(scratch)}.db.pre-v`))) {
        fs.rmSync(path.join(path.dirname(o.dbPath), leftover), { force: true });
      }
    }
  }
  if (result.installed === null) {
    throw new OperationalError(
      `no intact snapshot of node '${o.node}' at '${o.destination.name}'; nothing was installed:\n  ${result.damaged.map((d) => `${d.name}: ${d.reason}`).join('\n  ')}`,
      'catalog-damaged',
    );
  }
  return result;
}

/**
 * Another destination holding a newer snapshot of the same index than the one about to be
 * installed (the newest here, or the one left after damaged ones) refuses: what happened since
 * is only known there. One that cannot be looked at is named, so its silence is not news.
 */
async function refuseNewerElsewhere(o: RecoverOptions, chosen: SnapshotInfo): Promise<void> {
  let found: { destination: string; snapshot: SnapshotInfo } | null = null;
  for (const other of o.others) {
    try {
      const state = await other.rootState();
      if (state !== 'ok') throw new Error(`its root is ${state}`);
      for (const snapshot of await listSnapshots(other, o.node)) {
        if (snapshot.indexId === chosen.indexId && snapshot.coversRunId > (found?.snapshot ?? chosen).coversRunId) found = { destination: other.name, snapshot };
      }
    } catch (err) {
      o.reporter.warn(`could not look for a newer snapshot at '${other.name}' (${errorMessage(err)}); if it may hold one, recover once it can be reached`);
    }
  }
  if (found === null) return;
  const refusal = new UsageError(
    `destination '${found.destination}' holds a newer snapshot of this index (covering run ${found.snapshot.coversRunId}; the one at '${o.destination.name}' to be installed covers run ${chosen.coversRunId}): ` +
      `what happened after run ${chosen.coversRunId} (newer versions, offloads) is only known there. \`squirrel recover --from ${found.destination}\`; to install the older one anyway, name it with --snapshot.`,
    'catalog-newer-elsewhere',
  );
  if (!o.dryRun) throw refusal;
  o.reporter.warn(refusal.message);
}

/**
 * Migrate the checked snapshot forward, make it this machine's (no runs left running, write
 * counts to adopt), and give it the database's name, never over an existing file.
 */
function install(snapshotDb: string, dbPath: string, from: { destination: string; snapshot: string; coversRunId: number }, nowNs: bigint): void {
  const store = Store.open(snapshotDb, { create: false });
  try {
    store.immediate(() => {
      // The snapshot was taken before it was published: the index now knows it is there.
      store.catalog.recordPublication({ destination: from.destination, snapshot: from.snapshot, coversRunId: from.coversRunId, publishedAtNs: nowNs, error: null });
      store.runs.abortAllRunning(nowNs, 'aborted: its database was recovered from a catalog snapshot');
      store.places.markNamespaceClaimsRecovered();
      store.catalog.forgetMarkerGenerations();
    });
    store.db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    store.close();
  }
  fs.chmodSync(snapshotDb, 0o600);
  if (!placeNoClobber(snapshotDb, dbPath)) throw new UsageError(`a database appeared at ${dbPath} meanwhile; recover never overwrites one`, 'database-exists');
  const dirFd = fs.openSync(path.dirname(dbPath), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
