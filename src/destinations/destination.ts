// The destination interface. A destination is append-only storage addressed by POSIX-style
// relative paths (`<volume>/<path>`). Readers and writers are split; every method's
// contract says what "absent" and "could not check" look like, and "could not check" is
// always an exception, never a value that could be mistaken for "present".

import { OperationalError } from '../errors.js';

/** Reserved top-level names inside `<root>/<volume>/`. */
export const STAGING_DIR = '.squirrel-staging';
export const HISTORY_DIR = '.squirrel-history';
export const DESTINATION_MARKER = '.squirrel-destination';

/**
 * Anything that stopped a destination operation from giving a definite answer: root
 * unreachable, permission denied, timeout, I/O error. Callers treat it as "not known",
 * which is a refusal, never a pass.
 */
export class DestinationUnavailableError extends OperationalError {
  constructor(
    readonly destination: string,
    readonly operation: string,
    detail: string,
  ) {
    super(`destination '${destination}': ${operation} failed: ${detail}`, 'destination-unavailable');
  }
}

/** The root exists and carries a marker: usable. Missing: unmounted drive or wrong path. */
export type RootState = 'ok' | 'missing' | 'unmarked';

export type StatResult = { kind: 'present'; sizeBytes: number } | { kind: 'absent' };

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
  /** Files under a directory prefix ('' for all), recursively. Absent prefix: empty. */
  list(prefix: string): AsyncIterable<ListedFile>;
  /** Size of one file, or absent. Throws DestinationUnavailableError if it cannot tell. */
  stat(path: string): Promise<StatResult>;
  /** The file's bytes. Throws DestinationUnavailableError when absent or unreadable. */
  read(path: string): AsyncIterable<Uint8Array>;
  /**
   * BLAKE3 of the stored bytes, computed from bytes read back from the destination (or by
   * the destination itself, recorded with a distinct method). Absent: { kind: 'absent' }.
   */
  hash(path: string): Promise<HashResult>;
}

export interface DestinationWriter {
  /** Create the root (if needed) and write the marker. Idempotent. */
  init(): Promise<void>;
  /**
   * Durably place a local file at `path`: write it to `stagingPath`, flush, then move it
   * into place. Never overwrites: if `path` exists, throws DestinationUnavailableError and
   * leaves it untouched (the caller moves different bytes aside first).
   */
  put(path: string, localFile: string, stagingPath: string): Promise<void>;
  /** Move the file at `path` to `historyPath` (never deletes). Absent `path`: no-op. */
  moveAside(path: string, historyPath: string): Promise<void>;
}

export interface Destination extends DestinationReader, DestinationWriter {}

/** `<volume>/<path>`: where a volume's file lives on a destination. */
export function remotePathOf(volume: string, relativePath: string): string {
  return `${volume}/${relativePath}`;
}

export function stagingPathOf(volume: string, runId: number, relativePath: string): string {
  return `${volume}/${STAGING_DIR}/run-${runId}/${relativePath}`;
}

export function historyPathOf(volume: string, runId: number, relativePath: string): string {
  return `${volume}/${HISTORY_DIR}/run-${runId}/${relativePath}`;
}
