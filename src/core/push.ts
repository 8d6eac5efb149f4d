// sync: push a volume's present files to one destination, read every landed file back, and only
// when all of it verified advance that destination's version vector: the claim, all-or-nothing,
// captured before any transfer so a file indexed mid-push is never claimed. Ledger rows are facts,
// recorded as they are established. Names that are one name there are refused, never overlaid.

import { VolumeConfig } from '../config/types.js';
import {
  Destination,
  DestinationUnavailableError,
  historyPathOf,
  METHOD_READBACK,
  remotePathOf,
  stagingPathOf,
  UnsafeDestinationPathError,
} from '../destinations/destination.js';
import { errorMessage, OperationalError } from '../errors.js';
import { NameRefusal } from '../store/places.js';
import { Store } from '../store/store.js';
import { PresentFile } from '../store/files.js';
import { FileWithContent } from '../store/types.js';
import { retireExcluded } from './exclude.js';
import { moveObstacleAside } from './obstacles.js';
import { realRoot, sourceToSend } from './fs-safety.js';
import { inLanes } from './lanes.js';
import { findNameRefusals, nameRulesApply } from './name-collisions.js';
import { namespaceOf, openNamespace } from './namespace.js';
import { beginRun, RunContext } from './runs.js';
import { restampComponents, RestampOutcome } from './restamp.js';
import { removeDeadStaging, removeOwnStaging } from './staging.js';
import { isContentVerified } from './methods.js';
import { CopyVerdict, RecordedCopies } from './recorded-copies.js';
import { planPush } from './push-plan.js';

const LEDGER_BATCH = 200;
/** Consecutive "could not check" failures after which the destination is treated as gone. */
const MAX_CONSECUTIVE_UNAVAILABLE = 5;

export interface PushOptions extends RunContext {
  volume: VolumeConfig;
  destination: Destination;
  /** This node's name: the owner of the namespaces it claims. */
  node: string;
  init: boolean;
  dryRun: boolean;
}

export interface PushFailure {
  path: string;
  reason: string;
}

export interface PushResult {
  volume: string;
  destination: string;
  runId: number | null;
  status: 'success' | 'partial' | 'failed' | 'dry-run';
  sentFiles: number;
  sentBytes: number;
  alreadyThereFiles: number;
  movedAsideFiles: number;
  failures: PushFailure[];
  /** Present files not placed because the destination's name rules make them collide. */
  refused: NameRefusal[];
  /** Missing or corrupt findings dropped because a sound copy of the same bytes is there now. */
  clearedFindings: number;
  /** What changed about the destination itself (marker upgraded, namespace claimed). */
  notes: string[];
  /** What the vector now claims (or would claim), per origin node. */
  coverage: { originNode: string; originRunId: number }[];
  vector: RestampOutcome[];
  message: string | null;
}

interface PendingCopy {
  remotePath: string;
  contentId: number;
  fingerprint: string | null;
}

/** A result with nothing done yet (a push that fails before it starts keeps it, with a message). */
export function emptyPushResult(volume: string, destination: string, status: PushResult['status'], message: string | null = null): PushResult {
  return {
    volume,
    destination,
    runId: null,
    status,
    sentFiles: 0,
    sentBytes: 0,
    alreadyThereFiles: 0,
    movedAsideFiles: 0,
    failures: [],
    refused: [],
    clearedFindings: 0,
    notes: [],
    coverage: [],
    vector: [],
    message,
  };
}

export async function pushVolume(store: Store, o: PushOptions): Promise<PushResult> {
  const volumeRow = store.volume(o.volume.name);
  const result = emptyPushResult(o.volume.name, o.destination.name, o.dryRun ? 'dry-run' : 'success');
  if (!volumeRow) {
    result.status = o.dryRun ? 'dry-run' : 'failed';
    result.message = `volume '${o.volume.name}' has never been indexed; run \`squirrel index ${o.volume.name}\` first`;
    return result;
  }
  if (o.dryRun) return { ...result, ...(await planPush(store, volumeRow.id, namespaceOf(o.volume, o.destination.name), o.destination.name)) };

  const namespace = await openNamespace(store, o.destination, { volume: o.volume, node: o.node, write: true, init: o.init, nowNs: o.nowNs, notes: result.notes });
  const runId = beginRun(store, { ...o.identity, kind: 'sync', volumeId: volumeRow.id, destination: o.destination.name, nowNs: o.nowNs });
  result.runId = runId;
  o.hooks.at('sync.after-begin');
  try {
    // Files a pattern added since the last index excludes are not pushed (nor claimed).
    const excluded = store.immediate(() => retireExcluded(store, volumeRow.id, o.volume, runId));
    if (excluded > 0) o.reporter.info(`${excluded} indexed file(s) now match volumes.${o.volume.name}.exclude: no longer backed up (marked missing; nothing deleted)`);
    // Captured before any transfer: what this push may claim if everything lands.
    const claims = store.evidence.highestPresentOrigins(volumeRow.id);
    const versionsSeen = new Map(claims.map((c) => [c.originNodeId, store.evidence.component(volumeRow.id, o.destination.name, c.originNodeId)?.version ?? null]));
    result.coverage = claims.map((c) => ({ originNode: store.nodeName(c.originNodeId), originRunId: c.originRunId }));
    const rules = namespace.nameRules!;
    // Only rules that make names clash or refuse them need every path at once (names alone, not rows).
    result.refused = nameRulesApply(rules) ? findNameRefusals(store.files.presentPaths(volumeRow.id), rules, o.destination.name, store.files.offloadedPaths(volumeRow.id)) : [];
    store.immediate(() => store.places.replaceNameRefusals(volumeRow.id, o.destination.name, result.refused, runId));
    for (const r of result.refused) o.reporter.warn(`not sent to '${o.destination.name}': ${r.detail}`);
    const refusedPaths = new Set(result.refused.map((r) => r.path));
    await cleanStaging(store, o, namespace.name, result);
    const transfer = await transferAll(store, volumeRow.id, realRoot(volumeRow.rootPath), refusedPaths, runId, o, result);
    const ownStaging = await removeOwnStaging(o.destination, namespace.name, runId);
    if (ownStaging !== null) o.reporter.warn(ownStaging);
    o.hooks.at('sync.before-record');

    if (result.failures.length > 0) {
      // What landed before a destination went away is recorded in the ledger: partial, not failed.
      result.status = result.sentFiles + result.alreadyThereFiles > 0 ? 'partial' : 'failed';
      result.message = `${transfer.stoppedBecause ?? `${result.failures.length} file(s) did not land and verify`}; the evidence for '${o.destination.name}' was left unchanged`;
      store.runs.finishRun(runId, result.status, counts(result), o.clock.nowNs(), result.message);
      return result;
    }
    store.immediate(() => {
      // Bad findings the transfer made obsolete: the same bytes now have a sound copy there.
      result.clearedFindings = store.evidence.clearSupersededFindings(volumeRow.id, o.destination.name);
      result.vector = restampComponents(store, {
        volumeId: volumeRow.id,
        destination: o.destination.name,
        claims: claims.map((c) => ({ ...c, expectedVersion: versionsSeen.get(c.originNodeId) ?? null })),
        method: provenBy(transfer.methods),
        sourceNodeId: o.identity.nodeId,
        nowNs: o.nowNs,
        runId,
      });
      const blocked = result.vector.filter((v) => v.outcome === 'not-verified');
      result.status = blocked.length === 0 ? 'success' : 'partial';
      if (blocked.length > 0) result.message = blocked.map((b) => b.detail).join('; ');
      store.runs.finishRun(runId, result.status, counts(result), o.clock.nowNs(), result.message);
    });
    o.hooks.at('sync.after-record');
    return result;
  } catch (err) {
    result.status = 'failed';
    result.message = errorMessage(err);
    store.runs.finishRun(runId, 'failed', counts(result), o.clock.nowNs(), result.message);
    throw err;
  }
}

/** Staging left by killed syncs (runs known dead) is removed before this one stages anything. */
async function cleanStaging(store: Store, o: PushOptions, namespace: string, result: PushResult): Promise<void> {
  const cleanup = await removeDeadStaging(store, o.destination, namespace);
  if (cleanup.problem !== null) o.reporter.warn(cleanup.problem);
  if (cleanup.runs.length > 0) {
    result.notes.push(`removed ${cleanup.removedFiles} leftover staging file(s) of interrupted run(s) ${cleanup.runs.join(', ')}`);
    o.reporter.info(result.notes.at(-1)!);
  }
}

/**
 * The method this push proved the bytes with: what the destination's hash() reported (a
 * remote b3sum is recorded as such), BLAKE3 read-back when nothing was read. Should a
 * destination ever mix methods, one that is not content-verified wins: claims fail closed.
 */
function provenBy(methods: ReadonlySet<string>): string {
  const seen = [...methods];
  return seen.find((method) => !isContentVerified(method)) ?? (seen.length === 1 ? seen[0] : METHOD_READBACK);
}

function counts(r: PushResult): Record<string, number> {
  return {
    sent: r.sentFiles,
    sent_bytes: r.sentBytes,
    already_there: r.alreadyThereFiles,
    moved_aside: r.movedAsideFiles,
    failed: r.failures.length,
    ...(r.refused.length > 0 ? { refused_names: r.refused.length } : {}),
    ...(r.clearedFindings > 0 ? { cleared_findings: r.clearedFindings } : {}),
  };
}

interface TransferOutcome {
  /** Why the transfer stopped before the last file (a destination that stopped answering). */
  stoppedBecause: string | null;
  /** The methods hash() reported for the read-backs this push made. */
  methods: Set<string>;
}

/**
 * Every present file not refused, read a page at a time in path order (never the whole volume
 * at once): the volume holds its writer slot for this run, so the pages are the rows it began with.
 */
async function transferAll(store: Store, volumeId: number, root: string, refusedPaths: ReadonlySet<string>, runId: number, o: PushOptions, result: PushResult): Promise<TransferOutcome> {
  const dest = o.destination;
  const namespace = namespaceOf(o.volume, dest.name);
  const methods = new Set<string>();
  const pending: PendingCopy[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    store.immediate(() => {
      for (const copy of pending) store.evidence.recordVerifiedCopy(volumeId, dest.name, copy.remotePath, copy.contentId, runId, o.nowNs, copy.fingerprint);
    });
    pending.length = 0;
  };
  const total = store.files.presentTotals(volumeId, [...refusedPaths]);
  const rows = store.files.presentInPages(volumeId);
  const nextBatch = (): PresentFile[] => {
    const batch: PresentFile[] = [];
    while (batch.length < LEDGER_BATCH) {
      const next = rows.next();
      if (next.done) break;
      if (!refusedPaths.has(next.value.path)) batch.push(next.value);
    }
    return batch;
  };
  let started = 0;
  let doneFiles = 0;
  let doneBytes = 0;
  let consecutiveUnavailable = 0;
  let stoppedBy: unknown = null;
  const fileDone = (file: PresentFile) => {
    doneBytes += file.size;
    o.reporter.progress({ phase: `sync ${o.volume.name} -> ${dest.name}`, doneFiles: ++doneFiles, totalFiles: total.files, doneBytes, totalBytes: total.bytes });
    o.hooks.at('sync.after-file');
  };
  const pushCounted = async ({ file, verdict }: { file: FileWithContent; verdict: CopyVerdict }) => {
    try {
      const { outcome, method, fingerprint } = await pushOne(store, volumeId, root, file, verdict, runId, o);
      if (method !== null) methods.add(method);
      consecutiveUnavailable = 0;
      if (outcome === 'recorded' || outcome === 'same-bytes') result.alreadyThereFiles++;
      else {
        result.sentFiles++;
        result.sentBytes += file.size;
        if (outcome === 'sent-after-move') result.movedAsideFiles++;
      }
      // A read-back established these bytes just now: record it (a ledger hit needs nothing).
      if (outcome !== 'recorded') pending.push({ remotePath: remotePathOf(namespace, file.path), contentId: file.contentId, fingerprint });
    } catch (err) {
      result.failures.push({ path: file.path, reason: errorMessage(err) });
      if (err instanceof DestinationUnavailableError && ++consecutiveUnavailable >= MAX_CONSECUTIVE_UNAVAILABLE) stoppedBy ??= err;
    }
    fileDone(file);
  };
  // Up to `concurrentPuts` files in flight (the destination says how many it takes), a ledger
  // batch at a time: the batch is recorded only once every put in it has settled, so a
  // directory one put created has been flushed before a file another put placed in it is recorded.
  // Copies the ledger and the namespace's listing both show are counted on the spot; only the
  // rest go out to the lanes.
  const lanes = Math.max(1, dest.concurrentPuts ?? 1);
  const recordedCopies = new RecordedCopies(store, volumeId, dest, namespace, total.files);
  try {
    for (let batchStart = 0; stoppedBy === null; ) {
      const batch = nextBatch();
      if (batch.length === 0) break;
      const toSend: { file: PresentFile; verdict: CopyVerdict }[] = [];
      for (const file of batch) {
        const verdict = await recordedCopies.verdict(file, remotePathOf(namespace, file.path));
        if (verdict !== 'there') toSend.push({ file, verdict });
        else {
          result.alreadyThereFiles++;
          fileDone(file);
        }
      }
      // The whole rows (hash, mtime, mode) of just the files that go out.
      const rows = store.files.filesByIds(toSend.map(({ file }) => file.id));
      const work: { file: FileWithContent; verdict: CopyVerdict }[] = [];
      for (const { file, verdict } of toSend) {
        const row = rows.get(file.id);
        if (row?.status === 'present' && row.contentId === file.contentId) work.push({ file: row, verdict });
        else {
          // Not while this run holds the volume's writer slot; should it happen, nothing is sent on a stale row.
          result.failures.push({ path: file.path, reason: 'its index row changed during the sync; sync again' });
          fileDone(file);
        }
      }
      started = batchStart + batch.length - work.length + (await inLanes(work.length, lanes, (i) => pushCounted(work[i]), () => stoppedBy === null));
      batchStart += batch.length;
      flush();
    }
  } finally {
    await recordedCopies.close();
  }
  if (recordedCopies.listingProblem !== null) o.reporter.info(`'${dest.name}': the listing stopped answering (${recordedCopies.listingProblem}); recorded copies were asked about one by one`);
  if (stoppedBy !== null) {
    return {
      stoppedBecause: `destination '${dest.name}' stopped answering (${errorMessage(stoppedBy)}); sync stopped with ${total.files - started} file(s) not tried. Check it and run sync again`,
      methods,
    };
  }
  return { stoppedBecause: null, methods };
}

/**
 * Put one file in place and prove it by reading it back. Returns how it got there.
 * Throws when the bytes could not be placed or did not read back equal to the index.
 */
async function pushOne(
  store: Store,
  volumeId: number,
  root: string,
  file: FileWithContent,
  verdict: CopyVerdict,
  runId: number,
  o: PushOptions,
): Promise<{ outcome: 'recorded' | 'same-bytes' | 'sent' | 'sent-after-move'; method: string | null; fingerprint: string | null }> {
  const dest = o.destination;
  const namespace = namespaceOf(o.volume, dest.name);
  const remotePath = remotePathOf(namespace, file.path);
  // Recorded as these bytes, but the listing could not say whether the copy is still there.
  if (verdict === 'ask') {
    const recorded = store.evidence.copy(volumeId, dest.name, remotePath);
    const stat = await dest.stat(remotePath);
    // A file put back at the path since it was read (a rolled-back snapshot, a cloned drive) has the size but not the fingerprint: read it again.
    const sameVersion = !recorded?.fingerprint || stat.kind !== 'present' || stat.fingerprint === undefined || stat.fingerprint === recorded.fingerprint;
    if (stat.kind === 'present' && stat.sizeBytes === file.size && sameVersion) return { outcome: 'recorded', method: null, fingerprint: null };
  }
  // The listing shows nothing at the path: put straight away. put() never replaces anything, so
  // should something be there after all, it refuses and the path is looked at as below.
  if (verdict === 'free' || verdict === 'clear') {
    const source = sourceToSend(root, file);
    const placed = await dest.put(remotePath, source.absolute, stagingPathOf(namespace, runId, file.path), source.expected, { listedClear: verdict === 'clear' }).then(
      () => true,
      (err: unknown) => {
        if (err instanceof DestinationUnavailableError && !(err instanceof UnsafeDestinationPathError)) return false;
        throw err;
      },
    );
    if (placed) return { outcome: 'sent', ...(await readBack(dest, remotePath, file)) };
  }
  // Whatever is at the path now: the same bytes (keep), different bytes (move aside), or nothing.
  const obstacle = { store, volumeId, destination: dest, namespace, runId, nowNs: o.nowNs };
  const existing = await dest.hash(remotePath).catch(async (err: unknown) => {
    // A folder at the path, or a file where one of its folders must be: moved aside, then again.
    if (!(err instanceof DestinationUnavailableError) || err instanceof UnsafeDestinationPathError) throw err;
    const moved = await moveObstacleAside(obstacle, file.path);
    if (moved === null) throw err;
    o.reporter.warn(`${file.path}: '${moved}' stood in its way at '${dest.name}'; moved into this run's history there`);
    return dest.hash(remotePath);
  });
  if (existing.kind === 'present' && existing.sizeBytes === file.size && existing.blake3.equals(file.blake3)) return { outcome: 'same-bytes', method: existing.method, fingerprint: existing.fingerprint ?? null };
  // Checked before anything moves: the very file the index saw, reached without a link.
  const source = sourceToSend(root, file);
  let moved = false;
  if (existing.kind === 'present') {
    const historyPath = historyPathOf(namespace, runId, file.path);
    // Recorded as what was just read there, before the move: should the move not happen, a
    // verify finds this row missing (and a later sync drops it), while bytes moved but never
    // recorded would be a copy nobody knows of. Bytes the index does not know are not recorded.
    const readContent = store.files.content(existing.blake3);
    if (readContent && readContent.size === existing.sizeBytes) {
      store.immediate(() => store.evidence.recordVerifiedCopy(volumeId, dest.name, historyPath, readContent.id, runId, o.nowNs));
    }
    await dest.moveAside(remotePath, historyPath);
    o.hooks.at('sync.after-move-aside');
    moved = true;
  }
  await dest.put(remotePath, source.absolute, stagingPathOf(namespace, runId, file.path), source.expected);
  return { outcome: moved ? 'sent-after-move' : 'sent', ...(await readBack(dest, remotePath, file)) };
}

/** Read a file just put back from the destination; its method and fingerprint, or a throw unless the bytes are the indexed ones. */
async function readBack(dest: Destination, remotePath: string, file: FileWithContent): Promise<{ method: string; fingerprint: string | null }> {
  const landed = await dest.hash(remotePath);
  if (landed.kind !== 'present') throw new OperationalError(`${file.path}: not found at '${dest.name}' right after it was written`);
  if (landed.sizeBytes !== file.size || !landed.blake3.equals(file.blake3)) {
    throw new OperationalError(
      `${file.path}: the bytes read back from '${dest.name}' do not match the index (the local file may have changed since \`squirrel index\`; run it again)`,
    );
  }
  return { method: landed.method, fingerprint: landed.fingerprint ?? null };
}
