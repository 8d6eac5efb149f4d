// Executing an offload plan, one file at a time in path order. Before anything is deleted:
// the file on disk must still be the indexed bytes (no symlinked ancestor, a regular file,
// same size, mtime and BLAKE3, the same inode before and after hashing); then, under the
// write lock, the evidence is re-judged from fresh rows and an intent is committed; then,
// holding the write lock again, judged once more and unlinked (so no evidence write can slip
// in between), and the status flip closes the intent. Any difference is drift: skipped
// loudly, nothing deleted. A crash anywhere leaves either the file or an open intent.

import fs from 'node:fs';
import { errorMessage } from '../../errors.js';
import { Store } from '../../store/store.js';
import { lstatOrNull, safeVolumePath, UnsafePathError } from '../fs-safety.js';
import { createHasher, Hasher } from '../index/hash-pool.js';
import { Hooks, Reporter } from '../reporter.js';
import { AllowedFile, OffloadPlan } from './plan.js';
import { recheckFile, sameEvidenceVersions } from './gate.js';

/** Files whose re-hash may run ahead of the in-order unlink step (bounded memory and window). */
const HASH_AHEAD_FILES = 16;

export interface ExecuteOptions {
  runId: number;
  nowNs: bigint;
  reporter: Reporter;
  hooks: Hooks;
  /** Defaults to a pool with one worker per core. */
  hasher?: Hasher;
}

export interface OffloadOutcome {
  runId: number;
  offloaded: string[];
  drift: { path: string; reason: string }[];
  errors: { path: string; message: string }[];
  /** Files whose evidence changed between plan and unlink and were judged again. */
  reevaluated: number;
}

/** What the disk said before and during the re-hash: the identity the unlink must still see. */
type DiskCheck = { ok: true; absolute: string; seen: fs.BigIntStats } | { ok: false; reason: string };

export async function executeOffload(store: Store, plan: OffloadPlan, o: ExecuteOptions): Promise<OffloadOutcome> {
  const outcome: OffloadOutcome = { runId: o.runId, offloaded: [], drift: [], errors: [], reevaluated: 0 };
  const hasher = o.hasher ?? createHasher();
  const root = realRoot(plan.rootPath);
  // Re-hashing runs ahead on the worker pool; deciding and unlinking stay strictly in path order.
  const window: { file: AllowedFile; check: Promise<DiskCheck> }[] = [];
  let next = 0;
  const fill = () => {
    while (next < plan.allowed.length && window.length < HASH_AHEAD_FILES) {
      const file = plan.allowed.at(next++);
      window.push({ file, check: checkOnDisk(root, file, hasher) });
    }
  };
  let doneFiles = 0;
  let doneBytes = 0;
  try {
    fill();
    while (window.length > 0) {
      const { file, check } = window.shift()!;
      fill();
      try {
        commitOne(store, plan, root, file, await check, o, outcome);
      } catch (err) {
        outcome.errors.push({ path: file.path, message: errorMessage(err) });
      }
      doneBytes += file.sizeBytes;
      o.reporter.progress({ phase: `offload ${plan.volume}`, doneFiles: ++doneFiles, totalFiles: plan.allowed.length, doneBytes, totalBytes: plan.allowed.totalBytes });
    }
  } finally {
    await Promise.allSettled(window.map((w) => w.check));
    await hasher.close();
  }
  return outcome;
}

function commitOne(store: Store, plan: OffloadPlan, root: string, file: AllowedFile, disk: DiskCheck, o: ExecuteOptions, outcome: OffloadOutcome): void {
  const drift = (reason: string) => {
    outcome.drift.push({ path: file.path, reason });
    o.reporter.warn(`drift ${file.path}: ${reason}; nothing deleted`);
  };
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

  // The last look and the unlink happen under the write lock, after one more judgement on fresh
  // rows: a verify that recorded a bad copy after the intent was committed is seen here, and no
  // evidence write can land between this judgement and the unlink.
  const final = store.immediate(() => {
    const recheck = recheckFile(store, plan.volumeId, file.fileId, plan.policy, plan.nowNs, plan.thisNodeId);
    if (!recheck.allowed) {
      const why = recheck.rowProblem ?? recheck.refusals.map((r) => `${r.target}: ${r.reason} (${r.summary})`).join('; ');
      store.intents.closeIntent(decision.intentId!, 'dropped', o.nowNs, 'evidence changed before unlink');
      return { kind: 'refused' as const, why };
    }
    // Last look: the very inode that was hashed, unchanged since (ctime catches a restored mtime).
    let last: fs.BigIntStats | null;
    try {
      safeVolumePath(root, file.path); // no ancestor became a symlink meanwhile
      last = lstatOrNull(disk.absolute);
    } catch {
      last = null;
    }
    if (!last || !sameIdentity(last, disk.seen)) {
      store.intents.closeIntent(decision.intentId!, 'dropped', o.nowNs, 'file changed before unlink');
      return { kind: 'changed' as const };
    }
    try {
      fs.unlinkSync(disk.absolute);
    } catch (err) {
      store.intents.closeIntent(decision.intentId!, 'dropped', o.nowNs, `unlink failed: ${errorMessage(err)}`);
      return { kind: 'unlink-failed' as const, err };
    }
    return { kind: 'unlinked' as const };
  });
  if (final.kind === 'refused') return drift(`evidence changed since the plan and now refuses: ${final.why}`);
  if (final.kind === 'changed') return drift('the file changed or was replaced just before the unlink');
  if (final.kind === 'unlink-failed') {
    throw new Error(`cannot remove: ${(final.err as NodeJS.ErrnoException).code ?? errorMessage(final.err)} (check the permissions of its directory); kept`);
  }
  o.hooks.at('offload.after-unlink');
  store.immediate(() => {
    store.files.setStatus(file.fileId, 'offloaded', o.runId);
    store.intents.closeIntent(decision.intentId!, 'done', o.nowNs);
  });
  outcome.offloaded.push(file.path);
}

/**
 * The volume root with a symlinked root (a mount alias, which index follows too) resolved once,
 * so every check and unlink of the run goes through the same real directory; nothing below
 * the root may be a link. Unresolvable: left as it is, and the per-file checks refuse it.
 */
function realRoot(rootPath: string): string {
  try {
    return fs.realpathSync(rootPath);
  } catch {
    return rootPath;
  }
}

function sameIdentity(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.isFile() === b.isFile();
}

/**
 * Is the file on disk exactly the indexed one? No symlinked ancestor, a regular file (never
 * followed through a link), the indexed size and mtime, and a re-hash through one descriptor
 * that equals the indexed BLAKE3 with the inode unchanged before, during and after.
 */
async function checkOnDisk(root: string, file: AllowedFile, hasher: Hasher): Promise<DiskCheck> {
  let absolute: string;
  let seen: fs.BigIntStats | null;
  try {
    absolute = safeVolumePath(root, file.path);
    seen = lstatOrNull(absolute);
  } catch (err) {
    if (err instanceof UnsafePathError) return { ok: false, reason: err.message };
    return { ok: false, reason: `cannot check it (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})` };
  }
  if (!seen) return { ok: false, reason: 'the file is no longer on disk' };
  if (seen.isSymbolicLink()) return { ok: false, reason: 'the file was replaced by a symlink' };
  if (!seen.isFile()) return { ok: false, reason: 'it is no longer a regular file' };
  if (Number(seen.size) !== file.sizeBytes) return { ok: false, reason: `size changed (${seen.size} bytes, indexed ${file.sizeBytes}); run \`squirrel index\`` };
  if (seen.mtimeNs !== file.mtimeNs) return { ok: false, reason: 'modification time changed since indexing; run `squirrel index`' };
  const hashed = await hasher.hash({ absolutePath: absolute, ino: seen.ino, dev: seen.dev, sizeBytes: file.sizeBytes });
  if (!hashed.ok) return { ok: false, reason: hashed.message };
  if (hashed.sizeBytes !== file.sizeBytes || !hashed.hash.equals(file.blake3)) {
    return { ok: false, reason: 'content changed since indexing (BLAKE3 differs); run `squirrel index`' };
  }
  return { ok: true, absolute, seen };
}
