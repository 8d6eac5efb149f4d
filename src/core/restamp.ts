// Writing the version vector from the copy ledger, for sync and verify (inside Store.immediate).
// A component is written only when every covered content has a verified copy and none was found
// lost; its verified_at_ns is the OLDEST of the newest ok-copy verifications, so a rolling verify
// stays honest (a copy stamped in the future makes it unknown).

import { Store } from '../store/store.js';
import { VectorComponent } from '../store/types.js';
import { isContentVerified } from './methods.js';
import { DEFAULT_SKEW_TOLERANCE_NS } from './offload/policy.js';

export interface Claim {
  originNodeId: number;
  /** The run this writer may claim (sync: highest present origin run captured before transfer). */
  originRunId: number;
  /** The component version the writer saw when it decided; null if it saw none. */
  expectedVersion: number | null;
}

export interface RestampRequest {
  volumeId: number;
  destination: string;
  claims: Claim[];
  /** The method this writer establishes evidence with (e.g. blake3-readback). */
  method: string;
  sourceNodeId: number;
  nowNs: bigint;
  runId: number;
}

export interface RestampOutcome {
  originNode: string;
  outcome: 'created' | 'advanced' | 'reverified' | 'unchanged' | 'not-verified';
  originRunId: number;
  verifiedAtNs: bigint | null;
  version: number | null;
  /** True when the component changed between the writer's decision and this write. */
  reevaluated: boolean;
  detail: string;
}

export function restampComponents(store: Store, req: RestampRequest): RestampOutcome[] {
  return req.claims.map((claim) => {
    const originNode = store.nodeName(claim.originNodeId);
    // Fresh rows, under the write lock: a changed version is re-evaluated here, never assumed.
    const current = store.evidence.component(req.volumeId, req.destination, claim.originNodeId);
    const reevaluated = (current?.version ?? null) !== claim.expectedVersion;
    // Never decrease: a claim below the current component re-checks the current coverage.
    const coveredRunId = Math.max(claim.originRunId, current?.originRunId ?? 0);
    const coverage = store.evidence.coverageVerification(req.volumeId, req.destination, claim.originNodeId, coveredRunId, req.nowNs + DEFAULT_SKEW_TOLERANCE_NS, req.runId);
    const base = { originNode, originRunId: coveredRunId, reevaluated };
    if (coverage.contents === 0) {
      return { ...base, outcome: 'unchanged', verifiedAtNs: current?.verifiedAtNs ?? null, version: current?.version ?? null, detail: 'no covered content is present' };
    }
    if (coverage.unverified > 0 || coverage.lost > 0) {
      const parts = [];
      if (coverage.unverified > 0) parts.push(`${coverage.unverified} of ${coverage.contents} covered contents have no verified copy`);
      if (coverage.lost > 0) parts.push(`${coverage.lost} have a copy found missing or corrupt`);
      return {
        ...base,
        outcome: 'not-verified',
        verifiedAtNs: current?.verifiedAtNs ?? null,
        version: current?.version ?? null,
        detail: `'${req.destination}' origin ${originNode} through run ${coveredRunId}: ${parts.join(', ')}; evidence left unchanged`,
      };
    }
    const write = store.evidence.writeComponent({
      volumeId: req.volumeId,
      destination: req.destination,
      originNodeId: claim.originNodeId,
      originRunId: coveredRunId,
      verifyMethod: methodFor(current, coveredRunId, coverage.oldestVerifiedAtNs, req.method),
      sourceNodeId: req.sourceNodeId,
      nowNs: req.nowNs,
      verifiedAtNs: coverage.oldestVerifiedAtNs,
      runId: req.runId,
      expectedVersion: current?.version ?? null,
    });
    if (!write.applied) {
      return { ...base, outcome: 'unchanged', verifiedAtNs: current?.verifiedAtNs ?? null, version: current?.version ?? null, detail: write.reason };
    }
    const outcome = write.change === 'create' ? 'created' : write.change === 'advance' ? 'advanced' : 'reverified';
    return { ...base, outcome, verifiedAtNs: coverage.oldestVerifiedAtNs, version: write.version, detail: write.change };
  });
}

/**
 * A write that advances the run or moves verified_at records how this writer proved the
 * bytes (a verify's re-read shows as blake3-reverify, as the docs say, not as the read-back of
 * the sync that created the component). One that would change only the method keeps an
 * existing content-verified method, so it stays an equal-value write that applies nothing.
 */
function methodFor(current: VectorComponent | undefined, coveredRunId: number, verifiedAtNs: bigint | null, method: string): string {
  if (!current || coveredRunId > current.originRunId || verifiedAtNs !== current.verifiedAtNs || !isContentVerified(current.verifyMethod)) return method;
  return current.verifyMethod;
}
