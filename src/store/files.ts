// Contents and file rows: the index's state machine in SQL. Contents are insert-only.
// A path's live row changes only in status and run markers; new content at a path
// supersedes the live row and inserts a new one.

import Database from 'better-sqlite3';
import type { Db } from './db.js';
import { all, one, rawPagesByPath } from './rows.js';
import { ContentRow, FileRow, FileStatus, FileWithContent, RemoteCopyRow } from './types.js';

/** A live row as the index sees it. */
export interface IndexRow {
  id: number;
  status: FileStatus;
  blake3: Buffer;
  sizeBytes: number;
  mtimeNs: bigint;
  mode: number | null;
}

/** A file row the index inserts (present, first seen in `runId`). */
export interface NewFileRow {
  volumeId: number;
  path: string;
  contentId: number;
  mtimeNs: bigint;
  runId: number;
  mode: number | null;
}

/** Rows a multi-row INSERT writes: one call into SQLite instead of 64. */
const INSERT_ROWS = 64;
const FILE_COLUMNS = '(volume_id, path, content_id, mtime_ns, status, first_seen_run_id, last_seen_run_id, status_changed_run_id, mode)';
const FILE_VALUES = "(?, ?, ?, ?, 'present', ?, ?, ?, ?)";

/** Ids bound as one JSON array: a statement a batch instead of one a row. */
const JSON_IDS = 'SELECT value FROM json_each(?)';

/** Present rows sync reads at a time: a page is held, never the volume. */
export const PRESENT_PAGE = 1000;

/** A present file as a sync or its plan compares it with the ledger and a listing. */
export type PresentFile = Pick<FileWithContent, 'id' | 'path' | 'contentId' | 'size'>;

/** A present row as a shallow index compares it with the file on disk. */
export interface PresentState {
  path: string;
  sizeBytes: number;
  /** Nanoseconds as decimal text: exact beyond 2^53 without a BigInt a row. */
  mtimeNs: string;
  id: number;
  mode: number | null;
}

const FILE_WITH_CONTENT = `f.id, f.volume_id, f.path, f.content_id, f.mtime_ns, f.status, f.first_seen_run_id,
  f.last_seen_run_id, f.status_changed_run_id, f.mode, c.blake3, c.size, c.origin_node_id, c.origin_run_id`;

export class FileStore {
  private readonly contentByHash;
  private readonly contentById;
  private readonly fileInsert;
  private readonly fileInsertMany;
  private readonly contentInsertNew;
  private readonly fileSupersede;
  private readonly fileTouch;
  private readonly fileStatus;
  private readonly unseenMissing;
  private readonly liveRows;
  private readonly liveByPath;
  private readonly historyByPath;
  private readonly byContent;
  private readonly byId;
  private readonly presentRows;
  private readonly presentRowsAfter;
  private readonly byIds;
  private readonly presentPathRows;
  private readonly presentTotal;
  private readonly offloadedPathRows;
  private readonly goneRows;
  private readonly liveTotal;
  private readonly liveUpTo;
  private readonly contentIdByHash;
  private readonly liveForIndex;
  private readonly liveForIndexMany;
  private readonly presentStatesAfter;
  private readonly touchIfPresent;
  private readonly seenIfPresent;
  private readonly copiesOfContentEverywhere;
  private readonly countsByStatus;
  private readonly presentUnderFolder;
  private readonly replacedAfterOffload;

  constructor(db: Db) {
    const prep = (sql: string) => db.prepare(sql).safeIntegers(true);
    this.contentByHash = prep('SELECT id, blake3, size, origin_node_id, origin_run_id FROM contents WHERE blake3 = ?');
    this.contentById = prep('SELECT id, blake3, size, origin_node_id, origin_run_id FROM contents WHERE id = ?');
    this.fileInsert = prep(`INSERT INTO files ${FILE_COLUMNS} VALUES ${FILE_VALUES}`);
    this.fileInsertMany = prep(`INSERT INTO files ${FILE_COLUMNS} VALUES ${Array(INSERT_ROWS).fill(FILE_VALUES).join(', ')}`);
    this.contentInsertNew = db.prepare('INSERT INTO contents (blake3, size, origin_node_id, origin_run_id) VALUES (?, ?, ?, ?) ON CONFLICT (blake3) DO NOTHING');
    this.fileSupersede = prep(`UPDATE files SET status = 'superseded', status_changed_run_id = ? WHERE id = ? AND status <> 'superseded'`);
    this.fileTouch = prep('UPDATE files SET last_seen_run_id = ?, mtime_ns = ?, mode = coalesce(?, mode) WHERE id = ?');
    this.fileStatus = prep('UPDATE files SET status = ?, status_changed_run_id = ?, last_seen_run_id = max(last_seen_run_id, ?) WHERE id = ?');
    this.unseenMissing = prep(`UPDATE files SET status = 'missing', status_changed_run_id = ?
      WHERE volume_id = ? AND status = 'present' AND last_seen_run_id < ?`);
    this.liveRows = prep(`SELECT ${FILE_WITH_CONTENT} FROM files f JOIN contents c ON c.id = f.content_id
      WHERE f.volume_id = ? AND f.status <> 'superseded' ORDER BY f.path`);
    this.presentRows = prep(`SELECT ${FILE_WITH_CONTENT} FROM files f JOIN contents c ON c.id = f.content_id
      WHERE f.volume_id = ? AND f.status = 'present' ORDER BY f.path`);
    // Keyset paging on the present-rows index: each page is its own statement, run to the end,
    // so no read stays open across the ledger writes a sync makes between pages. Only what a sync
    // compares, raw: the whole row is read just for a file it sends.
    this.presentRowsAfter = db
      .prepare(`SELECT f.path, f.id, f.content_id, c.size FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.volume_id = ? AND f.status = 'present' AND f.path > ? ORDER BY f.path LIMIT ?`)
      .raw(true);
    this.byIds = prep(`SELECT ${FILE_WITH_CONTENT} FROM files f JOIN contents c ON c.id = f.content_id WHERE f.id IN (${JSON_IDS})`);
    this.presentPathRows = prep(`SELECT path FROM files WHERE volume_id = ? AND status = 'present' ORDER BY path`).pluck();
    this.presentTotal = prep(`SELECT count(*) AS files, coalesce(sum(c.size), 0) AS bytes FROM files f JOIN contents c ON c.id = f.content_id
      WHERE f.volume_id = ? AND f.status = 'present' AND f.path NOT IN (${JSON_IDS})`);
    this.goneRows = prep(`SELECT ${FILE_WITH_CONTENT} FROM files f JOIN contents c ON c.id = f.content_id
      WHERE f.volume_id = ? AND f.status IN ('offloaded', 'missing') ORDER BY f.path`);
    this.offloadedPathRows = prep(`SELECT path FROM files WHERE volume_id = ? AND status = 'offloaded' ORDER BY path`).pluck();
    this.liveByPath = prep(`SELECT ${FILE_WITH_CONTENT} FROM files f JOIN contents c ON c.id = f.content_id
      WHERE f.volume_id = ? AND f.path = ? AND f.status <> 'superseded'`);
    this.historyByPath = prep(`SELECT ${FILE_WITH_CONTENT} FROM files f JOIN contents c ON c.id = f.content_id
      WHERE f.volume_id = ? AND f.path = ? ORDER BY f.id`);
    this.byContent = prep(`SELECT ${FILE_WITH_CONTENT} FROM files f JOIN contents c ON c.id = f.content_id
      WHERE f.content_id = ? ORDER BY f.volume_id, f.path, f.id`);
    this.countsByStatus = prep(`SELECT f.status, count(*) AS files, coalesce(sum(c.size), 0) AS bytes
      FROM files f JOIN contents c ON c.id = f.content_id WHERE f.volume_id = ? GROUP BY f.status`);
    this.byId = prep(`SELECT ${FILE_WITH_CONTENT} FROM files f JOIN contents c ON c.id = f.content_id WHERE f.id = ?`);
    // The index's hot path: lean statements (raw rows, no column-name mapping), once per file.
    this.contentIdByHash = db.prepare('SELECT id FROM contents WHERE blake3 = ?').pluck(true);
    this.liveForIndex = db
      .prepare(`SELECT f.id, f.status, c.blake3, c.size, f.mtime_ns, f.mode FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.volume_id = ? AND f.path = ? AND f.status <> 'superseded'`)
      .raw(true)
      .safeIntegers(true);
    this.liveForIndexMany = db
      .prepare(`SELECT f.id, f.status, c.blake3, c.size, f.mtime_ns, f.mode, f.path FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.volume_id = ? AND f.path IN (${JSON_IDS}) AND f.status <> 'superseded'`)
      .raw(true)
      .safeIntegers(true);
    // A shallow index reads present rows beside its walk, both in path order: what it compares, no more.
    this.presentStatesAfter = db
      .prepare(`SELECT f.path, c.size, CAST(f.mtime_ns AS TEXT), f.id, f.mode FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.volume_id = ? AND f.status = 'present' AND f.path > ? ORDER BY f.path LIMIT ?`)
      .raw(true);
    this.touchIfPresent = prep(`UPDATE files SET last_seen_run_id = ?, mtime_ns = ?, mode = coalesce(?, mode) WHERE id = ? AND status = 'present'`);
    this.seenIfPresent = db.prepare(`UPDATE files SET last_seen_run_id = ? WHERE id IN (${JSON_IDS}) AND status = 'present'`);
    this.liveTotal = prep(`SELECT count(*) AS n FROM files WHERE volume_id = ? AND status <> 'superseded'`);
    this.liveUpTo = prep(`SELECT count(*) AS n FROM (SELECT 1 FROM files WHERE volume_id = ? AND status <> 'superseded' LIMIT ?)`);
    this.replacedAfterOffload = prep(`SELECT DISTINCT ${FILE_WITH_CONTENT}, f.status_changed_run_id AS replaced_in_run_id
      FROM offload_intents i JOIN files f ON f.id = i.file_id JOIN contents c ON c.id = f.content_id
      WHERE i.volume_id = ? AND i.state = 'done' AND f.status = 'superseded' ORDER BY f.path, f.id DESC`);
    this.presentUnderFolder = prep(`SELECT count(*) AS n FROM files WHERE volume_id = ? AND status = 'present' AND path >= ? AND path < ?`);
    this.copiesOfContentEverywhere = prep(`SELECT volume_id, destination, path, content_id, state, pushed_run_id, verified_at_ns, version
      FROM remote_copies WHERE content_id = ? ORDER BY destination, volume_id, path`);
  }

  content(blake3: Buffer): ContentRow | undefined {
    return one<ContentRow>(this.contentByHash, blake3);
  }

  contentRow(contentId: number): ContentRow | undefined {
    return one<ContentRow>(this.contentById, contentId);
  }

  /**
   * The content id for these bytes, inserting it with this origin if new. The insert is tried
   * first (the index calls this for bytes it has not seen at that path, mostly new ones); a
   * content already known keeps its row and origin.
   */
  ensureContent(blake3: Buffer, sizeBytes: number, originNodeId: number, originRunId: number): number {
    const inserted = this.contentInsertNew.run(blake3, sizeBytes, originNodeId, originRunId);
    if (inserted.changes === 1) return Number(inserted.lastInsertRowid);
    return this.contentIdByHash.get(blake3) as number;
  }

  insertFile(volumeId: number, filePath: string, contentId: number, mtimeNs: bigint, runId: number, mode: number | null = null): number {
    return Number(this.fileInsert.run(volumeId, filePath, contentId, mtimeNs, runId, runId, runId, mode).lastInsertRowid);
  }

  /** Insert present rows, 64 to a statement. */
  insertFiles(rows: readonly NewFileRow[]): void {
    const params: unknown[] = [];
    let i = 0;
    for (; i + INSERT_ROWS <= rows.length; i += INSERT_ROWS) {
      params.length = 0;
      for (let j = i; j < i + INSERT_ROWS; j++) {
        const r = rows[j];
        params.push(r.volumeId, r.path, r.contentId, r.mtimeNs, r.runId, r.runId, r.runId, r.mode);
      }
      this.fileInsertMany.run(params);
    }
    for (; i < rows.length; i++) {
      const r = rows[i];
      this.fileInsert.run(r.volumeId, r.path, r.contentId, r.mtimeNs, r.runId, r.runId, r.runId, r.mode);
    }
  }

  supersede(fileId: number, runId: number): void {
    this.fileSupersede.run(runId, fileId);
  }

  /** Seen again: the run marker and mtime move; a given mode replaces the recorded one. */
  touch(fileId: number, runId: number, mtimeNs: bigint, mode: number | null = null): void {
    this.fileTouch.run(runId, mtimeNs, mode, fileId);
  }

  setStatus(fileId: number, status: FileStatus, runId: number): void {
    this.fileStatus.run(status, runId, runId, fileId);
  }

  /** After a complete, error-free walk: present rows this run did not see become missing. */
  markUnseenMissing(volumeId: number, runId: number): number {
    return this.unseenMissing.run(runId, volumeId, runId).changes;
  }

  /** Every non-superseded row of a volume, in path order. */
  live(volumeId: number): FileWithContent[] {
    return all<FileWithContent>(this.liveRows, volumeId);
  }

  /** Present rows of a volume, streamed in path order. */
  *iteratePresent(volumeId: number): IterableIterator<FileWithContent> {
    for (const row of this.presentRows.iterate(volumeId) as IterableIterator<Record<string, unknown>>) {
      yield mapFile(row);
    }
  }

  /** Offloaded and missing rows of a volume (what restore can bring back), streamed in path order. */
  *iterateGone(volumeId: number): IterableIterator<FileWithContent> {
    for (const row of this.goneRows.iterate(volumeId) as IterableIterator<Record<string, unknown>>) yield mapFile(row);
  }

  present(volumeId: number): FileWithContent[] {
    return all<FileWithContent>(this.presentRows, volumeId);
  }

  /**
   * Present files in path order (SQLite's byte order: code point order), read a page at a time:
   * memory stays flat at any size, and the caller may await and write between rows.
   */
  *presentInPages(volumeId: number, pageSize = PRESENT_PAGE): Generator<PresentFile> {
    const rows = rawPagesByPath((after, limit) => this.presentRowsAfter.all(volumeId, after, limit) as [string, number, number, number][], '', pageSize);
    for (const [path, id, contentId, size] of rows) yield { id, path, contentId, size };
  }

  /** The whole rows of these ids (those that still exist), by id: one query for them all. */
  filesByIds(fileIds: readonly number[]): Map<number, FileWithContent> {
    if (fileIds.length === 0) return new Map();
    return new Map(all<FileWithContent>(this.byIds, JSON.stringify(fileIds)).map((f) => [f.id, f]));
  }

  /** Paths of a volume's present files, in path order: names only, for checks that need them all at once. */
  presentPaths(volumeId: number): string[] {
    return this.presentPathRows.all(volumeId) as string[];
  }

  /** How many present files and bytes a volume has, leaving out those at `exceptPaths`. */
  presentTotals(volumeId: number, exceptPaths: readonly string[] = []): { files: number; bytes: number } {
    return one<{ files: number; bytes: number }>(this.presentTotal, volumeId, JSON.stringify(exceptPaths))!;
  }

  /** Paths of a volume's offloaded files (their copies are all that is left of them). */
  offloadedPaths(volumeId: number): string[] {
    return this.offloadedPathRows.all(volumeId) as string[];
  }

  livePath(volumeId: number, filePath: string): FileWithContent | undefined {
    return one<FileWithContent>(this.liveByPath, volumeId, filePath);
  }

  pathHistory(volumeId: number, filePath: string): FileWithContent[] {
    return all<FileWithContent>(this.historyByPath, volumeId, filePath);
  }

  withContent(contentId: number): FileWithContent[] {
    return all<FileWithContent>(this.byContent, contentId);
  }

  /** Files and bytes per status for a volume. */
  statusCounts(volumeId: number): { status: FileRow['status']; files: number; bytes: number }[] {
    return all(this.countsByStatus, volumeId);
  }

  /** The live row at a path, reduced to what the index decides on. */
  indexRow(volumeId: number, filePath: string): IndexRow | undefined {
    const row = this.liveForIndex.get(volumeId, filePath) as IndexRowColumns | undefined;
    return row && indexRowOf(row);
  }

  /** The live rows at these paths (a directory's files), by path: one query for them all. */
  indexRows(volumeId: number, filePaths: readonly string[]): Map<string, IndexRow> {
    const rows = this.liveForIndexMany.all(volumeId, JSON.stringify(filePaths)) as [...IndexRowColumns, string][];
    return new Map(rows.map((row) => [row[6], indexRowOf(row)]));
  }

  /**
   * What a shallow index compares of each present row (size, mtime in ns as decimal text, id,
   * mode), in path order, a page at a time: nothing held open between pages, so the caller may
   * write in between.
   */
  *presentStatesInPages(volumeId: number, pageSize = PRESENT_PAGE): Generator<PresentState> {
    const rows = rawPagesByPath((after, limit) => this.presentStatesAfter.all(volumeId, after, limit) as [string, number, string, number, number | null][], '', pageSize);
    for (const [path, sizeBytes, mtimeNs, id, mode] of rows) yield { path, sizeBytes, mtimeNs, id, mode };
  }

  /** Mark a present row seen by this run; false when the row is no longer present. */
  touchPresent(fileId: number, runId: number, mtimeNs: bigint, mode: number | null = null): boolean {
    return this.touchIfPresent.run(runId, mtimeNs, mode, fileId).changes === 1;
  }

  /**
   * Mark present rows seen by this run, their mtime and mode as recorded: one statement for
   * them all. Returns how many were still present (the caller finds which were not).
   */
  seenPresent(fileIds: readonly number[], runId: number): number {
    return this.seenIfPresent.run(runId, JSON.stringify(fileIds)).changes;
  }

  /**
   * Rows that were offloaded (their offload completed) and later superseded by new bytes at
   * their path, newest first per path, each with the run that superseded it.
   */
  offloadedThenReplaced(volumeId: number): (FileWithContent & { replacedInRunId: number })[] {
    return all<FileWithContent & { replacedInRunId: number }>(this.replacedAfterOffload, volumeId);
  }

  /** Present rows under a folder ('a/b' counts 'a/b/...'). */
  presentUnder(volumeId: number, folder: string): number {
    return one<{ n: number }>(this.presentUnderFolder, volumeId, `${folder}/`, `${folder}0`)!.n;
  }

  /** How many non-superseded rows a volume has: what a wrong root could turn missing. */
  liveCount(volumeId: number): number {
    return one<{ n: number }>(this.liveTotal, volumeId)!.n;
  }

  /** Does a volume have at least `n` non-superseded rows? Reads no more than n index entries. */
  hasLiveRows(volumeId: number, n: number): boolean {
    return one<{ n: number }>(this.liveUpTo, volumeId, n)!.n >= n;
  }

  /** Every destination copy of a content, across volumes (the copy ledger, read-only). */
  remoteCopiesOfContent(contentId: number): RemoteCopyRow[] {
    return all<RemoteCopyRow>(this.copiesOfContentEverywhere, contentId);
  }

  file(fileId: number): FileWithContent | undefined {
    return one<FileWithContent>(this.byId, fileId);
  }

  /**
   * A row the caller read earlier. File rows are never deleted, so a missing one means a
   * damaged database: reported as SQLite reports damage, never as "the file changed".
   */
  existingFile(fileId: number): FileWithContent {
    return this.file(fileId) ?? vanished('file', fileId);
  }

  /** A content a file row names: contents are never deleted either. */
  existingContent(contentId: number): ContentRow {
    return this.contentRow(contentId) ?? vanished('content', contentId);
  }
}

type IndexRowColumns = [bigint, FileStatus, Buffer, bigint, bigint, bigint | null];

function indexRowOf(row: IndexRowColumns | [...IndexRowColumns, string]): IndexRow {
  return { id: Number(row[0]), status: row[1], blake3: row[2], sizeBytes: Number(row[3]), mtimeNs: row[4], mode: row[5] === null ? null : Number(row[5]) };
}

export function vanished(table: 'file' | 'content', id: number): never {
  throw new Database.SqliteError(`${table} row ${id} vanished, and ${table} rows are never deleted`, 'SQLITE_CORRUPT');
}

function mapFile(row: Record<string, unknown>): FileWithContent {
  return {
    id: Number(row.id),
    volumeId: Number(row.volume_id),
    path: row.path as string,
    contentId: Number(row.content_id),
    mtimeNs: row.mtime_ns as bigint,
    status: row.status as FileRow['status'],
    firstSeenRunId: Number(row.first_seen_run_id),
    lastSeenRunId: Number(row.last_seen_run_id),
    statusChangedRunId: Number(row.status_changed_run_id),
    mode: row.mode === null || row.mode === undefined ? null : Number(row.mode),
    blake3: row.blake3 as Buffer,
    size: Number(row.size),
    originNodeId: Number(row.origin_node_id),
    originRunId: Number(row.origin_run_id),
  };
}
