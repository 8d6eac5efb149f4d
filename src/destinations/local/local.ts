// `type: local`: a destination that is a directory (an external drive, a mounted NAS). Writes
// never clobber and are durable before put() returns (durable.ts); reads never follow a symlink
// at the final component, and "absent" under a missing or unmarked root is "could not check"
// (an unmounted drive). Given a file hasher or a put pool, hashes and puts run on their threads.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Blake3Hasher } from '@napi-rs/blake-hash';
import { errnoCode } from '../../errors.js';
import { READ_CHUNK_BYTES } from '../../hash.js';
import { ABSENT, checkCatalogFilePath, checkDestinationPath, checkStagingPath, checkStagingRemoval, Destination, DESTINATION_MARKER, DestinationUnavailableError, HashResult, ListedFile, ListHint, listPrefix, METHOD_READBACK, nameTaken, nonFileKind, notAFile, requireMarkedRootState, RootState, SourceExpectation, StatResult } from '../destination.js';
import { checkMarker, encodeMarker, markedRootState } from '../markers.js';
import { DurableFiles, localUnavailable } from './durable.js';
import { fingerprintOf, walkInOrder } from './listing.js';
import { listOnThread } from './list-thread.js';
import { PutPool, PUTS_IN_FLIGHT_PER_WORKER } from './put-pool.js';

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

/**
 * A listing expected to hold this many files is walked on a thread of its own: at 10^4 files the
 * thread's start cost a nothing-new sync ~0.1 s (0.37 → 0.49 s), at 10^5 it saved ~0.8 s of 2.0 s.
 */
const LIST_THREAD_MIN_FILES = 20_000;

export class LocalDestination implements Destination {
  readonly type = 'local';
  readonly location: string;
  private readonly markerPath: string;
  /** Reused by hash(): no await happens while it is in use. */
  private readonly hashBuffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  private readonly files: DurableFiles;

  constructor(
    readonly name: string,
    root: string,
    private readonly fileHasher: FileHasher | null = null,
    private readonly putPool: PutPool | null = null,
  ) {
    this.location = path.resolve(root);
    this.markerPath = path.join(this.location, DESTINATION_MARKER);
    this.files = new DurableFiles(name);
  }

  /** On worker threads, several per worker; in-thread, enough to overlap the flushes on libuv's default pool of four threads. */
  get concurrentPuts(): number {
    return this.putPool ? this.putPool.threads * PUTS_IN_FLIGHT_PER_WORKER : 8;
  }

  /** With a file hasher: enough hashes queued that the pool can pack small files into batches and no worker waits. */
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
    const created = this.files.mkdirs(this.location, 'init');
    const temporary = `${this.markerPath}.tmp`;
    try {
      this.files.writeFileDurably(temporary, encodeMarker(this.name), 'init');
      let placed: boolean;
      try {
        placed = this.files.placeNoClobber(temporary, this.markerPath, 'init');
      } catch (err) {
        throw this.unavailable('init', this.location, err);
      }
      if (!placed) {
        // Another process marked the root first; it must have named us.
        checkMarker(this.name, this.location, this.readMarkerFile('init'), 'init');
        return;
      }
      this.files.fsyncDirs([this.location, ...created.map((dir) => path.dirname(dir))], 'init');
    } finally {
      this.files.unlinkQuietly(temporary);
    }
  }

  list(prefix: string, hint: ListHint = {}): AsyncIterable<ListedFile> {
    return this.listFrom(listPrefix(this.name, prefix), (hint.files ?? 0) >= LIST_THREAD_MIN_FILES);
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
    return { kind: 'present', sizeBytes: Number(stats.size), identity: `${stats.dev}:${stats.ino}`, fingerprint: fingerprintOf(stats) };
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
        if (outcome?.ok) return { kind: 'present', blake3: outcome.hash, sizeBytes: outcome.sizeBytes, method: METHOD_READBACK, fingerprint: fingerprintOf(listed) };
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
      return { kind: 'present', blake3: hasher.digestBuffer(), sizeBytes, method: METHOD_READBACK, fingerprint: fingerprintOf(fs.fstatSync(fd, { bigint: true })) };
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
    const stagingDirs = (await this.files.copyToStaging(localFile, staging, stagingPath, expected)).filter((dir) => target.startsWith(`${dir}/`));
    try {
      const created = this.files.mkdirsOnDemand(path.dirname(target), 'put', () => this.files.placeNoClobber(staging, target, 'put'));
      if (!created.placed) throw nameTaken(this.name, 'put', relativePath);
      await this.files.fsyncDirsOnPool([...stagingDirs, ...created.dirs].map((dir) => path.dirname(dir)).concat(path.dirname(target)));
    } finally {
      this.files.unlinkQuietly(staging);
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
    const created = this.files.mkdirsOnDemand(path.dirname(destination), 'moveAside', () => this.files.placeNoClobber(source, destination, 'moveAside'));
    if (!created.placed) throw nameTaken(this.name, 'moveAside', historyPath);
    // History is durable before the old name goes, so a crash leaves both names, never neither.
    this.files.fsyncDirs([...created.dirs.map((dir) => path.dirname(dir)), path.dirname(destination)], 'moveAside');
    try {
      fs.unlinkSync(source);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.unavailable('moveAside', relativePath, err);
    }
    this.files.fsyncDirs([path.dirname(source)], 'moveAside');
  }

  async removeStaging(relativePath: string): Promise<number> {
    this.resolve('removeStaging', relativePath);
    checkStagingRemoval(this.name, relativePath);
    this.requireMarkedRoot('removeStaging');
    return this.files.removeTree(this.location, relativePath, 'removeStaging');
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
    const created = this.files.mkdirs(path.dirname(target), 'writeSmall');
    const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      this.files.writeFileDurably(temporary, bytes, 'writeSmall');
      if (mode === 'create') {
        if (!this.files.placeNoClobber(temporary, target, 'writeSmall')) return false;
      } else {
        try {
          fs.renameSync(temporary, target);
        } catch (err) {
          throw this.unavailable('writeSmall', relativePath, err);
        }
      }
      this.files.fsyncDirs([path.dirname(target), ...created.map((dir) => path.dirname(dir))], 'writeSmall');
      return true;
    } catch (err) {
      throw this.unavailable('writeSmall', relativePath, err);
    } finally {
      this.files.unlinkQuietly(temporary);
    }
  }

  async removeCatalogFile(relativePath: string): Promise<void> {
    checkCatalogFilePath(this.name, relativePath);
    const absolute = path.join(this.location, relativePath);
    this.requireMarkedRoot('removeCatalogFile');
    try {
      fs.unlinkSync(absolute);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw this.unavailable('removeCatalogFile', relativePath, err);
    }
    this.files.fsyncDirs([path.dirname(absolute)], 'removeCatalogFile');
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
    let marker: Buffer | null;
    try {
      marker = fs.readFileSync(this.markerPath);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.unavailable(operation, DESTINATION_MARKER, err);
      marker = null;
    }
    return markedRootState(this.name, this.location, marker, operation);
  }

  /** Writers and "absent" answers need the marker: without it this may be an empty mount point. */
  private requireMarkedRoot(operation: string): void {
    try {
      if (fs.statSync(this.markerPath).isFile()) return;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.unavailable(operation, DESTINATION_MARKER, err);
    }
    requireMarkedRootState(this.name, operation, this.rootStateSync(operation), {
      missing: `root ${this.location} does not exist (is the drive mounted?)`,
      unmarked: `root ${this.location} has no ${DESTINATION_MARKER} marker (is the right drive mounted? a new destination needs sync --init)`,
    });
  }

  private absent(operation: string): typeof ABSENT {
    this.requireMarkedRoot(operation);
    return ABSENT;
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

  private async *listFrom(prefix: string, onThread: boolean): AsyncGenerator<ListedFile> {
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
    yield* (onThread ? listOnThread(this.name, this.location, prefix) : null) ?? walkInOrder(this.name, this.location, prefix);
  }

  private readMarkerFile(operation: string): Buffer {
    try {
      return fs.readFileSync(this.markerPath);
    } catch (err) {
      throw this.unavailable(operation, this.markerPath, err);
    }
  }

  private notAFile(operation: string, relativePath: string, stats: fs.Stats | fs.BigIntStats): DestinationUnavailableError {
    return notAFile(this.name, operation, relativePath, nonFileKind(stats));
  }

  private unavailable(operation: string, subject: string, err: unknown): DestinationUnavailableError {
    return localUnavailable(this.name, operation, subject, err);
  }
}
