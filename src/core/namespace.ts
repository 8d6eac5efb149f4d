// Opening a volume's namespace at a destination (SPEC §7.2-7.3): the destination's random id and
// name rules (its marker, destinations/markers.ts), recorded by this index when first met, and
// the namespace's `.squirrel-namespace` naming the destination, owning node and volume. Writers
// complete what an older marker lacks; nobody writes into, or counts, a namespace marked for
// another destination, node or volume.

import { randomBytes } from 'node:crypto';
import { VolumeConfig } from '../config/types.js';
import { checkDestinationRoot, DESTINATION_MARKER, Destination, DestinationUnavailableError, NAMESPACE_MARKER } from '../destinations/destination.js';
import {
  DestinationMarker,
  encodeMarker,
  encodeNamespaceMarker,
  MARKER_FORMAT,
  NameRules,
  parseNamespaceMarker,
  readDestinationMarker,
} from '../destinations/markers.js';
import { OperationalError, UsageError } from '../errors.js';
import { newerSnapshotOfThisIndex } from './catalog.js';
import { VOLUME_MARKER } from '../paths.js';
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
  /** `adopt`: the namespace's write count to record as this index's once the verify is complete (0: forget the claim; the next sync marks it anew). */
  adoptWrites: number | null;
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
  /**
   * `verify --adopt`: a namespace written more times than this index remembers (the index was
   * put back from a backup) is not refused; its count is returned for the caller to record
   * once a full verify has made the ledger true again.
   */
  adopt?: boolean;
}

/** Where a volume's file lives at a destination: `<namespace>/<path>`. */
export function namespaceOf(volume: VolumeConfig, destination: string): string {
  return volume.namespaces.get(destination) ?? volume.name;
}

/**
 * Check (and for writers, complete) the destination's identity and the volume's namespace.
 * Throws OperationalError when the destination cannot be reached or a reader meets a marker a
 * writer has not completed yet, and UsageError (exit 2) when the place is not this volume's.
 */
export async function openNamespace(store: Store, destination: Destination, o: OpenNamespaceOptions): Promise<Namespace> {
  const recorded = store.places.destinationId(destination.name);
  if (o.write && o.init && recorded !== null && (await destination.rootState()) !== 'ok') {
    // A wiped drive (or another one) must not become "the same destination" by a fresh marker.
    throw replaced(destination, 'has no marker now (wiped, or another drive)', recorded);
  }
  await checkDestinationRoot(destination, o.write && o.init, recorded !== null);
  let marker = await readDestinationMarker(destination);
  const name = namespaceOf(o.volume, destination.name);
  let upgraded = false;
  if (marker.id === null || marker.nameRules === null || marker.format < MARKER_FORMAT) {
    if (o.write) {
      marker = await upgradeMarker(destination, marker, o.notes);
      upgraded = true;
    } else if (!o.lenient) {
      throw new OperationalError(
        `destination '${destination.name}' (${destination.location}) was marked by an older squirrel: it has no id or name rules yet; ` +
          `\`squirrel sync ${o.volume.name} --to ${destination.name}\` adds them`,
        'destination-marker-old',
      );
    } else if (marker.id === null) return { destination: destination.name, name, destinationId: null, nameRules: null, claimed: false, adoptWrites: null };
  }
  const destinationId = marker.id!;
  const knownAs = store.places.destinationNames(destinationId).find((other) => other !== destination.name);
  if (recorded === null && knownAs !== undefined) {
    throw new UsageError(
      `destination '${destination.name}' (${destination.location}) is the drive this index knows as '${knownAs}' (the same id ${destinationId}), and every copy there is recorded under that name. ` +
        `Give it back its name '${knownAs}' in the config and in its ${DESTINATION_MARKER} ("name"); a destination cannot be renamed.`,
      'destination-renamed',
    );
  }
  if (store.places.recordDestinationId(destination.name, destinationId, o.nowNs) !== destinationId) {
    throw replaced(destination, `carries id ${destinationId}`, recorded!);
  }
  let nameRules = marker.nameRules;
  if (nameRules !== null && !upgraded) nameRules = o.write ? await refreshNameRules(destination, marker, o.notes) : await checkNameRules(destination, nameRules, o);
  await refuseVolumeThere(destination, name, o);
  const claim = await claimNamespace(store, destination, destinationId, name, o);
  return { destination: destination.name, name, destinationId, nameRules, claimed: claim !== false, adoptWrites: typeof claim === 'object' ? claim.adoptWrites : null };
}

function replaced(destination: Destination, what: string, recorded: string): UsageError {
  return new UsageError(
    `destination '${destination.name}' (${destination.location}) ${what}, but this index met '${destination.name}' as ${recorded}: ` +
      `it is a different or re-initialised drive, and none of the copies this index recorded there can be assumed. ` +
      `If it is meant to be a new destination, give it a new name in the config (its evidence then starts afresh).`,
    'destination-replaced',
  );
}

function describeRules(rules: NameRules): string {
  return [
    rules.caseFolding ? 'ignores case' : 'keeps case',
    rules.unicodeNormalization ? 'ignores Unicode spelling' : 'keeps Unicode spellings',
    rules.restrictedCharacters ? 'refuses some characters (like : ? *)' : 'takes any character',
  ].join(', ');
}

/** Add a random id and the probed name rules to a marker that lacks them, keeping its id. */
async function upgradeMarker(destination: Destination, old: DestinationMarker, notes: string[]): Promise<DestinationMarker> {
  const nameRules = await probeNameRules(destination);
  await destination.writeSmall(DESTINATION_MARKER, encodeMarker(destination.name, { id: old.id ?? randomBytes(16).toString('hex'), nameRules }), 'replace');
  // Another process may have upgraded it at the same moment: whatever is there now counts.
  const marker = await readDestinationMarker(destination);
  if (marker.id === null || marker.nameRules === null) throw new OperationalError(`destination '${destination.name}': its marker could not be upgraded; run the command again`, 'destination-marker-old');
  notes.push(
    old.format < MARKER_FORMAT
      ? `destination '${destination.name}': its marker, written by an older squirrel, was upgraded: id ${marker.id} added (it ${describeRules(marker.nameRules)})`
      : `destination '${destination.name}': marked with id ${marker.id} (it ${describeRules(marker.nameRules)})`,
  );
  return marker;
}

/**
 * Writers probe the name rules at every open: a backup copied onto another kind of drive
 * (marker included) must not keep the old drive's rules. A change is written to the marker.
 */
async function refreshNameRules(destination: Destination, marker: DestinationMarker, notes: string[]): Promise<NameRules> {
  const probed = await probeNameRules(destination);
  const old = marker.nameRules!;
  if (probed.caseFolding === old.caseFolding && probed.unicodeNormalization === old.unicodeNormalization && probed.restrictedCharacters === old.restrictedCharacters) return old;
  await destination.writeSmall(DESTINATION_MARKER, encodeMarker(destination.name, { id: marker.id, nameRules: probed }), 'replace');
  notes.push(`destination '${destination.name}': its name rules changed since they were recorded (it ${describeRules(probed)} now); recorded`);
  return probed;
}

/** Readers check the rules they can without writing (case, Unicode): a change refuses until a sync. */
async function checkNameRules(destination: Destination, rules: NameRules, o: OpenNamespaceOptions): Promise<NameRules> {
  const caseFolding = (await destination.stat(DESTINATION_MARKER.toUpperCase())).kind === 'present';
  const probeKnown = (await destination.readSmall(UNICODE_PROBE.normalize('NFC'))) !== null;
  const unicodeNormalization = probeKnown ? (await destination.stat(UNICODE_PROBE.normalize('NFD'))).kind === 'present' : rules.unicodeNormalization;
  if (caseFolding === rules.caseFolding && unicodeNormalization === rules.unicodeNormalization) return rules;
  if (o.lenient) return { ...rules, caseFolding, unicodeNormalization };
  throw new OperationalError(
    `destination '${destination.name}' (${destination.location}) compares names differently than when its rules were recorded ` +
      `(it ${caseFolding ? 'ignores' : 'keeps'} case now): names that are one there may not have been refused; \`squirrel sync ${o.volume.name} --to ${destination.name}\` checks them again`,
    'name-rules-changed',
  );
}

const UNICODE_PROBE = '.squirrel-probe-\u00e9';
/** Characters FAT, exFAT and SMB shares refuse in a name; probed with one of them. */
const RESTRICTED_PROBE = '.squirrel-probe-a:b';

/**
 * How the destination compares names. Case: does the marker answer to its upper-case name?
 * Unicode: a probe file written under its NFC name, asked for under its NFD name. Characters:
 * can a name with ':' be written at all? Probes stay (a few bytes under reserved names):
 * nothing at a destination is ever deleted.
 */
export async function probeNameRules(destination: Destination): Promise<NameRules> {
  const caseFolding = (await destination.stat(DESTINATION_MARKER.toUpperCase())).kind === 'present';
  if ((await destination.readSmall(UNICODE_PROBE.normalize('NFC'))) === null) {
    await destination.writeSmall(UNICODE_PROBE.normalize('NFC'), Buffer.from('unicode probe\n'), 'replace');
  }
  const unicodeNormalization = (await destination.stat(UNICODE_PROBE.normalize('NFD'))).kind === 'present';
  let restrictedCharacters = false;
  if ((await destination.readSmall(RESTRICTED_PROBE).catch(() => null)) === null) {
    try {
      await destination.writeSmall(RESTRICTED_PROBE, Buffer.from('character probe\n'), 'replace');
    } catch (err) {
      if (!(err instanceof DestinationUnavailableError)) throw err;
      // Refused (or failed): names with such characters are refused there, which only refuses more.
      restrictedCharacters = true;
    }
  }
  return { caseFolding, unicodeNormalization, restrictedCharacters };
}

/**
 * A volume marker at the destination root or in the namespace means the place is a volume's
 * own folder (the volume reached over the network, or one share mounted twice): its "copies"
 * would be the volume's files themselves.
 */
async function refuseVolumeThere(destination: Destination, name: string, o: OpenNamespaceOptions): Promise<void> {
  for (const where of [name, '']) {
    const markerPath = where ? `${where}/${VOLUME_MARKER}` : VOLUME_MARKER;
    if ((await destination.readSmall(markerPath)) !== null) {
      throw new UsageError(
        `destination '${destination.name}' (${destination.location}) holds a volume marker at ${markerPath}: ` +
          `${where ? `namespace '${name}' is` : 'its root is'} a volume's own folder (the volume reached over the network, or one share mounted twice), ` +
          `so a copy there would be the file itself; volume '${o.volume.name}' (${o.volume.path}) must be backed up somewhere else`,
        'destination-is-volume',
      );
    }
  }
}

/**
 * Check the namespace marker; writers create a missing one and count every write (the index
 * first, then the marker, so a crash between leaves the marker behind, never ahead). False:
 * a lenient reader met none. Ownership is the volume's id: the node name is only a label, so a
 * renamed host keeps its namespaces; a copy of the same index is caught by the write count.
 */
async function claimNamespace(store: Store, destination: Destination, destinationId: string, name: string, o: OpenNamespaceOptions): Promise<boolean | { adoptWrites: number }> {
  const volumeRow = store.volume(o.volume.name);
  if (!volumeRow) throw new OperationalError(`volume '${o.volume.name}' has never been indexed; run \`squirrel index ${o.volume.name}\` first`, 'volume-not-indexed');
  const markerPath = `${name}/${NAMESPACE_MARKER}`;
  const where = `namespace '${name}' at destination '${destination.name}' (${destination.location})`;
  const choose = `choose another namespace for this volume there: \`namespace: { ${destination.name}: <name> }\` under volumes.${o.volume.name}, or \`namespace_prefix: ${o.node}-\` for every volume of this node`;
  const claim = store.places.namespaceClaim(volumeRow.id, destination.name, name);
  let ownWrites = claim?.writes ?? null;
  const confirmed = claim?.confirmed ?? 0;
  const recovered = claim?.recovered ?? false;
  const confirm = (writes: number) => store.immediate(() => store.places.confirmNamespaceWrites(volumeRow.id, destination.name, name, writes));
  const mine = (writes: number) => encodeNamespaceMarker({ destination: destinationId, node: o.node, volume: volumeRow.uid, volumeName: o.volume.name, writes });
  let bytes = await destination.readSmall(markerPath);
  if (bytes === null) {
    if (confirmed > 0) {
      if (o.adopt && !o.write) return { adoptWrites: 0 };
      throw rewound(where, 0, confirmed, o.volume.name, destination.name);
    }
    if (!o.write && o.lenient) return false;
    if (!o.write) {
      throw new OperationalError(
        `${where} has no ${NAMESPACE_MARKER} marker yet, so squirrel cannot tell whose copies it holds; \`squirrel sync ${o.volume.name} --to ${destination.name}\` claims it for this volume`,
        'namespace-unmarked',
      );
    }
    const writes = (ownWrites ?? 0) + 1;
    store.immediate(() => store.places.setNamespaceWrites(volumeRow.id, destination.name, name, writes));
    if (await destination.writeSmall(markerPath, mine(writes), 'create')) {
      ownWrites = writes;
      confirm(writes);
      o.notes.push(`destination '${destination.name}': namespace '${name}' claimed for volume '${o.volume.name}' of node '${o.node}'`);
    }
    bytes = await destination.readSmall(markerPath);
    if (bytes === null) throw new OperationalError(`${where}: its marker vanished; run the command again`, 'namespace-unmarked');
  }
  const marker = parseNamespaceMarker(bytes);
  if (marker === null) throw new UsageError(`${where}: its ${NAMESPACE_MARKER} is not a squirrel namespace marker; nothing there is written or counted. Look at it by hand, or ${choose}`, 'namespace-foreign');
  if (marker.destination !== destinationId) {
    throw new UsageError(
      `${where} is marked for another destination (id ${marker.destination}, not ${destinationId}): it is reached through a link or mount, or was copied from elsewhere; ` +
        `nothing there is written or counted. Remove the link, or ${choose}`,
      'namespace-elsewhere',
    );
  }
  if (marker.volume !== volumeRow.uid) {
    throw new UsageError(
      marker.node !== o.node
        ? `${where} belongs to node '${marker.node}' (its volume '${marker.volumeName}'), not to this node '${o.node}'; squirrel never writes into or counts another node's namespace. To use this destination too, ${choose}`
        : `${where} belongs to another index's volume '${marker.volumeName}' of node '${o.node}' (a second database, or an index started over); ` +
          `squirrel never writes into or counts it. ${choose[0].toUpperCase()}${choose.slice(1)}`,
      'namespace-owned',
    );
  }
  if (marker.writes < confirmed) {
    if (o.adopt && !o.write) return { adoptWrites: marker.writes };
    throw rewound(where, marker.writes, confirmed, o.volume.name, destination.name);
  }
  if (ownWrites !== null && marker.writes > ownWrites) {
    const newer = await newerSnapshotOfThisIndex(store, destination, o.node).catch(() => null);
    if (newer !== null) {
      throw new UsageError(
        `${where} was written ${marker.writes - ownWrites} more time(s) than this index remembers, and this same index published a catalog there (${newer.name}) ` +
          `newer than any this database knows of: this database is older than that catalog (put back from a backup, or recovered from an older snapshot), and the catalog knows what happened since (newer versions, offloads). ` +
          `Move the database (and its -wal and -shm files) aside and \`squirrel recover --from ${destination.name}\`; taking the namespace on with this older ledger would count newer versions as corrupt.`,
        'index-older-than-catalog',
      );
    }
    // Recovered from a snapshot: the syncs after it counted further; the next write takes the count on.
    if (recovered) return o.write ? writeClaim() : true;
    if (o.adopt && !o.write) return { adoptWrites: marker.writes };
    throw new UsageError(
      `${where} was written ${marker.writes - ownWrites} more time(s) than this index remembers: another copy of this index ` +
        `(a copied database or ~/.squirrel on another machine) syncs into it too, or this index was put back from a backup, and nothing there can be assumed. ` +
        `If this is the only index of volume '${o.volume.name}' (put back from a backup), \`squirrel verify ${o.volume.name} --to ${destination.name} --adopt\` re-reads every copy it records there and then takes the namespace on. ` +
        `Otherwise give each machine its own index and node name, and this one its own namespace: ${choose}`,
      'namespace-diverged',
    );
  }
  if (!o.write) return true;
  if (marker.node !== o.node) o.notes.push(`destination '${destination.name}': namespace '${name}' was claimed as node '${marker.node}'; it is this index's (same volume id), now recorded as node '${o.node}'`);
  return writeClaim();

  async function writeClaim(): Promise<true> {
    const writes = Math.max(marker!.writes, ownWrites ?? 0) + 1;
    store.immediate(() => store.places.setNamespaceWrites(volumeRow!.id, destination.name, name, writes));
    await destination.writeSmall(markerPath, mine(writes), 'replace');
    confirm(writes);
    return true;
  }
}

function rewound(where: string, found: number, confirmed: number, volume: string, destination: string): UsageError {
  return new UsageError(
    `${where} shows ${found === 0 ? 'no namespace marker' : `${found} write(s)`} where this index wrote it ${confirmed} time(s): the destination was rolled back to an older state ` +
      `(a file-system snapshot, a NAS restore, a disk image) or an older copy of it is mounted there, so the copies this index recorded there may be older versions or gone, and none is assumed. ` +
      `\`squirrel verify ${volume} --to ${destination} --adopt\` re-reads every copy it records there (one that no longer holds the recorded bytes is marked, and the next sync sends it again), then takes the namespace on as it is.`,
    'namespace-rewound',
  );
}
