// A small world for offload gate and plan tests: a real SQLite store in a temp dir, a volume
// root with its marker, and index/sync/verify simulated through the Store API only, so the
// tests state evidence the way the real commands record it.

import fs from 'node:fs';
import path from 'node:path';
import { hashBytes } from '../../src/hash.js';
import type { VolumeConfig } from '../../src/config/types.js';
import { writeMarker } from '../../src/core/index/volume-root.js';
import { METHOD_READBACK } from '../../src/destinations/destination.js';
import { loadGateEvidence } from '../../src/core/offload/evidence.js';
import { Gate } from '../../src/core/offload/gate.js';
import type { Refusal } from '../../src/core/offload/refusals.js';
import { OffloadPolicy, policyFromVolume } from '../../src/core/offload/policy.js';
import { CopyState, FileWithContent, RunKind } from '../../src/store/types.js';
import { Store } from '../../src/store/store.js';
import { tempDir, TEST_NOW_NS } from '../helpers.js';

const alive = () => true;

export interface WorldOptions {
  targets?: string[];
  maxAgeMs?: number | null;
  /** Write the volume's `.squirrel-volume` marker (default true). */
  marker?: boolean;
}

export interface SyncOptions {
  method?: string;
  verifiedAtNs?: bigint | null;
  sourceNodeId?: number;
  /** Record ok ledger rows for every present file (default true). */
  copies?: boolean;
  /** Write the vector component (default true). */
  component?: boolean;
  status?: 'success' | 'partial' | 'failed';
}

export class OffloadWorld {
  readonly store: Store;
  readonly root: string;
  readonly laptopId: number;
  readonly volumeId: number;
  readonly targets: string[];
  readonly maxAgeMs: number | null;
  nowNs = TEST_NOW_NS;

  constructor(options: WorldOptions = {}) {
    const dir = tempDir();
    this.targets = options.targets ?? ['nas', 'offsite'];
    this.maxAgeMs = options.maxAgeMs ?? null;
    this.root = path.join(dir, 'photos');
    fs.mkdirSync(this.root);
    if (options.marker !== false) writeMarker(this.root, { format: 1, volume: 'photos', node: 'laptop', index: null, generation: null });
    this.store = Store.open(path.join(dir, 'index.db'), { create: true });
    this.laptopId = this.store.ensureNode('laptop');
    this.volumeId = this.store.ensureVolume('photos', this.root).id;
  }

  volumeConfig(overrides: Partial<VolumeConfig> = {}): VolumeConfig {
    return { name: 'photos', path: this.root, syncTo: this.targets, offloadRequires: this.targets, offloadMaxEvidenceAgeMs: this.maxAgeMs, namespaces: new Map(this.targets.map((t) => [t, 'photos'])), exclude: [], ...overrides };
  }

  policy(overrides: Partial<VolumeConfig> = {}): OffloadPolicy {
    return policyFromVolume(this.volumeConfig(overrides));
  }

  beginRun(kind: RunKind, destination: string | null = null): number {
    return this.store.runs.begin(
      { kind, volumeId: this.volumeId, destination, nodeId: this.laptopId, pid: process.pid, host: 'test-host', nowNs: this.nowNs },
      alive,
    );
  }

  /**
   * One index run: new paths get rows, changed bytes supersede the live row, `missing` paths
   * turn missing and `reappeared` paths present again. Content is a string (its bytes).
   */
  index(files: Record<string, string> = {}, options: { missing?: string[]; reappeared?: string[]; mtimeNs?: Record<string, bigint> } = {}): number {
    const runId = this.beginRun('index');
    this.store.immediate(() => {
      for (const [filePath, text] of Object.entries(files)) {
        const bytes = Buffer.from(text);
        const contentId = this.store.files.ensureContent(hashBytes(bytes), bytes.length, this.laptopId, runId);
        const mtimeNs = options.mtimeNs?.[filePath] ?? this.nowNs - 1_000_000_000n;
        const live = this.store.files.livePath(this.volumeId, filePath);
        if (live && live.contentId === contentId) {
          this.store.files.touch(live.id, runId, mtimeNs);
          continue;
        }
        if (live) this.store.files.supersede(live.id, runId);
        this.store.files.insertFile(this.volumeId, filePath, contentId, mtimeNs, runId);
      }
      for (const filePath of options.missing ?? []) this.store.files.setStatus(this.file(filePath).id, 'missing', runId);
      for (const filePath of options.reappeared ?? []) this.store.files.setStatus(this.file(filePath).id, 'present', runId);
    });
    this.store.runs.finishRun(runId, 'success', {}, this.nowNs);
    return runId;
  }

  /** A whole-volume push to `target` as sync records it: ledger rows, then the vector. */
  sync(target: string, options: SyncOptions = {}): number {
    const runId = this.beginRun('sync', target);
    const verifiedAtNs = options.verifiedAtNs === undefined ? this.nowNs : options.verifiedAtNs;
    this.store.immediate(() => {
      if (options.copies !== false) {
        for (const file of this.store.files.present(this.volumeId)) {
          this.store.evidence.recordVerifiedCopy(this.volumeId, target, `photos/${file.path}`, file.contentId, runId, verifiedAtNs ?? this.nowNs);
        }
      }
      if (options.component !== false) {
        for (const origin of this.store.evidence.highestPresentOrigins(this.volumeId)) {
          this.writeComponent(target, { originRunId: origin.originRunId, method: options.method, verifiedAtNs, sourceNodeId: options.sourceNodeId, runId, originNodeId: origin.originNodeId });
        }
      }
    });
    this.store.runs.finishRun(runId, options.status ?? 'success', {}, this.nowNs);
    return runId;
  }

  /** Write (create or advance or re-stamp) one vector component directly. */
  writeComponent(
    target: string,
    c: { originRunId: number; method?: string; verifiedAtNs?: bigint | null; sourceNodeId?: number; runId?: number | null; originNodeId?: number },
  ): void {
    const originNodeId = c.originNodeId ?? this.laptopId;
    const current = this.store.evidence.component(this.volumeId, target, originNodeId);
    const result = this.store.evidence.writeComponent({
      volumeId: this.volumeId,
      destination: target,
      originNodeId,
      originRunId: c.originRunId,
      verifyMethod: c.method ?? METHOD_READBACK,
      sourceNodeId: c.sourceNodeId ?? this.laptopId,
      nowNs: this.nowNs,
      verifiedAtNs: c.verifiedAtNs === undefined ? this.nowNs : c.verifiedAtNs,
      runId: c.runId ?? null,
      expectedVersion: current?.version ?? null,
    });
    if (!result.applied && result.reason !== 'unchanged') throw new Error(`component write not applied: ${result.reason}`);
  }

  /** Record an ok copy of a file's current content at `target` without a sync run. */
  recordCopy(target: string, filePath: string, runId: number): void {
    const file = this.file(filePath);
    this.store.immediate(() => this.store.evidence.recordVerifiedCopy(this.volumeId, target, `photos/${filePath}`, file.contentId, runId, this.nowNs));
  }

  /** What a verify that found the copy of `filePath` at `target` in `state` records. */
  markCopy(target: string, filePath: string, state: CopyState): void {
    const remotePath = `photos/${filePath}`;
    const copy = this.store.evidence.copy(this.volumeId, target, remotePath);
    if (!copy) throw new Error(`no ledger row for ${remotePath} at ${target}`);
    const applied = this.store.immediate(() => this.store.evidence.markCopy(this.volumeId, target, remotePath, state, this.nowNs, copy.version));
    if (!applied) throw new Error('markCopy raced');
  }

  file(filePath: string): FileWithContent {
    const row = this.store.files.livePath(this.volumeId, filePath);
    if (!row) throw new Error(`no live row for ${filePath}`);
    return row;
  }

  /** The gate's verdict for one file, judged exactly as a plan would. */
  judge(filePath: string, policy: OffloadPolicy = this.policy()): Refusal[] {
    const evidence = loadGateEvidence(this.store, this.volumeId, policy);
    return new Gate(evidence, policy, this.nowNs, this.laptopId).refusals(this.file(filePath));
  }

  /** `target:reason` per refusal, the compact form most assertions want. */
  reasons(filePath: string, policy?: OffloadPolicy): string[] {
    return this.judge(filePath, policy).map((r) => `${r.target}:${r.reason}`);
  }

  close(): void {
    this.store.close();
  }
}
