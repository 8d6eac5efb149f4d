// Executing an offload plan, one file at a time in path order. Before anything is deleted:
// the file on disk must still be the indexed bytes (no symlinked ancestor, a regular file,
// same size, mtime and BLAKE3, the same inode before and after hashing); then, under the
// write lock, the evidence is re-judged from fresh rows and an intent is committed; only
// then the unlink, and the status flip closes the intent. Any difference is drift: skipped
// loudly, nothing deleted. A crash anywhere leaves either the file or an open intent.

import fs from 'node:fs';
import { errorMessage } from '../../errors.js';
import { hashFd } from '../../hash.js';
import { Store } from '../../store/store.js';
import { lstatOrNull, safeVolumePath, UnsafePathError } from '../fs-safety.js';
import { Hooks, Reporter } from '../reporter.js';
import { AllowedFile, OffloadPlan } from './plan.js';
import { recheckFile, sameEvidenceVersions } from './gate.js';

export interface ExecuteOptions {
  runId: number;
  nowNs: bigint;
  reporter: Reporter;
  hooks: Hooks;
}

export interface OffloadOutcome {
  runId: number;
  offloaded: string[];
  drift: { path: string; reason: string }[];
  errors: { path: string; message: string }[];
  /** Files whose evidence changed between plan and unlink and were judged again. */
  reevaluated: number;
}

type DiskCheck = { ok: true; ino: bigint; dev: bigint } | { ok: false; reason: string };

export function executeOffload(store: Store, plan: OffloadPlan, o: ExecuteOptions): OffloadOutcome {
  const outcome: OffloadOutcome = { runId: o.runId, offloaded: [], drift: [], errors: [], reevaluated: 0 };
  let doneBytes = 0;
  for (let i = 0; i < plan.allowed.length; i++) {
    const file = plan.allowed.at(i);
    try {
      offloadOne(store, plan, file, o, outcome);
    } catch (err) {
      outcome.errors.push({ path: file.path, message: errorMessage(err) });
    }
    doneBytes += file.sizeBytes;
    o.reporter.progress({ phase: `offload ${plan.volume}`, doneFiles: i + 1, totalFiles: plan.allowed.length, doneBytes, totalBytes: plan.allowed.totalBytes });
  }
  return outcome;
}

function offloadOne(store: Store, plan: OffloadPlan, file: AllowedFile, o: ExecuteOptions, outcome: OffloadOutcome): void {
  const drift = (reason: string) => {
    outcome.drift.push({ path: file.path, reason });
    o.reporter.warn(`drift ${file.path}: ${reason}; nothing deleted`);
  };
  let absolute: string;
  try {
    absolute = safeVolumePath(plan.rootPath, file.path);
  } catch (err) {
    if (err instanceof UnsafePathError) return drift(err.message);
    throw err;
  }
  const disk = checkOnDisk(absolute, file);
  if (!disk.ok) return drift(disk.reason);
  o.hooks.at('offload.after-disk-check');

  // Under the write lock: re-judge from fresh rows, then commit the intent.
  const decision = store.immediate(() => {
    const recheck = recheckFile(store, plan.volumeId, file.fileId, plan.policy, plan.nowNs, plan.thisNodeId);
    const changed = !sameEvidenceVersions(recheck.versions, file.evidenceVersions);
    if (!recheck.allowed) {
      const why = recheck.rowProblem ?? recheck.refusals.map((r) => `${r.target}: ${r.reason} (${r.summary})`).join('; ');
      return { intentId: null, changed, why: `${changed ? 'evidence changed since the plan and now refuses' : 'no longer allowed'}: ${why}` };
    }
    return { intentId: store.intents.open(o.runId, file.fileId, plan.volumeId, file.path, o.nowNs), changed, why: '' };
  });
  if (decision.changed) outcome.reevaluated++;
  if (decision.intentId === null) return drift(decision.why);
  o.hooks.at('offload.after-intent');

  // Last look: the very inode that was hashed is still the one at the path.
  const last = lstatOrNull(absolute);
  if (!last || !last.isFile() || last.ino !== disk.ino || last.dev !== disk.dev) {
    store.immediate(() => store.intents.closeIntent(decision.intentId!, 'dropped', o.nowNs, 'file changed before unlink'));
    return drift('the file was replaced just before the unlink');
  }
  try {
    fs.unlinkSync(absolute);
  } catch (err) {
    store.immediate(() => store.intents.closeIntent(decision.intentId!, 'dropped', o.nowNs, `unlink failed: ${errorMessage(err)}`));
    throw new Error(`cannot remove: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)} (check the permissions of its directory); kept`);
  }
  o.hooks.at('offload.after-unlink');
  store.immediate(() => {
    store.files.setStatus(file.fileId, 'offloaded', o.runId);
    store.intents.closeIntent(decision.intentId!, 'done', o.nowNs);
  });
  outcome.offloaded.push(file.path);
}

/** Is the file on disk exactly the indexed one? Read through one descriptor, never a link. */
function checkOnDisk(absolute: string, file: AllowedFile): DiskCheck {
  const before = lstatOrNull(absolute);
  if (!before) return { ok: false, reason: 'the file is no longer on disk' };
  if (before.isSymbolicLink()) return { ok: false, reason: 'the file was replaced by a symlink' };
  if (!before.isFile()) return { ok: false, reason: 'it is no longer a regular file' };
  if (Number(before.size) !== file.sizeBytes) return { ok: false, reason: `size changed (${before.size} bytes, indexed ${file.sizeBytes}); run \`squirrel index\`` };
  if (before.mtimeNs !== file.mtimeNs) return { ok: false, reason: 'modification time changed since indexing; run `squirrel index`' };
  let fd: number;
  try {
    fd = fs.openSync(absolute, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    return { ok: false, reason: `cannot open it to re-check (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})` };
  }
  try {
    const opened = fs.fstatSync(fd, { bigint: true });
    if (opened.ino !== before.ino || opened.dev !== before.dev) return { ok: false, reason: 'the file was replaced while being checked' };
    const { hash, sizeBytes } = hashFd(fd);
    if (sizeBytes !== file.sizeBytes || !hash.equals(file.blake3)) return { ok: false, reason: 'content changed since indexing (BLAKE3 differs); run `squirrel index`' };
    const after = fs.fstatSync(fd, { bigint: true });
    if (after.mtimeNs !== before.mtimeNs || after.size !== before.size) return { ok: false, reason: 'the file changed while being hashed' };
  } finally {
    fs.closeSync(fd);
  }
  const again = lstatOrNull(absolute);
  if (!again || again.ino !== before.ino || again.dev !== before.dev) return { ok: false, reason: 'the file was replaced while being hashed' };
  return { ok: true, ino: before.ino, dev: before.dev };
}
