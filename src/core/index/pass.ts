// One index invocation's state: its counts and errors, and the file state machine applied to
// hashed and re-seen files in batched IMMEDIATE transactions. New content at a path supersedes
// the old row; the same content re-seen touches it; bytes back at a missing or offloaded path
// make it present again.

import { Store } from '../../store/store.js';
import { IndexRow, NewFileRow, PresentState } from '../../store/files.js';
import { PathCursor } from '../path-cursor.js';
import { Hooks, noHooks, Reporter } from '../reporter.js';
import { ListedFile } from './walk.js';

/**
 * Results applied per IMMEDIATE transaction. A commit (an fsync of the WAL) costs as much as
 * applying a few thousand rows, so small files go in large batches (100k files of 1 KiB: 200
 * commits of 500 took ~1 s of a 5 s index); the write lock is still held for only tens of ms.
 */
export const APPLY_BATCH_FILES = 8192;
/** ...and at most this many hashed bytes: a crash never loses more than ~a second of hashing. */
export const APPLY_BATCH_BYTES = 256 << 20;

/** Errors kept for the report; all are counted. */
export const MAX_REPORTED_ERRORS = 1000;

export interface IndexCounts {
  new: number;
  changed: number;
  unchanged: number;
  reappeared: number;
  missing: number;
  errors: number;
  hashedFiles: number;
  hashedBytes: number;
  skippedSymlinks: number;
  skippedOther: number;
  /** Files and folders the volume's `exclude:` patterns skipped (a folder counts once, unentered). */
  excluded: number;
  /** Present rows a pattern now excludes, marked missing by this run (nothing deleted). */
  newlyExcluded: number;
  /** Other reserved `.squirrel-*` names skipped (squirrel's own scratch, or a user file so named). */
  skippedReserved: number;
}

export interface IndexError {
  path: string;
  message: string;
}

export type Applied =
  /** asRecorded: the mode is the recorded one too, so only the run marker moves. */
  | { kind: 'touch'; relativePath: string; fileId: number; mtimeNs: bigint; mode: number; asRecorded: boolean }
  | { kind: 'hashed'; relativePath: string; hash: Buffer; sizeBytes: number; mtimeNs: bigint; mode: number };

export function zeroCounts(): IndexCounts {
  return { new: 0, changed: 0, unchanged: 0, reappeared: 0, missing: 0, errors: 0, hashedFiles: 0, hashedBytes: 0, skippedSymlinks: 0, skippedOther: 0, excluded: 0, newlyExcluded: 0, skippedReserved: 0 };
}

/** What one index invocation carries around. */
export class IndexPass {
  readonly counts = zeroCounts();
  readonly errors: IndexError[] = [];
  readonly reservedSkipped: string[] = [];
  /** A failure that must end the run (the database refused a batch). */
  fatal: unknown = null;
  /** Paths seen by a dry run, to count what would go missing. */
  readonly seen = new Set<string>();
  private pending: Applied[] = [];
  private pendingBytes = 0;
  /** Rows this batch inserts, written together at its end. */
  private newRows: NewFileRow[] = [];
  private doneFiles = 0;
  private listedFiles = 0;
  private listedBytes = 0;
  private doneBytes = 0;

  constructor(
    private readonly store: Store | null,
    private readonly volumeId: number | null,
    private readonly runId: number | null,
    private readonly nodeId: number | null,
    private readonly reporter: Reporter,
    private readonly hooks: Hooks = noHooks,
  ) {}

  get writing(): boolean {
    return this.runId !== null;
  }

  error(relativePath: string, message: string): void {
    this.counts.errors++;
    if (this.errors.length < MAX_REPORTED_ERRORS) this.errors.push({ path: relativePath, message });
    this.reporter.warn(`${relativePath}: ${message}`);
  }

  listed(file: ListedFile): void {
    this.listedFiles++;
    this.listedBytes += file.sizeBytes;
    if (!this.writing) this.seen.add(file.relativePath);
  }

  /** The live row at a path, or undefined (always undefined without a database). */
  live(relativePath: string): IndexRow | undefined {
    return this.store && this.volumeId !== null ? this.store.files.indexRow(this.volumeId, relativePath) : undefined;
  }

  /** Does the index already record at least `n` files of this volume (false without a database)? */
  recordsAtLeast(n: number): boolean {
    return this.store !== null && this.volumeId !== null && this.store.files.hasLiveRows(this.volumeId, n);
  }

  /**
   * The present rows in path order, to be read beside the walk (null without a database): a
   * shallow index trusts a file its row records with this size and mtime.
   */
  presentStates(): PathCursor<PresentState> | null {
    const { store, volumeId } = this;
    return store && volumeId !== null ? new PathCursor(() => store.files.presentStatesInPages(volumeId)) : null;
  }

  done(hashedBytes: number): void {
    this.doneFiles++;
    this.doneBytes += hashedBytes;
    if (this.doneFiles % 32 === 0 || hashedBytes >= 1 << 20) this.progress();
  }

  progress(): void {
    this.reporter.progress({
      phase: 'indexing',
      doneFiles: this.doneFiles,
      // Totals grow as the walk runs ahead: "of the files found so far".
      totalFiles: this.listedFiles,
      doneBytes: this.doneBytes,
      totalBytes: this.listedBytes,
    });
  }

  push(applied: Applied): void {
    this.pending.push(applied);
    if (applied.kind === 'hashed') this.pendingBytes += applied.sizeBytes;
    if (this.pending.length >= APPLY_BATCH_FILES || this.pendingBytes >= APPLY_BATCH_BYTES) this.flush();
  }

  /**
   * Apply pending results in one IMMEDIATE transaction (dry run: only count). Never awaits.
   * `last`: the run's final batch, inside the run's closing transaction (no pause point there).
   */
  flush(last = false): void {
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (batch.length === 0) return;
    if (this.writing) {
      this.store!.immediate(() => this.applyBatch(batch));
      if (!last) this.hooks.at('index.after-batch');
    } else {
      batch.forEach((a) => this.apply(a));
    }
  }

  /**
   * Rows seen again exactly as recorded (a shallow index's usual case) are marked in one
   * statement; should any of them no longer be present, each is applied alone to find which.
   */
  private applyBatch(batch: Applied[]): void {
    const files = this.store!.files;
    // The live rows at the hashed paths, read inside this transaction in one query.
    const hashedPaths = batch.flatMap((a) => (a.kind === 'hashed' ? [a.relativePath] : []));
    const liveRows = hashedPaths.length > 0 ? files.indexRows(this.volumeId!, hashedPaths) : new Map<string, IndexRow>();
    const live = (relativePath: string) => liveRows.get(relativePath);
    const seenIds: number[] = [];
    const seen: Applied[] = [];
    for (const a of batch) {
      if (a.kind === 'touch' && a.asRecorded) {
        seenIds.push(a.fileId);
        seen.push(a);
      } else {
        this.apply(a, live);
      }
    }
    // New rows go in together, after every supersede of this batch (a path is walked once).
    files.insertFiles(this.newRows);
    this.newRows = [];
    if (seenIds.length === 0) return;
    if (files.seenPresent(seenIds, this.runId!) === seenIds.length) this.counts.unchanged += seenIds.length;
    else seen.forEach((a) => this.apply(a, live));
  }

  private apply(a: Applied, liveAt: (relativePath: string) => IndexRow | undefined = (relativePath) => this.live(relativePath)): void {
    const files = this.store?.files;
    const runId = this.runId!;
    if (a.kind === 'touch') {
      // Decided on the row read moments ago; the update itself re-checks it is still present.
      if (this.writing && !files!.touchPresent(a.fileId, runId, a.mtimeNs, a.mode)) {
        this.error(a.relativePath, 'its index row changed while indexing; index again');
        return;
      }
      this.counts.unchanged++;
      return;
    }
    // Re-read inside the transaction: the row, not a snapshot, is the truth.
    const live = liveAt(a.relativePath);
    if (live && live.blake3.equals(a.hash)) {
      if (live.status === 'present') {
        this.counts.unchanged++;
      } else {
        // Same bytes back at a missing or offloaded path: same row, first_seen_run_id kept.
        if (this.writing) files!.setStatus(live.id, 'present', runId);
        this.counts.reappeared++;
      }
      if (this.writing) files!.touch(live.id, runId, a.mtimeNs, a.mode);
      return;
    }
    if (this.writing) {
      const contentId = files!.ensureContent(a.hash, a.sizeBytes, this.nodeId!, runId);
      if (live) files!.supersede(live.id, runId);
      this.newRows.push({ volumeId: this.volumeId!, path: a.relativePath, contentId, mtimeNs: a.mtimeNs, runId, mode: a.mode });
    }
    if (live) this.counts.changed++;
    else this.counts.new++;
  }
}
