// The offload gate (SPEC §5): per file and required target, the checks in a fixed order; the
// first that fails is that target's refusal, and a file may go only when no target refuses.
// One Gate judges every file of a plan, or every file re-checked under one write transaction,
// against one policy, one `nowNs` and one node. Stale evidence only refuses, never rewrites.

import { isContentVerified } from '../methods.js';
import type { VectorComponent } from '../../store/types.js';
import type { GateEvidence, GateSubject } from './evidence.js';
import type { OffloadPolicy } from './policy.js';
import { describeRefusal, Refusal, RefusalContext, RefusalReason } from './refusals.js';

/** The checks that depend only on a component (age and method), decided once per component. */
interface ComponentVerdict {
  age: RefusalReason | null;
  contentVerified: boolean;
}

/** `check` is the hot path (no strings, no allocation); `refusals` builds the values users read. */
export class Gate implements RefusalContext {
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
    this.verdicts = evidence.targets.map((t) => new Map([...t.components].map(([originNodeId, c]) => [originNodeId, this.judgeComponent(c)])));
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
    const verdict = this.verdicts[targetIndex].get(file.originNodeId) ?? this.rememberVerdict(targetIndex, file.originNodeId, component);
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
      if (reason !== null) refusals.push(describeRefusal(this, i, reason, file));
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

  /** A component loaded after the gate was made (a re-check reads them as files need them). */
  private rememberVerdict(targetIndex: number, originNodeId: number, component: VectorComponent): ComponentVerdict {
    const verdict = this.judgeComponent(component);
    this.verdicts[targetIndex].set(originNodeId, verdict);
    return verdict;
  }

  private judgeComponent(component: VectorComponent): ComponentVerdict {
    return { age: this.ageReason(component), contentVerified: isContentVerified(component.verifyMethod) };
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
}
