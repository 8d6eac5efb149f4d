// The destination interface. A destination is append-only storage addressed by POSIX-style
// relative paths (`<volume>/<path>`). Readers and writers are split; every method's
// contract says what "absent" and "could not check" look like, and "could not check" is
// always an exception, never a value that could be mistaken for "present".

import { randomBytes } from 'node:crypto';
import { OperationalError } from '../errors.js';
import { hashBytes } from '../hash.js';

/** Reserved top-level names inside `<root>/<volume>/`. */
export const STAGING_DIR = '.squirrel-staging';
export const HISTORY_DIR = '.squirrel-history';
export const DESTINATION_MARKER = '.squirrel-destination';
/** Inside `<root>/<namespace>/`: which destination, node and volume the namespace belongs to. */
export const NAMESPACE_MARKER = '.squirrel-namespace';

/**
 * Anything that stopped a destination operation from giving a definite answer: root
 * unreachable, permission denied, timeout, I/O error. Callers treat it as "not known",
 * which is a refusal, never a pass.
 */
export class DestinationUnavailableError extends OperationalError {
  constructor(
    readonly destination: string,
    readonly operation: string,
    readonly detail: string,
  ) {
    super(`destination '${destination}': ${operation} failed: ${detail}`, 'destination-unavailable');
  }
}

/**
 * A path handed to a destination that would leave its root or is not in canonical form
 * ('..', absolute, NUL, empty segments). Rejected before anything touches the storage; it
 * is a DestinationUnavailableError so every caller already treats it as a refusal.
 */
export class UnsafeDestinationPathError extends DestinationUnavailableError {}

/**
 * put() could not read the local file it was given (gone, unreadable, not a regular file).
 * Distinct from DestinationUnavailableError: the destination is fine, the source is not.
 */
export class LocalSourceError extends OperationalError {
  constructor(
    readonly localFile: string,
    readonly detail: string,
  ) {
    super(`cannot read local file ${localFile}: ${detail}`, 'local-source');
  }
}

/** How hash() got its answer, recorded as the evidence's method: BLAKE3 over bytes read back. */
export const METHOD_READBACK = 'blake3-readback';
/** ...or BLAKE3 computed by the server itself (sftp with `remote_hash: b3sum`). */
export const METHOD_REMOTE_B3SUM = 'b3sum-remote';

/**
 * Why a destination path is unacceptable, or null. Paths are relative POSIX paths in
 * canonical form: no leading '/', no NUL, no empty, '.' or '..' segments, so one file has
 * exactly one spelling on every destination type. `allowEmpty` admits '' (list's "everything").
 */
export function unsafeDestinationPath(relativePath: string, allowEmpty = false): string | null {
  if (relativePath === '') return allowEmpty ? null : 'is empty';
  if (relativePath.includes('\0')) return 'contains a NUL byte';
  if (relativePath.startsWith('/')) return 'is absolute';
  for (const segment of relativePath.split('/')) {
    if (segment === '..') return "contains '..'";
    if (segment === '.') return "contains '.'";
    if (segment === '') return 'contains an empty segment';
  }
  return null;
}

/** Throws UnsafeDestinationPathError unless the path is acceptable. */
export function checkDestinationPath(destination: string, operation: string, relativePath: string, allowEmpty = false): void {
  const problem = unsafeDestinationPath(relativePath, allowEmpty);
  if (problem) throw new UnsafeDestinationPathError(destination, operation, `refusing path ${JSON.stringify(relativePath)}: it ${problem}`);
}

/**
 * put()'s staging path must differ from the target and lie under a reserved `.squirrel-*`
 * directory: staging files are scratch that put may replace, and nothing else may be.
 */
export function checkStagingPath(destination: string, relativePath: string, stagingPath: string): void {
  checkDestinationPath(destination, 'put', stagingPath);
  const segments = stagingPath.split('/');
  if (stagingPath === relativePath || !segments.slice(0, -1).some((segment) => segment.startsWith('.squirrel-'))) {
    throw new UnsafeDestinationPathError(destination, 'put', `refusing staging path ${JSON.stringify(stagingPath)}: it must lie under a .squirrel-* directory`);
  }
}

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
      `${location} is marked as destination '${fields.name}', not '${destination}'; check the path in the config (if the destination was renamed, edit the name in ${DESTINATION_MARKER})`,
    );
  }
  const id = typeof fields.id === 'string' && /^[0-9a-f]{32}$/.test(fields.id) ? fields.id : null;
  const nameRules =
    typeof fields.case_folding === 'boolean' && typeof fields.unicode_normalization === 'boolean' && typeof fields.restricted_characters === 'boolean'
      ? { caseFolding: fields.case_folding, unicodeNormalization: fields.unicode_normalization, restrictedCharacters: fields.restricted_characters }
      : null;
  return { format: fields.squirrel, name: fields.name, id, nameRules };
}

/** What the caller saw at a local path before handing it to put(): `${st_dev}:${st_ino}`. */
export interface SourceExpectation {
  identity: string;
}

/** The root exists and carries a marker: usable. Missing: unmounted drive or wrong path. */
export type RootState = 'ok' | 'missing' | 'unmarked';

/**
 * `identity` (local destinations only): `${st_dev}:${st_ino}`, so a caller can tell one
 * physical file reached under two names from two copies.
 */
export type StatResult = { kind: 'present'; sizeBytes: number; identity?: string } | { kind: 'absent' };

export type HashResult =
  | { kind: 'present'; blake3: Buffer; sizeBytes: number; method: string }
  | { kind: 'absent' };

export interface ListedFile {
  path: string;
  sizeBytes: number;
}

export interface DestinationReader {
  readonly name: string;
  readonly type: string;
  /** Where it is, for messages (a directory, a URL). Never includes secrets. */
  readonly location: string;
  /** Is the root there and marked? Throws DestinationUnavailableError if it cannot tell. */
  rootState(): Promise<RootState>;
  /**
   * Files under a directory prefix ('' for all), recursively, as root-relative paths in no
   * particular order. 'vol' lists 'vol/**', never 'vol-extra'. Only regular files are listed
   * (symlinks are neither followed nor listed); reserved names are not filtered. Absent
   * prefix: empty, but a missing or unmarked root throws (an unmounted drive is not empty).
   */
  list(prefix: string): AsyncIterable<ListedFile>;
  /**
   * Size of one file, or absent. Throws DestinationUnavailableError if it cannot tell,
   * including when the root is missing or unmarked and when something other than a regular
   * file sits at the path.
   */
  stat(path: string): Promise<StatResult>;
  /** The file's bytes, in chunks of at most 1 MiB. Throws DestinationUnavailableError when absent or unreadable. */
  read(path: string): AsyncIterable<Uint8Array>;
  /**
   * BLAKE3 of the stored bytes, computed from bytes read back from the destination (or by
   * the destination itself, recorded with a distinct method). Absent: { kind: 'absent' }.
   */
  hash(path: string): Promise<HashResult>;
  /** How many hash()es a caller may keep in flight at once; absent means one at a time. */
  readonly concurrentHashes?: number;
  /**
   * A small squirrel file (a marker), or null when absent. Never follows a link at the path.
   * Throws DestinationUnavailableError when it cannot tell.
   */
  readSmall(path: string): Promise<Buffer | null>;
}

export interface DestinationWriter {
  /**
   * How many put()s (each with its read-back) a caller may keep in flight at once; absent
   * means one at a time. Each put stays durable on its own when it resolves.
   */
  readonly concurrentPuts?: number;
  /** Create the root (if needed) and write the marker. Idempotent. */
  init(): Promise<void>;
  /**
   * Durably place a local file at `path`: write it to `stagingPath`, flush, then move it
   * into place. Never overwrites: if `path` exists, throws DestinationUnavailableError and
   * leaves it untouched (the caller moves different bytes aside first). Refuses on a
   * missing or unmarked root rather than create it (an unmounted drive must stay untouched).
   * A local file that cannot be read, is not a regular file, or is not the `expected` inode
   * throws LocalSourceError. The copy is never more readable than the local file.
   */
  put(path: string, localFile: string, stagingPath: string, expected?: SourceExpectation): Promise<void>;
  /**
   * Durably write a small squirrel file (a marker) under the marked root, creating its
   * directory. 'create' never replaces anything: false when a file is already there (its
   * bytes are the caller's to read). 'replace' swaps in the new bytes atomically.
   */
  writeSmall(path: string, bytes: Buffer, mode: 'create' | 'replace'): Promise<boolean>;
  /**
   * Move the file at `path` to `historyPath` (never deletes, never clobbers: an existing
   * `historyPath` throws). Absent `path`: no-op.
   */
  moveAside(path: string, historyPath: string): Promise<void>;
}

export interface Destination extends DestinationReader, DestinationWriter {}

/** `<volume>/<path>`: where a volume's file lives on a destination. */
export function remotePathOf(volume: string, relativePath: string): string {
  return `${volume}/${relativePath}`;
}

/**
 * Where put() stages a file: one flat directory per run, the file named by a hash of its path.
 * Mirroring the volume's tree there cost a directory creation per directory on every sync
 * (and left that many empty directories behind).
 */
export function stagingPathOf(volume: string, runId: number, relativePath: string): string {
  return `${volume}/${STAGING_DIR}/run-${runId}/${hashBytes(Buffer.from(relativePath)).toString('hex', 0, 16)}`;
}

export function historyPathOf(volume: string, runId: number, relativePath: string): string {
  return `${volume}/${HISTORY_DIR}/run-${runId}/${relativePath}`;
}
