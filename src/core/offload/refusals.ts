// The refusal values users read (SPEC §5): a stable reason code, one line saying what is wrong,
// the act that clears it, and where the evidence stands, worded from the same evidence the
// checks judged. A report groups refusals by (target, reason) and lists their coordinates.

import { formatDurationNs, formatExactDurationNs } from '../../duration.js';
import type { VectorComponent } from '../../store/types.js';
import type { GateEvidence, GateSubject } from './evidence.js';
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

/** What a refusal is worded from: the judgement's evidence, policy, now and node. */
export interface RefusalContext {
  readonly evidence: GateEvidence;
  readonly policy: OffloadPolicy;
  readonly nowNs: bigint;
  readonly thisNodeId: number;
}

/**
 * The refusal value for a file. `runSpan` widens it to a group of files sharing its coordinate
 * key: the lowest and highest run the group needs.
 */
export function describeRefusal(
  judged: RefusalContext,
  targetIndex: number,
  reason: RefusalReason,
  file: GateSubject,
  runSpan?: { lowRunId: number; highRunId: number },
): Refusal {
  const t = judged.evidence.targets[targetIndex];
  const target = t.target;
  const volume = judged.policy.volume;
  const sync = `squirrel sync ${volume} --to ${target}`;
  const verify = `squirrel verify ${volume} --to ${target}`;
  const origin = nodeNameOf(judged, file.originNodeId);
  const component = t.components.get(file.originNodeId);
  const provenance = component ? provenanceOf(judged, component) : '';
  const limit = judged.policy.maxEvidenceAgeNs === null ? 'none' : formatExactDurationNs(judged.policy.maxEvidenceAgeNs);
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
        `origin ${origin}: verified ${formatDurationNs(judged.nowNs - component!.verifiedAtNs!)} ago, limit ${limit}, ${provenance}`,
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
        `check the clock of ${component!.sourceNodeId === judged.thisNodeId ? 'this machine' : `peer ${component!.sourceNodeName}`}, then ${verify}`,
        `origin ${origin}: verified ${formatDurationNs(component!.verifiedAtNs! - judged.nowNs)} in the future, ` +
          `skew tolerance ${formatExactDurationNs(judged.policy.skewToleranceNs)}, ${provenance}`,
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

function nodeNameOf(judged: RefusalContext, nodeId: number): string {
  return judged.evidence.nodeNames.get(nodeId) ?? `node#${nodeId}`;
}

function provenanceOf(judged: RefusalContext, component: VectorComponent): string {
  return component.sourceNodeId === judged.thisNodeId ? 'locally verified' : `asserted by peer ${component.sourceNodeName}`;
}
