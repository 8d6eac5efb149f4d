// The markers squirrel writes at a destination: `.squirrel-destination` at the root (which
// destination this is, its random id, the name rules probed there) and `.squirrel-namespace` in
// each volume's folder (which destination, node and volume it belongs to). Formats, checks, reads.

import { randomBytes } from 'node:crypto';
import { OperationalError } from '../errors.js';
import { Destination, DESTINATION_MARKER, DestinationUnavailableError, RootState } from './destination.js';

/** The newest marker format this build writes; it reads every older one. */
export const MARKER_FORMAT = 2;

/** How a destination compares names: probed once (`sync --init`, or the first sync after an upgrade). */
export interface NameRules {
  /** `Photo.jpg` and `photo.jpg` are one name there (exFAT, FAT32, default APFS, SMB shares). */
  caseFolding: boolean;
  /** Unicode NFC and NFD spellings of a name are one name there (APFS, HFS+). */
  unicodeNormalization: boolean;
  /** Names with characters like `: ? * " < > | \` cannot be stored there (exFAT, FAT32, SMB shares). */
  restrictedCharacters: boolean;
}

/** What `.squirrel-destination` says. Format 1 markers carry only the name. */
export interface DestinationMarker {
  format: number;
  name: string;
  /** Random, written once by `sync --init` (or added by the first sync after an upgrade). */
  id: string | null;
  nameRules: NameRules | null;
}

/** The bytes of a new root marker naming this destination, with a fresh random id. */
export function encodeMarker(destination: string, marker: Partial<DestinationMarker> = {}): Buffer {
  const rules = marker.nameRules ?? null;
  return Buffer.from(
    `${JSON.stringify({
      squirrel: MARKER_FORMAT,
      name: destination,
      id: marker.id ?? randomBytes(16).toString('hex'),
      ...(rules ? { case_folding: rules.caseFolding, unicode_normalization: rules.unicodeNormalization, restricted_characters: rules.restrictedCharacters } : {}),
    })}\n`,
  );
}

/**
 * The marker, after checking it is ours and names this destination: a root marked for another
 * destination (two config entries on one directory, a swapped drive) is not this one.
 */
export function checkMarker(destination: string, location: string, bytes: Uint8Array, operation = 'rootState'): DestinationMarker {
  let marker: unknown;
  try {
    marker = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    marker = null;
  }
  const fields = (marker ?? {}) as { squirrel?: unknown; name?: unknown; id?: unknown; case_folding?: unknown; unicode_normalization?: unknown; restricted_characters?: unknown };
  if (typeof marker !== 'object' || marker === null || typeof fields.squirrel !== 'number' || typeof fields.name !== 'string') {
    throw new DestinationUnavailableError(destination, operation, `${location}/${DESTINATION_MARKER} is not a squirrel marker; check the path, or move the file away and let sync --init write a new one`);
  }
  if (fields.squirrel > MARKER_FORMAT || fields.squirrel < 1) {
    throw new DestinationUnavailableError(destination, operation, `${location}/${DESTINATION_MARKER} was written by a newer squirrel (format ${fields.squirrel}); upgrade squirrel`);
  }
  if (fields.name !== destination) {
    throw new DestinationUnavailableError(
      destination,
      operation,
      `${location} is marked as destination '${fields.name}', not '${destination}'; check the path in the config (if you renamed the destination there, give it back its name '${fields.name}': the index records its copies under that name, and a destination cannot be renamed)`,
    );
  }
  const id = typeof fields.id === 'string' && /^[0-9a-f]{32}$/.test(fields.id) ? fields.id : null;
  const nameRules =
    typeof fields.case_folding === 'boolean' && typeof fields.unicode_normalization === 'boolean' && typeof fields.restricted_characters === 'boolean'
      ? { caseFolding: fields.case_folding, unicodeNormalization: fields.unicode_normalization, restrictedCharacters: fields.restricted_characters }
      : null;
  return { format: fields.squirrel, name: fields.name, id, nameRules };
}

/**
 * The state of a root that exists, from its marker's bytes (null: no marker). A marker that is
 * not ours, or names another destination, throws: that root is not this destination.
 */
export function markedRootState(destination: string, location: string, marker: Uint8Array | null, operation: string): RootState {
  if (marker === null) return 'unmarked';
  checkMarker(destination, location, marker, operation);
  return 'ok';
}

/** The root's marker, checked to be ours and to name this destination. */
export async function readDestinationMarker(destination: Destination): Promise<DestinationMarker> {
  const bytes = await destination.readSmall(DESTINATION_MARKER);
  if (bytes === null) throw new OperationalError(`destination '${destination.name}': the ${DESTINATION_MARKER} marker vanished; run the command again`, 'destination-unmarked');
  return checkMarker(destination.name, destination.location, bytes);
}

/** What `<root>/<namespace>/.squirrel-namespace` says: whose copies the namespace holds. */
export interface NamespaceMarker {
  destination: string;
  node: string;
  volume: string;
  volumeName: string;
  /** How many times the owning index wrote this marker: a fence against a copy of that index. */
  writes: number;
}

export function encodeNamespaceMarker(marker: NamespaceMarker): Buffer {
  return Buffer.from(
    `${JSON.stringify({ squirrel: MARKER_FORMAT, destination: marker.destination, node: marker.node, volume: marker.volume, volume_name: marker.volumeName, writes: marker.writes })}\n`,
  );
}

/** The marker, or null when the bytes are not a squirrel namespace marker. */
export function parseNamespaceMarker(bytes: Buffer): NamespaceMarker | null {
  try {
    const raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (typeof raw.destination === 'string' && typeof raw.node === 'string' && typeof raw.volume === 'string') {
      return {
        destination: raw.destination,
        node: raw.node,
        volume: raw.volume,
        volumeName: typeof raw.volume_name === 'string' ? raw.volume_name : '?',
        writes: Number.isSafeInteger(raw.writes) ? (raw.writes as number) : 0,
      };
    }
  } catch {
    // not ours
  }
  return null;
}
