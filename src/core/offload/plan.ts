// Planning an offload: which indexed files the selectors pick, and what the gate says about
// each, from the index alone (no file is read; `--dry-run` stops here). Refuses before any
// work when the volume may not be offloaded or its root is not the indexed one. Memory-lean
// for a million files: rows are streamed, refusals kept as counted groups with a bounded
// sample of paths, and the allowed files stored column-wise.

import { NS_PER_MS, NS_PER_SECOND } from '../../clock.js';
import { excludeMatcher } from '../../config/exclude.js';
import type { VolumeConfig } from '../../config/types.js';
import { formatExactDurationMs } from '../../duration.js';
import { OperationalError, UsageError } from '../../errors.js';
import { isReservedPath, RESERVED_PREFIX, VOLUME_MARKER } from '../../paths.js';
import { selects, Selector, WHOLE_VOLUME } from '../selectors.js';
import type { Store } from '../../store/store.js';
import type { OffloadCandidateRow } from '../../store/types.js';
import { checkVolumeRoot } from '../index/volume-root.js';
import type { Reporter } from '../reporter.js';
import { evidenceVersionsFor, GateEvidence, GateSubject, loadGateEvidence, TargetEvidenceVersion } from './evidence.js';
import { Gate } from './gate.js';
import { describeRefusal, REFUSAL_REASONS, RefusalReason } from './refusals.js';
import { OffloadPolicy, policyFromVolume } from './policy.js';

export interface PlanOptions {
  /** Only files whose indexed mtime is older than now minus this; null: any age. */
  olderThanMs: number | null;
  nowNs: bigint;
  thisNodeId: number;
  /** Keep every blocked path (for --per-file); otherwise a bounded sample per group. */
  perFile?: boolean;
  /** Paths kept per refusal group without perFile. */
  samplePaths?: number;
  /** Keep each allowed file's BLAKE3, for the execute step; a dry run or a count needs none. */
  withHashes?: boolean;
  reporter?: Reporter;
}

export const DEFAULT_SAMPLE_PATHS = 10;
const PROGRESS_EVERY_FILES = 65_536;

/** A file the gate allowed, with what the decision rested on (for the execute step's checks). */
export interface AllowedFile {
  fileId: number;
  path: string;
  contentId: number;
  sizeBytes: number;
  mtimeNs: bigint;
  originNodeId: number;
  evidenceVersions: readonly TargetEvidenceVersion[];
}

/**
 * Allowed files stored column-wise (typed arrays plus the path strings): ~150 bytes a file,
 * and 32 more with its hash, instead of ~400 for objects with their own Buffer and bigint. Read
 * with `at(i)` or iterate; each `at(i)` builds a fresh object.
 */
export class AllowedFiles implements Iterable<AllowedFile> {
  private count = 0;
  private bytes = 0;
  private readonly paths: string[] = [];
  private fileIds = new Float64Array(1024);
  private contentIds = new Float64Array(1024);
  private sizes = new Float64Array(1024);
  private mtimeSeconds = new Float64Array(1024);
  private mtimeNanos = new Float64Array(1024);
  private origins = new Float64Array(1024);
  /** 32 bytes a file, or null when the plan keeps no hashes. */
  private hashes: Uint8Array | null;

  constructor(
    private readonly versionsByOrigin: (originNodeId: number) => readonly TargetEvidenceVersion[],
    withHashes: boolean,
  ) {
    this.hashes = withHashes ? new Uint8Array(32 * 1024) : null;
  }

  get length(): number {
    return this.count;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  push(file: OffloadCandidateRow): void {
    if (this.count === this.fileIds.length) this.grow();
    const i = this.count++;
    this.paths.push(file.path);
    this.fileIds[i] = file.id;
    this.contentIds[i] = file.contentId;
    this.sizes[i] = file.size;
    this.mtimeSeconds[i] = file.mtimeSeconds;
    this.mtimeNanos[i] = file.mtimeNanos;
    this.origins[i] = file.originNodeId;
    const hashes = this.hashes;
    if (hashes !== null) for (let b = 0, from = file.blake3Offset, to = 32 * i; b < 32; b++) hashes[to + b] = file.blake3[from + b];
    this.bytes += file.size;
  }

  path(i: number): string {
    return this.paths[i];
  }

  at(i: number): AllowedFile {
    if (i < 0 || i >= this.count) throw new RangeError(`no allowed file ${i} (of ${this.count})`);
    return {
      fileId: this.fileIds[i],
      path: this.paths[i],
      contentId: this.contentIds[i],
      sizeBytes: this.sizes[i],
      mtimeNs: BigInt(this.mtimeSeconds[i]) * NS_PER_SECOND + BigInt(this.mtimeNanos[i]),
      originNodeId: this.origins[i],
      evidenceVersions: this.versionsByOrigin(this.origins[i]),
    };
  }

  /** The indexed BLAKE3 of file i, which its bytes on disk must still hash to. */
  blake3(i: number): Buffer {
    if (this.hashes === null) throw new Error('this offload plan keeps no hashes (made for a dry run): it cannot be executed');
    return Buffer.from(this.hashes.subarray(32 * i, 32 * i + 32));
  }

  *[Symbol.iterator](): Iterator<AllowedFile> {
    for (let i = 0; i < this.count; i++) yield this.at(i);
  }

  private grow(): void {
    const capacity = this.fileIds.length * 2;
    const grown = (old: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      const next = new Float64Array(capacity);
      next.set(old);
      return next;
    };
    this.fileIds = grown(this.fileIds);
    this.contentIds = grown(this.contentIds);
    this.sizes = grown(this.sizes);
    this.mtimeSeconds = grown(this.mtimeSeconds);
    this.mtimeNanos = grown(this.mtimeNanos);
    this.origins = grown(this.origins);
    if (this.hashes !== null) {
      const hashes = new Uint8Array(32 * capacity);
      hashes.set(this.hashes);
      this.hashes = hashes;
    }
  }
}

/** Files refused on one target for one reason. */
export interface RefusalGroup {
  target: string;
  reason: RefusalReason;
  count: number;
  summary: string;
  next: string;
  /** Distinct coordinates in the group (few: one per origin node or copy state). */
  coordinates: string[];
  /** Every blocked path with perFile, else the first few in path order. */
  paths: string[];
  pathsComplete: boolean;
}

export interface TargetSatisfaction {
  target: string;
  /** Selected files this target does not refuse. */
  satisfied: number;
  of: number;
}

export interface UnmatchedSelector {
  selector: string;
  /** Present files under it that --older-than left out. */
  tooRecentFiles: number;
  message: string;
}

export interface OffloadPlan {
  volume: string;
  volumeId: number;
  rootPath: string;
  policy: OffloadPolicy;
  nowNs: bigint;
  thisNodeId: number;
  selectors: Selector[];
  olderThanMs: number | null;
  perFile: boolean;
  unmatchedSelectors: UnmatchedSelector[];
  /** Selected present files the gate judged. */
  candidates: number;
  /** Present files under the selectors that --older-than left out. */
  tooRecent: number;
  /** Files under reserved `.squirrel-*` subtrees, never candidates. */
  reservedSkipped: number;
  /** Present files the volume's exclude: patterns match (until the next index marks them missing), never candidates. */
  excludedSkipped: number;
  allowed: AllowedFiles;
  /** Candidates at least one target refused. */
  refusedFiles: number;
  groups: RefusalGroup[];
  targets: TargetSatisfaction[];
}

interface CoordinateAggregate {
  exemplar: GateSubject;
  lowRunId: number;
  highRunId: number;
}

interface GroupBuilder {
  targetIndex: number;
  reason: RefusalReason;
  count: number;
  paths: string[];
  byKey: Map<number, CoordinateAggregate>;
}

/**
 * Plan an offload of the selected files of a volume. Throws before reading any file row when
 * offload is not configured for the volume, it was never indexed, or its root is not the one
 * the index was built from (moved config path, another volume's marker, no marker).
 */
export function planOffload(store: Store, volume: VolumeConfig, selectors: Selector[], options: PlanOptions): OffloadPlan {
  const policy = policyFromVolume(volume);
  if (selectors.length === 0) throw new UsageError("offload needs at least one path, or '.' for the whole volume", 'no-selector');
  const volumeRow = store.volume(volume.name);
  if (!volumeRow) {
    throw new OperationalError(`volume '${volume.name}' has never been indexed, so nothing is known to be backed up; run \`squirrel index ${volume.name}\` first`, 'volume-not-indexed');
  }
  const rootCheck = checkVolumeRoot(store, volume, { allowMissingMarker: false });
  if (!rootCheck.marker) {
    throw new OperationalError(
      `${volume.path} has no ${VOLUME_MARKER} marker, so squirrel cannot tell it is volume '${volume.name}' (is the drive mounted?); ` +
        `nothing was changed. Run \`squirrel index ${volume.name}\` to write it.`,
      'volume-marker-missing',
    );
  }

  return store.snapshot(() => {
    const evidence = loadGateEvidence(store, volumeRow.id, policy);
    return scan(store, volume, volumeRow.id, selectors, policy, evidence, options);
  });
}

function scan(store: Store, volume: VolumeConfig, volumeId: number, selectors: Selector[], policy: OffloadPolicy, evidence: GateEvidence, options: PlanOptions): OffloadPlan {
  const gate = new Gate(evidence, policy, options.nowNs, options.thisNodeId);
  const perFile = options.perFile === true;
  const sampleLimit = options.samplePaths ?? DEFAULT_SAMPLE_PATHS;
  const cutoffNs = options.olderThanMs === null ? null : options.nowNs - BigInt(options.olderThanMs) * NS_PER_MS;
  const cutoffSeconds = cutoffNs === null ? 0 : Number(cutoffNs / NS_PER_SECOND);
  const cutoffNanos = cutoffNs === null ? 0 : Number(cutoffNs % NS_PER_SECOND);
  const targetCount = policy.requiredTargets.length;
  const versionsByOrigin = new Map<number, readonly TargetEvidenceVersion[]>();
  const withHashes = options.withHashes === true;
  const allowed = new AllowedFiles((originNodeId) => {
    let versions = versionsByOrigin.get(originNodeId);
    if (!versions) versionsByOrigin.set(originNodeId, (versions = Object.freeze(evidenceVersionsFor(evidence, originNodeId))));
    return versions;
  }, withHashes);
  const satisfied = new Array<number>(targetCount).fill(0);
  const builders = new Array<GroupBuilder | undefined>(targetCount * REFUSAL_REASONS.length);
  const reasonIndex = new Map(REFUSAL_REASONS.map((reason, i) => [reason, i]));
  const matched = new Map(selectors.map((s) => [s.path, { present: 0, tooRecent: 0 }]));
  const sorted = [...selectors].map((s) => s.path).sort();
  // Nested selectors are covered by their ancestor's range; only the outermost are queried.
  const outermost = sorted.filter((s) => !sorted.some((other) => other !== s && selects(other, s)));
  let candidates = 0;
  let tooRecent = 0;
  let reservedSkipped = 0;
  // Rows a new exclude: pattern matches stay present until the next index or sync: never offloaded.
  const excludes = excludeMatcher(volume.exclude);
  let excludedSkipped = 0;
  let refusedFiles = 0;
  let seen = 0;

  for (const top of outermost) {
    const inside = sorted.filter((s) => selects(top, s));
    // [top, top + '0') in byte order holds `top` and `top/...` ('0' follows '/'), plus
    // siblings like `top-extra` that the segment check below drops.
    const range = top === WHOLE_VOLUME ? null : { fromPath: top, toPath: `${top}0` };
    const rows = store.offloadCandidates.iterate(volumeId, range, withHashes);
    for (const file of rows) {
      if (++seen % PROGRESS_EVERY_FILES === 0) options.reporter?.progress({ phase: `plan offload ${volume.name}`, doneFiles: seen, totalFiles: null, doneBytes: 0, totalBytes: null });
      if (!selects(top, file.path)) continue;
      if (file.path.includes(RESERVED_PREFIX) && isReservedPath(file.path)) {
        reservedSkipped++;
        continue;
      }
      if (excludes(file.path)) {
        excludedSkipped++;
        continue;
      }
      // Compared as (seconds, nanoseconds): both split toward zero, so the order is the value's.
      const young = cutoffNs !== null && (file.mtimeSeconds > cutoffSeconds || (file.mtimeSeconds === cutoffSeconds && file.mtimeNanos >= cutoffNanos));
      for (const s of inside) {
        if (!selects(s, file.path)) continue;
        const m = matched.get(s)!;
        if (young) m.tooRecent++;
        else m.present++;
      }
      if (young) {
        tooRecent++;
        continue;
      }

      candidates++;
      let refused = false;
      for (let t = 0; t < targetCount; t++) {
        const reason = gate.check(t, file);
        if (reason === null) {
          satisfied[t]++;
          continue;
        }
        refused = true;
        const slot = t * REFUSAL_REASONS.length + reasonIndex.get(reason)!;
        const group: GroupBuilder = (builders[slot] ??= { targetIndex: t, reason, count: 0, paths: [], byKey: new Map() });
        group.count++;
        if (perFile || group.paths.length < sampleLimit) group.paths.push(file.path);
        const key = gate.coordinateKey(t, reason, file);
        const run = reason === 'not-pushed-since-appeared' ? file.statusChangedRunId : file.originRunId;
        const aggregate = group.byKey.get(key);
        if (!aggregate) {
          group.byKey.set(key, { exemplar: subjectOf(file), lowRunId: run, highRunId: run });
        } else {
          if (run < aggregate.lowRunId) aggregate.lowRunId = run;
          if (run > aggregate.highRunId) aggregate.highRunId = run;
        }
      }
      if (refused) refusedFiles++;
      else allowed.push(file);
    }
  }

  const groups: RefusalGroup[] = [];
  for (const builder of builders) {
    if (!builder) continue;
    const described = [...builder.byKey.values()].map((a) => describeRefusal(gate, builder.targetIndex, builder.reason, a.exemplar, a));
    groups.push({
      target: policy.requiredTargets[builder.targetIndex],
      reason: builder.reason,
      count: builder.count,
      summary: described[0].summary,
      next: described[0].next,
      coordinates: [...new Set(described.map((d) => d.coordinates))],
      paths: builder.paths,
      pathsComplete: builder.paths.length === builder.count,
    });
  }

  const unmatchedSelectors: UnmatchedSelector[] = [];
  for (const s of selectors) {
    const m = matched.get(s.path)!;
    if (m.present > 0) continue;
    const message =
      m.tooRecent > 0
        ? `'${s.raw}': none of its ${m.tooRecent} indexed file(s) is older than ${formatExactDurationMs(options.olderThanMs!)}; nothing selected there`
        : `'${s.raw}' matches no present file in the index of volume '${volume.name}'; nothing selected there ` +
          `(offloaded and missing files are never selected; run \`squirrel index ${volume.name}\` if files were added)`;
    unmatchedSelectors.push({ selector: s.raw, tooRecentFiles: m.tooRecent, message });
    options.reporter?.warn(message);
  }

  return {
    volume: volume.name,
    volumeId,
    rootPath: volume.path,
    policy,
    nowNs: options.nowNs,
    thisNodeId: options.thisNodeId,
    selectors,
    olderThanMs: options.olderThanMs,
    perFile,
    unmatchedSelectors,
    candidates,
    tooRecent,
    reservedSkipped,
    excludedSkipped,
    allowed,
    refusedFiles,
    groups,
    targets: policy.requiredTargets.map((target, i) => ({ target, satisfied: satisfied[i], of: candidates })),
  };
}

function subjectOf(file: GateSubject): GateSubject {
  return { path: file.path, contentId: file.contentId, originNodeId: file.originNodeId, originRunId: file.originRunId, statusChangedRunId: file.statusChangedRunId };
}
