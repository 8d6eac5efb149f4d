// `index`: walk a volume, hash what needs hashing on all cores, and apply the file state
// machine in batched IMMEDIATE transactions. New content at a path supersedes the old row;
// the same content re-seen touches it; bytes back at a missing or offloaded path make it
// present again. Only a complete, error-free walk of the same root may mark rows missing.

import fs from 'node:fs';
import { Clock } from '../../clock.js';
import { VolumeConfig } from '../../config/types.js';
import { errorMessage, UsageError } from '../../errors.js';
import { Store } from '../../store/store.js';
import { IndexRow } from '../../store/files.js';
import { excludeMatcher } from '../../config/exclude.js';
import { excludedPresentRows, retireExcluded } from '../exclude.js';
import { Hooks, Reporter } from '../reporter.js';
import { beginRun, finishRun, RunIdentity, statusForErrors, TerminalStatus } from '../runs.js';
import { HashOutcome } from './hash-file.js';
import { createHasher, Hasher } from './hash-pool.js';
import { checkVolumeRoot, MARKER_FORMAT, readMarker, VolumeRootCheck, writeMarker } from './volume-root.js';
import { ListedFile, walkVolume } from './walk.js';

/**
 * Results applied per IMMEDIATE transaction. A commit (an fsync of the WAL) costs as much as
 * applying a few thousand rows, so small files go in large batches (100k files of 1 KiB: 200
 * commits of 500 took ~1 s of a 5 s index); the write lock is still held for only tens of ms.
 */
export const APPLY_BATCH_FILES = 8192;
/** ...and at most this many hashed bytes: a crash never loses more than ~a second of hashing. */
export const APPLY_BATCH_BYTES = 256 << 20;
/** Files handed to the hasher and not yet back: bounds memory, keeps every worker busy. */
const MAX_FILES_IN_FLIGHT = 1024;
/** Errors kept for the report; all are counted. */
const MAX_REPORTED_ERRORS = 1000;

export interface IndexOptions {
  volume: VolumeConfig;
  /** Trust (size, mtime_ns) of present rows instead of re-hashing them. */
  shallow: boolean;
  /** Walk and hash, report what would change, write nothing (no run row, no marker). */
  dryRun: boolean;
  /** Write a lost `.squirrel-volume` marker again for a volume indexed before (or adopt an older one). */
  restoreMarker: boolean;
  /** Start this index over a volume another index owned: re-own its marker. */
  newIndex?: boolean;
  /** Absolute paths never indexed (the database and its journals, if inside the volume). */
  excludeAbsolutePaths: string[];
}

export interface IndexDeps {
  /** Null only for a dry run before any database exists. */
  store: Store | null;
  /** Who is running; called only when the run writes (it registers the node). */
  identity: () => RunIdentity;
  nodeName: string;
  /** The invocation's one "now": the run's start. */
  nowNs: bigint;
  /** Read once more at the end, for the run's ended_at_ns only. */
  clock: Clock;
  reporter: Reporter;
  hooks: Hooks;
  /** Injected in tests; default: a worker pool over all cores. */
  hasher?: Hasher;
}

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

export interface IndexResult {
  volume: string;
  root: string;
  runId: number | null;
  status: TerminalStatus | 'dry-run';
  dryRun: boolean;
  shallow: boolean;
  counts: IndexCounts;
  errors: IndexError[];
  /** The reserved names skipped (the first few), so a user file among them can be found. */
  reservedSkipped: string[];
  markerWritten: boolean;
  /** Why rows were not marked missing, when they were not. */
  missingSkippedReason: string | null;
}

type Applied =
  | { kind: 'touch'; relativePath: string; fileId: number; mtimeNs: bigint; mode: number }
  | { kind: 'hashed'; relativePath: string; hash: Buffer; sizeBytes: number; mtimeNs: bigint; mode: number };

function zeroCounts(): IndexCounts {
  return { new: 0, changed: 0, unchanged: 0, reappeared: 0, missing: 0, errors: 0, hashedFiles: 0, hashedBytes: 0, skippedSymlinks: 0, skippedOther: 0, excluded: 0, newlyExcluded: 0, skippedReserved: 0 };
}

/** What one index invocation carries around. */
class IndexPass {
  readonly counts = zeroCounts();
  readonly errors: IndexError[] = [];
  readonly reservedSkipped: string[] = [];
  /** A failure that must end the run (the database refused a batch). */
  fatal: unknown = null;
  /** Paths seen by a dry run, to count what would go missing. */
  readonly seen = new Set<string>();
  private pending: Applied[] = [];
  private pendingBytes = 0;
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

  /** Apply pending results in one IMMEDIATE transaction (dry run: only count). Never awaits. */
  flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (batch.length === 0) return;
    if (this.writing) this.store!.immediate(() => batch.forEach((a) => this.apply(a)));
    else batch.forEach((a) => this.apply(a));
  }

  private apply(a: Applied): void {
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
    const live = this.live(a.relativePath);
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
      files!.insertFile(this.volumeId!, a.relativePath, contentId, a.mtimeNs, runId, a.mode);
    }
    if (live) this.counts.changed++;
    else this.counts.new++;
  }
}

/** Walk, hash and record. Throws typed errors for a root that is not this volume. */
export async function indexVolume(options: IndexOptions, deps: IndexDeps): Promise<IndexResult> {
  const check = checkVolumeRoot(deps.store, options.volume, { allowMissingMarker: options.restoreMarker, newIndex: options.newIndex });
  // Started before the run's bookkeeping so the workers boot while it happens.
  const hasher = deps.hasher ?? createHasher({ eager: !options.shallow });
  try {
    return options.dryRun ? await dryRun(options, deps, check, hasher) : await writingRun(options, deps, check, hasher);
  } finally {
    await hasher.close();
  }
}

function emptyResult(options: IndexOptions): IndexResult {
  return {
    volume: options.volume.name,
    root: options.volume.path,
    runId: null,
    status: 'dry-run',
    dryRun: options.dryRun,
    shallow: options.shallow,
    counts: zeroCounts(),
    errors: [],
    reservedSkipped: [],
    markerWritten: false,
    missingSkippedReason: null,
  };
}

async function dryRun(options: IndexOptions, deps: IndexDeps, check: VolumeRootCheck, hasher: Hasher): Promise<IndexResult> {
  const { store } = deps;
  const volumeId = store?.volume(options.volume.name)?.id ?? null;
  const pass = new IndexPass(store, volumeId, null, null, deps.reporter);
  await indexTree(pass, options, hasher);
  pass.flush();
  const missingSkippedReason = endOfWalkProblem(pass, check, options.volume, false);
  if (store && volumeId !== null) {
    pass.counts.newlyExcluded = excludedPresentRows(store, volumeId, options.volume).length;
    if (missingSkippedReason !== null) pass.counts.missing = pass.counts.newlyExcluded;
    else for (const row of store.files.iteratePresent(volumeId)) if (!pass.seen.has(row.path)) pass.counts.missing++;
  }
  return { ...emptyResult(options), missingSkippedReason, counts: pass.counts, errors: pass.errors, reservedSkipped: pass.reservedSkipped };
}

async function writingRun(options: IndexOptions, deps: IndexDeps, check: VolumeRootCheck, hasher: Hasher): Promise<IndexResult> {
  const { volume } = options;
  const store = deps.store!;
  const identity = deps.identity();
  const volumeRow = store.ensureVolume(volume.name, volume.path);
  const runId = beginRun(store, { ...identity, kind: 'index', volumeId: volumeRow.id, destination: null, nowNs: deps.nowNs });
  const result: IndexResult = { ...emptyResult(options), runId };
  const pass = new IndexPass(store, volumeRow.id, runId, identity.nodeId, deps.reporter);
  try {
    deps.hooks.at('index.after-begin');
    // Every run writes the marker with the next generation (marker first, index after: a crash
    // between leaves the marker one ahead, which the next run accepts as its own and writes
    // again, so any number of crashed runs in a row stay one ahead).
    const known = store.catalog.markerGeneration(volumeRow.id);
    const generation = known === 0 ? (check.marker?.generation ?? 0) + 1 : known + 1;
    writeMarker(volume.path, { format: MARKER_FORMAT, volume: volume.name, node: deps.nodeName, index: store.catalog.indexId(), generation });
    result.markerWritten = !check.marker;
    await indexTree(pass, options, hasher);
    deps.hooks.at('index.before-missing');
    // The last results, the missing rows and the run's end commit together.
    store.immediate(() => {
      pass.flush();
      store.catalog.setMarkerGeneration(volumeRow.id, generation);
      result.missingSkippedReason = endOfWalkProblem(pass, check, volume, true);
      // A pattern is the config's word, not a look at the disk: applied even after a partial walk.
      pass.counts.newlyExcluded = retireExcluded(store, volumeRow.id, volume, runId);
      pass.counts.missing = pass.counts.newlyExcluded;
      if (result.missingSkippedReason === null) pass.counts.missing += store.files.markUnseenMissing(volumeRow.id, runId);
      result.status = statusForErrors(pass.counts.errors);
      finishRun(store, runId, result.status, { ...pass.counts }, deps.clock.nowNs(), result.missingSkippedReason);
    });
    return { ...result, counts: pass.counts, errors: pass.errors, reservedSkipped: pass.reservedSkipped };
  } catch (err) {
    finishRun(store, runId, 'failed', { ...pass.counts }, deps.clock.nowNs(), `failed: ${errorMessage(err)}`);
    throw err;
  }
}

/** Feed the walk to the hasher; results are applied as they come back (the caller flushes the last batch). */
async function indexTree(pass: IndexPass, options: IndexOptions, hasher: Hasher): Promise<void> {
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const settle = () => {
    inFlight--;
    const w = wake;
    wake = null;
    w?.();
  };
  const waitUntil = async (condition: () => boolean) => {
    while (!condition()) await new Promise<void>((resolve) => (wake = resolve));
  };
  const hashed = (file: ListedFile, outcome: HashOutcome) => {
    try {
      if (outcome.ok) {
        pass.counts.hashedFiles++;
        pass.counts.hashedBytes += outcome.sizeBytes;
        pass.push({ kind: 'hashed', relativePath: file.relativePath, hash: outcome.hash, sizeBytes: outcome.sizeBytes, mtimeNs: outcome.mtimeNs, mode: file.mode });
      } else {
        pass.error(file.relativePath, outcome.message);
      }
      pass.done(outcome.ok ? outcome.sizeBytes : 0);
    } catch (err) {
      pass.fatal ??= err;
    }
    settle();
  };
  const failed = (file: ListedFile, err: unknown) => {
    pass.error(file.relativePath, `cannot hash: ${errorMessage(err)}`);
    settle();
  };

  const walk = walkVolume({ root: options.volume.path, excludeAbsolutePaths: new Set(options.excludeAbsolutePaths), excludes: excludeMatcher(options.volume.exclude) });
  for await (const events of walk) {
    for (const event of events) {
      if (pass.fatal) break;
      if (event.kind === 'error') {
        pass.error(event.relativePath, event.message);
        continue;
      }
      if (event.kind === 'destination-inside') {
        // Its copies would be indexed as the volume's files, and offload could delete them.
        throw new UsageError(
          `volume '${options.volume.name}' (${options.volume.path}) holds a squirrel destination: ${event.relativePath} marks a backup folder ` +
            `(or a mount of one) inside the volume. Move it out of the volume (or unmount it) and index again; nothing more was indexed.`,
          'destination-inside-volume',
        );
      }
      if (event.kind === 'skipped') {
        if (event.reason === 'symlink') pass.counts.skippedSymlinks++;
        else if (event.reason === 'not-regular') pass.counts.skippedOther++;
        else if (event.reason === 'pattern') pass.counts.excluded++;
        else if (event.reason === 'reserved' && ++pass.counts.skippedReserved <= MAX_REPORTED_ERRORS) pass.reservedSkipped.push(event.relativePath);
        continue;
      }
      const file = event;
      pass.listed(file);
      if (options.shallow) {
        const live = pass.live(file.relativePath);
        if (live && live.status === 'present' && live.sizeBytes === file.sizeBytes && live.mtimeNs === file.mtimeNs) {
          pass.push({ kind: 'touch', relativePath: file.relativePath, fileId: live.id, mtimeNs: file.mtimeNs, mode: file.mode });
          pass.done(0);
          continue;
        }
      }
      if (inFlight >= MAX_FILES_IN_FLIGHT) await waitUntil(() => inFlight < MAX_FILES_IN_FLIGHT);
      inFlight++;
      hasher.hash({ absolutePath: file.absolutePath, ino: file.ino, dev: file.dev, sizeBytes: file.sizeBytes }).then(
        (outcome) => hashed(file, outcome),
        (err: unknown) => failed(file, err),
      );
    }
    if (pass.fatal) break;
  }
  await waitUntil(() => inFlight === 0);
  if (pass.fatal) throw pass.fatal;
  pass.progress();
}

/**
 * Why unseen rows must not be marked missing, or null when they may: any error, or a root
 * that changed under the walk (an unmount, a swapped directory, a marker gone or changed).
 * A changed root is itself an error, so the run ends partial.
 */
function endOfWalkProblem(pass: IndexPass, check: VolumeRootCheck, volume: VolumeConfig, markerWritten: boolean): string | null {
  if (pass.counts.errors > 0) return `nothing marked missing: ${pass.counts.errors} error(s) during the walk`;
  let problem: string | null = null;
  try {
    const now = fs.statSync(volume.path, { bigint: true });
    const marker = readMarker(volume.path);
    if (now.dev !== check.rootStat.dev || now.ino !== check.rootStat.ino) problem = `${volume.path} is no longer the directory the walk started in`;
    else if ((check.marker || markerWritten) && marker?.volume !== volume.name) problem = `the volume marker in ${volume.path} vanished or changed during the walk`;
  } catch (err) {
    problem = `${volume.path} cannot be checked after the walk: ${errorMessage(err)}`;
  }
  if (problem === null) return null;
  pass.error('.', problem);
  return `nothing marked missing: ${problem}`;
}
