// The offload gate (SPEC §5): per file and required target, six checks in a fixed order; the
// first that fails is that target's refusal, and a file may go only when no target refuses.
// Evidence is loaded once per invocation (loadGateEvidence) and judged in memory; the execute
// step's compare-and-swap re-runs the same checks on fresh rows (recheckFile). Stale evidence
// only refuses: nothing here deletes or rewrites evidence.

import { isContentVerified } from '../methods.js';
import { formatDurationNs as describeDurationNs, formatExactDurationNs as describeLimitNs } from '../../duration.js';
import type { Store } from '../../store/store.js';
import type { FileWithContent, RemoteCopyRow, VectorComponent } from '../../store/types.js';
import type { OffloadPolicy } from './policy.js';

/**
 * Stable reason codes, in the order the checks run. `copy-not-found` is not judged here: it is
 * what the last look at the destinations finds right before an unlink (execute.ts).
 */
export const REFUSAL_REASONS = [
  'name-collision',
  'name-not-allowed',
  'no-evidence',
  'evidence-behind',
  'lost-at-destination',
  'evidence-too-old',
  'evidence-age-unknown',
  'evidence-from-future',
  'not-pushed-since-appeared',
  'not-content-verified',
  'copy-not-found',
] as const;

export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** One target's "not yet" for one file: why, and the act that clears it. */
export interface Refusal {
  target: string;
  reason: RefusalReason;
  /** One line saying what is wrong. */
  summary: string;
  /** The command (or act) that clears it, without the `next: ` label. */
  next: string;
  /** Where the evidence stands: "covers origin laptop through run 4, this content needs run 7". */
  coordinates: string;
}

/** What the gate needs to know about a file: FileWithContent has all of it. */
export type GateSubject = Pick<FileWithContent, 'path' | 'contentId' | 'originNodeId' | 'originRunId' | 'statusChangedRunId'>;

/** Above this id a bitset would cost more than 64 MiB; fall back to binary search. */
const MAX_BITSET_ID = 2 ** 29;

/**
 * A set of content ids. Content ids are dense rowids, so membership is a bit test (125 KiB
 * per million ids); absurdly large ids fall back to a binary search over a sorted copy.
 */
export class ContentIdSet {
  private readonly bits: Uint8Array | null = null;
  private readonly sorted: Float64Array | null = null;

  /** From any list of ids: unordered, repeats allowed. */
  constructor(ids: Float64Array) {
    let maxId = 0;
    for (const id of ids) if (id > maxId) maxId = id;
    if (maxId > MAX_BITSET_ID) {
      this.sorted = Float64Array.from(new Set(ids)).sort();
      return;
    }
    this.bits = new Uint8Array((maxId >>> 3) + 1);
    for (const id of ids) this.bits[id >>> 3] |= 1 << (id & 7);
  }

  static of(ids: Iterable<number>): ContentIdSet {
    return new ContentIdSet(Float64Array.from(ids));
  }

  has(contentId: number): boolean {
    if (this.bits !== null) {
      return contentId >= 0 && contentId <= MAX_BITSET_ID && ((this.bits[contentId >>> 3] ?? 0) & (1 << (contentId & 7))) !== 0;
    }
    const ids = this.sorted!;
    let low = 0;
    let high = ids.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const value = ids[middle];
      if (value === contentId) return true;
      if (value < contentId) low = middle + 1;
      else high = middle - 1;
    }
    return false;
  }
}

export interface TargetEvidence {
  target: string;
  /** The target's version vector, by origin node id. */
  components: ReadonlyMap<number, VectorComponent>;
  /** The newest successful whole-volume push (sync run) to the target; null: never. */
  lastPushRunId: number | null;
  /** Contents with a copy-ledger row there, in any state. */
  copiedContentIds: ContentIdSet;
  /** Contents with a copy a verify found missing or corrupt there (corrupt wins). */
  lostContents: ReadonlyMap<number, 'missing' | 'corrupt'>;
  /** Paths the last sync there refused to place, and why (name-collision, name-not-allowed). */
  refusedPaths: ReadonlyMap<string, string>;
}

/** Everything the gate reads, per required target in policy order. */
export interface GateEvidence {
  volumeId: number;
  targets: TargetEvidence[];
  nodeNames: ReadonlyMap<number, string>;
}

/** The evidence a decision rested on, per target: the execute step compares it before unlinking. */
export interface TargetEvidenceVersion {
  target: string;
  componentVersion: number | null;
  lastPushRunId: number | null;
}

/**
 * Load the evidence for every required target once: a handful of queries per target and
 * compact structures (the ledger as a bitset of content ids), never a query per file.
 */
export function loadGateEvidence(store: Store, volumeId: number, policy: OffloadPolicy): GateEvidence {
  const components = store.evidence.components(volumeId);
  const lostCopies = store.evidence.lostCopies(volumeId);
  const targets = policy.requiredTargets.map((target) => ({
    target,
    components: new Map(components.filter((c) => c.destination === target).map((c) => [c.originNodeId, c])),
    lastPushRunId: store.runs.lastSuccessfulPush(volumeId, target),
    copiedContentIds: new ContentIdSet(store.evidence.copiedContentIds(volumeId, target)),
    lostContents: lostByContent(lostCopies.filter((copy) => copy.destination === target)),
    refusedPaths: store.places.refusedPaths(volumeId, target),
  }));
  return { volumeId, targets, nodeNames: store.nodeNames() };
}

function lostByContent(copies: RemoteCopyRow[]): Map<number, 'missing' | 'corrupt'> {
  const lost = new Map<number, 'missing' | 'corrupt'>();
  for (const copy of copies) {
    if (copy.state === 'ok') continue;
    if (lost.get(copy.contentId) !== 'corrupt') lost.set(copy.contentId, copy.state);
  }
  return lost;
}

/** Checks 4 and 6 depend only on the component, so they are decided once per component. */
interface ComponentVerdict {
  age: RefusalReason | null;
  contentVerified: boolean;
}

/**
 * The gate for one invocation: one policy, one `nowNs`, one node. `check` is the hot path
 * (no strings, no allocation); `refusals` and `describe` build the values users read.
 */
export class Gate {
  private readonly verdicts: Map<number, ComponentVerdict>[];

  constructor(
    readonly evidence: GateEvidence,
    readonly policy: OffloadPolicy,
    readonly nowNs: bigint,
    readonly thisNodeId: number,
  ) {
    if (evidence.targets.length !== policy.requiredTargets.length || evidence.targets.some((t, i) => t.target !== policy.requiredTargets[i])) {
      throw new Error('gate evidence was loaded for different targets than the policy requires');
    }
    this.verdicts = evidence.targets.map(
      (t) => new Map([...t.components].map(([originNodeId, c]) => [originNodeId, { age: this.ageReason(c), contentVerified: isContentVerified(c.verifyMethod) }])),
    );
  }

  private ageReason(component: VectorComponent): RefusalReason | null {
    const maxAgeNs = this.policy.maxEvidenceAgeNs;
    if (maxAgeNs === null) return null;
    const verifiedAtNs = component.verifiedAtNs;
    if (verifiedAtNs === null) return 'evidence-age-unknown';
    if (verifiedAtNs > this.nowNs + this.policy.skewToleranceNs) return 'evidence-from-future';
    if (verifiedAtNs < this.nowNs - maxAgeNs) return 'evidence-too-old';
    return null;
  }

  /** The first failing check for the file on target `targetIndex`, or null when it passes. */
  check(targetIndex: number, file: GateSubject): RefusalReason | null {
    const target = this.evidence.targets[targetIndex];
    if (target.refusedPaths.size > 0 && target.refusedPaths.has(file.path)) return target.refusedPaths.get(file.path) === 'name-not-allowed' ? 'name-not-allowed' : 'name-collision';
    const component = target.components.get(file.originNodeId);
    if (component === undefined) return 'no-evidence';
    if (component.originRunId < file.originRunId) return 'evidence-behind';
    // Fail closed: a copy found bad refuses even beside a good one, and no ok copy refuses too
    // (a content with ledger rows but none ok has a bad one, so it is in lostContents).
    if ((target.lostContents.size > 0 && target.lostContents.has(file.contentId)) || !target.copiedContentIds.has(file.contentId)) {
      return 'lost-at-destination';
    }
    const verdict = this.verdicts[targetIndex].get(file.originNodeId)!;
    if (verdict.age !== null) return verdict.age;
    if (target.lastPushRunId === null || file.statusChangedRunId > target.lastPushRunId) return 'not-pushed-since-appeared';
    if (!verdict.contentVerified) return 'not-content-verified';
    return null;
  }

  /** Every required target's refusal for the file; empty means it may be offloaded. */
  refusals(file: GateSubject): Refusal[] {
    const refusals: Refusal[] = [];
    for (let i = 0; i < this.evidence.targets.length; i++) {
      const reason = this.check(i, file);
      if (reason !== null) refusals.push(this.describe(i, reason, file));
    }
    return refusals;
  }

  /**
   * Refusals that share a key share their coordinates, so a report can group a million
   * files into a few lines: the origin node for vector checks, the copy state for the ledger.
   */
  coordinateKey(targetIndex: number, reason: RefusalReason, file: GateSubject): number {
    if (reason === 'lost-at-destination') {
      const lost = this.evidence.targets[targetIndex].lostContents.get(file.contentId);
      return lost === 'corrupt' ? 2 : lost === 'missing' ? 1 : 0;
    }
    return reason === 'not-pushed-since-appeared' || reason === 'name-collision' || reason === 'name-not-allowed' || reason === 'copy-not-found' ? 0 : file.originNodeId;
  }

  /**
   * The refusal value for a file. `runSpan` widens it to a group of files sharing its
   * coordinate key: the lowest and highest run the group needs.
   */
  describe(targetIndex: number, reason: RefusalReason, file: GateSubject, runSpan?: { lowRunId: number; highRunId: number }): Refusal {
    const t = this.evidence.targets[targetIndex];
    const target = t.target;
    const volume = this.policy.volume;
    const sync = `squirrel sync ${volume} --to ${target}`;
    const verify = `squirrel verify ${volume} --to ${target}`;
    const origin = this.nodeName(file.originNodeId);
    const component = t.components.get(file.originNodeId);
    const provenance = component ? this.provenance(component) : '';
    const limit = this.policy.maxEvidenceAgeNs === null ? 'none' : describeLimitNs(this.policy.maxEvidenceAgeNs);
    const span = (single: string, plural: string, run: number) =>
      runSpan && runSpan.lowRunId !== runSpan.highRunId ? `${plural} runs ${runSpan.lowRunId} to ${runSpan.highRunId}` : `${single} run ${runSpan?.highRunId ?? run}`;
    const refusal = (summary: string, next: string, coordinates: string): Refusal => ({ target, reason, summary, next, coordinates });

    switch (reason) {
      case 'name-collision':
        return refusal(
          `two local names are one name at ${target}, so neither was placed there`,
          `rename one of the twins, then squirrel index ${volume} and ${sync}`,
          `the last sync to ${target} refused these paths (name-collision)`,
        );
      case 'name-not-allowed':
        return refusal(
          `${target} cannot store these names (characters like : ? * are not allowed there), so they were not placed there`,
          `rename them, then squirrel index ${volume} and ${sync}`,
          `the last sync to ${target} refused these paths (name-not-allowed)`,
        );
      case 'copy-not-found':
        return refusal(
          `no copy of these bytes was found at ${target} just before the unlink`,
          `${verify}, then ${sync}`,
          `the copy the ledger records at ${target} is absent, of another size, or the very file being deleted`,
        );
      case 'no-evidence':
        return refusal(`${target} has no evidence for content from origin ${origin}`, sync, `no component for origin ${origin}`);
      case 'evidence-behind':
        return refusal(
          `${target}'s evidence covers an earlier run than this content`,
          sync,
          `covers origin ${origin} through run ${component!.originRunId}, ${span('this content needs', 'these contents need', file.originRunId)}`,
        );
      case 'lost-at-destination': {
        const lost = t.lostContents.get(file.contentId);
        return refusal(
          `${target} has no sound copy of these bytes in the copy ledger`,
          sync,
          lost ? `a verify found the copy at ${target} ${lost}` : `no copy at ${target} is recorded as verified`,
        );
      }
      case 'evidence-too-old':
        return refusal(
          `${target}'s evidence is older than offload_max_evidence_age`,
          verify,
          `origin ${origin}: verified ${describeDurationNs(this.nowNs - component!.verifiedAtNs!)} ago, limit ${limit}, ${provenance}`,
        );
      case 'evidence-age-unknown':
        return refusal(
          `${target}'s evidence has no verification time, so its age is unknown`,
          verify,
          `origin ${origin}: verification time unknown, limit ${limit}, ${provenance}`,
        );
      case 'evidence-from-future':
        return refusal(
          `${target}'s evidence is stamped in the future, so a clock is wrong`,
          `check the clock of ${component!.sourceNodeId === this.thisNodeId ? 'this machine' : `peer ${component!.sourceNodeName}`}, then ${verify}`,
          `origin ${origin}: verified ${describeDurationNs(component!.verifiedAtNs! - this.nowNs)} in the future, ` +
            `skew tolerance ${describeLimitNs(this.policy.skewToleranceNs)}, ${provenance}`,
        );
      case 'not-pushed-since-appeared':
        return refusal(
          `this file became present after the last successful push to ${target}`,
          sync,
          t.lastPushRunId === null
            ? `no successful push to ${target} yet`
            : `last successful push to ${target} is run ${t.lastPushRunId}, ${span('this file became present in', 'these files became present in', file.statusChangedRunId)}`,
        );
      case 'not-content-verified':
        return refusal(
          `${target}'s evidence rests on presence or size, not on the bytes`,
          verify,
          `origin ${origin}: method '${component!.verifyMethod}' is not content-verified, ${provenance}`,
        );
    }
  }

  private nodeName(nodeId: number): string {
    return this.evidence.nodeNames.get(nodeId) ?? `node#${nodeId}`;
  }

  private provenance(component: VectorComponent): string {
    return component.sourceNodeId === this.thisNodeId ? 'locally verified' : `asserted by peer ${component.sourceNodeName}`;
  }
}

/** The gate's verdict on one file: every required target's refusal; empty = may be offloaded. */
export function evaluateFile(file: GateSubject, evidence: GateEvidence, policy: OffloadPolicy, nowNs: bigint, thisNodeId: number): Refusal[] {
  return new Gate(evidence, policy, nowNs, thisNodeId).refusals(file);
}

/** The evidence versions a plan-time decision used for a file of this origin node. */
export function evidenceVersionsFor(evidence: GateEvidence, originNodeId: number): TargetEvidenceVersion[] {
  return evidence.targets.map((t) => ({
    target: t.target,
    componentVersion: t.components.get(originNodeId)?.version ?? null,
    lastPushRunId: t.lastPushRunId,
  }));
}

export function sameEvidenceVersions(a: readonly TargetEvidenceVersion[], b: readonly TargetEvidenceVersion[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => x.target === b[i].target && x.componentVersion === b[i].componentVersion && x.lastPushRunId === b[i].lastPushRunId)
  );
}

export interface Recheck {
  /** The fresh row. */
  file: FileWithContent;
  /** True only when the row is still this volume's `present` row and no target refuses. */
  allowed: boolean;
  /** Why the row itself no longer qualifies (another volume, no longer present); else null. */
  rowProblem: string | null;
  refusals: Refusal[];
  versions: TargetEvidenceVersion[];
  /** The ledger rows the decision read, per target, for the record. */
  copies: RemoteCopyRow[];
}

/**
 * The per-target rows of one write transaction: a target's vector component and last push are
 * read once per transaction instead of once per file (nothing else can write while it is open).
 * Make one inside Store.immediate and drop it with the transaction.
 */
export class TransactionRows {
  private readonly components = new Map<string, VectorComponent | null>();
  private readonly lastPushes = new Map<string, number | null>();
  private readonly refused = new Map<string, ReadonlyMap<string, string>>();
  private readonly nodeNames = new Map<number, string>();

  constructor(
    private readonly store: Store,
    private readonly volumeId: number,
  ) {}

  component(target: string, originNodeId: number): VectorComponent | null {
    const key = `${originNodeId}\0${target}`;
    if (!this.components.has(key)) this.components.set(key, this.store.evidence.component(this.volumeId, target, originNodeId) ?? null);
    return this.components.get(key)!;
  }

  lastSuccessfulPush(target: string): number | null {
    if (!this.lastPushes.has(target)) this.lastPushes.set(target, this.store.runs.lastSuccessfulPush(this.volumeId, target));
    return this.lastPushes.get(target)!;
  }

  refusedPaths(target: string): ReadonlyMap<string, string> {
    let paths = this.refused.get(target);
    if (!paths) this.refused.set(target, (paths = this.store.places.refusedPaths(this.volumeId, target)));
    return paths;
  }

  nodeName(nodeId: number): string {
    if (!this.nodeNames.has(nodeId)) this.nodeNames.set(nodeId, this.store.nodeName(nodeId));
    return this.nodeNames.get(nodeId)!;
  }
}

/**
 * Re-judge one file from fresh rows, for the compare-and-swap just before an unlink. Call it
 * inside Store.immediate so nothing can change between this read and the caller's write; files
 * judged in the same transaction may share its TransactionRows.
 */
export function recheckFile(
  store: Store,
  volumeId: number,
  fileId: number,
  policy: OffloadPolicy,
  nowNs: bigint,
  thisNodeId: number,
  rows = new TransactionRows(store, volumeId),
): Recheck {
  const file = store.files.existingFile(fileId);
  const none = { file, allowed: false, refusals: [], versions: [], copies: [] };
  if (file.volumeId !== volumeId) return { ...none, rowProblem: 'its index row belongs to another volume' };
  if (file.status !== 'present') return { ...none, rowProblem: `its index row is now '${file.status}'` };

  const copies: RemoteCopyRow[] = [];
  const targets: TargetEvidence[] = policy.requiredTargets.map((target) => {
    const component = rows.component(target, file.originNodeId);
    const ledger = store.evidence.copiesOf(volumeId, target, file.contentId);
    copies.push(...ledger);
    return {
      target,
      components: new Map(component ? [[file.originNodeId, component]] : []),
      lastPushRunId: rows.lastSuccessfulPush(target),
      copiedContentIds: ContentIdSet.of(ledger.map((c) => c.contentId)),
      lostContents: lostByContent(ledger),
      refusedPaths: rows.refusedPaths(target),
    };
  });
  const evidence: GateEvidence = { volumeId, targets, nodeNames: new Map([[file.originNodeId, rows.nodeName(file.originNodeId)]]) };
  const refusals = evaluateFile(file, evidence, policy, nowNs, thisNodeId);
  return { file, allowed: refusals.length === 0, rowProblem: null, refusals, versions: evidenceVersionsFor(evidence, file.originNodeId), copies };
}

// Kept under their old names for the modules that import them from here.
export { describeDurationNs, describeLimitNs };
