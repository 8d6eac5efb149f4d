// The destination interface. A destination is append-only storage addressed by POSIX-style
// relative paths (`<volume>/<path>`). Readers and writers are split; every method's
// contract says what "absent" and "could not check" look like, and "could not check" is
// always an exception, never a value that could be mistaken for "present".

import { randomBytes } from 'node:crypto';
import { OperationalError } from '../errors.js';
import { hashBytes } from '../hash.js';
import { compareByCodePoint } from '../paths.js';

/** Reserved top-level names inside `<root>/<volume>/`. */
export const STAGING_DIR = '.squirrel-staging';
export const HISTORY_DIR = '.squirrel-history';
export const DESTINATION_MARKER = '.squirrel-destination';
/** `<root>/.squirrel-catalog/<node>/`: the snapshots of that node's index (SPEC §8). */
export const CATALOG_DIR = '.squirrel-catalog';
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

/** Throws unless the path is one removeCatalogFile() may remove: a file in `.squirrel-catalog/<node>/`. */
export function checkCatalogFilePath(destination: string, relativePath: string): void {
  checkDestinationPath(destination, 'removeCatalogFile', relativePath);
  const segments = relativePath.split('/');
  if (segments.length !== 3 || segments[0] !== CATALOG_DIR) {
    throw new UnsafeDestinationPathError(
      destination,
      'removeCatalogFile',
      `refusing to remove ${JSON.stringify(relativePath)}: the only files squirrel removes at a destination are its own catalog snapshots and staging files`,
    );
  }
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

/** Throws UnsafeDestinationPathError unless `path` lies strictly under `<namespace>/.squirrel-staging/`. */
export function checkStagingRemoval(destination: string, relativePath: string): void {
  checkDestinationPath(destination, 'removeStaging', relativePath);
  const segments = relativePath.split('/');
  if (segments.length < 3 || segments[1] !== STAGING_DIR || segments[0].startsWith('.squirrel-')) {
    throw new UnsafeDestinationPathError(destination, 'removeStaging', `refusing to remove ${JSON.stringify(relativePath)}: only squirrel's own staging files under <namespace>/${STAGING_DIR}/ are ever removed`);
  }
}

/** What the caller saw at a local path before handing it to put(): `${st_dev}:${st_ino}`. */
export interface SourceExpectation {
  identity: string;
}

/**
 * What the caller already knows about put()'s target. `listedClear`: a listing of the
 * namespace, read to its end in order after this node took its writer lock, shows no file at
 * the path, below it, or at one of its folders. A destination whose own checks would only ask
 * the same (S3's HEAD and LIST before a put) may skip them; none may skip its never-replace rule.
 */
export interface PutHint {
  listedClear?: boolean;
}

/** The root exists and carries a marker: usable. Missing: unmounted drive or wrong path. */
export type RootState = 'ok' | 'missing' | 'unmarked';

/**
 * `identity` (local destinations only): `${st_dev}:${st_ino}`, so a caller can tell one
 * physical file reached under two names from two copies.
 */
/**
 * `identity`: the physical file (local: device and inode), to tell two places apart.
 * `fingerprint`: this very version of it (local: inode and mtime; s3: the ETag), to tell a file put back at
 * the path since it was read (a snapshot rollback, a cloned drive) from the one that was read.
 */
export type StatResult = { kind: 'present'; sizeBytes: number; identity?: string; fingerprint?: string } | { kind: 'absent' };

export type HashResult =
  | { kind: 'present'; blake3: Buffer; sizeBytes: number; method: string; fingerprint?: string }
  | { kind: 'absent' };

export interface ListHint {
  files?: number;
}

export interface ListedFile {
  path: string;
  sizeBytes: number;
  /** As in StatResult: this very version of the file, where the destination can tell (local, s3). */
  fingerprint?: string;
}

export interface DestinationReader {
  readonly name: string;
  readonly type: string;
  /** Where it is, for messages (a directory, a URL). Never includes secrets. */
  readonly location: string;
  /** Is the root there and marked? Throws DestinationUnavailableError if it cannot tell. */
  rootState(): Promise<RootState>;
  /**
   * Files under a directory prefix ('' for all), recursively, as root-relative paths. Every
   * type lists in code point order of the path (sorted walks; S3's own key order), so a caller
   * can merge a listing with the index without holding either, but a caller must stay correct
   * when a listing (some S3-compatible service) is not in order: it treats what it cannot
   * match as unlisted. 'vol' lists 'vol/**', never 'vol-extra'. Only regular files are listed
   * (symlinks are neither followed nor listed); reserved names are not filtered. Absent
   * prefix: empty, but a missing or unmarked root throws (an unmounted drive is not empty).
   * `hint.files`: about how many files the caller expects (a local destination walks a large
   * tree on a thread of its own); it never changes what is listed.
   */
  list(prefix: string, hint?: ListHint): AsyncIterable<ListedFile>;
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
  put(path: string, localFile: string, stagingPath: string, expected?: SourceExpectation, hint?: PutHint): Promise<void>;
  /**
   * Durably write a small squirrel file (a marker) under the marked root, creating its
   * directory. 'create' never replaces anything: false when a file is already there (its
   * bytes are the caller's to read). 'replace' swaps in the new bytes atomically.
   */
  writeSmall(path: string, bytes: Buffer, mode: 'create' | 'replace'): Promise<boolean>;
  /**
   * Remove a superseded catalog snapshot (or its signature): a file directly in
   * `.squirrel-catalog/<node>/`. Any other path is refused with UnsafeDestinationPathError
   * before anything is touched; an absent file is a no-op. With removeStaging, the only
   * deletions squirrel makes at a destination, and only of files it made itself.
   */
  removeCatalogFile(path: string): Promise<void>;
  /**
   * Move the file at `path` to `historyPath` (never deletes, never clobbers: an existing
   * `historyPath` throws). Absent `path`: no-op. A folder at `path` moves whole where the
   * destination has folders (local, sftp, memory); s3 has none, so there it is a no-op and the
   * caller moves the files under it one by one.
   */
  moveAside(path: string, historyPath: string): Promise<void>;
  /**
   * Remove squirrel's own scratch: the file, or the folder with everything in it, at `path`,
   * which must lie strictly under `<namespace>/.squirrel-staging/` (a staging run folder
   * `run-<id>` or a file in it). Any other path is refused with UnsafeDestinationPathError
   * before anything is touched; so is a staging folder reached through a symbolic link. Links
   * inside are removed, never followed. Absent: 0. Returns how many files it removed.
   */
  removeStaging(path: string): Promise<number>;
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

/**
 * Drawn once per process: run ids start again after an index is put back from a backup or
 * recovered from a snapshot, and a history folder of the lost timeline must never be in the way.
 */
const HISTORY_TAG = randomBytes(3).toString('hex');

/** Where a sync moves aside what stood at a path: `<volume>/.squirrel-history/run-<id>-<tag>/<path>`. */
export function historyPathOf(volume: string, runId: number, relativePath: string): string {
  return `${volume}/${HISTORY_DIR}/run-${runId}-${HISTORY_TAG}/${relativePath}`;
}

// ---- the toolkit every destination type builds its contract from -------------------------

/** A root marker is tiny; anything bigger is not ours. */
export const MARKER_MAX_BYTES = 64 * 1024;
/** readSmall()'s files (markers, attestations): bounded, so a huge foreign file is never slurped whole. */
export const SMALL_FILE_MAX_BYTES = 16 * 1024 * 1024;

/** list()'s prefix without a trailing '/', checked like any path ('' lists everything). */
export function listPrefix(destination: string, prefix: string): string {
  const start = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  checkDestinationPath(destination, 'list', start, true);
  return start;
}

/**
 * One directory's entries in the order a depth-first walk must visit them for the files to come
 * out in code point order of their paths: a directory sorts as `name/`, so `a-b` (a file) comes
 * before everything in `a/`.
 */
export function inListingOrder<T>(entries: T[], nameOf: (entry: T) => string, isDirectory: (entry: T) => boolean): T[] {
  const keyed = entries.map((entry) => ({ entry, key: isDirectory(entry) ? `${nameOf(entry)}/` : nameOf(entry) }));
  keyed.sort((a, b) => compareByCodePoint(a.key, b.key));
  return keyed.map(({ entry }) => entry);
}

/** How a destination type words the two refusals of a root that is not ready, for its kind of place. */
export interface RootRefusals {
  missing: string;
  unmarked: string;
}

/**
 * Writers and "absent" answers need a marked root: without the marker this may be an empty
 * mount point or the wrong bucket.
 */
export function requireMarkedRootState(destination: string, operation: string, state: RootState, refusals: RootRefusals): void {
  if (state === 'missing') throw new DestinationUnavailableError(destination, operation, refusals.missing);
  if (state === 'unmarked') throw new DestinationUnavailableError(destination, operation, refusals.unmarked);
}

/** The answer for a path with nothing at it, given only once the root proved marked. */
export const ABSENT: { readonly kind: 'absent' } = Object.freeze({ kind: 'absent' });

/** What put() and moveAside() did about a target name that is taken: nothing. */
const LEFT_UNTOUCHED = { put: 'it was left untouched (move it aside first)', moveAside: 'nothing was moved' } as const;

export function leftUntouched(operation: 'put' | 'moveAside'): string {
  return LEFT_UNTOUCHED[operation];
}

/** put() or moveAside() met its target name taken (`how`: as what, if not a file). */
export function nameTaken(destination: string, operation: 'put' | 'moveAside', relativePath: string, how = ''): DestinationUnavailableError {
  return new DestinationUnavailableError(destination, operation, `${relativePath} already exists${how}; ${leftUntouched(operation)}`);
}

/** What sits at a path instead of a regular file, in words. */
export function nonFileKind(stats: { isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  return stats.isDirectory() ? 'a directory' : stats.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
}

/** Something other than a file squirrel wrote sits at the path: never read, replaced or counted. */
export function notAFile(destination: string, operation: string, subject: string, kind: string): DestinationUnavailableError {
  return new DestinationUnavailableError(destination, operation, `${subject} is ${kind}, not a file squirrel wrote; look at it by hand`);
}

/**
 * Any failure as "could not check": a DestinationUnavailableError passes as it is, anything
 * else is described by the destination type (with where it happened and what to check).
 */
export function unavailable(destination: string, operation: string, err: unknown, describe: (err: unknown) => string): DestinationUnavailableError {
  return err instanceof DestinationUnavailableError ? err : new DestinationUnavailableError(destination, operation, describe(err));
}

/**
 * Make sure the destination root is there and marked, or fail with the act that fixes it.
 * `known`: this index has met the destination, so `sync --init` is no way out (it refuses to
 * re-mark a destination whose copies it recorded).
 */
export async function checkDestinationRoot(destination: Destination, init: boolean, known = false): Promise<void> {
  const state = await destination.rootState();
  if (state === 'ok') return;
  if (init) {
    await destination.init();
    return;
  }
  const fresh = known
    ? `If the drive was wiped or replaced, the copies this index recorded there are gone: give it a new name in the config and \`squirrel sync --init --to <new name>\``
    : `for a brand-new destination run \`squirrel sync --init --to ${destination.name}\``;
  if (state === 'missing') {
    throw new OperationalError(
      `destination '${destination.name}' root ${destination.location} does not exist (is the drive unmounted?). Mount it, or ${fresh}.`,
      'destination-missing',
    );
  }
  throw new OperationalError(
    `destination '${destination.name}' root ${destination.location} has no .squirrel-destination marker, so squirrel ` +
      `cannot tell it is the right place (a different drive mounted there?). Mount the right drive; ${known ? fresh : `if this is the place, ${fresh}`}.`,
    'destination-unmarked',
  );
}
