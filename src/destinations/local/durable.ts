// The durable-write plumbing of the local destination: copy to a staging file and fsync it,
// give it its name without ever replacing another file (a hard link, else check-then-rename),
// create directories, and flush every directory whose entries changed. Failures come out as
// DestinationUnavailableError naming the path, except a raw ENOENT the caller may act on.

import fs from 'node:fs';
import path from 'node:path';
import { errnoCode, errorDetail } from '../../errors.js';
import { READ_CHUNK_BYTES } from '../../hash.js';
import { makeDirectories } from '../../mkdirs.js';
import { DestinationUnavailableError, LocalSourceError, SourceExpectation, unavailable } from '../destination.js';
import { copyMode, DIRECTORY_MODE, openLocalSource, readSource } from '../local-source.js';
import { GroupFlush } from './group-flush.js';

/** link() errors that mean "this filesystem has no hard links": fall back to check + rename. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);
/** fsync() on a directory is not supported everywhere; where it is not, there is nothing to flush. */
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EBADF']);

/** fsync on libuv's thread pool (fs.fsync looked up per call, so tests can watch it). */
function fsyncOnPool(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** A local failure as "could not check", naming the path; a full disk says so. */
export function localUnavailable(destination: string, operation: string, subject: string, err: unknown): DestinationUnavailableError {
  return unavailable(destination, operation, err, () => `${subject}: ${errorDetail(err)}${errnoCode(err) === 'ENOSPC' ? ' (the destination is full)' : ''}`);
}

export class DurableFiles {
  private copyBuffer: Buffer | null = null;
  private readonly directoryFlushes = new GroupFlush((directory) => this.fsyncDirectoryOnPool(directory));

  /** `destination`: the name failures are reported under. */
  constructor(private readonly destination: string) {}

  /**
   * Copy the local file into a fresh staging file and fsync it; returns the directories it
   * created. A leftover staging file is unlinked, never truncated: after a crash it may be a
   * hard link to a placed target.
   */
  async copyToStaging(localFile: string, staging: string, stagingPath: string, expected?: SourceExpectation): Promise<string[]> {
    const source = openLocalSource(localFile, expected);
    try {
      const { fd: stagingFd, createdDirs } = this.createStaging(staging, stagingPath, copyMode(source.mode));
      try {
        this.copyBytes(source.fd, stagingFd, localFile, stagingPath);
        await fsyncOnPool(stagingFd);
        return createdDirs;
      } catch (err) {
        this.unlinkQuietly(staging);
        throw err instanceof LocalSourceError ? err : this.unavailable('put', stagingPath, err);
      } finally {
        fs.closeSync(stagingFd);
      }
    } finally {
      fs.closeSync(source.fd);
    }
  }

  private createStaging(staging: string, stagingPath: string, mode: number): { fd: number; createdDirs: string[] } {
    const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;
    let createdDirs: string[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        // The umask may only take bits away: never more readable than the source.
        return { fd: fs.openSync(staging, flags, mode), createdDirs };
      } catch (err) {
        const code = errnoCode(err);
        if (attempt >= 2 || (code !== 'EEXIST' && code !== 'ENOENT')) throw this.unavailable('put', stagingPath, err);
        if (code === 'EEXIST') this.unlinkOrThrow(staging, stagingPath);
        else createdDirs = this.mkdirs(path.dirname(staging), 'put');
      }
    }
  }

  private copyBytes(sourceFd: number, stagingFd: number, localFile: string, stagingPath: string): void {
    const buffer = (this.copyBuffer ??= Buffer.allocUnsafe(READ_CHUNK_BYTES));
    for (;;) {
      const bytesRead = readSource(localFile, sourceFd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      let written = 0;
      try {
        while (written < bytesRead) written += fs.writeSync(stagingFd, buffer, written, bytesRead - written);
      } catch (err) {
        throw this.unavailable('put', stagingPath, err);
      }
    }
  }

  /**
   * Give `from` the name `to` unless `to` exists; false when it does. A hard link refuses
   * atomically; without hard links, check-then-rename is the best the filesystem allows.
   * After a link the caller removes the old name. A raw ENOENT (missing parent directory)
   * is rethrown for mkdirsOnDemand; every other failure is DestinationUnavailableError.
   */
  placeNoClobber(from: string, to: string, operation: string): boolean {
    try {
      fs.linkSync(from, to);
      return true;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') return false;
      if (code === 'ENOENT') throw err;
      if (!code || !NO_HARD_LINKS.has(code)) throw this.unavailable(operation, to, err);
    }
    try {
      fs.lstatSync(to);
      return false;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.unavailable(operation, to, err);
    }
    try {
      fs.renameSync(from, to);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') throw err;
      throw this.unavailable(operation, to, err);
    }
  }

  /** Run `place`; if its directory is missing, create it below the root and run it again. */
  mkdirsOnDemand(directory: string, operation: string, place: () => boolean): { placed: boolean; dirs: string[] } {
    try {
      return { placed: place(), dirs: [] };
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.unavailable(operation, directory, err);
    }
    const dirs = this.mkdirs(directory, operation);
    try {
      return { placed: place(), dirs };
    } catch (err) {
      throw this.unavailable(operation, directory, err);
    }
  }

  /** mkdir -p; returns the directories it created, outermost first (their parents need an fsync). */
  mkdirs(directory: string, operation: string): string[] {
    try {
      return makeDirectories(directory, DIRECTORY_MODE);
    } catch (err) {
      throw this.unavailable(operation, directory, err);
    }
  }

  /**
   * Remove the file, or the folder and everything in it, at `root/relativePath`; links are
   * removed, never followed, and a link among its parents refuses it. Absent: 0. Returns how
   * many files it removed.
   */
  removeTree(root: string, relativePath: string, operation: string): number {
    const segments = relativePath.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      let stats: fs.Stats;
      try {
        stats = fs.lstatSync(path.join(root, ...segments.slice(0, depth)));
      } catch {
        return 0;
      }
      if (!stats.isDirectory()) throw new DestinationUnavailableError(this.destination, operation, `${segments.slice(0, depth).join('/')} is not a folder (a link?); nothing was removed`);
    }
    const remove = (absolute: string): number => {
      try {
        if (!fs.lstatSync(absolute).isDirectory()) {
          fs.unlinkSync(absolute);
          return 1;
        }
        let removed = 0;
        for (const name of fs.readdirSync(absolute)) removed += remove(path.join(absolute, name));
        fs.rmdirSync(absolute);
        return removed;
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return 0;
        throw this.unavailable(operation, path.relative(root, absolute), err);
      }
    };
    return remove(path.join(root, relativePath));
  }


  /** A new file with these bytes, flushed (the caller places it and flushes its directory). */
  writeFileDurably(file: string, bytes: Buffer, operation: string): void {
    this.unlinkQuietly(file);
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    } catch (err) {
      throw this.unavailable(operation, file, err);
    }
    try {
      fs.writeFileSync(fd, bytes);
      fs.fsyncSync(fd);
    } catch (err) {
      throw this.unavailable(operation, file, err);
    } finally {
      fs.closeSync(fd);
    }
  }

  fsyncDirs(directories: string[], operation: string): void {
    for (const directory of new Set(directories)) {
      const fd = this.openDirectory(directory, operation);
      try {
        fs.fsyncSync(fd);
      } catch (err) {
        this.checkDirFsync(err, operation, directory);
      } finally {
        fs.closeSync(fd);
      }
    }
  }

  /**
   * fsyncDirs for put(): the same flushes, awaited together on libuv's pool, each shared with
   * the other puts in flight that need the same directory flushed.
   */
  async fsyncDirsOnPool(directories: string[]): Promise<void> {
    await Promise.all([...new Set(directories)].map((directory) => this.directoryFlushes.flush(directory)));
  }

  private async fsyncDirectoryOnPool(directory: string): Promise<void> {
    const fd = this.openDirectory(directory, 'put');
    try {
      await fsyncOnPool(fd);
    } catch (err) {
      this.checkDirFsync(err, 'put', directory);
    } finally {
      fs.closeSync(fd);
    }
  }

  private openDirectory(directory: string, operation: string): number {
    try {
      return fs.openSync(directory, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (err) {
      throw this.unavailable(operation, directory, err);
    }
  }

  /** A directory fsync the filesystem does not support has nothing to flush; anything else fails. */
  private checkDirFsync(err: unknown, operation: string, directory: string): void {
    const code = errnoCode(err);
    if (!code || !DIR_FSYNC_UNSUPPORTED.has(code)) throw this.unavailable(operation, directory, err);
  }

  private unlinkOrThrow(file: string, relativePath: string): void {
    try {
      fs.unlinkSync(file);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.unavailable('put', relativePath, err);
    }
  }

  /** Scratch cleanup: a leftover staging file costs space, never correctness. */
  unlinkQuietly(file: string): void {
    try {
      fs.unlinkSync(file);
    } catch {
      // already gone, or cleanup is for a later run
    }
  }

  private unavailable(operation: string, subject: string, err: unknown): DestinationUnavailableError {
    return localUnavailable(this.destination, operation, subject, err);
  }
}
