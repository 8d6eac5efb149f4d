// restore: bring offloaded (or missing) content back from a destination that holds it. The
// bytes are streamed to a temp file beside the target and BLAKE3-checked before they are put
// in place; a different existing file is moved to .squirrel-restore-history/run-<id>/, never
// overwritten. Restored rows become `present` as of the restore run, so the gate will not
// offload them again until a later sync covers them. Restoring into the volume first checks
// that its root is really the volume (an unmounted drive's empty mount point is not).

import fs from 'node:fs';
import path from 'node:path';
import { Clock, dateFromNs } from '../clock.js';
import { VolumeConfig } from '../config/types.js';
import { Destination, DestinationUnavailableError, HISTORY_DIR, remotePathOf } from '../destinations/destination.js';
import { errorMessage, errorWithPath, OperationalError, UsageError } from '../errors.js';
import { makeDirectories } from '../mkdirs.js';
import { excludeMatcher } from '../config/exclude.js';
import { isReservedPath, RESTORE_HISTORY_DIR } from '../paths.js';
import { hashFile } from '../hash.js';
import { Store } from '../store/store.js';
import { FileWithContent, RemoteCopyRow } from '../store/types.js';
import { namespaceOf, openNamespace } from './namespace.js';
import { lstatOrNull, placeNoClobber, safeVolumePath } from './fs-safety.js';
import { checkVolumeRoot } from './index/volume-root.js';
import { Hooks, Reporter } from './reporter.js';
import { beginRun, RunIdentity } from './runs.js';


export interface RestoreOptions {
  volume: VolumeConfig;
  matches: (relativePath: string) => boolean;
  /** Destinations to take bytes from, in order of preference. */
  sources: Destination[];
  /** This node's name: a namespace owned by another node is never read. */
  node: string;
  /** Restore under this directory instead of the volume (rows are then left as they are). */
  toDir: string | null;
  dryRun: boolean;
  /** Read again when the run ends. */
  clock: Clock;
  nowNs: bigint;
  identity: RunIdentity;
  reporter: Reporter;
  hooks: Hooks;
}

export interface RestoredFile {
  path: string;
  from: string;
  movedAside: string | null;
  /** The offloaded version of a path that now holds a new file (restored with --to only). */
  offloadedVersion: boolean;
}

/** A selected path whose offloaded file was replaced by a new one: restorable beside it with --to. */
export interface ReplacedAfterOffload {
  path: string;
  /** The index run that found the new file there. */
  replacedInRunId: number;
}

export interface RestoreResult {
  volume: string;
  runId: number | null;
  status: 'success' | 'partial' | 'failed' | 'dry-run' | 'nothing-to-do';
  restored: RestoredFile[];
  failures: { path: string; reason: string }[];
  /** Without --to: paths whose offloaded version only --to can bring back (the new file stays). */
  replaced: ReplacedAfterOffload[];
}

/**
 * Paths whose offloaded file was later replaced by a new one at the same path (index then
 * superseded the offloaded row): the newest such row per path, when the path's live row is
 * neither offloaded nor missing (else that row is what restore brings back).
 */
function replacedAfterOffload(store: Store, volumeId: number, o: RestoreOptions, restorable: (f: FileWithContent) => boolean) {
  const newest = new Map<string, FileWithContent & { replacedInRunId: number }>();
  for (const row of store.files.offloadedThenReplaced(volumeId)) {
    if (newest.has(row.path) || !o.matches(row.path) || !restorable(row)) continue;
    const live = store.files.livePath(volumeId, row.path);
    if (live && (live.status === 'offloaded' || live.status === 'missing')) continue;
    newest.set(row.path, row);
  }
  return [...newest.values()];
}

export async function restoreFiles(store: Store, o: RestoreOptions): Promise<RestoreResult> {
  const volumeRow = store.volume(o.volume.name);
  if (!volumeRow) throw new OperationalError(`volume '${o.volume.name}' has never been indexed; nothing to restore`);
  if (o.toDir === null) checkVolumeRoot(store, o.volume, { allowMissingMarker: false });
  const restorable = restorableIn(o);
  // Only the offloaded and missing rows, streamed: a volume's present rows are never all held.
  const candidates: FileWithContent[] = [];
  for (const f of store.files.iterateGone(volumeRow.id)) if (o.matches(f.path) && restorable(f)) candidates.push(f);
  const result: RestoreResult = { volume: o.volume.name, runId: null, status: 'success', restored: [], failures: [], replaced: [] };
  // An offloaded file whose path now holds a new file: its bytes go beside it (--to), never over it.
  const replaced = replacedAfterOffload(store, volumeRow.id, o, restorable);
  const earlier = new Set<FileWithContent>(o.toDir === null ? [] : replaced);
  if (o.toDir === null) result.replaced = replaced.map((f) => ({ path: f.path, replacedInRunId: f.replacedInRunId }));
  else candidates.push(...replaced);
  if (candidates.length === 0) {
    result.status = 'nothing-to-do';
    return result;
  }
  o = { ...o, sources: await usableSources(store, o) };
  if (o.dryRun) {
    result.status = 'dry-run';
    for (const file of candidates) {
      const source = o.sources.find((dest) => okCopies(store, o.volume, volumeRow.id, dest, file).length > 0);
      if (source) result.restored.push({ path: file.path, from: source.name, movedAside: null, offloadedVersion: earlier.has(file) });
      else result.failures.push({ path: file.path, reason: 'no destination has a verified copy' });
    }
    return result;
  }

  // Checked before the run begins: a --to that cannot be used is the user's to fix, not a run.
  const targetRoot = o.toDir === null ? fs.realpathSync(volumeRow.rootPath) : restoreTargetRoot(o.toDir);
  const runId = beginRun(store, { ...o.identity, kind: 'restore', volumeId: volumeRow.id, destination: null, nowNs: o.nowNs });
  result.runId = runId;
  let doneBytes = 0;
  const history = new HistoryListings();
  for (const [index, file] of candidates.entries()) {
    try {
      const { restored, mtimeNs } = await restoreOne(store, volumeRow.id, targetRoot, file, runId, o, history);
      if (o.toDir === null) {
        store.immediate(() => {
          store.files.setStatus(file.id, 'present', runId);
          store.files.touch(file.id, runId, mtimeNs);
        });
      }
      result.restored.push({ ...restored, offloadedVersion: earlier.has(file) });
    } catch (err) {
      result.failures.push({ path: file.path, reason: errorWithPath(err) });
    }
    doneBytes += file.size;
    o.reporter.progress({ phase: `restore ${o.volume.name}`, doneFiles: index + 1, totalFiles: candidates.length, doneBytes, totalBytes: null });
  }
  result.status = result.failures.length === 0 ? 'success' : result.restored.length > 0 ? 'partial' : 'failed';
  store.runs.finishRun(runId, result.status, { restored: result.restored.length, failed: result.failures.length }, o.clock.nowNs());
  return result;
}

/**
 * Each source's namespace is checked as verify checks it. One that is another's or was rolled
 * back is left out, saying why; a database older than its own catalog there, or one a copy of
 * which writes there too, refuses the restore: its ledger would call newer versions corrupt and
 * bring back older ones. A source unreachable now stays: each file's attempt says so.
 */
async function usableSources(store: Store, o: RestoreOptions): Promise<Destination[]> {
  const usable: Destination[] = [];
  for (const dest of o.sources) {
    try {
      await openNamespace(store, dest, { volume: o.volume, node: o.node, write: false, lenient: true, init: false, nowNs: o.nowNs, notes: [] });
      usable.push(dest);
    } catch (err) {
      if (!(err instanceof UsageError)) usable.push(dest);
      else if (err.code === 'index-older-than-catalog' || err.code === 'namespace-diverged') throw err;
      else o.reporter.warn(`not restoring from '${dest.name}': ${err.message}`);
    }
  }
  return usable;
}

/**
 * Into the volume, restore leaves alone what the user let go of on purpose: a row missing only
 * because an exclude: pattern matches it (the file is likely still there), and reserved paths
 * (restore history the user cleared away). Into --to, any selected row is restored.
 */
function restorableIn(o: RestoreOptions): (file: FileWithContent) => boolean {
  if (o.toDir !== null) return () => true;
  const excludes = excludeMatcher(o.volume.exclude);
  return (file) => !isReservedPath(file.path) && !(file.status === 'missing' && excludes(file.path));
}

/**
 * The folder `--to` names, created if missing, as a real path (a link to a folder, such as a
 * mount alias, is resolved once; nothing below it may be a link). Throws UsageError for a
 * path that is not a folder (a file, a dangling link) and OperationalError when it cannot be
 * made or written to.
 */
export function restoreTargetRoot(toDir: string): string {
  const named = lstatOrNull(toDir);
  if (named?.isSymbolicLink() && !fs.existsSync(toDir)) {
    throw new UsageError(`--to ${toDir} is a symbolic link to ${fs.readlinkSync(toDir)}, which does not exist; give a folder (it is created if missing)`, 'restore-target');
  }
  if (named && !fs.statSync(toDir).isDirectory()) {
    throw new UsageError(`--to ${toDir} is a file, not a folder; give a folder to restore into (it is created if missing)`, 'restore-target');
  }
  try {
    if (!named) makeDirectories(toDir);
    fs.accessSync(toDir, fs.constants.W_OK | fs.constants.X_OK);
    return fs.realpathSync(toDir);
  } catch (err) {
    throw new OperationalError(`cannot restore into ${toDir}: ${errorWithPath(err)}`, 'restore-target');
  }
}

function okCopies(store: Store, volume: VolumeConfig, volumeId: number, dest: Destination, file: FileWithContent) {
  const copies = store.evidence.copiesOf(volumeId, dest.name, file.contentId).filter((c) => c.state === 'ok');
  const samePath = remotePathOf(namespaceOf(volume, dest.name), file.path);
  return copies.sort((a, b) => Number(b.path === samePath) - Number(a.path === samePath));
}

/** What restore found wrong with a copy, recorded like a verify's finding (the alarm latches). */
function recordFinding(store: Store, volumeId: number, dest: Destination, copy: RemoteCopyRow, state: 'missing' | 'corrupt', nowNs: bigint, runId: number): void {
  store.immediate(() => store.evidence.markCopy(volumeId, dest.name, copy.path, state, nowNs, copy.version, runId));
}

async function restoreOne(
  store: Store,
  volumeId: number,
  targetRoot: string,
  file: FileWithContent,
  runId: number,
  o: RestoreOptions,
  history: HistoryListings,
): Promise<{ restored: RestoredFile; mtimeNs: bigint }> {
  const target = safeVolumePath(targetRoot, file.path);
  const reasons: string[] = [];
  for (const dest of o.sources) {
    for (const copy of okCopies(store, o.volume, volumeId, dest, file)) {
      const fetched = await fetchCopy(dest, copy.path, file, target, runId, reasons);
      if (fetched === 'placed') return placeRestored(targetRoot, file, target, runId, dest, o);
      if (fetched === 'absent' || fetched === 'corrupt') {
        recordFinding(store, volumeId, dest, copy, fetched === 'absent' ? 'missing' : 'corrupt', o.nowNs, runId);
        o.reporter.warn(`${file.path}: the copy at ${dest.name}:${copy.path} is ${fetched === 'absent' ? 'missing' : 'corrupt (its bytes do not match the index)'}; recorded`);
      }
    }
  }
  // No recorded copy is good: bytes a sync moved aside (or another index's sync moved there)
  // may still sit in a history folder the ledger does not name. Found by size, then BLAKE3.
  for (const dest of o.sources) {
    for (const candidate of await history.sameSize(dest, namespaceOf(o.volume, dest.name), file.size)) {
      const fetched = await fetchCopy(dest, candidate, file, target, runId, []);
      if (fetched !== 'placed') continue;
      store.immediate(() => store.evidence.recordVerifiedCopy(volumeId, dest.name, candidate, file.contentId, runId, o.nowNs));
      o.reporter.warn(`${file.path}: no recorded copy was good; found its bytes at ${dest.name}:${candidate} (recorded)`);
      return placeRestored(targetRoot, file, target, runId, dest, o);
    }
  }
  throw new OperationalError(reasons.length ? `no good copy: ${reasons.join('; ')}` : 'no destination has a verified copy of this content');
}

/** Each destination's history files, listed once per restore run, by size. */
class HistoryListings {
  private readonly bySize = new Map<string, Map<number, string[]>>();

  async sameSize(dest: Destination, namespace: string, size: number): Promise<string[]> {
    let sizes = this.bySize.get(dest.name);
    if (!sizes) {
      sizes = new Map();
      try {
        for await (const listed of dest.list(`${namespace}/${HISTORY_DIR}`)) {
          const list = sizes.get(listed.sizeBytes) ?? [];
          list.push(listed.path);
          sizes.set(listed.sizeBytes, list);
        }
      } catch (err) {
        if (!(err instanceof DestinationUnavailableError)) throw err;
      }
      this.bySize.set(dest.name, sizes);
    }
    return sizes.get(size) ?? [];
  }
}

/**
 * Fetch one copy into the temp file beside `target` and check it: 'placed' leaves the checked
 * bytes in the temp file for placeRestored; anything else removes it (a reason is added).
 */
async function fetchCopy(dest: Destination, remotePath: string, file: FileWithContent, target: string, runId: number, reasons: string[]): Promise<'placed' | 'absent' | 'corrupt' | 'unavailable'> {
  makeDirectories(path.dirname(target));
  const temp = tempPathOf(target, runId);
  let keep = false;
  try {
    if ((await dest.stat(remotePath)).kind === 'absent') {
      reasons.push(`${dest.name}:${remotePath} is missing (recorded; \`squirrel sync\` re-sends it while the file is present)`);
      return 'absent';
    }
    if (!(await fetchVerified(dest, remotePath, temp, file))) {
      reasons.push(`${dest.name}:${remotePath} bytes do not match the index`);
      return 'corrupt';
    }
    keep = true;
    return 'placed';
  } catch (err) {
    if (!(err instanceof DestinationUnavailableError)) throw err;
    reasons.push(errorMessage(err));
    return 'unavailable';
  } finally {
    if (!keep) fs.rmSync(temp, { force: true });
  }
}

function tempPathOf(target: string, runId: number): string {
  return path.join(path.dirname(target), `.squirrel-restore-${runId}-${process.pid}.tmp`);
}

/** Put the checked temp file at `target` with the indexed mode and mtime. */
function placeRestored(targetRoot: string, file: FileWithContent, target: string, runId: number, dest: Destination, o: RestoreOptions): { restored: RestoredFile; mtimeNs: bigint } {
  const temp = tempPathOf(target, runId);
  try {
    safeVolumePath(targetRoot, file.path); // re-check: nothing was swapped for a link meanwhile
    if (file.mode !== null) fs.chmodSync(temp, file.mode & 0o777);
    o.hooks.at('restore.before-place');
    const movedAside = placeWithoutClobbering(targetRoot, file, temp, target, runId);
    // Node takes a negative number of seconds for "now", so a time before 1970 goes as a Date.
    const seconds = Number(file.mtimeNs / 1_000_000_000n) + Number(file.mtimeNs % 1_000_000_000n) / 1e9;
    const time = seconds < 0 ? dateFromNs(file.mtimeNs) : seconds;
    fs.lutimesSync(target, time, time);
    // utimes takes (double) seconds, so the mtime can land a microsecond or so off the indexed
    // one; the row records what is on disk, or the next offload would call the file drift.
    const mtimeNs = fs.lstatSync(target, { bigint: true }).mtimeNs;
    fsyncDirectory(path.dirname(target));
    return { restored: { path: file.path, from: dest.name, movedAside, offloadedVersion: false }, mtimeNs };
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/**
 * Stream a copy into `temp`, fsync it, and report whether the bytes now on disk match the
 * index: the write loop never accepts a short write, and the check hashes the temp file itself,
 * not the bytes read, so a disk that fills up mid-file cannot pass a truncated file.
 */
async function fetchVerified(dest: Destination, remotePath: string, temp: string, file: FileWithContent): Promise<boolean> {
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    for await (const chunk of dest.read(remotePath)) {
      for (let written = 0; written < chunk.length; ) written += fs.writeSync(fd, chunk, written, chunk.length - written);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const landed = hashFile(temp);
  return landed.sizeBytes === file.size && landed.hash.equals(file.blake3);
}

/** Put `temp` at `target`; a different file already there is moved into restore history first. */
function placeWithoutClobbering(targetRoot: string, file: FileWithContent, temp: string, target: string, runId: number): string | null {
  const existing = lstatOrNull(target);
  let movedAside: string | null = null;
  if (existing) {
    if (existing.isFile() && Number(existing.size) === file.size && hashFile(target).hash.equals(file.blake3)) return null;
    movedAside = path.join(RESTORE_HISTORY_DIR, `run-${runId}`, file.path);
    const historyPath = path.join(targetRoot, movedAside);
    makeDirectories(path.dirname(historyPath));
    if (lstatOrNull(historyPath)) throw new OperationalError(`${historyPath} already exists; not moving ${file.path} over it`);
    fs.renameSync(target, historyPath);
  }
  // Refuses rather than overwrite anything that appeared meanwhile (also on drives without hard links).
  if (!placeNoClobber(temp, target)) throw new OperationalError(`${file.path}: a file appeared at its path while it was being restored; it was left untouched`);
  return movedAside;
}

function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
