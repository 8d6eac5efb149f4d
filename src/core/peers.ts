// Nodes helping each other through the destination (SPEC §9), no server, no daemon.
// verifyForPeer: a node that reaches a destination cheaply (a NAS reading its own disk) reads a
// trusted peer's newest signed catalog there, re-reads the copies it lists in the peer's
// namespaces, and publishes a signed attestation of what it found. pullPeers: a node reads its
// trusted peers' attestations about its own namespaces, by sequence number since the last it
// applied, and applies them: good news re-stamps the copies (never fresher than the peer said,
// never later than this node's now), bad news marks them missing or corrupt like a verify.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PeerConfig, VolumeConfig } from '../config/types.js';
import { DESTINATION_MARKER, Destination, DestinationUnavailableError, METHOD_READBACK, NAMESPACE_MARKER } from '../destinations/destination.js';
import { checkMarker } from '../destinations/markers.js';
import { errorMessage, OperationalError } from '../errors.js';
import { readPeerLedger } from '../store/peer-catalog.js';
import { Store } from '../store/store.js';
import { Attestation, AttestationAbout, attestationPath, attestingNodes, decodeAttestation, listAttestations, MAX_LISTED_FINDINGS, publishAttestation } from './attestation.js';
import { catalogFolder, fetchSnapshot, listSnapshots, SIGNATURE_SUFFIX } from './catalog.js';
import { inLanes } from './lanes.js';
import { METHOD_REVERIFY } from './methods.js';
import { checkDestinationRoot } from '../destinations/destination.js';
import { namespaceOf } from './namespace.js';
import { NodeKey, verifySignature } from './node-key.js';
import { DEFAULT_SKEW_TOLERANCE_NS } from './offload/policy.js';
import { Reporter } from './reporter.js';
import { beginRun, RunIdentity } from './runs.js';
import { restampComponents } from './restamp.js';

/** The destination's id, from its marker; a destination no sync of this version marked has none. */
async function destinationIdOf(destination: Destination): Promise<string> {
  await checkDestinationRoot(destination, false);
  const bytes = await destination.readSmall(DESTINATION_MARKER);
  const marker = checkMarker(destination.name, destination.location, bytes ?? Buffer.alloc(0));
  if (marker.id === null) throw new OperationalError(`destination '${destination.name}' has no id yet; a sync by its owner adds it`, 'destination-marker-old');
  return marker.id;
}

export interface PeerVerifyOptions {
  destination: Destination;
  peer: PeerConfig;
  node: string;
  key: NodeKey;
  nowNs: bigint;
  identity: RunIdentity;
  reporter: Reporter;
  /** Where the peer's snapshot is unpacked for the read (private: it names every file). */
  scratchDir: string;
}

export interface PeerVerifyResult {
  peer: string;
  destination: string;
  catalog: string;
  runId: number;
  seq: number;
  namespaces: { namespace: string; checked: number; ok: number; missing: number; corrupt: number }[];
}

/** Verify, at this destination, the copies a trusted peer's newest signed catalog lists, and attest it. */
export async function verifyForPeer(store: Store, o: PeerVerifyOptions): Promise<PeerVerifyResult> {
  const destinationId = await destinationIdOf(o.destination);
  const snapshots = await listSnapshots(o.destination, o.peer.name);
  const scratch = path.join(o.scratchDir, `.squirrel-peer-${process.pid}-${randomBytes(4).toString('hex')}`);
  let catalog: string | null = null;
  let ledger: ReturnType<typeof readPeerLedger> | null = null;
  try {
    for (const snapshot of snapshots) {
      const signature = await o.destination.readSmall(`${catalogFolder(o.peer.name)}/${snapshot.name}${SIGNATURE_SUFFIX}`);
      if (signature === null || !verifySignature(o.peer.publicKey, Buffer.from(snapshot.name), signature.toString('utf8').trim())) {
        o.reporter.warn(`catalog snapshot ${snapshot.name} of '${o.peer.name}' is not signed with its trusted key; skipped`);
        continue;
      }
      try {
        await fetchSnapshot(o.destination, o.peer.name, snapshot, scratch);
        ledger = readPeerLedger(`${scratch}.db`, destinationId);
        catalog = snapshot.name;
        break;
      } catch (err) {
        o.reporter.warn(`catalog snapshot ${snapshot.name} of '${o.peer.name}' is damaged (${errorMessage(err)}); trying the next older one`);
      } finally {
        for (const suffix of ['.gz', '.db']) fs.rmSync(scratch + suffix, { force: true });
      }
    }
  } finally {
    for (const suffix of ['.gz', '.db']) fs.rmSync(scratch + suffix, { force: true });
  }
  if (catalog === null || ledger === null) {
    throw new OperationalError(`destination '${o.destination.name}' holds no intact catalog of '${o.peer.name}' signed with its trusted key; it publishes one with every sync and verify`, 'catalog-missing');
  }
  const coversRunId = Number(/^run-(\d+)-/.exec(catalog)![1]);
  const runId = beginRun(store, { ...o.identity, kind: 'verify', volumeId: null, destination: o.destination.name, nowNs: o.nowNs });
  const byNamespace = new Map<string, typeof ledger.copies>();
  for (const copy of ledger.copies) {
    const namespace = copy.path.split('/')[0];
    byNamespace.set(namespace, [...(byNamespace.get(namespace) ?? []), copy]);
  }
  const about: AttestationAbout[] = [];
  const methods = new Set<string>();
  for (const [namespace, copies] of byNamespace) {
    const owner = await namespaceOwner(o.destination, namespace);
    if (owner === null || !ledger.volumeUids.has(owner.volume)) {
      o.reporter.warn(`namespace '${namespace}' at '${o.destination.name}' is not marked as '${o.peer.name}''s; skipped`);
      continue;
    }
    const entry: AttestationAbout = { node: o.peer.name, namespace, volume: owner.volume, catalog, coversRunId, checked: 0, ok: 0, missing: [], corrupt: [], truncated: false };
    const note = (list: 'missing' | 'corrupt', copy: (typeof copies)[number]) => {
      if (entry[list].length < MAX_LISTED_FINDINGS) entry[list].push({ path: copy.path, blake3: copy.blake3.toString('hex') });
      else entry.truncated = true;
    };
    await inLanes(copies.length, o.destination.concurrentHashes ?? 1, async (i) => {
      const copy = copies[i];
      const read = await o.destination.hash(copy.path).catch((err: unknown) => {
        if (err instanceof DestinationUnavailableError) return null;
        throw err;
      });
      entry.checked++;
      if (read === null) return; // could not check: neither good nor bad news
      if (read.kind === 'absent') note('missing', copy);
      else if (read.sizeBytes !== copy.size || !read.blake3.equals(copy.blake3)) note('corrupt', copy);
      else {
        entry.ok++;
        methods.add(read.method);
      }
    });
    // A copy that could not be checked is no news, so the entry says nothing good about all.
    if (entry.ok + entry.missing.length + entry.corrupt.length < entry.checked) entry.truncated = true;
    about.push(entry);
  }
  const method = [...methods].every((m) => m === METHOD_READBACK) ? METHOD_REVERIFY : [...methods][0] ?? METHOD_REVERIFY;
  const seq = await publishAttestation(store, o.destination, o.key, { node: o.node, destination: destinationId, atNs: o.nowNs, method, about });
  const counts = { checked: sum(about, 'checked'), ok: sum(about, 'ok'), problems: about.reduce((n, a) => n + a.missing.length + a.corrupt.length, 0), attestation_seq: seq };
  store.runs.finishRun(runId, counts.problems === 0 ? 'success' : 'partial', counts, o.nowNs, `verified for peer '${o.peer.name}' (catalog ${catalog}), attestation ${seq}`);
  return {
    peer: o.peer.name,
    destination: o.destination.name,
    catalog,
    runId,
    seq,
    namespaces: about.map((a) => ({ namespace: a.namespace, checked: a.checked, ok: a.ok, missing: a.missing.length, corrupt: a.corrupt.length })),
  };
}

function sum(about: AttestationAbout[], key: 'checked' | 'ok'): number {
  return about.reduce((n, a) => n + a[key], 0);
}

async function namespaceOwner(destination: Destination, namespace: string): Promise<{ node: string; volume: string } | null> {
  const bytes = await destination.readSmall(`${namespace}/${NAMESPACE_MARKER}`);
  if (bytes === null) return null;
  try {
    const raw = JSON.parse(bytes.toString('utf8')) as { node?: unknown; volume?: unknown };
    return typeof raw.node === 'string' && typeof raw.volume === 'string' ? { node: raw.node, volume: raw.volume } : null;
  } catch {
    return null;
  }
}

export interface PullOptions {
  /** The destinations to read, with the volumes of this node that sync there. */
  destinations: { destination: Destination; volumes: VolumeConfig[] }[];
  /** Trusted peers; others are ignored with a warning. */
  peers: ReadonlyMap<string, PeerConfig>;
  /** Only this peer. */
  onlyPeer: string | null;
  node: string;
  nowNs: bigint;
  identity: RunIdentity;
  reporter: Reporter;
}

export interface PullEvent {
  /** null: the destination itself could not be read (outcome 'unreadable'). */
  peer: string | null;
  destination: string;
  seq: number | null;
  outcome: 'applied' | 'ignored' | 'rewind' | 'unreadable';
  detail: string;
}

/** Read and apply trusted peers' attestations about this node's namespaces; never throws for a peer's fault. */
export async function pullPeers(store: Store, o: PullOptions): Promise<PullEvent[]> {
  const events: PullEvent[] = [];
  for (const { destination, volumes } of o.destinations) {
    let destinationId: string;
    let nodes: string[];
    try {
      destinationId = await destinationIdOf(destination);
      nodes = await attestingNodes(destination);
    } catch (err) {
      o.reporter.warn(`peers: '${destination.name}' could not be read: ${errorMessage(err)}`);
      events.push({ peer: null, destination: destination.name, seq: null, outcome: 'unreadable', detail: errorMessage(err) });
      continue;
    }
    for (const peer of nodes) {
      if (peer === o.node || (o.onlyPeer !== null && peer !== o.onlyPeer)) continue;
      const event = (seq: number | null, outcome: PullEvent['outcome'], detail: string) => {
        events.push({ peer, destination: destination.name, seq, outcome, detail });
        if (outcome !== 'applied') o.reporter.warn(`peer '${peer}' at '${destination.name}'${seq === null ? '' : ` attestation ${seq}`}: ${detail}`);
      };
      const trusted = o.peers.get(peer);
      const seqs = await listAttestations(destination, peer);
      const cursor = store.peers.cursor(peer, destination.name);
      if (!trusted) {
        if (seqs.some((seq) => seq > cursor)) event(null, 'ignored', `'${peer}' is not a trusted peer (not under peers: in the config); its attestations are ignored`);
        store.peers.advance(peer, destination.name, Math.max(cursor, ...seqs), o.nowNs);
        continue;
      }
      const newest = seqs.at(-1) ?? 0;
      if (newest < cursor) {
        event(newest, 'rewind', `its newest attestation is ${newest}, lower than ${cursor} already applied: a rewind; refused, the current one stays ${cursor}`);
        continue;
      }
      for (const seq of seqs.filter((s) => s > cursor)) {
        await applyAttestation(store, destination, destinationId, trusted, seq, volumes, o, event);
        store.peers.advance(peer, destination.name, seq, o.nowNs);
      }
    }
  }
  return events;
}

async function applyAttestation(
  store: Store,
  destination: Destination,
  destinationId: string,
  peer: PeerConfig,
  seq: number,
  volumes: VolumeConfig[],
  o: PullOptions,
  event: (seq: number | null, outcome: PullEvent['outcome'], detail: string) => void,
): Promise<void> {
  const bytes = await destination.readSmall(attestationPath(peer.name, seq));
  if (bytes === null) return;
  const decoded = decodeAttestation(bytes, peer.publicKey);
  if ('problem' in decoded) return event(seq, 'ignored', `${decoded.problem}; ignored`);
  const a = decoded.attestation;
  if (a.node !== peer.name || a.seq !== seq) return event(seq, 'ignored', `it names node '${a.node}' seq ${a.seq}, not its own place; ignored`);
  if (a.destination !== destinationId) return event(seq, 'ignored', `it is about destination ${a.destination}, not this one (${destinationId}); ignored`);
  if (a.atNs > o.nowNs + DEFAULT_SKEW_TOLERANCE_NS) return event(seq, 'ignored', `it is stamped ${formatAhead(a.atNs - o.nowNs)} ahead of this node's clock (a peer clock far in the future); ignored`);
  const mine = a.about.filter((entry) => entry.node === o.node);
  for (const entry of mine) {
    const volume = volumes.find((v) => namespaceOf(v, destination.name) === entry.namespace);
    const row = volume ? store.volume(volume.name) : undefined;
    if (!volume || !row || row.uid !== entry.volume) {
      event(seq, 'ignored', `it is about namespace '${entry.namespace}' (volume ${entry.volume}), which is not one of this node's volumes there; ignored`);
      continue;
    }
    applyEntry(store, destination, peer, a, entry, row.id, volume, o);
    event(seq, 'applied', `namespace '${entry.namespace}': ${entry.ok} of ${entry.checked} copies verified, ${entry.missing.length} missing, ${entry.corrupt.length} corrupt`);
  }
}

/** In one write transaction, inside a verify run of this node: the peer's findings, its re-stamps, the vector. */
function applyEntry(store: Store, destination: Destination, peer: PeerConfig, a: Attestation, entry: AttestationAbout, volumeId: number, volume: VolumeConfig, o: PullOptions): void {
  const runId = beginRun(store, { ...o.identity, kind: 'verify', volumeId, destination: destination.name, nowNs: o.nowNs });
  const peerNodeId = store.ensureNode(peer.name);
  // Never fresher than the peer said, never later than this node's now.
  const stampNs = a.atNs < o.nowNs ? a.atNs : o.nowNs;
  try {
    store.immediate(() => {
      let marked = 0;
      for (const [state, findings] of [['missing', entry.missing], ['corrupt', entry.corrupt]] as const) {
        for (const f of findings) if (store.evidence.markFromPeer({ volumeId, destination: destination.name, path: f.path, blake3: Buffer.from(f.blake3, 'hex'), state, runId })) marked++;
      }
      const restamped = entry.truncated ? 0 : store.evidence.restampFromPeer({ volumeId, destination: destination.name, prefix: `${entry.namespace}/`, coversRunId: entry.coversRunId, stampNs, runId });
      const claims = store.evidence
        .components(volumeId)
        .filter((c) => c.destination === destination.name)
        .map((c) => ({ originNodeId: c.originNodeId, originRunId: c.originRunId, expectedVersion: c.version }));
      restampComponents(store, { volumeId, destination: destination.name, claims, method: a.method, sourceNodeId: peerNodeId, nowNs: o.nowNs, runId });
      store.runs.finishRun(runId, marked === 0 ? 'success' : 'partial', { peer_seq: a.seq, restamped, marked }, o.nowNs, `applied attestation ${a.seq} of peer '${peer.name}' about namespace '${entry.namespace}' of volume '${volume.name}'`);
    });
  } catch (err) {
    store.runs.finishRun(runId, 'failed', {}, o.nowNs, errorMessage(err));
    throw err;
  }
}

function formatAhead(ns: bigint): string {
  const hours = Number(ns / 3_600_000_000_000n);
  return hours >= 48 ? `${Math.floor(hours / 24)}d` : hours >= 1 ? `${hours}h` : `${Number(ns / 60_000_000_000n)}m`;
}

