// Durability evidence: the per-destination version vector (destination_run_ids), its
// insert-only history, and the copy ledger (remote_copies). Every write bumps a version
// and is compare-and-swap: the caller names the version it decided on, and a changed
// version means re-evaluate, never "assume still true". Callers run these inside
// Store.immediate so the read and the write share one write lock.

import type { Db } from './db.js';
import { all, one, rawPagesByPath } from './rows.js';
import { CopyState, CopyStateRow, RemoteCopyRow, VectorComponent, VectorHistoryRow } from './types.js';

/** Ledger rows per page when sync walks a namespace. */
const COPY_STATES_PAGE = 1000;
const COMPONENT_COLUMNS = `d.volume_id, d.destination, d.origin_node_id, o.name AS origin_node_name, d.origin_run_id,
  d.verify_method, d.source_node_id, s.name AS source_node_name, d.updated_at_ns, d.verified_at_ns, d.version`;

export interface ComponentWrite {
  volumeId: number;
  destination: string;
  originNodeId: number;
  originRunId: number;
  verifyMethod: string;
  sourceNodeId: number;
  nowNs: bigint;
  verifiedAtNs: bigint | null;
  runId: number | null;
  /** The version the caller decided on; null when it saw no component. */
  expectedVersion: number | null;
}

export type ComponentWriteResult =
  | { applied: true; version: number; change: 'create' | 'advance' | 'reverify' }
  | { applied: false; reason: 'unchanged' | 'version-changed' | 'would-decrease'; current: VectorComponent | undefined };

/** How verified a component's coverage is, computed from the copy ledger. */
export interface CoverageVerification {
  contents: number;
  /** Covered contents with no `ok` copy at the destination. */
  unverified: number;
  /** Covered contents with a copy found missing or corrupt. */
  lost: number;
  /**
   * The oldest of the newest ok-copy verification per covered content; null when any covered
   * content's copies were all stamped later than `latestNs` (a clock that ran ahead): unknown.
   */
  oldestVerifiedAtNs: bigint | null;
}

/** A copy as verify reads it: the ledger row, its row id, and the content's hash and size. */
export type CopyToVerify = RemoteCopyRow & { copyRowid: number; blake3: Buffer; size: number };

/**
 * What the ledger proves at a destination about the contents an origin's runs up to
 * @originRunId brought, present or offloaded here (names the destination refuses aside): how
 * many, how many have no sound copy, how many a bad finding, and the oldest best verification.
 * Each content's ledger rows are read once (one join, aggregates filtered by state) rather than
 * by three probes per content: 0.7 s against 0.2 s at 100k contents.
 */
export const COVERAGE_SQL = `SELECT count(*) AS contents,
        coalesce(sum(ok_copies = 0), 0) AS unverified,
        coalesce(sum(bad > 0), 0) AS lost,
        coalesce(sum(ok_copies > 0 AND best IS NULL), 0) AS unknown_age,
        min(best) AS oldest_verified_at_ns
      FROM (SELECT c.id,
          count(*) FILTER (WHERE rc.state = 'ok') AS ok_copies,
          max(rc.verified_at_ns) FILTER (WHERE rc.state = 'ok' AND (rc.verified_at_ns <= @latestNs OR rc.verified_run_id > @runId)) AS best,
          count(*) FILTER (WHERE rc.state <> 'ok') AS bad
        FROM contents c
        LEFT JOIN remote_copies rc ON rc.volume_id = @volumeId AND rc.destination = @destination AND rc.content_id = c.id
        WHERE c.origin_node_id = @originNodeId AND c.origin_run_id <= @originRunId
          AND EXISTS (SELECT 1 FROM files f WHERE f.volume_id = @volumeId AND f.content_id = c.id AND f.status IN ('present', 'offloaded')
            AND NOT EXISTS (SELECT 1 FROM name_refusals r WHERE r.volume_id = @volumeId AND r.destination = @destination AND r.path = f.path))
        GROUP BY c.id)`;

export class EvidenceStore {
  private readonly componentsOfVolume;
  private readonly componentOne;
  private readonly componentInsert;
  private readonly componentUpdate;
  private readonly historyInsert;
  private readonly historyOf;
  private readonly copyAt;
  private readonly copyUpsert;
  private readonly copyMark;
  private readonly copiesOfContent;
  private readonly copyOrderToVerify;
  private readonly copiesToVerify;
  private readonly badCopies;
  private readonly coverage;
  private readonly supersededFindings;
  private readonly peerRestamp;
  private readonly peerMark;
  private readonly highestOrigin;
  private readonly copiesOfDestination;
  private readonly copiesAtOrUnderPath;
  private readonly copiedContentIdList;
  private readonly copyStatesPage;

  constructor(db: Db) {
    const prep = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.componentsOfVolume = prep(`SELECT ${COMPONENT_COLUMNS} FROM destination_run_ids d
      JOIN nodes o ON o.id = d.origin_node_id JOIN nodes s ON s.id = d.source_node_id
      WHERE d.volume_id = ? ORDER BY d.destination, o.name`);
    this.componentOne = prep(`SELECT ${COMPONENT_COLUMNS} FROM destination_run_ids d
      JOIN nodes o ON o.id = d.origin_node_id JOIN nodes s ON s.id = d.source_node_id
      WHERE d.volume_id = ? AND d.destination = ? AND d.origin_node_id = ?`);
    this.componentInsert = prep(`INSERT INTO destination_run_ids (volume_id, destination, origin_node_id, origin_run_id,
      verify_method, source_node_id, updated_at_ns, verified_at_ns, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)`);
    this.componentUpdate = prep(`UPDATE destination_run_ids SET origin_run_id = ?, verify_method = ?, source_node_id = ?,
      updated_at_ns = ?, verified_at_ns = ?, version = version + 1
      WHERE volume_id = ? AND destination = ? AND origin_node_id = ? AND version = ?`);
    this.historyInsert = prep(`INSERT INTO destination_run_ids_history (volume_id, destination, origin_node_id, origin_run_id,
      verify_method, source_node_id, updated_at_ns, verified_at_ns, version, run_id, change)
      SELECT volume_id, destination, origin_node_id, origin_run_id, verify_method, source_node_id, updated_at_ns,
        verified_at_ns, version, ?, ? FROM destination_run_ids WHERE volume_id = ? AND destination = ? AND origin_node_id = ?`);
    this.historyOf = prep(`SELECT id, volume_id, destination, origin_node_id, origin_run_id, verify_method, source_node_id,
      updated_at_ns, verified_at_ns, version, run_id, change FROM destination_run_ids_history
      WHERE volume_id = ? ORDER BY destination, origin_node_id, version, id`);
    this.copyAt = prep(`SELECT volume_id, destination, path, content_id, state, pushed_run_id, verified_at_ns, version, fingerprint
      FROM remote_copies WHERE volume_id = ? AND destination = ? AND path = ?`);
    this.copyUpsert = prep(`INSERT INTO remote_copies (volume_id, destination, path, content_id, state, pushed_run_id, verified_at_ns, version, verified_run_id, fingerprint)
      VALUES (?, ?, ?, ?, 'ok', ?, ?, 1, ?, ?)
      ON CONFLICT (volume_id, destination, path) DO UPDATE SET content_id = excluded.content_id, state = 'ok',
        pushed_run_id = excluded.pushed_run_id, verified_at_ns = excluded.verified_at_ns, verified_run_id = excluded.verified_run_id, version = version + 1,
        fingerprint = excluded.fingerprint`);
    this.copyMark = prep(`UPDATE remote_copies SET state = ?, verified_at_ns = coalesce(?, verified_at_ns),
        verified_run_id = CASE WHEN ? IS NULL THEN verified_run_id ELSE ? END, version = version + 1, fingerprint = coalesce(?, fingerprint)
      WHERE volume_id = ? AND destination = ? AND path = ? AND version = ?`);
    // Named: left to itself the planner walks the primary key to skip the sort, which reads the
    // destination's whole ledger for every file offload re-checks.
    this.copiesOfContent = prep(`SELECT volume_id, destination, path, content_id, state, pushed_run_id, verified_at_ns, version, fingerprint
      FROM remote_copies INDEXED BY remote_copies_by_content WHERE volume_id = ? AND destination = ? AND content_id = ? ORDER BY path`);
    this.copiesOfDestination = prep(`SELECT volume_id, destination, path, content_id, state, pushed_run_id, verified_at_ns, version
      FROM remote_copies WHERE volume_id = ? AND destination = ?`);
    this.copiesAtOrUnderPath = prep(`SELECT volume_id, destination, path, content_id, state, pushed_run_id, verified_at_ns, version
      FROM remote_copies WHERE volume_id = @volumeId AND destination = @destination AND (path = @path OR (path >= @path || '/' AND path < @path || '0'))`);
    // One string per destination instead of one row per copy: crossing into JS costs ~1 us a
    // row, and the (volume, destination, content) index answers this without touching the table.
    // Raw rows, a page at a time, by the primary key: sync walks a namespace's ledger in path order.
    this.copyStatesPage = db
      .prepare('SELECT path, content_id, state, fingerprint FROM remote_copies WHERE volume_id = ? AND destination = ? AND path > ? AND path < ? ORDER BY path LIMIT ?')
      .raw(true);
    this.copiedContentIdList = prep(`SELECT group_concat(content_id, ',') AS ids FROM remote_copies WHERE volume_id = ? AND destination = ?`);
    // Every copy the ledger records, least recently verified first. Also those of files that are
    // missing or deleted now: a later sync trusts an 'ok' row when the file comes back, so rot
    // found only then would reach offload unseen.
    // The order alone (row id and size, 16 bytes a copy), so a million copies are not all held
    // as rows; the rows are read a chunk at a time as the reads reach them.
    this.copyOrderToVerify = db
      .prepare(`SELECT rc.rowid, c.size FROM remote_copies rc JOIN contents c ON c.id = rc.content_id
        WHERE rc.volume_id = ? AND rc.destination = ?
        ORDER BY rc.verified_at_ns IS NOT NULL AND rc.verified_at_ns <= ?, rc.verified_at_ns, rc.path`)
      .raw(true);
    this.copiesToVerify = prep(`SELECT rc.rowid AS copy_rowid, rc.volume_id, rc.destination, rc.path, rc.content_id, rc.state, rc.pushed_run_id,
        rc.verified_at_ns, rc.version, c.blake3, c.size
      FROM remote_copies rc JOIN contents c ON c.id = rc.content_id
      WHERE rc.rowid IN (SELECT value FROM json_each(?))`);
    this.badCopies = prep(`SELECT rc.volume_id, rc.destination, rc.path, rc.content_id, rc.state, rc.pushed_run_id,
        rc.verified_at_ns, rc.version FROM remote_copies rc WHERE rc.volume_id = ? AND rc.state <> 'ok' ORDER BY rc.destination, rc.path`);
    // A copy stamped after @latestNs (now plus the skew tolerance) by a run that began before
    // run @runId was stamped by a clock that ran ahead: it still counts as there, but its time
    // is unknown. (A later run read its clock later: its stamps may lie past our "now".) Contents whose every live
    // path was refused at the destination (name collisions) are not waited for; the gate
    // refuses those paths itself.
    this.coverage = prep(COVERAGE_SQL);
    // A trusted peer re-read the copies a catalog of ours listed (pushed up to @coversRunId):
    // their stamps move forward, never back, and only sound rows change.
    this.peerRestamp = prep(`UPDATE remote_copies SET verified_at_ns = @stampNs, verified_run_id = @runId, version = version + 1
      WHERE volume_id = @volumeId AND destination = @destination AND state = 'ok' AND pushed_run_id <= @coversRunId
        AND substr(path, 1, length(@prefix)) = @prefix AND (verified_at_ns IS NULL OR verified_at_ns < @stampNs)`);
    this.peerMark = prep(`UPDATE remote_copies SET state = @state, verified_run_id = @runId, version = version + 1
      WHERE volume_id = @volumeId AND destination = @destination AND path = @path AND state = 'ok'
        AND content_id = (SELECT id FROM contents WHERE blake3 = @blake3)`);
    this.supersededFindings = prep(`DELETE FROM remote_copies WHERE volume_id = @volumeId AND destination = @destination AND state <> 'ok'
      AND EXISTS (SELECT 1 FROM remote_copies ok WHERE ok.volume_id = @volumeId AND ok.destination = @destination
        AND ok.content_id = remote_copies.content_id AND ok.state = 'ok')`);
    this.highestOrigin = prep(`SELECT c.origin_node_id, max(c.origin_run_id) AS origin_run_id
      FROM files f JOIN contents c ON c.id = f.content_id
      WHERE f.volume_id = ? AND f.status = 'present' GROUP BY c.origin_node_id`);
  }

  components(volumeId: number): VectorComponent[] {
    return all<VectorComponent>(this.componentsOfVolume, volumeId);
  }

  component(volumeId: number, destination: string, originNodeId: number): VectorComponent | undefined {
    return one<VectorComponent>(this.componentOne, volumeId, destination, originNodeId);
  }

  history(volumeId: number): VectorHistoryRow[] {
    return all<VectorHistoryRow>(this.historyOf, volumeId);
  }

  /** Per origin node, the highest origin run among the volume's present content: what a push can claim. */
  highestPresentOrigins(volumeId: number): { originNodeId: number; originRunId: number }[] {
    return all<{ originNodeId: number; originRunId: number }>(this.highestOrigin, volumeId);
  }

  /**
   * Write a vector component: monotonic in origin_run_id, compare-and-swap on version, one
   * history row per applied write. An equal-value write (same run, method, source and
   * verified_at) applies nothing, so it never refreshes updated_at_ns or verified_at_ns.
   */
  writeComponent(w: ComponentWrite): ComponentWriteResult {
    const current = this.component(w.volumeId, w.destination, w.originNodeId);
    if ((current?.version ?? null) !== w.expectedVersion) return { applied: false, reason: 'version-changed', current };
    if (current && w.originRunId < current.originRunId) return { applied: false, reason: 'would-decrease', current };
    let change: 'create' | 'advance' | 'reverify';
    if (!current) {
      this.componentInsert.run(w.volumeId, w.destination, w.originNodeId, w.originRunId, w.verifyMethod, w.sourceNodeId, w.nowNs, w.verifiedAtNs);
      change = 'create';
    } else {
      const same =
        current.originRunId === w.originRunId &&
        current.verifyMethod === w.verifyMethod &&
        current.sourceNodeId === w.sourceNodeId &&
        current.verifiedAtNs === w.verifiedAtNs;
      if (same) return { applied: false, reason: 'unchanged', current };
      const result = this.componentUpdate.run(
        w.originRunId, w.verifyMethod, w.sourceNodeId, w.nowNs, w.verifiedAtNs,
        w.volumeId, w.destination, w.originNodeId, current.version,
      );
      if (result.changes !== 1) return { applied: false, reason: 'version-changed', current };
      change = w.originRunId > current.originRunId ? 'advance' : 'reverify';
    }
    this.historyInsert.run(w.runId, change, w.volumeId, w.destination, w.originNodeId);
    return { applied: true, version: (current?.version ?? 0) + 1, change };
  }

  /**
   * How the ledger backs a component covering `originRunId` of `originNodeId`, as run `runId`
   * judges it with its clock: copy stamps after `latestNs` from earlier runs are unknown.
   */
  coverageVerification(volumeId: number, destination: string, originNodeId: number, originRunId: number, latestNs: bigint, runId: number): CoverageVerification {
    const row = one<{ contents: number; unverified: number; lost: number; unknownAge: number; oldestVerifiedAtNs: bigint | null }>(
      this.coverage, { volumeId, destination, originNodeId, originRunId, latestNs, runId },
    )!;
    return { contents: row.contents, unverified: row.unverified, lost: row.lost, oldestVerifiedAtNs: row.unknownAge > 0 ? null : row.oldestVerifiedAtNs };
  }

  /**
   * Drop missing or corrupt findings whose bytes have a sound copy at the destination again
   * (re-sent by a sync, or held at another path): they no longer describe a loss. A finding
   * whose content has no sound copy there stays, and keeps the alarm latched. Returns how many.
   */
  clearSupersededFindings(volumeId: number, destination: string): number {
    return this.supersededFindings.run({ volumeId, destination }).changes;
  }

  copy(volumeId: number, destination: string, remotePath: string): RemoteCopyRow | undefined {
    return one<RemoteCopyRow>(this.copyAt, volumeId, destination, remotePath);
  }

  /**
   * The ledger rows under `<folder>/`, in path order (SQLite's byte order of UTF-8, which is
   * code point order), read a page at a time so memory stays flat however big the namespace.
   */
  *copyStatesUnder(volumeId: number, destination: string, folder: string): Generator<CopyStateRow> {
    const end = `${folder}0`;
    const read = (after: string, limit: number) => this.copyStatesPage.all(volumeId, destination, after, end, limit) as [string, number, CopyState, string | null][];
    for (const [path, contentId, state, fingerprint] of rawPagesByPath(read, `${folder}/`, COPY_STATES_PAGE)) yield { path, contentId, state, fingerprint };
  }

  copies(volumeId: number, destination: string): RemoteCopyRow[] {
    return all<RemoteCopyRow>(this.copiesOfDestination, volumeId, destination);
  }

  /** The ledger's rows at `remotePath` and under `remotePath/`: two seeks on the primary key, not the destination's whole ledger. */
  copiesAtOrUnder(volumeId: number, destination: string, remotePath: string): RemoteCopyRow[] {
    return all<RemoteCopyRow>(this.copiesAtOrUnderPath, { volumeId, destination, path: remotePath });
  }

  /**
   * Ids of the contents with a ledger row at the destination in any state, in no particular
   * order and possibly repeated (one per copy). With lostCopies this answers "has an ok copy":
   * a content with rows but none ok has a missing or corrupt one.
   */
  copiedContentIds(volumeId: number, destination: string): Float64Array {
    const text = one<{ ids: string | null }>(this.copiedContentIdList, volumeId, destination)?.ids ?? null;
    if (!text) return new Float64Array(0);
    let count = 1;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 44) count++;
    const ids = new Float64Array(count);
    let index = 0;
    let value = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code === 44) {
        ids[index++] = value;
        value = 0;
      } else {
        value = value * 10 + (code - 48);
      }
    }
    ids[index] = value;
    return ids;
  }

  copiesOf(volumeId: number, destination: string, contentId: number): RemoteCopyRow[] {
    return all<RemoteCopyRow>(this.copiesOfContent, volumeId, destination, contentId);
  }

  /** Record a copy that was just written or read back and matched, by run `runId`. */
  recordVerifiedCopy(volumeId: number, destination: string, remotePath: string, contentId: number, runId: number, verifiedAtNs: bigint, fingerprint: string | null = null): void {
    this.copyUpsert.run(volumeId, destination, remotePath, contentId, runId, verifiedAtNs, runId, fingerprint);
  }

  /** Record what a verify (run `runId`) found, only if nobody rewrote the copy since it was read. */
  markCopy(volumeId: number, destination: string, remotePath: string, state: CopyState, verifiedAtNs: bigint | null, expectedVersion: number, runId: number | null = null, fingerprint: string | null = null): boolean {
    return this.copyMark.run(state, verifiedAtNs, runId, runId, fingerprint, volumeId, destination, remotePath, expectedVersion).changes === 1;
  }

  /**
   * Every copy at a destination, least recently verified first (a copy stamped after
   * `latestNs`, by a clock that ran ahead, counts as never verified): row ids and sizes only.
   */
  verifyOrder(volumeId: number, destination: string, latestNs: bigint): { rowids: number[]; sizes: number[] } {
    const order = { rowids: [] as number[], sizes: [] as number[] };
    for (const [rowid, size] of this.copyOrderToVerify.iterate(volumeId, destination, latestNs) as IterableIterator<[number, number]>) {
      order.rowids.push(rowid);
      order.sizes.push(size);
    }
    return order;
  }

  /** The copies at these row ids (from verifyOrder), by row id, as they are now. */
  copiesToVerifyAt(rowids: readonly number[]): Map<number, CopyToVerify> {
    return new Map(all<CopyToVerify>(this.copiesToVerify, JSON.stringify(rowids)).map((copy) => [copy.copyRowid, copy]));
  }

  /** Re-stamp the sound copies under `prefix` a peer verified (those pushed up to `coversRunId`); returns how many. */
  restampFromPeer(p: { volumeId: number; destination: string; prefix: string; coversRunId: number; stampNs: bigint; runId: number }): number {
    return this.peerRestamp.run(p).changes;
  }

  /** Record a peer's finding on one copy, if the ledger holds these very bytes there as sound. */
  markFromPeer(p: { volumeId: number; destination: string; path: string; blake3: Buffer; state: 'missing' | 'corrupt'; runId: number }): boolean {
    return this.peerMark.run(p).changes === 1;
  }

  /** Copies a verify found missing or corrupt: the latched alarms. */
  lostCopies(volumeId: number): RemoteCopyRow[] {
    return all<RemoteCopyRow>(this.badCopies, volumeId);
  }
}
