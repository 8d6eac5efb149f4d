// verify: re-read copies at a destination, least recently verified first, and record what the
// bytes say: a match stamps the copy, a missing or different one is recorded (never deleted or
// silently repaired) and latches an alarm. The vector's verified_at_ns moves only when every
// covered content is verified (restamp.ts). verify takes no writer slot; its writes are
// compare-and-swap on the version it read.

import { VolumeConfig } from '../config/types.js';
import { Destination, DestinationUnavailableError, METHOD_READBACK } from '../destinations/destination.js';
import { errorMessage } from '../errors.js';
import { Store } from '../store/store.js';
import { CopyState } from '../store/types.js';
import type { CopyToVerify } from '../store/evidence.js';
import { openNamespace } from './namespace.js';
import { DEFAULT_SKEW_TOLERANCE_NS } from './offload/policy.js';
import { inLanes } from './lanes.js';
import { beginRun, RunContext } from './runs.js';
import { restampComponents, RestampOutcome } from './restamp.js';
import { isContentVerified, METHOD_REVERIFY } from './methods.js';

const LEDGER_BATCH = 200;
/** Copies read from the ledger at a time, in verify order. */
const VERIFY_CHUNK_COPIES = 1024;

export interface VerifyOptions extends RunContext {
  volume: VolumeConfig;
  destination: Destination;
  /** This node's name: a namespace owned by another node is never verified or counted. */
  node: string;
  /** Re-read only the least recently verified P percent of copies. */
  samplePercent: number | null;
  /** Stop starting new reads after this long (judged by the clock). */
  maxDurationMs: number | null;
  /** Take on a namespace written more times than this index remembers, once every copy was re-read (`--adopt`). */
  adopt?: boolean;
}

export interface VerifyProblem {
  path: string;
  state: Exclude<CopyState, 'ok'> | 'unreadable';
  detail: string;
}

export interface VerifyResult {
  volume: string;
  destination: string;
  runId: number | null;
  status: 'success' | 'partial' | 'failed';
  copiesTotal: number;
  checked: number;
  ok: number;
  problems: VerifyProblem[];
  /** Copies whose result was dropped because another process rewrote them meanwhile. */
  raced: number;
  stoppedEarly: boolean;
  /** `--adopt`: the namespace's write count this index took on (null: nothing to adopt, or not taken). */
  adoptedWrites: number | null;
  vector: RestampOutcome[];
  message: string | null;
}

interface Finding {
  path: string;
  state: CopyState;
  version: number;
  /** What the copy read as sound is, for offload's last look (local destinations). */
  fingerprint?: string;
}

export async function verifyVolume(store: Store, o: VerifyOptions): Promise<VerifyResult> {
  const result: VerifyResult = {
    volume: o.volume.name,
    destination: o.destination.name,
    runId: null,
    status: 'success',
    copiesTotal: 0,
    checked: 0,
    ok: 0,
    problems: [],
    raced: 0,
    stoppedEarly: false,
    adoptedWrites: null,
    vector: [],
    message: null,
  };
  const volumeRow = store.volume(o.volume.name);
  if (!volumeRow) {
    result.status = 'failed';
    result.message = `volume '${o.volume.name}' has never been indexed; nothing to verify`;
    return result;
  }
  const runId = beginRun(store, { ...o.identity, kind: 'verify', volumeId: volumeRow.id, destination: o.destination.name, nowNs: o.nowNs });
  result.runId = runId;
  let namespace;
  try {
    namespace = await openNamespace(store, o.destination, { volume: o.volume, node: o.node, write: false, lenient: true, init: false, nowNs: o.nowNs, notes: [], adopt: o.adopt });
  } catch (err) {
    result.status = 'failed';
    result.message = errorMessage(err);
    store.runs.finishRun(runId, 'failed', {}, o.clock.nowNs(), result.message);
    return result;
  }

  const versionsSeen = new Map(store.evidence.components(volumeRow.id).filter((c) => c.destination === o.destination.name).map((c) => [c.originNodeId, c]));
  // The order is held as row ids; the rows themselves are read a chunk at a time, as the
  // reads reach them (a million rows with their hashes would cost hundreds of MB).
  const order = store.evidence.verifyOrder(volumeRow.id, o.destination.name, o.nowNs + DEFAULT_SKEW_TOLERANCE_NS);
  result.copiesTotal = order.rowids.length;
  const count = o.samplePercent === null ? order.rowids.length : Math.ceil((order.rowids.length * o.samplePercent) / 100);
  const deadlineNs = o.maxDurationMs === null ? null : o.clock.nowNs() + BigInt(Math.round(o.maxDurationMs)) * 1_000_000n;
  let totalBytes = 0;
  for (let i = 0; i < count; i++) totalBytes += order.sizes[i];
  let chunkStart = -1;
  let chunk = new Map<number, CopyToVerify>();
  const copyAt = (i: number): CopyToVerify | undefined => {
    const start = i - (i % VERIFY_CHUNK_COPIES);
    if (start !== chunkStart) {
      chunk = store.evidence.copiesToVerifyAt(order.rowids.slice(start, Math.min(start + VERIFY_CHUNK_COPIES, count)));
      chunkStart = start;
    }
    return chunk.get(order.rowids[i]);
  };
  let doneBytes = 0;
  const findings: Finding[] = [];
  const methods = new Set<string>();
  const flush = () => {
    if (findings.length === 0) return;
    store.immediate(() => {
      for (const f of findings) {
        const stamp = f.state === 'ok' ? o.nowNs : null;
        if (!store.evidence.markCopy(volumeRow.id, o.destination.name, f.path, f.state, stamp, f.version, runId, f.fingerprint ?? null)) result.raced++;
      }
    });
    findings.length = 0;
  };

  const check = async (copy: CopyToVerify | undefined) => {
    // A finding a sync cleared after the order was read (it re-sent that copy): raced, as a
    // changed version is.
    if (copy === undefined) {
      result.raced++;
      return;
    }
    try {
      const read = await o.destination.hash(copy.path);
      result.checked++;
      if (read.kind === 'present') methods.add(read.method);
      if (read.kind === 'absent') {
        findings.push({ path: copy.path, state: 'missing', version: copy.version });
        result.problems.push({ path: copy.path, state: 'missing', detail: `not found at '${o.destination.name}'` });
      } else if (read.sizeBytes !== copy.size || !read.blake3.equals(copy.blake3)) {
        findings.push({ path: copy.path, state: 'corrupt', version: copy.version });
        result.problems.push({ path: copy.path, state: 'corrupt', detail: `bytes differ from the indexed BLAKE3 (${read.sizeBytes} bytes, expected ${copy.size})` });
      } else {
        findings.push({ path: copy.path, state: 'ok', version: copy.version, fingerprint: read.fingerprint });
        result.ok++;
      }
    } catch (err) {
      if (!(err instanceof DestinationUnavailableError)) throw err;
      result.problems.push({ path: copy.path, state: 'unreadable', detail: errorMessage(err) });
    }
    doneBytes += copy.size;
    if (findings.length >= LEDGER_BATCH) flush();
    o.reporter.progress({ phase: `verify ${o.volume.name} @ ${o.destination.name}`, doneFiles: result.checked, totalFiles: count, doneBytes, totalBytes });
  };

  o.hooks.at('verify.before-read');
  // Up to `concurrentHashes` reads in flight (the destination says how many it takes).
  const withinDeadline = () => {
    if (deadlineNs !== null && o.clock.nowNs() >= deadlineNs) result.stoppedEarly = true;
    return !result.stoppedEarly;
  };
  await inLanes(count, o.destination.concurrentHashes ?? 1, (i) => check(copyAt(i)), withinDeadline);
  flush();
  o.hooks.at('verify.before-restamp');

  store.immediate(() => {
    result.vector = restampComponents(store, {
      volumeId: volumeRow.id,
      destination: o.destination.name,
      claims: [...versionsSeen.values()].map((c) => ({ originNodeId: c.originNodeId, originRunId: c.originRunId, expectedVersion: c.version })),
      method: reverifiedBy(methods),
      sourceNodeId: o.identity.nodeId,
      nowNs: o.nowNs,
      runId,
    });
    // Adopted only when every copy the ledger records there was read: the ledger is true again.
    const everyCopyRead = !result.stoppedEarly && o.samplePercent === null && result.problems.every((p) => p.state !== 'unreadable');
    if (namespace.adoptWrites !== null && everyCopyRead) {
      if (namespace.adoptWrites === 0) store.places.forgetNamespaceClaim(volumeRow.id, o.destination.name);
      else {
        store.places.setNamespaceWrites(volumeRow.id, o.destination.name, namespace.name, namespace.adoptWrites);
        store.places.confirmNamespaceWrites(volumeRow.id, o.destination.name, namespace.name, namespace.adoptWrites);
      }
      result.adoptedWrites = namespace.adoptWrites;
    }
    result.status = result.problems.length === 0 ? 'success' : result.ok > 0 ? 'partial' : 'failed';
    if (result.problems.length > 0) result.message = `${result.problems.length} copy problem(s) at '${o.destination.name}'`;
    store.runs.finishRun(runId, result.status, { checked: result.checked, ok: result.ok, problems: result.problems.length, raced: result.raced }, o.clock.nowNs(), result.message);
  });
  return result;
}

/**
 * A BLAKE3 read-back re-verifies as blake3-reverify; a destination that hashes on its own
 * side (remote b3sum) keeps that method. A method that is not content-verified wins.
 */
function reverifiedBy(methods: ReadonlySet<string>): string {
  const seen = [...methods].map((method) => (method === METHOD_READBACK ? METHOD_REVERIFY : method));
  return seen.find((method) => !isContentVerified(method)) ?? (new Set(seen).size === 1 ? seen[0] : METHOD_REVERIFY);
}
