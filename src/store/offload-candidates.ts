// The offload planner's scan of present rows: a million-row read tuned for speed (raw rows,
// path-keyed chunks, content facts preloaded in rowid order). Read-only; the state machine
// that writes these rows lives in files.ts.

import type { Db } from './db.js';
import type { FileStore } from './files.js';
import { OffloadCandidateRow } from './types.js';

const CANDIDATE_CHUNK_ROWS = 4096;
/** What a candidate row carries as its hash when the caller asked for none. */
const NO_HASH = new Uint8Array(0);
/** Above this content id, preloading content facts (56 bytes an id) would cost over 450 MB. */
const MAX_PRELOADED_CONTENT_ID = 8_000_000;

/** Size and origin (and BLAKE3) of each content by id, read in one sequential pass; origin 0: not loaded. */
interface ContentFacts {
  size: Float64Array;
  originNodeId: Float64Array;
  originRunId: Float64Array;
  /** 32 bytes an id; null when the caller needs no hashes. */
  blake3: Uint8Array | null;
}

export class OffloadCandidateStore {
  private readonly candidatesAll;
  private readonly candidatesInRange;
  private readonly candidatesBare;
  private readonly contentFactsChunk;
  private readonly contentHashesChunk;
  private readonly maxContentId;

  constructor(
    db: Db,
    private readonly files: FileStore,
  ) {
    // Offload candidates: raw rows without safeIntegers (one bigint a column is the main cost
    // of a million-row scan), mtime split so it stays exact, the hash only when asked (a Buffer
    // a row costs a dry run more than its gate), read in path-keyed chunks: one native call per
    // chunk instead of one per row.
    const candidates = (hash: string, range: string) =>
      db.prepare(`SELECT f.id, f.path, f.content_id, f.mtime_ns / 1000000000, f.mtime_ns % 1000000000,
          f.status_changed_run_id, c.size, c.origin_node_id, c.origin_run_id${hash}
        FROM files f JOIN contents c ON c.id = f.content_id
        WHERE f.volume_id = ? AND f.status = 'present' AND f.path >= ? ${range} ORDER BY f.path LIMIT ?`).raw(true);
    this.candidatesAll = [candidates('', ''), candidates(', c.blake3', '')];
    this.candidatesInRange = [candidates('', 'AND f.path < ?'), candidates(', c.blake3', 'AND f.path < ?')];
    // A whole-volume scan skips the join: a million rowid lookups into contents, in path
    // order, cost more than reading all of contents once in rowid order.
    this.candidatesBare = db
      .prepare(`SELECT f.id, f.path, f.content_id, f.mtime_ns / 1000000000, f.mtime_ns % 1000000000, f.status_changed_run_id
        FROM files f WHERE f.volume_id = ? AND f.status = 'present' AND f.path >= ? ORDER BY f.path LIMIT ?`)
      .raw(true);
    this.contentFactsChunk = db.prepare('SELECT id, size, origin_node_id, origin_run_id FROM contents WHERE id > ? ORDER BY id LIMIT ?').raw(true);
    // The same chunk's hashes as one blob (32 bytes each, in id order): one Buffer a chunk
    // instead of one a content, which would cost more than the rest of the preload.
    this.contentHashesChunk = db
      .prepare("SELECT CAST(group_concat(blake3, '' ORDER BY id) AS BLOB) FROM (SELECT id, blake3 FROM contents WHERE id > ? ORDER BY id LIMIT ?)")
      .pluck(true);
    this.maxContentId = db.prepare('SELECT max(id) FROM contents').pluck(true);
  }

  /**
   * Present rows for offload planning, streamed in path order; with a range, only paths in
   * [fromPath, toPath) (byte order), so a selector's subtree is one index range. `withHashes`:
   * each row carries its content's BLAKE3 (else an empty one).
   */
  *iterate(volumeId: number, range: { fromPath: string; toPath: string } | null, withHashes = false): IterableIterator<OffloadCandidateRow> {
    const facts = range === null ? this.contentFacts(withHashes) : null;
    const hashed = withHashes ? 1 : 0;
    let from = range?.fromPath ?? '';
    for (;;) {
      const rows = (facts !== null
        ? this.candidatesBare.all(volumeId, from, CANDIDATE_CHUNK_ROWS)
        : range === null
          ? this.candidatesAll[hashed].all(volumeId, from, CANDIDATE_CHUNK_ROWS)
          : this.candidatesInRange[hashed].all(volumeId, from, range.toPath, CANDIDATE_CHUNK_ROWS)) as unknown[][];
      for (const r of rows) {
        const row: OffloadCandidateRow = {
          id: r[0] as number,
          path: r[1] as string,
          contentId: r[2] as number,
          mtimeSeconds: r[3] as number,
          mtimeNanos: r[4] as number,
          statusChangedRunId: r[5] as number,
          size: r[6] as number,
          originNodeId: r[7] as number,
          originRunId: r[8] as number,
          blake3: (r[9] as Uint8Array | undefined) ?? NO_HASH,
          blake3Offset: 0,
        };
        if (facts !== null) this.addContentFacts(row, facts);
        yield row;
      }
      if (rows.length < CANDIDATE_CHUNK_ROWS) return;
      // The next chunk starts just after the last path: no path holds a NUL, so P + NUL is
      // the smallest string greater than P.
      from = `${rows[rows.length - 1][1] as string}\0`;
    }
  }

  /** Every content's size and origin (and hash), by id; null when the ids are too sparse to hold in arrays. */
  private contentFacts(withHashes: boolean): ContentFacts | null {
    const maxId = (this.maxContentId.get() as number | null) ?? 0;
    if (maxId > MAX_PRELOADED_CONTENT_ID) return null;
    const facts = {
      size: new Float64Array(maxId + 1),
      originNodeId: new Float64Array(maxId + 1),
      originRunId: new Float64Array(maxId + 1),
      blake3: withHashes ? new Uint8Array(32 * (maxId + 1)) : null,
    };
    for (let after = 0; ; ) {
      const rows = this.contentFactsChunk.all(after, CANDIDATE_CHUNK_ROWS * 4) as number[][];
      for (const [id, size, originNodeId, originRunId] of rows) {
        facts.size[id] = size;
        facts.originNodeId[id] = originNodeId;
        facts.originRunId[id] = originRunId;
      }
      if (facts.blake3 !== null) {
        const hashes = this.contentHashesChunk.get(after, CANDIDATE_CHUNK_ROWS * 4) as Buffer | null;
        if (hashes !== null) placeHashes(facts.blake3, rows, hashes);
      }
      if (rows.length < CANDIDATE_CHUNK_ROWS * 4) return facts;
      after = rows[rows.length - 1][0];
    }
  }

  /** Fill a bare candidate's content columns; a content added after the preload is read alone. */
  private addContentFacts(row: OffloadCandidateRow, facts: ContentFacts): void {
    if (facts.originNodeId[row.contentId]) {
      row.size = facts.size[row.contentId];
      row.originNodeId = facts.originNodeId[row.contentId];
      row.originRunId = facts.originRunId[row.contentId];
      if (facts.blake3 !== null) {
        row.blake3 = facts.blake3;
        row.blake3Offset = 32 * row.contentId;
      }
      return;
    }
    const content = this.files.existingContent(row.contentId);
    row.size = content.size;
    row.originNodeId = content.originNodeId;
    row.originRunId = content.originRunId;
    if (facts.blake3 !== null) row.blake3 = content.blake3;
  }
}

/** The chunk's hashes, in the order of its rows, at their ids' places (ids are dense, not gapless). */
function placeHashes(target: Uint8Array, rows: number[][], hashes: Buffer): void {
  if (rows.length === 0) return;
  const first = rows[0][0];
  if (rows[rows.length - 1][0] - first === rows.length - 1) {
    target.set(hashes, 32 * first);
    return;
  }
  rows.forEach(([id], i) => target.set(hashes.subarray(32 * i, 32 * i + 32), 32 * id));
}
