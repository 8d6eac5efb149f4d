// What the offload gate reads, per required target: the version vector, the last whole-volume
// push, the copy ledger and the paths a sync refused to place. Loaded once per plan as compact
// structures (the ledger as a bitset of content ids), never with a query per file.

import type { Store } from '../../store/store.js';
import type { FileWithContent, RemoteCopyRow, VectorComponent } from '../../store/types.js';
import type { OffloadPolicy } from './policy.js';

/** What the gate needs to know about a file: FileWithContent has all of it. */
export type GateSubject = Pick<FileWithContent, 'path' | 'contentId' | 'originNodeId' | 'originRunId' | 'statusChangedRunId'>;

/** Above this id a bitset would cost more than 64 MiB; fall back to binary search. */
const MAX_BITSET_ID = 2 ** 29;

/** Membership of content ids: a ContentIdSet for a plan, a Set for a re-check. */
export interface ContentIds {
  has(contentId: number): boolean;
}

/**
 * A set of content ids. Content ids are dense rowids, so membership is a bit test (125 KiB
 * per million ids); absurdly large ids fall back to a binary search over a sorted copy.
 */
export class ContentIdSet implements ContentIds {
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
  copiedContentIds: ContentIds;
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

/** Load the evidence for every required target once: a handful of queries per target. */
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

/** The bad copies' states by content; a corrupt copy outweighs a missing one. */
export function lostByContent(copies: RemoteCopyRow[], lost = new Map<number, 'missing' | 'corrupt'>()): Map<number, 'missing' | 'corrupt'> {
  for (const copy of copies) {
    if (copy.state === 'ok') continue;
    if (lost.get(copy.contentId) !== 'corrupt') lost.set(copy.contentId, copy.state);
  }
  return lost;
}

/** The evidence versions a decision used for a file of this origin node. */
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
