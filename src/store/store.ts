// The Store: the only module that speaks SQL. It owns the one better-sqlite3 connection and
// exposes one sub-store per concern. Transactions are synchronous and IMMEDIATE; callers
// transfer bytes first and record afterwards, never awaiting inside a transaction.

import { Db, OpenOptions, openDatabase } from './db.js';
import { all, one } from './rows.js';
import { RunStore } from './runs.js';
import { FileStore } from './files.js';
import { ListingStore } from './listing.js';
import { OffloadCandidateStore } from './offload-candidates.js';
import { EvidenceStore } from './evidence.js';
import { IntentStore } from './intents.js';
import { PlaceStore } from './places.js';
import { CatalogStore } from './catalog.js';
import { PeerStore } from './peers.js';
import { VolumeRow } from './types.js';

export class Store {
  readonly runs: RunStore;
  readonly files: FileStore;
  readonly listing: ListingStore;
  readonly offloadCandidates: OffloadCandidateStore;
  readonly evidence: EvidenceStore;
  readonly intents: IntentStore;
  readonly places: PlaceStore;
  readonly catalog: CatalogStore;
  readonly peers: PeerStore;
  private readonly nodeByName;
  private readonly nodeInsert;
  private readonly nodeById;
  private readonly nodeList;
  private readonly volumeByName;
  private readonly volumeList;
  private readonly volumeInsert;
  private readonly volumeId;
  private readonly beginImmediate;
  private readonly commit;
  private readonly rollback;

  constructor(
    readonly db: Db,
    readonly backupPath: string | null = null,
  ) {
    const prep = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.nodeByName = prep('SELECT id FROM nodes WHERE name = ?');
    this.nodeInsert = prep('INSERT INTO nodes (name) VALUES (?) ON CONFLICT (name) DO NOTHING');
    this.nodeById = prep('SELECT name FROM nodes WHERE id = ?');
    this.nodeList = prep('SELECT id, name FROM nodes');
    this.volumeByName = prep('SELECT id, name, root_path, uid FROM volumes WHERE name = ?');
    this.volumeList = prep('SELECT id, name, root_path, uid FROM volumes ORDER BY name');
    this.volumeId = prep('SELECT id, name, root_path, uid FROM volumes WHERE id = ?');
    this.volumeInsert = prep('INSERT INTO volumes (name, root_path, uid) VALUES (?, ?, lower(hex(randomblob(16)))) ON CONFLICT (name) DO NOTHING');
    this.beginImmediate = db.prepare('BEGIN IMMEDIATE');
    this.commit = db.prepare('COMMIT');
    this.rollback = db.prepare('ROLLBACK');
    this.runs = new RunStore(db);
    this.files = new FileStore(db);
    this.listing = new ListingStore(db);
    this.offloadCandidates = new OffloadCandidateStore(db, this.files);
    this.evidence = new EvidenceStore(db);
    this.intents = new IntentStore(db);
    this.places = new PlaceStore(db);
    this.catalog = new CatalogStore(db);
    this.peers = new PeerStore(db);
  }

  static open(dbPath: string, options: OpenOptions = {}): Store {
    const { db, backupPath } = openDatabase(dbPath, options);
    return new Store(db, backupPath);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Run fn in one IMMEDIATE transaction (the write lock is taken before the first read). */
  immediate<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /**
   * Hold the write lock while fn awaits: only for work that must itself happen under the lock
   * (offload's unlinks, which wait on the disk and so run several at once). Nothing else may
   * use this connection until it settles; a failure rolls back. Everything else uses immediate().
   */
  async immediateAcross<T>(fn: () => Promise<T>): Promise<T> {
    this.beginImmediate.run();
    try {
      const result = await fn();
      this.commit.run();
      return result;
    } catch (err) {
      if (this.db.inTransaction) this.rollback.run();
      throw err;
    }
  }

  /** Run fn in one read transaction: every read in it sees the same committed state. */
  snapshot<T>(fn: () => T): T {
    return this.db.transaction(fn).deferred();
  }

  ensureNode(name: string): number {
    this.nodeInsert.run(name);
    return one<{ id: number }>(this.nodeByName, name)!.id;
  }

  nodeName(nodeId: number): string {
    return one<{ name: string }>(this.nodeById, nodeId)?.name ?? `node#${nodeId}`;
  }

  /** Every node's name by id (a handful of rows). */
  nodeNames(): Map<number, string> {
    return new Map(all<{ id: number; name: string }>(this.nodeList).map((n) => [n.id, n.name]));
  }

  volume(name: string): VolumeRow | undefined {
    return one<VolumeRow>(this.volumeByName, name);
  }

  /** Every volume this index has met, by name. */
  volumes(): VolumeRow[] {
    return all<VolumeRow>(this.volumeList);
  }

  volumeById(volumeId: number): VolumeRow | undefined {
    return one<VolumeRow>(this.volumeId, volumeId);
  }

  /** The volume row, created with this root on first use. An existing row keeps its root. */
  ensureVolume(name: string, rootPath: string): VolumeRow {
    this.volumeInsert.run(name, rootPath);
    return this.volume(name)!;
  }

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  /** A faster check of the whole file (no index cross-checks): 'ok', or what is damaged. */
  quickCheck(): string {
    return this.db.pragma('quick_check', { simple: true }) as string;
  }
}
