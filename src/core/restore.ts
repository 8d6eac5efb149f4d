// restore: bring offloaded (or missing) content back from a destination that holds it. The
// bytes are streamed to a temp file beside the target and BLAKE3-checked before they are put
// in place; a different existing file is moved to .squirrel-restore-history/run-<id>/, never
// overwritten. Restored rows become `present` as of the restore run, so the gate will not
// offload them again until a later sync covers them. Restoring into the volume first checks
// that its root is really the volume (an unmounted drive's empty mount point is not).

import fs from 'node:fs';
import path from 'node:path';
import { Clock } from '../clock.js';
import { VolumeConfig } from '../config/types.js';
import { Destination, DestinationUnavailableError, remotePathOf } from '../destinations/destination.js';
import { errorMessage, OperationalError } from '../errors.js';
import { hashFile, StreamingBlake3 } from '../hash.js';
import { Store } from '../store/store.js';
import { FileWithContent, RemoteCopyRow } from '../store/types.js';
import { namespaceOf } from './namespace.js';
import { lstatOrNull, placeNoClobber, safeVolumePath } from './fs-safety.js';
import { checkVolumeRoot } from './index/volume-root.js';
import { Hooks, Reporter } from './reporter.js';
import { beginRun, RunIdentity } from './runs.js';

export const RESTORE_HISTORY_DIR = '.squirrel-restore-history';

export interface RestoreOptions {
  volume: VolumeConfig;
  matches: (relativePath: string) => boolean;
  /** Destinations to take bytes from, in order of preference. */
  sources: Destination[];
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
}

export interface RestoreResult {
  volume: string;
  runId: number | null;
  status: 'success' | 'partial' | 'failed' | 'dry-run' | 'nothing-to-do';
  restored: RestoredFile[];
  failures: { path: string; reason: string }[];
}

export async function restoreFiles(store: Store, o: RestoreOptions): Promise<RestoreResult> {
  const volumeRow = store.volume(o.volume.name);
  if (!volumeRow) throw new OperationalError(`volume '${o.volume.name}' has never been indexed; nothing to restore`);
  if (o.toDir === null) checkVolumeRoot(store, o.volume, { allowMissingMarker: false });
  const candidates = store.files.live(volumeRow.id).filter((f) => (f.status === 'offloaded' || f.status === 'missing') && o.matches(f.path));
  const result: RestoreResult = { volume: o.volume.name, runId: null, status: 'success', restored: [], failures: [] };
  if (candidates.length === 0) {
    result.status = 'nothing-to-do';
    return result;
  }
  if (o.dryRun) {
    result.status = 'dry-run';
    for (const file of candidates) {
      const source = o.sources.find((dest) => okCopies(store, o.volume, volumeRow.id, dest, file).length > 0);
      if (source) result.restored.push({ path: file.path, from: source.name, movedAside: null });
      else result.failures.push({ path: file.path, reason: 'no destination has a verified copy' });
    }
    return result;
  }

  const runId = beginRun(store, { ...o.identity, kind: 'restore', volumeId: volumeRow.id, destination: null, nowNs: o.nowNs });
  result.runId = runId;
  // --to names a directory the user chose: create it. A root that is a link (a mount alias,
  // which index follows too) is resolved once; nothing below it may be a link.
  if (o.toDir !== null) fs.mkdirSync(o.toDir, { recursive: true });
  const targetRoot = fs.realpathSync(o.toDir ?? volumeRow.rootPath);
  let doneBytes = 0;
  for (const [index, file] of candidates.entries()) {
    try {
      const { restored, mtimeNs } = await restoreOne(store, volumeRow.id, targetRoot, file, runId, o);
      if (o.toDir === null) {
        store.immediate(() => {
          store.files.setStatus(file.id, 'present', runId);
          store.files.touch(file.id, runId, mtimeNs);
        });
      }
      result.restored.push(restored);
    } catch (err) {
      result.failures.push({ path: file.path, reason: errorMessage(err) });
    }
    doneBytes += file.size;
    o.reporter.progress({ phase: `restore ${o.volume.name}`, doneFiles: index + 1, totalFiles: candidates.length, doneBytes, totalBytes: null });
  }
  result.status = result.failures.length === 0 ? 'success' : result.restored.length > 0 ? 'partial' : 'failed';
  store.runs.finishRun(runId, result.status, { restored: result.restored.length, failed: result.failures.length }, o.clock.nowNs());
  return result;
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
): Promise<{ restored: RestoredFile; mtimeNs: bigint }> {
  const target = safeVolumePath(targetRoot, file.path);
  const reasons: string[] = [];
  for (const dest of o.sources) {
    for (const copy of okCopies(store, o.volume, volumeId, dest, file)) {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      safeVolumePath(targetRoot, file.path); // re-check: nothing was swapped for a link meanwhile
      const temp = path.join(path.dirname(target), `.squirrel-restore-${runId}-${process.pid}.tmp`);
      try {
        if ((await dest.stat(copy.path)).kind === 'absent') {
          recordFinding(store, volumeId, dest, copy, 'missing', o.nowNs, runId);
          reasons.push(`${dest.name}:${copy.path} is missing (recorded; \`squirrel sync\` re-sends it while the file is present)`);
          o.reporter.warn(`${file.path}: the copy at ${dest.name}:${copy.path} is missing; recorded`);
          continue;
        }
        if (!(await fetchVerified(dest, copy.path, temp, file))) {
          recordFinding(store, volumeId, dest, copy, 'corrupt', o.nowNs, runId);
          reasons.push(`${dest.name}:${copy.path} bytes do not match the index`);
          o.reporter.warn(`${file.path}: the copy at ${dest.name}:${copy.path} is corrupt (its bytes do not match the index); recorded`);
          continue;
        }
        if (file.mode !== null) fs.chmodSync(temp, file.mode & 0o777);
        o.hooks.at('restore.before-place');
        const movedAside = placeWithoutClobbering(targetRoot, file, temp, target, runId);
        const seconds = Number(file.mtimeNs / 1_000_000_000n) + Number(file.mtimeNs % 1_000_000_000n) / 1e9;
        fs.lutimesSync(target, seconds, seconds);
        // utimes takes (double) seconds, so the mtime can land a microsecond or so off the indexed
        // one; the row records what is on disk, or the next offload would call the file drift.
        const mtimeNs = fs.lstatSync(target, { bigint: true }).mtimeNs;
        fsyncDirectory(path.dirname(target));
        return { restored: { path: file.path, from: dest.name, movedAside }, mtimeNs };
      } catch (err) {
        if (!(err instanceof DestinationUnavailableError)) throw err;
        reasons.push(errorMessage(err));
      } finally {
        fs.rmSync(temp, { force: true });
      }
    }
  }
  throw new OperationalError(reasons.length ? `no good copy: ${reasons.join('; ')}` : 'no destination has a verified copy of this content');
}

/** Stream a copy into `temp`, fsync it, and report whether its BLAKE3 and size match the index. */
async function fetchVerified(dest: Destination, remotePath: string, temp: string, file: FileWithContent): Promise<boolean> {
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  const hasher = new StreamingBlake3();
  try {
    for await (const chunk of dest.read(remotePath)) {
      hasher.update(chunk);
      fs.writeSync(fd, chunk);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return hasher.sizeBytes === file.size && hasher.digest().equals(file.blake3);
}

/** Put `temp` at `target`; a different file already there is moved into restore history first. */
function placeWithoutClobbering(targetRoot: string, file: FileWithContent, temp: string, target: string, runId: number): string | null {
  const existing = lstatOrNull(target);
  let movedAside: string | null = null;
  if (existing) {
    if (existing.isFile() && Number(existing.size) === file.size && hashFile(target).hash.equals(file.blake3)) return null;
    movedAside = path.join(RESTORE_HISTORY_DIR, `run-${runId}`, file.path);
    const historyPath = path.join(targetRoot, movedAside);
    fs.mkdirSync(path.dirname(historyPath), { recursive: true });
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
