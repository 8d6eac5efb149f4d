// Executing an offload plan in path order, a commit batch at a time, each file re-hashed ahead on
// the worker pool. A batch goes through named phases: the disk check (disk.ts), the intents
// (evidence re-judged on fresh rows, intents committed together), the last look at the
// destinations (copies.ts), the unlinks (judged once more and unlinked under the write lock)
// and the record. A crash anywhere leaves either the file or an open intent (reconcile.ts).

import fs from 'node:fs';
import { errnoOrMessage, errorMessage } from '../../errors.js';
import { isDatabaseDamage } from '../../store/db.js';
import { Store } from '../../store/store.js';
import { offloadAsidePath, lstatOrNull, putBack, realRoot, safeVolumePath } from '../fs-safety.js';
import { createHasher, Hasher } from '../index/hash-pool.js';
import { inLanes } from '../lanes.js';
import { RunContext } from '../runs.js';
import { CopyFinder, copyFinder, CopyFinderOptions, CopyRefusal } from './copies.js';
import { checkOnDisk, DiskCheck, sameIdentity } from './disk.js';
import { sameEvidenceVersions } from './evidence.js';
import { openFiles } from './open-files.js';
import { AllowedFile, OffloadPlan } from './plan.js';
import { Recheck, Rechecker } from './recheck.js';

/**
 * Files whose re-hash may run ahead of the in-order unlink step: enough that the hashing
 * workers stay busy while a commit batch is decided and unlinked (bounded memory and window).
 */
const HASH_AHEAD_FILES = 256;
const HASH_AHEAD_BYTES = 512 * 1024 * 1024;
/**
 * Files decided, unlinked and recorded together: two commits (fsyncs) per batch, not two per
 * file. The bytes bound keeps the time between a file's re-hash and its unlink short for large
 * files; the last look guards that time either way.
 */
const COMMIT_BATCH_FILES = 256;
const COMMIT_BATCH_BYTES = 256 * 1024 * 1024;
/** Unlinks in flight under the write lock: libuv's default pool has four threads. */
const UNLINKS_IN_FLIGHT = 4;
/** Files whose destination copies are looked for at once (each asks every required destination). */
const COPY_CHECKS_IN_FLIGHT = 16;

export interface ExecuteOptions extends CopyFinderOptions, Pick<RunContext, 'reporter' | 'hooks'> {
  runId: number;
  /** Defaults to a pool with one worker per core. */
  hasher?: Hasher;
}

export interface OffloadOutcome {
  runId: number;
  offloaded: string[];
  drift: { path: string; reason: string }[];
  errors: { path: string; message: string }[];
  /** Files a required destination could not show its copy of just before the unlink: kept. */
  refused: CopyRefusal[];
  /** Files whose evidence changed between plan and unlink and were judged again. */
  reevaluated: number;
}

export async function executeOffload(store: Store, plan: OffloadPlan, o: ExecuteOptions): Promise<OffloadOutcome> {
  const outcome: OffloadOutcome = { runId: o.runId, offloaded: [], drift: [], errors: [], refused: [], reevaluated: 0 };
  const copies = await copyFinder(store, plan, o);
  // Every worker starts at once: each boots while the others take their first files.
  const hasher = o.hasher ?? createHasher({ eager: plan.allowed.length > 1 });
  const root = realRoot(plan.rootPath);
  // Re-hashing runs ahead on the worker pool; deciding and unlinking stay strictly in path order.
  const window: { file: AllowedFile; check: Promise<DiskCheck> }[] = [];
  let next = 0;
  let bytesAhead = 0;
  const fill = () => {
    while (next < plan.allowed.length && window.length < HASH_AHEAD_FILES && (window.length === 0 || bytesAhead < HASH_AHEAD_BYTES)) {
      const file = plan.allowed.at(next);
      const indexed = plan.allowed.blake3(next++);
      bytesAhead += file.sizeBytes;
      window.push({ file, check: checkOnDisk(root, file, indexed, hasher) });
    }
  };
  let doneFiles = 0;
  let doneBytes = 0;
  try {
    fill();
    while (window.length > 0) {
      const batch: Checked[] = [];
      let batchBytes = 0;
      while (window.length > 0 && batch.length < COMMIT_BATCH_FILES && batchBytes < COMMIT_BATCH_BYTES) {
        const { file, check } = window.shift()!;
        bytesAhead -= file.sizeBytes;
        fill();
        batch.push({ file, disk: await check });
        batchBytes += file.sizeBytes;
      }
      await new CommitBatch(store, plan, root, o, copies).commit(batch, outcome);
      for (const { file } of batch) {
        doneBytes += file.sizeBytes;
        o.reporter.progress({ phase: `offload ${plan.volume}`, doneFiles: ++doneFiles, totalFiles: plan.allowed.length, doneBytes, totalBytes: plan.allowed.totalBytes });
      }
    }
  } finally {
    await Promise.allSettled(window.map((w) => w.check));
    await hasher.close();
  }
  return outcome;
}

interface Checked {
  file: AllowedFile;
  disk: DiskCheck;
}

/** A file the disk check passed: the identity every later look must still see. */
interface OnDisk {
  file: AllowedFile;
  absolute: string;
  seen: fs.BigIntStats;
}

/** A file whose intent is committed, and what became of it under the write lock. */
interface Decided extends OnDisk {
  intentId: number;
  result?: { kind: 'unlinked' } | { kind: 'refused'; why: string } | { kind: 'changed' } | { kind: 'unlink-failed'; err: unknown };
}

type Verdict = { kind: 'offloaded' } | { kind: 'drift'; reason: string } | { kind: 'error'; message: string } | { kind: 'refused'; refusals: CopyRefusal[] };

/** One batch through the phases; each phase hands the files still going on to the next. */
class CommitBatch {
  private readonly verdicts = new Map<AllowedFile, Verdict>();
  private reevaluated = 0;

  constructor(
    private readonly store: Store,
    private readonly plan: OffloadPlan,
    private readonly root: string,
    private readonly o: ExecuteOptions,
    private readonly copies: CopyFinder,
  ) {}

  async commit(batch: Checked[], outcome: OffloadOutcome): Promise<void> {
    try {
      const onDisk = this.unchangedOnDisk(batch);
      const decided = onDisk.length > 0 ? this.openIntents(onDisk) : [];
      const withCopies = decided.length > 0 ? await this.requireCopies(decided) : [];
      const unlinked = withCopies.length > 0 ? await this.unlinkUnderLock(withCopies) : [];
      if (unlinked.length > 0) this.recordOffloaded(unlinked);
    } finally {
      outcome.reevaluated += this.reevaluated;
      // Reported in path order, whatever phase settled each file.
      for (const { file } of batch) {
        const verdict = this.verdicts.get(file);
        if (!verdict) continue;
        if (verdict.kind === 'offloaded') outcome.offloaded.push(file.path);
        else if (verdict.kind === 'error') outcome.errors.push({ path: file.path, message: verdict.message });
        else if (verdict.kind === 'refused') outcome.refused.push(...verdict.refusals);
        else {
          outcome.drift.push({ path: file.path, reason: verdict.reason });
          this.o.reporter.warn(`drift ${file.path}: ${verdict.reason}; nothing deleted`);
        }
      }
    }
  }

  /**
   * Phase 1: what the disk check (run ahead) found; a file that changed is drift, and so is one
   * another program holds open (its next write through that descriptor would be lost).
   */
  private unchangedOnDisk(batch: Checked[]): OnDisk[] {
    const onDisk: OnDisk[] = [];
    const holders = batch.some(({ disk }) => disk.ok) ? openFiles() : null;
    for (const { file, disk } of batch) {
      const holder = disk.ok ? holders?.get(`${disk.seen.dev}:${disk.seen.ino}`) : undefined;
      if (!disk.ok) this.verdicts.set(file, { kind: 'drift', reason: disk.reason });
      else if (holder) this.verdicts.set(file, { kind: 'drift', reason: `open in another program (${holder.command}, pid ${holder.pid}); close it and run offload again` });
      else {
        this.o.hooks.at('offload.after-disk-check');
        onDisk.push({ file, absolute: disk.absolute, seen: disk.seen });
      }
    }
    return onDisk;
  }

  /** Phase 2, under the write lock: re-judge each from fresh rows, then commit the intents together. */
  private openIntents(onDisk: OnDisk[]): Decided[] {
    const { store, plan, o } = this;
    let decisions: { intentId: number | null; changed: boolean; why: string }[];
    try {
      decisions = store.immediate(() => {
        const rechecker = new Rechecker(store, plan.volumeId, plan.policy, plan.nowNs, plan.thisNodeId);
        return onDisk.map(({ file }) => {
          const recheck = rechecker.recheck(file.fileId);
          const changed = !sameEvidenceVersions(recheck.versions, file.evidenceVersions);
          if (!recheck.allowed) {
            return { intentId: null, changed, why: `${changed ? 'evidence changed since the plan and now refuses' : 'no longer allowed'}: ${whyRefused(recheck)}` };
          }
          return { intentId: store.intents.open(o.runId, file.fileId, plan.volumeId, file.path, o.nowNs), changed, why: '' };
        });
      });
    } catch (err) {
      // Nothing was unlinked and the intents rolled back: damage stops the whole command.
      if (isDatabaseDamage(err)) throw err;
      this.fail(onDisk, err);
      return [];
    }
    const decided: Decided[] = [];
    onDisk.forEach((d, i) => {
      const decision = decisions[i];
      if (decision.changed) this.reevaluated++;
      if (decision.intentId === null) this.verdicts.set(d.file, { kind: 'drift', reason: decision.why });
      else decided.push({ ...d, intentId: decision.intentId });
    });
    for (let i = 0; i < decided.length; i++) o.hooks.at('offload.after-intent');
    return decided;
  }

  /** Phase 3, the last look at the destinations: each required one shows the copy the decision rests on. */
  private async requireCopies(decided: Decided[]): Promise<Decided[]> {
    const missing = new Map<Decided, CopyRefusal[]>();
    await inLanes(decided.length, COPY_CHECKS_IN_FLIGHT, async (i) => {
      const d = decided[i];
      const refusals = await this.copies.find(d.file, `${d.seen.dev}:${d.seen.ino}`);
      if (refusals.length > 0) missing.set(d, refusals);
    });
    if (missing.size === 0) return decided;
    try {
      this.store.immediate(() => {
        for (const d of missing.keys()) this.store.intents.closeIntent(d.intentId, 'dropped', this.o.nowNs, 'copy not found at a required destination');
      });
    } catch (err) {
      // The intents stay open; the next command finds the files on disk and drops them.
      if (isDatabaseDamage(err)) throw err;
    }
    for (const [d, refusals] of missing) this.verdicts.set(d.file, { kind: 'refused', refusals });
    return decided.filter((d) => !missing.has(d));
  }

  /**
   * Phase 4: each last look and unlink happens under the write lock, after one more judgement
   * on fresh rows: a verify that recorded a bad copy after the intents were committed is seen
   * here, and no evidence write can land between a judgement and its unlink. An unlink waits on
   * the disk (freeing and discarding blocks), so a few run at once, each after its own last look.
   */
  private async unlinkUnderLock(decided: Decided[]): Promise<Decided[]> {
    const { store, plan, o } = this;
    try {
      await store.immediateAcross(async () => {
        const rechecker = new Rechecker(store, plan.volumeId, plan.policy, plan.nowNs, plan.thisNodeId);
        const judged: Decided[] = [];
        for (const d of decided) {
          d.result = this.judgeUnderLock(d, rechecker);
          if (d.result === undefined) judged.push(d);
        }
        await inLanes(judged.length, UNLINKS_IN_FLIGHT, async (i) => {
          const d = judged[i];
          d.result = await this.lookAndUnlink(d);
          if (d.result.kind === 'unlinked') o.hooks.at('offload.after-unlink');
        });
      });
    } catch (err) {
      // Rolled back: a file already unlinked keeps its open intent, which the next command settles.
      this.fail(decided, err);
      return [];
    }
    for (const d of decided) {
      const result = d.result!;
      if (result.kind === 'refused') this.verdicts.set(d.file, { kind: 'drift', reason: `evidence changed since the plan and now refuses: ${result.why}` });
      else if (result.kind === 'changed') this.verdicts.set(d.file, { kind: 'drift', reason: 'the file changed or was replaced just before the unlink' });
      else if (result.kind === 'unlink-failed') {
        this.verdicts.set(d.file, { kind: 'error', message: `cannot remove: ${errnoOrMessage(result.err)} (check the permissions of its directory); kept` });
      }
    }
    return decided.filter((d) => d.result!.kind === 'unlinked');
  }

  /** Phase 5: one status flip closes the batch's intents. */
  private recordOffloaded(unlinked: Decided[]): void {
    try {
      this.store.immediate(() => {
        for (const d of unlinked) {
          this.store.files.setStatus(d.file.fileId, 'offloaded', this.o.runId);
          this.store.intents.closeIntent(d.intentId, 'done', this.o.nowNs);
        }
      });
    } catch (err) {
      // The files are gone and their intents open: the next command marks them offloaded.
      this.fail(unlinked, err);
      return;
    }
    for (const d of unlinked) this.verdicts.set(d.file, { kind: 'offloaded' });
  }

  /** Inside the write transaction: judge once more on fresh rows; a refusal drops the intent. */
  private judgeUnderLock(d: Decided, rechecker: Rechecker): Decided['result'] {
    const recheck = rechecker.recheck(d.file.fileId);
    if (recheck.allowed) return undefined;
    this.store.intents.closeIntent(d.intentId, 'dropped', this.o.nowNs, 'evidence changed before unlink');
    return { kind: 'refused', why: whyRefused(recheck) };
  }

  /**
   * Inside the write transaction: the last look, then the unlink. The file is first renamed to a
   * private name beside it and looked at there: an application that saves by writing a new file
   * and renaming it over this one, at any moment, either gets its new file renamed away and put
   * back (it is not the inode that was checked) or lands its save at the path after the rename.
   * Only the very inode that was hashed is ever unlinked.
   */
  private async lookAndUnlink(d: Decided): Promise<NonNullable<Decided['result']>> {
    const drop = (note: string) => this.store.intents.closeIntent(d.intentId, 'dropped', this.o.nowNs, note);
    let last: fs.BigIntStats | null;
    try {
      safeVolumePath(this.root, d.file.path); // no ancestor became a symlink meanwhile
      last = lstatOrNull(d.absolute);
    } catch {
      last = null;
    }
    if (!last || !sameIdentity(last, d.seen)) {
      drop('file changed before unlink');
      return { kind: 'changed' };
    }
    this.o.hooks.at('offload.before-rename');
    const aside = offloadAsidePath(d.absolute, d.intentId);
    try {
      await fs.promises.rename(d.absolute, aside);
    } catch (err) {
      drop(`rename before unlink failed: ${errorMessage(err)}`);
      return { kind: 'unlink-failed', err };
    }
    const moved = lstatOrNull(aside);
    // A rename moves ctime; the inode, size and mtime must be the ones checked.
    if (!moved || moved.ino !== d.seen.ino || moved.dev !== d.seen.dev || moved.size !== d.seen.size || moved.mtimeNs !== d.seen.mtimeNs) {
      drop('file replaced just before unlink');
      return putBack(aside, d.absolute) ? { kind: 'changed' } : { kind: 'unlink-failed', err: new Error(`the file was replaced while it was offloaded; the version found is kept as ${aside}: move it back by hand`) };
    }
    try {
      await fs.promises.unlink(aside);
    } catch (err) {
      putBack(aside, d.absolute);
      drop(`unlink failed: ${errorMessage(err)}`);
      return { kind: 'unlink-failed', err };
    }
    return { kind: 'unlinked' };
  }

  /** A phase's transaction failed: its files are errors (an unlinked one is recorded by the next command). */
  private fail(files: readonly { file: AllowedFile; result?: Decided['result'] }[], err: unknown): void {
    for (const d of files) {
      const message = d.result?.kind === 'unlinked' ? `removed, but not yet recorded (${errorMessage(err)}); the next squirrel command records it` : errorMessage(err);
      this.verdicts.set(d.file, { kind: 'error', message });
    }
  }
}

function whyRefused(recheck: Recheck): string {
  return recheck.rowProblem ?? recheck.refusals.map((r) => `${r.target}: ${r.reason} (${r.summary})`).join('; ');
}
