// `type: local`: a destination that is a directory (an external drive, a mounted NAS). Writes
// are durable and never clobber: copy to a staging file, fsync, hard-link into place (which
// fails if the target exists), fsync the directories. Reads never follow a symlink at the
// final component, and an absent file under a missing or unmarked root is "could not check"
// (an unmounted drive), never "absent". I/O is synchronous (on a local disk the fastest Node
// offers) except put()'s fsyncs, which wait on libuv's pool: with several puts in flight the
// filesystem folds their flushes into shared journal commits instead of one commit per file,
// and puts landing in one directory share its flush.
// Given a file hasher (the index's worker pool), hash() reads large files on its threads, so
// a verify keeps every core busy; given a put pool, put() runs on its threads, so a sync does.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { errnoCode, errorDetail } from '../errors.js';
import { READ_CHUNK_BYTES } from '../hash.js';
import { GroupFlush } from './group-flush.js';
import { copyMode, DIRECTORY_MODE, openLocalSource } from './local-source.js';
import { PutPool, PUTS_IN_FLIGHT_PER_WORKER } from './put-pool.js';
import {
  DESTINATION_MARKER,
  Destination,
  DestinationUnavailableError,
  HashResult,
  ListedFile,
  LocalSourceError,
  METHOD_READBACK,
  RootState,
  StatResult,
  checkDestinationPath,
  checkMarker,
  checkStagingPath,
  encodeMarker,
  SourceExpectation,
} from './destination.js';

/** link() errors that mean "this filesystem has no hard links": fall back to check + rename. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);
/** fsync() on a directory is not supported everywhere; where it is not, there is nothing to flush. */
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EBADF']);

/** fsync on libuv's thread pool (fs.fsync looked up per call, so tests can watch it). */
function fsyncOnPool(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * Hashes one regular file off the calling thread. ok: false when the file was not the listed
 * inode or changed while being read; hash() then falls back to reading it in-thread.
 */
export interface FileHasher {
  readonly threads: number;
  hash(task: { absolutePath: string; ino: bigint; dev: bigint; sizeBytes: number }): Promise<{ ok: true; hash: Buffer; sizeBytes: number } | { ok: false; message: string }>;
}

/** Below this a file is hashed in-thread: the round trip to a worker would cost more than the read. */
const OFF_THREAD_MIN_BYTES = 256 << 10;


export class LocalDestination implements Destination {
  readonly type = 'local';
  readonly location: string;
  private readonly markerPath: string;
  /** Reused by hash(): no await happens while it is in use. */
  private readonly hashBuffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  private copyBuffer: Buffer | null = null;
  private readonly directoryFlushes = new GroupFlush((directory) => this.fsyncDirectoryOnPool(directory));

  constructor(
    readonly name: string,
    root: string,
    private readonly fileHasher: FileHasher | null = null,
    private readonly putPool: PutPool | null = null,
  ) {
    this.location = path.resolve(root);
    this.markerPath = path.join(this.location, DESTINATION_MARKER);
  }

  /** On worker threads, several per worker; in-thread, enough to overlap the flushes on libuv's default pool of four threads. */
  get concurrentPuts(): number {
    return this.putPool ? this.putPool.threads * PUTS_IN_FLIGHT_PER_WORKER : 8;
  }

  /**
   * With a file hasher: enough hashes queued that the pool can pack small files into batches
   * and no worker waits for the next file (3,000 files of 4 KiB-32 MiB: 8 in flight verify
   * in ~1.0 s, 64 in ~0.8 s).
   */
  get concurrentHashes(): number {
    return this.fileHasher ? this.fileHasher.threads * 32 : 1;
  }

  async rootState(): Promise<RootState> {
    return this.rootStateSync('rootState');
  }

  async init(): Promise<void> {
    if (this.rootStateSync('init') === 'ok') return;
    // Only the destination's own folder is created, never the folders above it: under a mount
    // point whose drive is not plugged in, "backups" would land on the wrong disk (or in RAM).
    const parent = path.dirname(this.location);
    if (!this.lstatQuietly(parent)) {
      throw new DestinationUnavailableError(
        this.name,
        'init',
        `${parent} does not exist: squirrel creates the destination's own folder, never the folders above it (is the drive mounted?); mount it, or create ${parent} first`,
      );
    }
    const created = this.mkdirs(this.location, 'init');
    const temporary = `${this.markerPath}.tmp`;
    try {
      this.writeFileDurably(temporary, encodeMarker(this.name), 'init');
      let placed: boolean;
      try {
        placed = this.placeNoClobber(temporary, this.markerPath, 'init');
      } catch (err) {
        throw this.unavailable('init', this.location, err);
      }
      if (!placed) {
        // Another process marked the root first; it must have named us.
        checkMarker(this.name, this.location, this.readSmallFile(this.markerPath, 'init'), 'init');
        return;
      }
      this.fsyncDirs([this.location, ...created.map((dir) => path.dirname(dir))], 'init');
    } finally {
      this.unlinkQuietly(temporary);
    }
  }

  list(prefix: string): AsyncIterable<ListedFile> {
    const start = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    checkDestinationPath(this.name, 'list', start, true);
    return this.listFrom(start);
  }

  async stat(relativePath: string): Promise<StatResult> {
    const absolute = this.resolve('stat', relativePath);
    let stats: fs.BigIntStats;
    try {
      stats = fs.lstatSync(absolute, { bigint: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return this.absent('stat');
      throw this.unavailable('stat', relativePath, err);
    }
    if (!stats.isFile()) throw this.notAFile('stat', relativePath, stats);
    return { kind: 'present', sizeBytes: Number(stats.size), identity: `${stats.dev}:${stats.ino}` };
  }

  read(relativePath: string): AsyncIterable<Uint8Array> {
    const absolute = this.resolve('read', relativePath);
    return this.readChunks(relativePath, absolute);
  }

  async hash(relativePath: string): Promise<HashResult> {
    const absolute = this.resolve('hash', relativePath);
    if (this.fileHasher) {
      const listed = this.lstatQuietly(absolute);
      if (listed?.isFile() && listed.size >= OFF_THREAD_MIN_BYTES) {
        const task = { absolutePath: absolute, ino: listed.ino, dev: listed.dev, sizeBytes: Number(listed.size) };
        const outcome = await this.fileHasher.hash(task).catch(() => null);
        if (outcome?.ok) return { kind: 'present', blake3: outcome.hash, sizeBytes: outcome.sizeBytes, method: METHOD_READBACK };
      }
    }
    // In-thread: small files, and every case the off-thread read could not settle (absent,
    // a symlink, a file that changed), judged here with the exact contract.
    const fd = this.openForRead('hash', relativePath, absolute);
    if (fd === null) return this.absent('hash');
    try {
      const hasher = new Blake3Hasher();
      let sizeBytes = 0;
      for (;;) {
        const bytesRead = fs.readSync(fd, this.hashBuffer, 0, this.hashBuffer.length, sizeBytes);
        if (bytesRead === 0) break;
        hasher.update(bytesRead === this.hashBuffer.length ? this.hashBuffer : this.hashBuffer.subarray(0, bytesRead));
        sizeBytes += bytesRead;
      }
      return { kind: 'present', blake3: hasher.digestBuffer(), sizeBytes, method: METHOD_READBACK };
    } catch (err) {
      throw this.unavailable('hash', relativePath, err);
    } finally {
      fs.closeSync(fd);
    }
  }

  async put(relativePath: string, localFile: string, stagingPath: string, expected?: SourceExpectation): Promise<void> {
    const target = this.resolve('put', relativePath);
    checkStagingPath(this.name, relativePath, stagingPath);
    if (this.putPool) return this.putPool.put({ destination: this.name, root: this.location, relativePath, localFile, stagingPath, expected });
    const staging = path.join(this.location, stagingPath);
    this.requireMarkedRoot('put');
    // Staging may create directories the target shares (the volume's own); their entries need a flush too.
    const stagingDirs = (await this.copyToStaging(localFile, staging, stagingPath, expected)).filter((dir) => target.startsWith(`${dir}/`));
    try {
      const created = this.mkdirsOnDemand(path.dirname(target), 'put', () => this.placeNoClobber(staging, target, 'put'));
      if (!created.placed) {
        throw new DestinationUnavailableError(this.name, 'put', `${relativePath} already exists; it was left untouched (move it aside first)`);
      }
      await this.fsyncDirsOnPool([...stagingDirs, ...created.dirs].map((dir) => path.dirname(dir)).concat(path.dirname(target)));
    } finally {
      this.unlinkQuietly(staging);
    }
  }

  async moveAside(relativePath: string, historyPath: string): Promise<void> {
    const source = this.resolve('moveAside', relativePath);
    const destination = this.resolve('moveAside', historyPath);
    this.requireMarkedRoot('moveAside');
    try {
      fs.lstatSync(source);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw this.unavailable('moveAside', relativePath, err);
    }
    const created = this.mkdirsOnDemand(path.dirname(destination), 'moveAside', () => this.placeNoClobber(source, destination, 'moveAside'));
    if (!created.placed) {
      throw new DestinationUnavailableError(this.name, 'moveAside', `${historyPath} already exists; nothing was moved`);
    }
    // History is durable before the old name goes, so a crash leaves both names, never neither.
    this.fsyncDirs([...created.dirs.map((dir) => path.dirname(dir)), path.dirname(destination)], 'moveAside');
    try {
      fs.unlinkSync(source);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.unavailable('moveAside', relativePath, err);
    }
    this.fsyncDirs([path.dirname(source)], 'moveAside');
  }

  async readSmall(relativePath: string): Promise<Buffer | null> {
    const absolute = this.resolve('readSmall', relativePath);
    const fd = this.openForRead('readSmall', relativePath, absolute);
    if (fd === null) return null;
    try {
      return fs.readFileSync(fd);
    } catch (err) {
      throw this.unavailable('readSmall', relativePath, err);
    } finally {
      fs.closeSync(fd);
    }
  }

  async writeSmall(relativePath: string, bytes: Buffer, mode: 'create' | 'replace'): Promise<boolean> {
    const target = this.resolve('writeSmall', relativePath);
    this.requireMarkedRoot('writeSmall');
    const created = this.mkdirs(path.dirname(target), 'writeSmall');
    const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      this.writeFileDurably(temporary, bytes, 'writeSmall');
      if (mode === 'create') {
        if (!this.placeNoClobber(temporary, target, 'writeSmall')) return false;
      } else {
        try {
          fs.renameSync(temporary, target);
        } catch (err) {
          throw this.unavailable('writeSmall', relativePath, err);
        }
      }
      this.fsyncDirs([path.dirname(target), ...created.map((dir) => path.dirname(dir))], 'writeSmall');
      return true;
    } catch (err) {
      throw err instanceof DestinationUnavailableError ? err : this.unavailable('writeSmall', relativePath, err);
    } finally {
      this.unlinkQuietly(temporary);
    }
  }

  private resolve(operation: string, relativePath: string): string {
    checkDestinationPath(this.name, operation, relativePath);
    return path.join(this.location, relativePath);
  }

  private rootStateSync(operation: string): RootState {
    let stats: fs.Stats;
    try {
      stats = fs.statSync(this.location);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 'missing';
      throw this.unavailable(operation, this.location, err);
    }
    if (!stats.isDirectory()) throw new DestinationUnavailableError(this.name, operation, `${this.location} is not a directory; check the path in the config`);
    let marker: Buffer;
    try {
      marker = fs.readFileSync(this.markerPath);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 'unmarked';
      throw this.unavailable(operation, DESTINATION_MARKER, err);
    }
    checkMarker(this.name, this.location, marker, operation);
    return 'ok';
  }

  /** Writers and "absent" answers need the marker: without it this may be an empty mount point. */
  private requireMarkedRoot(operation: string): void {
    try {
      if (fs.statSync(this.markerPath).isFile()) return;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.unavailable(operation, DESTINATION_MARKER, err);
    }
    const state = this.rootStateSync(operation);
    if (state === 'missing') {
      throw new DestinationUnavailableError(this.name, operation, `root ${this.location} does not exist (is the drive mounted?)`);
    }
    if (state === 'unmarked') {
      throw new DestinationUnavailableError(this.name, operation, `root ${this.location} has no ${DESTINATION_MARKER} marker (is the right drive mounted? a new destination needs sync --init)`);
    }
  }

  private absent(operation: string): { kind: 'absent' } {
    this.requireMarkedRoot(operation);
    return { kind: 'absent' };
  }

  /** What is at the path, or null for anything lstat cannot answer (the caller decides in-thread). */
  private lstatQuietly(absolute: string): fs.BigIntStats | null {
    try {
      return fs.lstatSync(absolute, { bigint: true });
    } catch {
      return null;
    }
  }

  /** An open descriptor on a regular file, or null when nothing is there. */
  private openForRead(operation: string, relativePath: string, absolute: string): number | null {
    let fd: number;
    try {
      fd = fs.openSync(absolute, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      if (errnoCode(err) === 'ELOOP') throw new DestinationUnavailableError(this.name, operation, `${relativePath} is a symbolic link, not a file squirrel wrote`);
      throw this.unavailable(operation, relativePath, err);
    }
    try {
      const stats = fs.fstatSync(fd);
      if (!stats.isFile()) throw this.notAFile(operation, relativePath, stats);
      return fd;
    } catch (err) {
      fs.closeSync(fd);
      throw err instanceof DestinationUnavailableError ? err : this.unavailable(operation, relativePath, err);
    }
  }

  private async *readChunks(relativePath: string, absolute: string): AsyncGenerator<Uint8Array> {
    const fd = this.openForRead('read', relativePath, absolute);
    if (fd === null) {
      this.requireMarkedRoot('read');
      throw new DestinationUnavailableError(this.name, 'read', `${relativePath} does not exist`);
    }
    try {
      let position = 0;
      for (;;) {
        const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
        let bytesRead: number;
        try {
          bytesRead = fs.readSync(fd, chunk, 0, chunk.length, position);
        } catch (err) {
          throw this.unavailable('read', relativePath, err);
        }
        if (bytesRead === 0) return;
        position += bytesRead;
        yield chunk.subarray(0, bytesRead);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  private async *listFrom(prefix: string): AsyncGenerator<ListedFile> {
    // Even an empty answer needs the marker: an unmounted drive's mount point is empty too.
    this.requireMarkedRoot('list');
    if (prefix !== '') {
      let stats: fs.Stats;
      try {
        stats = fs.lstatSync(path.join(this.location, prefix));
      } catch (err) {
        if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return;
        throw this.unavailable('list', prefix, err);
      }
      if (stats.isSymbolicLink()) throw new DestinationUnavailableError(this.name, 'list', `${prefix} is a symbolic link; squirrel does not follow links on a destination`);
      if (!stats.isDirectory()) return;
    }
    const pending = [prefix];
    while (pending.length > 0) {
      const directory = pending.pop()!;
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(path.join(this.location, directory), { withFileTypes: true });
      } catch (err) {
        // Removed while we walked: nothing under it any more. The root itself must answer.
        if (directory !== '' && errnoCode(err) === 'ENOENT') continue;
        throw this.unavailable('list', directory || this.location, err);
      }
      for (const entry of entries) {
        const relativePath = directory === '' ? entry.name : `${directory}/${entry.name}`;
        if (entry.isDirectory()) pending.push(relativePath);
        else if (entry.isFile()) {
          let sizeBytes: number;
          try {
            sizeBytes = fs.lstatSync(path.join(this.location, relativePath)).size;
          } catch (err) {
            if (errnoCode(err) === 'ENOENT') continue;
            throw this.unavailable('list', relativePath, err);
          }
          yield { path: relativePath, sizeBytes };
        }
      }
    }
  }

  /**
   * Copy the local file into a fresh staging file and fsync it; returns the directories it
   * created. A leftover staging file is unlinked, never truncated: after a crash it may be a
   * hard link to a placed target.
   */
  private async copyToStaging(localFile: string, staging: string, stagingPath: string, expected?: SourceExpectation): Promise<string[]> {
    const source = openLocalSource(localFile, expected);
    try {
      const { fd: stagingFd, createdDirs } = this.createStaging(staging, stagingPath, copyMode(source.mode));
      try {
        this.copyBytes(source.fd, stagingFd, localFile, stagingPath);
        await fsyncOnPool(stagingFd);
        return createdDirs;
      } catch (err) {
        this.unlinkQuietly(staging);
        throw err instanceof LocalSourceError || err instanceof DestinationUnavailableError ? err : this.unavailable('put', stagingPath, err);
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
      let bytesRead: number;
      try {
        bytesRead = fs.readSync(sourceFd, buffer, 0, buffer.length, null);
      } catch (err) {
        throw new LocalSourceError(localFile, errorDetail(err));
      }
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
  private placeNoClobber(from: string, to: string, operation: string): boolean {
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
  private mkdirsOnDemand(directory: string, operation: string, place: () => boolean): { placed: boolean; dirs: string[] } {
    try {
      return { placed: place(), dirs: [] };
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err instanceof DestinationUnavailableError ? err : this.unavailable(operation, directory, err);
    }
    const dirs = this.mkdirs(directory, operation);
    try {
      return { placed: place(), dirs };
    } catch (err) {
      throw err instanceof DestinationUnavailableError ? err : this.unavailable(operation, directory, err);
    }
  }

  /** mkdir -p; returns the directories it created, outermost first (their parents need an fsync). */
  private mkdirs(directory: string, operation: string): string[] {
    let first: string | undefined;
    try {
      first = fs.mkdirSync(directory, { recursive: true, mode: DIRECTORY_MODE });
    } catch (err) {
      throw this.unavailable(operation, directory, err);
    }
    if (first === undefined) return [];
    const created: string[] = [];
    for (let dir = directory; ; dir = path.dirname(dir)) {
      created.unshift(dir);
      if (dir === first || dir === path.dirname(dir)) break;
    }
    return created;
  }

  private writeFileDurably(file: string, bytes: Buffer, operation: string): void {
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

  private readSmallFile(file: string, operation: string): Buffer {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw this.unavailable(operation, file, err);
    }
  }

  private fsyncDirs(directories: string[], operation: string): void {
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
  private async fsyncDirsOnPool(directories: string[]): Promise<void> {
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
  private unlinkQuietly(file: string): void {
    try {
      fs.unlinkSync(file);
    } catch {
      // already gone, or cleanup is for a later run
    }
  }

  private notAFile(operation: string, relativePath: string, stats: fs.Stats | fs.BigIntStats): DestinationUnavailableError {
    const what = stats.isDirectory() ? 'a directory' : stats.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
    return new DestinationUnavailableError(this.name, operation, `${relativePath} is ${what}, not a file squirrel wrote; look at it by hand`);
  }

  private unavailable(operation: string, subject: string, err: unknown): DestinationUnavailableError {
    if (err instanceof DestinationUnavailableError) return err;
    const hint = errnoCode(err) === 'ENOSPC' ? ' (the destination is full)' : '';
    return new DestinationUnavailableError(this.name, operation, `${subject}: ${errorDetail(err)}${hint}`);
  }
}
