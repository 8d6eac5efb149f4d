// Opening a volume file to send it, for every destination type: never through a link at the
// last component, without blocking (a FIFO where a file was answers at once instead of
// hanging the run), only a regular file, and, when the caller checked the path first, only
// the very inode it checked. Bytes from outside the volume must never reach a destination.

import fs from 'node:fs';
import { errnoCode, errorDetail } from '../errors.js';
import { LocalSourceError, SourceExpectation } from './destination.js';

export interface LocalSource {
  fd: number;
  sizeBytes: number;
  /** Permission bits of the source: a copy is never more readable than this. */
  mode: number;
}

export function openLocalSource(localFile: string, expected?: SourceExpectation): LocalSource {
  let fd: number;
  try {
    fd = fs.openSync(localFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    const detail = errnoCode(err) === 'ELOOP' ? 'it is a symbolic link, not a regular file' : errorDetail(err);
    throw new LocalSourceError(localFile, detail);
  }
  try {
    const stats = fs.fstatSync(fd, { bigint: true });
    if (!stats.isFile()) throw new LocalSourceError(localFile, 'not a regular file');
    if (expected && `${stats.dev}:${stats.ino}` !== expected.identity) {
      throw new LocalSourceError(localFile, 'another file took its place while it was being checked; run `squirrel index` and sync again');
    }
    return { fd, sizeBytes: Number(stats.size), mode: Number(stats.mode) & 0o777 };
  } catch (err) {
    fs.closeSync(fd);
    throw err instanceof LocalSourceError ? err : new LocalSourceError(localFile, errorDetail(err));
  }
}

/** Read from an opened source: a failure is the source's (LocalSourceError), never the destination's. */
export function readSource(localFile: string, fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number {
  try {
    return fs.readSync(fd, buffer, offset, length, position);
  } catch (err) {
    throw new LocalSourceError(localFile, errorDetail(err));
  }
}

/**
 * The mode a copy of a source with `sourceMode` is created with: the source's permission bits
 * (group and other never gain access), plus read and write for the owner so squirrel can
 * read the copy back and later move it aside.
 */
export function copyMode(sourceMode: number): number {
  return (sourceMode & 0o777) | 0o600;
}

/** Directories squirrel creates at a destination: private to their owner (names are private too). */
export const DIRECTORY_MODE = 0o700;
