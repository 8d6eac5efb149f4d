// The compare-and-swap just before an unlink (SPEC §1.6): a file is judged again on rows read
// inside the write transaction, so nothing can change between the judgement and the caller's
// write. One Rechecker serves one transaction: one gate, and each target's rows read once.

import type { Store } from '../../store/store.js';
import type { FileWithContent, RemoteCopyRow, VectorComponent } from '../../store/types.js';
import { evidenceVersionsFor, GateEvidence, lostByContent, TargetEvidenceVersion } from './evidence.js';
import { Gate } from './gate.js';
import type { OffloadPolicy } from './policy.js';
import type { Refusal } from './refusals.js';

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

/** A target's evidence as a re-check fills it in: only what the judged files need. */
interface LoadedTarget {
  target: string;
  components: Map<number, VectorComponent>;
  lastPushRunId: number | null;
  copiedContentIds: Set<number>;
  lostContents: Map<number, 'missing' | 'corrupt'>;
  refusedPaths: ReadonlyMap<string, string>;
}

/**
 * Make one inside Store.immediate and drop it with the transaction: the rows it has read stay
 * true only while nothing else can write. The vector components, the ledger rows of a content
 * and node names are read when a file first needs them.
 */
export class Rechecker {
  private readonly targets: LoadedTarget[];
  private readonly nodeNames = new Map<number, string>();
  private readonly evidence: GateEvidence;
  private readonly gate: Gate;
  private readonly loadedOrigins = new Set<number>();
  /** Per content id, the ledger rows of every target, in policy order. */
  private readonly ledgers = new Map<number, RemoteCopyRow[]>();

  constructor(
    private readonly store: Store,
    private readonly volumeId: number,
    policy: OffloadPolicy,
    nowNs: bigint,
    thisNodeId: number,
  ) {
    this.targets = policy.requiredTargets.map((target) => ({
      target,
      components: new Map(),
      lastPushRunId: store.runs.lastSuccessfulPush(volumeId, target),
      copiedContentIds: new Set(),
      lostContents: new Map(),
      refusedPaths: store.places.refusedPaths(volumeId, target),
    }));
    this.evidence = { volumeId, targets: this.targets, nodeNames: this.nodeNames };
    this.gate = new Gate(this.evidence, policy, nowNs, thisNodeId);
  }

  /** Re-judge one file from fresh rows. */
  recheck(fileId: number): Recheck {
    const file = this.store.files.existingFile(fileId);
    const none = { file, allowed: false, refusals: [], versions: [], copies: [] };
    if (file.volumeId !== this.volumeId) return { ...none, rowProblem: 'its index row belongs to another volume' };
    if (file.status !== 'present') return { ...none, rowProblem: `its index row is now '${file.status}'` };
    this.loadOrigin(file.originNodeId);
    const copies = this.loadLedger(file.contentId);
    const refusals = this.gate.refusals(file);
    return { file, allowed: refusals.length === 0, rowProblem: null, refusals, versions: evidenceVersionsFor(this.evidence, file.originNodeId), copies };
  }

  private loadOrigin(originNodeId: number): void {
    if (this.loadedOrigins.has(originNodeId)) return;
    this.loadedOrigins.add(originNodeId);
    for (const t of this.targets) {
      const component = this.store.evidence.component(this.volumeId, t.target, originNodeId);
      if (component) t.components.set(originNodeId, component);
    }
    this.nodeNames.set(originNodeId, this.store.nodeName(originNodeId));
  }

  private loadLedger(contentId: number): RemoteCopyRow[] {
    let copies = this.ledgers.get(contentId);
    if (copies) return copies;
    copies = [];
    for (const t of this.targets) {
      const ledger = this.store.evidence.copiesOf(this.volumeId, t.target, contentId);
      if (ledger.length > 0) t.copiedContentIds.add(contentId);
      lostByContent(ledger, t.lostContents);
      copies.push(...ledger);
    }
    this.ledgers.set(contentId, copies);
    return copies;
  }
}
