// status: per volume and target, what the evidence says now — last successful push, the
// vector components and their age, latched alarms, the destination root — and a traffic
// light for cron (green / amber: stale or behind / red: alarm or root missing).

import { VolumeConfig } from '../config/types.js';
import { Destination, RootState } from '../destinations/destination.js';
import { errorMessage, UsageError } from '../errors.js';
import { Store } from '../store/store.js';
import { RemoteCopyRow, VectorComponent } from '../store/types.js';
import { checkVolumeRoot } from './index/volume-root.js';
import { DisplacedFiles, displacedFiles } from './displaced.js';
import { openNamespace } from './namespace.js';
import { planOffload } from './offload/plan.js';
import { parseSelectors } from './selectors.js';
import { DEFAULT_SKEW_TOLERANCE_NS } from './offload/policy.js';

export type Light = 'green' | 'amber' | 'red';

export interface TargetStatus {
  destination: string;
  required: boolean;
  root: RootState | 'unavailable';
  rootDetail: string | null;
  lastPushRunId: number | null;
  components: (VectorComponent & { behind: boolean; needsRunId: number | null; ageNs: bigint | null; stale: boolean })[];
  alarms: RemoteCopyRow[];
  light: Light;
  reasons: string[];
}

export interface VolumeStatus {
  volume: string;
  indexed: boolean;
  presentFiles: number;
  presentBytes: number;
  offloadedFiles: number;
  targets: TargetStatus[];
  /** What `offload <volume> .` would let go now; null when offload is not configured or cannot plan. */
  offloadReady: { files: number; bytes: number; of: number } | { error: string } | null;
  /** What is wrong with the volume itself (its root, its last index). */
  reasons: string[];
  /** Files restore moved aside, waiting for the user to look at them (amber). */
  displaced: DisplacedFiles | null;
  light: Light;
}

const worse = (a: Light, b: Light): Light => (a === 'red' || b === 'red' ? 'red' : a === 'amber' || b === 'amber' ? 'amber' : 'green');

export async function volumeStatus(store: Store, volume: VolumeConfig, destinations: Map<string, Destination>, nowNs: bigint, thisNodeId: number, node: string): Promise<VolumeStatus> {
  const row = store.volume(volume.name);
  const status: VolumeStatus = { volume: volume.name, indexed: row !== undefined, presentFiles: 0, presentBytes: 0, offloadedFiles: 0, targets: [], offloadReady: null, reasons: [], displaced: null, light: 'green' };
  const flagVolume = (light: Light, reason: string) => {
    status.light = worse(status.light, light);
    status.reasons.push(reason);
  };
  if (row) {
    try {
      checkVolumeRoot(store, volume, { allowMissingMarker: false });
    } catch (err) {
      // Not the volume (another index's, an older copy, another root): red. Not mounted: amber.
      flagVolume(err instanceof UsageError ? 'red' : 'amber', errorMessage(err));
    }
    const lastIndex = store.runs.lastFinished(row.id, 'index');
    if (lastIndex && lastIndex.status !== 'success') flagVolume('red', `the last index (run ${lastIndex.id}) was ${lastIndex.status}: some files may not be backed up; \`squirrel index ${volume.name}\` again once fixed`);
  } else flagVolume('amber', `never indexed: nothing of it is backed up yet; \`squirrel index ${volume.name}\``);
  const publications = new Map(store.catalog.publications().map((p) => [p.destination, p]));
  const counts = row ? store.files.statusCounts(row.id) : [];
  for (const c of counts) {
    if (c.status === 'present') [status.presentFiles, status.presentBytes] = [c.files, c.bytes];
    if (c.status === 'offloaded') status.offloadedFiles = c.files;
  }
  const needed = row ? new Map(store.evidence.highestPresentOrigins(row.id).map((o) => [o.originNodeId, o.originRunId])) : new Map<number, number>();
  const components = row ? store.evidence.components(row.id) : [];
  const alarms = row ? store.evidence.lostCopies(row.id) : [];
  const maxAgeNs = volume.offloadMaxEvidenceAgeMs === null ? null : BigInt(volume.offloadMaxEvidenceAgeMs) * 1_000_000n;

  for (const name of volume.syncTo) {
    const target: TargetStatus = {
      destination: name,
      required: volume.offloadRequires?.includes(name) ?? false,
      root: 'unavailable',
      rootDetail: null,
      lastPushRunId: row ? store.runs.lastSuccessfulPush(row.id, name) : null,
      components: [],
      alarms: alarms.filter((a) => a.destination === name),
      light: 'green',
      reasons: [],
    };
    try {
      target.root = await destinations.get(name)!.rootState();
    } catch (err) {
      target.rootDetail = errorMessage(err);
    }
    let placeProblem: string | null = null;
    if (row && target.root === 'ok') {
      // Marked for someone else (another node, another index, another destination): red.
      try {
        await openNamespace(store, destinations.get(name)!, { volume, node, write: false, lenient: true, init: false, nowNs, notes: [] });
      } catch (err) {
        if (err instanceof UsageError) placeProblem = errorMessage(err);
      }
    }
    const refusedNames = row ? store.places.nameRefusals(row.id, name) : [];
    const publication = publications.get(name);
    for (const c of components.filter((c) => c.destination === name)) {
      const needsRunId = needed.get(c.originNodeId) ?? null;
      const ageNs = c.verifiedAtNs === null ? null : nowNs - c.verifiedAtNs;
      const stale = maxAgeNs !== null && (ageNs === null || ageNs > maxAgeNs);
      target.components.push({ ...c, behind: needsRunId !== null && c.originRunId < needsRunId, needsRunId, ageNs, stale });
    }
    const flag = (light: Light, reason: string) => {
      target.light = worse(target.light, light);
      target.reasons.push(reason);
    };
    if (target.root !== 'ok') flag('red', target.root === 'unavailable' ? `destination unreachable: ${target.rootDetail}` : `destination root ${target.root}`);
    if (placeProblem !== null) flag('red', placeProblem);
    if (target.alarms.length > 0) flag('red', `${target.alarms.length} copy(ies) found missing or corrupt (by verify or restore)`);
    if (row && target.root === 'ok' && publication?.error) flag('amber', `the catalog could not be published there last time: ${publication.error}`);
    if (refusedNames.length > 0) flag('amber', `${refusedNames.length} path(s) not placed at '${name}' because two local names are one name there (name-collision): ${refusedNames[0].detail}`);
    if (status.presentFiles > 0 && target.lastPushRunId === null) flag('amber', 'never pushed successfully');
    // A verify or sync that went wrong after the last good push: its problems may be ones no copy row records (a copy it could not read).
    const lastVerify = row ? store.runs.lastFinished(row.id, 'verify', name) : undefined;
    if (lastVerify && (lastVerify.status === 'partial' || lastVerify.status === 'failed') && lastVerify.id > (target.lastPushRunId ?? 0)) {
      flag('red', `the last verify (run ${lastVerify.id}) was ${lastVerify.status}${lastVerify.note ? `: ${lastVerify.note}` : ''}; \`squirrel verify ${volume.name} --to ${name}\` shows each copy`);
    }
    const lastSync = row ? store.runs.lastFinished(row.id, 'sync', name) : undefined;
    if (lastSync && lastSync.status !== 'success' && lastSync.id > (target.lastPushRunId ?? 0)) {
      flag('amber', `the last sync (run ${lastSync.id}) was ${lastSync.status}${lastSync.note ? `: ${lastSync.note}` : ''}`);
    }
    for (const [originNodeId, runId] of needed) {
      const c = target.components.find((x) => x.originNodeId === originNodeId);
      if (!c) flag('amber', `no evidence for origin ${store.nodeName(originNodeId)} (needs run ${runId})`);
      else if (c.behind) flag('amber', `evidence behind: covers origin ${c.originNodeName} through run ${c.originRunId}, present content needs run ${runId}`);
    }
    for (const c of target.components.filter((x) => x.stale)) flag('amber', `evidence for origin ${c.originNodeName} is stale (older than offload_max_evidence_age)`);
    for (const c of target.components.filter((x) => x.verifiedAtNs !== null && x.verifiedAtNs > nowNs + DEFAULT_SKEW_TOLERANCE_NS)) {
      flag('amber', `evidence for origin ${c.originNodeName} is stamped in the future (a clock was wrong); \`squirrel verify ${volume.name} --to ${name}\` re-stamps it`);
    }
    status.light = worse(status.light, target.light);
    status.targets.push(target);
  }
  status.displaced = displacedFiles(store, volume, row?.id ?? null);
  if (status.displaced) status.light = worse(status.light, 'amber');
  if (row && volume.offloadRequires !== null) {
    try {
      const plan = planOffload(store, volume, parseSelectors(['.']), { olderThanMs: null, nowNs, thisNodeId });
      status.offloadReady = { files: plan.allowed.length, bytes: plan.allowed.totalBytes, of: plan.candidates };
    } catch (err) {
      status.offloadReady = { error: errorMessage(err) };
    }
  }
  return status;
}

/**
 * Volumes the index holds offloaded files of that the config no longer lists (renamed or
 * removed): nothing watches or restores them until they are listed again, so amber.
 */
export function unlistedVolumes(store: Store, configured: readonly string[]): { volume: string; rootPath: string; offloadedFiles: number }[] {
  return store
    .volumes()
    .filter((v) => !configured.includes(v.name))
    .map((v) => ({ volume: v.name, rootPath: v.rootPath, offloadedFiles: store.files.statusCounts(v.id).find((c) => c.status === 'offloaded')?.files ?? 0 }))
    .filter((v) => v.offloadedFiles > 0);
}

/**
 * Whether the newest catalog published anywhere covers the last change to the index or the
 * evidence: amber when it does not (a lost laptop would be recovered to an older state).
 */
export function catalogStatus(store: Store): { light: Light; reason: string | null } {
  const lastChange = store.catalog.lastChangeRunId();
  if (lastChange === 0) return { light: 'green', reason: null };
  const published = store.catalog.publications().filter((p) => p.snapshot !== null);
  const newest = Math.max(0, ...published.map((p) => p.coversRunId ?? 0));
  if (newest >= lastChange) return { light: 'green', reason: null };
  return {
    light: 'amber',
    reason:
      published.length === 0
        ? `no catalog of this index has been published to any destination yet; the next sync or verify publishes one`
        : `the newest catalog published (covering run ${newest}) is older than the last change (run ${lastChange}): \`squirrel sync\` or \`squirrel verify\` publishes a current one`,
  };
}
