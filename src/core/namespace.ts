// Opening a volume's namespace at a destination (SPEC §7.2-7.3). A destination carries a random
// id and the name rules it was probed for (case folding, Unicode normalisation) in its marker;
// this index records the id the first time it meets it. Each namespace `<root>/<namespace>/`
// carries `.squirrel-namespace` naming the destination id, the owning node and the volume's
// id. Writers add what an older marker lacks; nobody writes into, or counts, a namespace whose
// marker names another destination, node or volume.

import { randomBytes } from 'node:crypto';
import { VolumeConfig } from '../config/types.js';
import {
  checkMarker,
  DESTINATION_MARKER,
  Destination,
  DestinationMarker,
  encodeMarker,
  MARKER_FORMAT,
  NAMESPACE_MARKER,
  NameRules,
} from '../destinations/destination.js';
import { OperationalError, UsageError } from '../errors.js';
import { Store } from '../store/store.js';

export interface Namespace {
  destination: string;
  /** The folder at the destination: every remote path of the volume starts with it. */
  name: string;
  /** Null only for a lenient reader of a destination no sync has upgraded yet. */
  destinationId: string | null;
  nameRules: NameRules | null;
  /** False when a lenient reader met a namespace no sync of this version has claimed yet. */
  claimed: boolean;
}

export interface OpenNamespaceOptions {
  volume: VolumeConfig;
  /** This node's name: the owner written into a new namespace marker. */
  node: string;
  /** Writers add ids, probe name rules and claim a new namespace; readers only check. */
  write: boolean;
  /**
   * Readers only: accept a destination or namespace no sync of this version has marked yet
   * (verify and restore keep working after an upgrade). Anything marked for someone else is
   * refused either way.
   */
  lenient?: boolean;
  /** `sync --init`: create and mark a missing or unmarked root. */
  init: boolean;
  nowNs: bigint;
  /** Things worth telling the user (a marker upgraded, a namespace claimed). */
  notes: string[];
}

/** Where a volume's file lives at a destination: `<namespace>/<path>`. */
export function namespaceOf(volume: VolumeConfig, destination: string): string {
  return volume.namespaces.get(destination) ?? volume.name;
}

/** Make sure the destination root is there and marked, or fail with the act that fixes it. */
export async function checkDestinationRoot(destination: Destination, init: boolean): Promise<void> {
  const state = await destination.rootState();
  if (state === 'ok') return;
  if (init) {
    await destination.init();
    return;
  }
  if (state === 'missing') {
    throw new OperationalError(
      `destination '${destination.name}' root ${destination.location} does not exist (is the drive unmounted?). ` +
        `Mount it, or for a brand-new destination run \`squirrel sync --init --to ${destination.name}\`.`,
      'destination-missing',
    );
  }
  throw new OperationalError(
    `destination '${destination.name}' root ${destination.location} has no .squirrel-destination marker, so squirrel ` +
      `cannot tell it is the right place (a different drive mounted there?). If it is, run \`squirrel sync --init --to ${destination.name}\`.`,
    'destination-unmarked',
  );
}

/**
 * Check (and for writers, complete) the destination's identity and the volume's namespace.
 * Throws OperationalError when the destination cannot be reached or a reader meets a marker a
 * writer has not completed yet, and UsageError (exit 2) when the place is not this volume's.
 */
export async function openNamespace(store: Store, destination: Destination, o: OpenNamespaceOptions): Promise<Namespace> {
  await checkDestinationRoot(destination, o.write && o.init);
  let marker = await readDestinationMarker(destination);
  const name = namespaceOf(o.volume, destination.name);
  if (marker.id === null || marker.nameRules === null || marker.format < MARKER_FORMAT) {
    if (o.write) marker = await upgradeMarker(destination, marker, o.notes);
    else if (!o.lenient) {
      throw new OperationalError(
        `destination '${destination.name}' (${destination.location}) was marked by an older squirrel: it has no id or name rules yet; ` +
          `\`squirrel sync ${o.volume.name} --to ${destination.name}\` adds them`,
        'destination-marker-old',
      );
    } else if (marker.id === null) return { destination: destination.name, name, destinationId: null, nameRules: null, claimed: false };
  }
  const destinationId = marker.id!;
  const recorded = store.places.recordDestinationId(destination.name, destinationId, o.nowNs);
  if (recorded !== destinationId) {
    throw new UsageError(
      `destination '${destination.name}' (${destination.location}) carries id ${destinationId}, but this index met '${destination.name}' as ${recorded}: ` +
        `it is a different or re-initialised drive, and none of the copies this index recorded there can be assumed. ` +
        `If it is meant to be a new destination, give it a new name in the config (its evidence then starts afresh).`,
      'destination-replaced',
    );
  }
  const claimed = await claimNamespace(store, destination, destinationId, name, o);
  return { destination: destination.name, name, destinationId, nameRules: marker.nameRules, claimed };
}

async function readDestinationMarker(destination: Destination): Promise<DestinationMarker> {
  const bytes = await destination.readSmall(DESTINATION_MARKER);
  if (bytes === null) throw new OperationalError(`destination '${destination.name}': the ${DESTINATION_MARKER} marker vanished; run the command again`, 'destination-unmarked');
  return checkMarker(destination.name, destination.location, bytes);
}

/** Add a random id and the probed name rules to a marker that lacks them, keeping its id. */
async function upgradeMarker(destination: Destination, old: DestinationMarker, notes: string[]): Promise<DestinationMarker> {
  const nameRules = old.nameRules ?? (await probeNameRules(destination));
  await destination.writeSmall(DESTINATION_MARKER, encodeMarker(destination.name, { id: old.id ?? randomBytes(16).toString('hex'), nameRules }), 'replace');
  // Another process may have upgraded it at the same moment: whatever is there now counts.
  const marker = await readDestinationMarker(destination);
  if (marker.id === null || marker.nameRules === null) throw new OperationalError(`destination '${destination.name}': its marker could not be upgraded; run the command again`, 'destination-marker-old');
  const rules = `${marker.nameRules.caseFolding ? 'folds case' : 'keeps case'}, ${marker.nameRules.unicodeNormalization ? 'normalises Unicode' : 'keeps Unicode spellings'}`;
  notes.push(
    old.id === null
      ? `destination '${destination.name}': marked with id ${marker.id} (${rules})`
      : `destination '${destination.name}': name rules recorded in its marker (${rules})`,
  );
  return marker;
}

/**
 * How the destination compares names. Case: does the marker answer to its upper-case name?
 * Unicode: a probe file written under its NFC name, asked for under its NFD name. The probe
 * stays (a few bytes under a reserved name): nothing at a destination is ever deleted.
 */
export async function probeNameRules(destination: Destination): Promise<NameRules> {
  const caseFolding = (await destination.stat(DESTINATION_MARKER.toUpperCase())).kind === 'present';
  const probe = '.squirrel-probe-\u00e9';
  await destination.writeSmall(probe.normalize('NFC'), Buffer.from('unicode probe\n'), 'replace');
  const unicodeNormalization = (await destination.stat(probe.normalize('NFD'))).kind === 'present';
  return { caseFolding, unicodeNormalization };
}

interface NamespaceMarker {
  destination: string;
  node: string;
  volume: string;
  volumeName: string;
}

function encodeNamespaceMarker(marker: NamespaceMarker): Buffer {
  return Buffer.from(
    `${JSON.stringify({ squirrel: MARKER_FORMAT, destination: marker.destination, node: marker.node, volume: marker.volume, volume_name: marker.volumeName })}\n`,
  );
}

function parseNamespaceMarker(bytes: Buffer): NamespaceMarker | null {
  try {
    const raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (typeof raw.destination === 'string' && typeof raw.node === 'string' && typeof raw.volume === 'string') {
      return { destination: raw.destination, node: raw.node, volume: raw.volume, volumeName: typeof raw.volume_name === 'string' ? raw.volume_name : '?' };
    }
  } catch {
    // not ours
  }
  return null;
}

/** Check the namespace marker (writers create a missing one). False: a lenient reader met none. */
async function claimNamespace(store: Store, destination: Destination, destinationId: string, name: string, o: OpenNamespaceOptions): Promise<boolean> {
  const volumeRow = store.volume(o.volume.name);
  if (!volumeRow) throw new OperationalError(`volume '${o.volume.name}' has never been indexed; run \`squirrel index ${o.volume.name}\` first`, 'volume-not-indexed');
  const markerPath = `${name}/${NAMESPACE_MARKER}`;
  let bytes = await destination.readSmall(markerPath);
  if (bytes === null) {
    if (!o.write && o.lenient) return false;
    if (!o.write) {
      throw new OperationalError(
        `namespace '${name}' at destination '${destination.name}' has no ${NAMESPACE_MARKER} marker yet, so squirrel cannot tell whose copies it holds; ` +
          `\`squirrel sync ${o.volume.name} --to ${destination.name}\` claims it for this volume`,
        'namespace-unmarked',
      );
    }
    const mine = encodeNamespaceMarker({ destination: destinationId, node: o.node, volume: volumeRow.uid, volumeName: o.volume.name });
    if (await destination.writeSmall(markerPath, mine, 'create')) {
      o.notes.push(`destination '${destination.name}': namespace '${name}' claimed for volume '${o.volume.name}' of node '${o.node}'`);
    }
    bytes = await destination.readSmall(markerPath);
    if (bytes === null) throw new OperationalError(`namespace '${name}' at destination '${destination.name}': its marker vanished; run the command again`, 'namespace-unmarked');
  }
  const marker = parseNamespaceMarker(bytes);
  const where = `namespace '${name}' at destination '${destination.name}' (${destination.location})`;
  const choose = `choose another namespace for this volume there: \`namespace: { ${destination.name}: <name> }\` under volumes.${o.volume.name}, or \`namespace_prefix: ${o.node}-\` for every volume of this node`;
  if (marker === null) throw new UsageError(`${where}: its ${NAMESPACE_MARKER} is not a squirrel namespace marker; nothing there is written or counted. Look at it by hand, or ${choose}`, 'namespace-foreign');
  if (marker.destination !== destinationId) {
    throw new UsageError(
      `${where} is marked for another destination (id ${marker.destination}, not ${destinationId}): it is reached through a link or mount, or was copied from elsewhere; ` +
        `nothing there is written or counted. Remove the link, or ${choose}`,
      'namespace-elsewhere',
    );
  }
  if (marker.node !== o.node) {
    throw new UsageError(`${where} belongs to node '${marker.node}', not '${o.node}'; squirrel never writes into or counts another node's namespace. To use this destination too, ${choose}`, 'namespace-owned');
  }
  if (marker.volume !== volumeRow.uid) {
    throw new UsageError(
      `${where} belongs to another index's volume '${marker.volumeName}' of node '${o.node}' (a second database, or an index started over); ` +
        `squirrel never writes into or counts it. ${choose[0].toUpperCase()}${choose.slice(1)}`,
      'namespace-owned',
    );
  }
  return true;
}
