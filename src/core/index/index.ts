// `index`: walk a volume, hash what needs hashing on all cores, and hand the results to the
// pass (pass.ts), which applies the file state machine in batched IMMEDIATE transactions.
// Only a complete, error-free walk of the same root may mark rows missing.

import fs from 'node:fs';
import { Clock } from '../../clock.js';
import { VolumeConfig } from '../../config/types.js';
import { errorMessage, UsageError } from '../../errors.js';
import { Store } from '../../store/store.js';
import { excludedPresentRows, retireExcluded } from '../exclude.js';
import { Hooks, Reporter } from '../reporter.js';
import { beginRun, finishRun, RunIdentity, statusForErrors, TerminalStatus } from '../runs.js';
import { HashOutcome } from './hash-file.js';
import { createHasher, Hasher } from './hash-pool.js';
import { checkVolumeRoot, MARKER_FORMAT, readMarker, VolumeRootCheck, writeMarker } from './volume-root.js';
import { ListedFile, onDisk, walkVolume } from './walk.js';
import { walkOnThread, walkOptions } from './walk-thread.js';
import { IndexCounts, IndexError, IndexPass, MAX_REPORTED_ERRORS, zeroCounts } from './pass.js';

export type { IndexCounts, IndexError } from './pass.js';

/**
 * The walk goes to a thread of its own when the index already records this many files of the
 * volume: at 10^4 files the thread's start cost more than it saved (a shallow index 0.39 →
 * 0.46 s), at 10^5 it saves ~0.2 s of 1.4 s. A first index is CPU-bound either way.
 */
const WALK_THREAD_MIN_FILES = 20_000;

/** Files handed to the hasher and not yet back: bounds memory, keeps every worker busy. */
const MAX_FILES_IN_FLIGHT = 1024;

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
  const pass = new IndexPass(store, volumeRow.id, runId, identity.nodeId, deps.reporter, deps.hooks);
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
      pass.flush(true);
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

  const root = options.volume.path;
  const absoluteOf = onDisk(root);
  const request = { root, excludeAbsolutePaths: options.excludeAbsolutePaths, exclude: options.volume.exclude };
  // A thread costs its start (~50 ms): worth it once the tree is known to be large.
  const walk = (pass.recordsAtLeast(WALK_THREAD_MIN_FILES) ? walkOnThread(request) : null) ?? walkVolume(walkOptions(request));
  // A shallow index reads the present rows beside the walk (both in path order).
  const recorded = options.shallow ? pass.presentStates() : null;
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
      // Not found (or a cursor that cannot tell): hashed, as a full index would.
      const live = recorded ? await recorded.find(file.relativePath) : null;
      if (live && live.sizeBytes === file.sizeBytes && live.mtimeNs === String(file.mtimeNs)) {
        pass.push({ kind: 'touch', relativePath: file.relativePath, fileId: live.id, mtimeNs: file.mtimeNs, mode: file.mode, asRecorded: live.mode === file.mode });
        pass.done(0);
        continue;
      }
      if (inFlight >= MAX_FILES_IN_FLIGHT) await waitUntil(() => inFlight < MAX_FILES_IN_FLIGHT);
      inFlight++;
      hasher.hash({ absolutePath: absoluteOf(file.relativePath), ino: file.ino, dev: file.dev, sizeBytes: file.sizeBytes }).then(
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
