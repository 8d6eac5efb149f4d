// `type: sftp`: a directory on an SSH server (a NAS, a box at a friend's), one connection per
// destination object (connection.ts). Writes go to a staging name and are placed without ever
// replacing a file (requests.ts). Read-back downloads and hashes with BLAKE3, or runs b3sum on
// the server when the config says it has it (a distinct method).

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Stats } from 'ssh2';
import { SftpDestinationConfig } from '../../config/types.js';
import { StreamingBlake3 } from '../../hash.js';
import { ABSENT, checkCatalogFilePath, checkDestinationPath, checkStagingPath, checkStagingRemoval, Destination, DESTINATION_MARKER, DestinationUnavailableError, HashResult, inListingOrder, ListedFile, listPrefix, METHOD_READBACK, nameTaken, nonFileKind, notAFile, requireMarkedRootState, RootState, SMALL_FILE_MAX_BYTES, SourceExpectation, StatResult } from '../destination.js';
import { openLocalSource } from '../local-source.js';
import { checkMarker, encodeMarker, markedRootState } from '../markers.js';
import { DEFAULT_SFTP_OPTIONS, Session, SftpConnection, SftpOptions } from './connection.js';
import { RemoteB3sum } from './remote-b3sum.js';
import { mtimeFingerprint, SftpRequests } from './requests.js';

const UPLOADS_AT_ONCE = 4;
const PUTS_WITH_REMOTE_B3SUM = 64;

/** At most `count` bodies running at once; the rest wait their turn in order. */
class Turns {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async take<T>(body: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await body();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

export class SftpDestination implements Destination {
  readonly type = 'sftp';
  /** Puts in flight at once, multiplexed on the one connection: they hide each other's round trips. */
  /**
   * Puts in flight: four uploads multiplexed on the one connection hide each other's round
   * trips. With remote b3sum many more may wait on their read-back, so one exec hashes a crowd.
   */
  readonly concurrentPuts: number;
  private readonly uploads = new Turns(UPLOADS_AT_ONCE);
  readonly name: string;
  readonly location: string;
  private readonly root: string;
  private readonly markerPath: string;
  private readonly connection: SftpConnection;
  private readonly requests: SftpRequests;
  /** With `remote_hash: b3sum`: hashes run on the server, many files per exec. */
  private readonly remoteB3sum: RemoteB3sum | null;

  constructor(
    config: SftpDestinationConfig,
    options: Partial<SftpOptions> & Pick<SftpOptions, 'homeDir' | 'agentSocket'>,
  ) {
    this.name = config.name;
    this.root = path.posix.resolve('/', config.path);
    this.markerPath = path.posix.join(this.root, DESTINATION_MARKER);
    this.connection = new SftpConnection(config, { ...DEFAULT_SFTP_OPTIONS, ...options });
    this.requests = new SftpRequests(this.connection, this.name, this.root);
    this.location = `sftp://${this.where}${this.root}`;
    this.concurrentPuts = config.remoteHash === 'b3sum' ? PUTS_WITH_REMOTE_B3SUM : UPLOADS_AT_ONCE;
    this.remoteB3sum =
      config.remoteHash === 'b3sum'
        ? new RemoteB3sum({
            name: this.name,
            where: this.where,
            connection: this.connection,
            requests: this.requests,
            absent: (s) => this.absent(s, 'hash'),
            notAFile: (relativePath, stats) => this.notAFile('hash', relativePath, stats),
          })
        : null;
  }

  /** `user@host:port`, for messages. */
  private get where(): string {
    return this.connection.where;
  }

  async rootState(): Promise<RootState> {
    return this.connection.withRetry('rootState', this.root, (s) => this.rootStateOn(s, 'rootState'));
  }

  async init(): Promise<void> {
    await this.connection.withRetry('init', this.root, async (s) => {
      if ((await this.rootStateOn(s, 'init')) === 'ok') return;
      // Only the destination's own folder is created, never the folders above it (an unmounted disk).
      const parent = path.posix.dirname(this.root);
      if ((await this.requests.statFollowing(s, parent)) === null) {
        throw new DestinationUnavailableError(this.name, 'init', `${parent} does not exist on ${this.where}: squirrel creates the destination's own folder, never the folders above it (is the disk mounted?); create ${parent} first`);
      }
      await this.requests.makeDirectories(s, this.root, 'init', '/');
      const temporary = `${this.markerPath}.tmp`;
      await this.requests.unlink(s, temporary);
      await this.requests.writeNewFile(s, temporary, encodeMarker(this.name), 'init');
      try {
        if ((await this.requests.place(s, temporary, this.markerPath)) !== 'exists') return;
        // Another process marked the root first; it must have named us.
        const bytes = await this.requests.readSmallFile(s, this.markerPath);
        checkMarker(this.name, this.location, bytes ?? Buffer.alloc(0), 'init');
      } finally {
        await this.requests.unlinkQuietly(s, temporary);
      }
    });
  }

  list(prefix: string): AsyncIterable<ListedFile> {
    return this.listFrom(listPrefix(this.name, prefix));
  }

  async stat(relativePath: string): Promise<StatResult> {
    const absolute = this.resolve('stat', relativePath);
    return this.connection.withRetry('stat', relativePath, async (s) => {
      const stats = await this.requests.lstat(s, absolute);
      if (stats === null) return this.absent(s, 'stat');
      if (!stats.isFile()) throw this.notAFile('stat', relativePath, stats);
      return { kind: 'present', sizeBytes: stats.size, fingerprint: mtimeFingerprint(stats) };
    });
  }

  read(relativePath: string): AsyncIterable<Uint8Array> {
    const absolute = this.resolve('read', relativePath);
    return this.readChunks(relativePath, absolute);
  }

  async hash(relativePath: string): Promise<HashResult> {
    const absolute = this.resolve('hash', relativePath);
    if (this.remoteB3sum !== null) return this.remoteB3sum.hash(relativePath, absolute);
    return this.connection.withRetry('hash', relativePath, async (s) => {
      const opened = await this.openForRead(s, 'hash', relativePath, absolute);
      if (opened === null) return this.absent(s, 'hash');
      try {
        const hasher = new StreamingBlake3();
        for await (const chunk of this.requests.readBlocks(s, opened.handle, 0, opened.sizeBytes)) hasher.update(chunk);
        return { kind: 'present', blake3: hasher.digest(), sizeBytes: hasher.sizeBytes, method: METHOD_READBACK, fingerprint: opened.fingerprint };
      } finally {
        await this.requests.closeQuietly(s, opened.handle);
      }
    });
  }

  async put(relativePath: string, localFile: string, stagingPath: string, expected?: SourceExpectation): Promise<void> {
    const target = this.resolve('put', relativePath);
    checkStagingPath(this.name, relativePath, stagingPath);
    const staging = path.posix.join(this.root, stagingPath);
    const source = openLocalSource(localFile, expected);
    try {
      await this.uploads.take(() => this.connection.withRetry('put', relativePath, async (s) => {
        const [, existing] = await Promise.all([this.requireMarkedRoot(s, 'put'), this.requests.lstat(s, target)]);
        if (existing !== null) throw nameTaken(this.name, 'put', relativePath);
        await this.requests.upload(s, source, localFile, staging);
        try {
          if ((await this.requests.placeCreatingDirectories(s, staging, target, 'put')) === 'exists') {
            throw nameTaken(this.name, 'put', relativePath);
          }
        } finally {
          await this.requests.unlinkQuietly(s, staging);
        }
      }));
    } finally {
      fs.closeSync(source.fd);
    }
  }

  async readSmall(relativePath: string): Promise<Buffer | null> {
    const absolute = this.resolve('readSmall', relativePath);
    return this.connection.withRetry('readSmall', relativePath, async (s) => {
      const stats = await this.requests.lstat(s, absolute);
      if (stats === null) return null;
      if (!stats.isFile()) throw this.notAFile('readSmall', relativePath, stats);
      return this.requests.readSmallFile(s, absolute, SMALL_FILE_MAX_BYTES);
    });
  }

  async writeSmall(relativePath: string, bytes: Buffer, mode: 'create' | 'replace'): Promise<boolean> {
    const target = this.resolve('writeSmall', relativePath);
    const temporary = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    return this.connection.withRetry('writeSmall', relativePath, async (s) => {
      await this.requireMarkedRoot(s, 'writeSmall');
      await this.requests.makeDirectories(s, path.posix.dirname(target), 'writeSmall', this.root);
      try {
        await this.requests.writeNewFile(s, temporary, bytes, 'writeSmall');
        if (mode === 'create') return (await this.requests.place(s, temporary, target)) !== 'exists';
        await this.requests.replace(s, temporary, target);
        return true;
      } finally {
        await this.requests.unlinkQuietly(s, temporary);
      }
    });
  }

  async moveAside(relativePath: string, historyPath: string): Promise<void> {
    const source = this.resolve('moveAside', relativePath);
    const destination = this.resolve('moveAside', historyPath);
    await this.connection.withRetry('moveAside', relativePath, async (s) => {
      await this.requireMarkedRoot(s, 'moveAside');
      const stats = await this.requests.lstat(s, source);
      if (stats === null) return;
      if (stats.isDirectory()) {
        if (!(await this.requests.moveFolder(s, source, destination))) throw nameTaken(this.name, 'moveAside', historyPath);
        return;
      }
      const placement = await this.requests.placeCreatingDirectories(s, source, destination, 'moveAside');
      if (placement === 'exists') throw nameTaken(this.name, 'moveAside', historyPath);
      // A link leaves both names; the history name is in place, so the old one can go.
      if (placement === 'linked') await this.requests.unlink(s, source);
    });
  }

  async removeStaging(relativePath: string): Promise<number> {
    this.resolve('removeStaging', relativePath);
    checkStagingRemoval(this.name, relativePath);
    return this.connection.withRetry('removeStaging', relativePath, async (s) => {
      await this.requireMarkedRoot(s, 'removeStaging');
      return this.requests.removeTree(s, relativePath, 'removeStaging');
    });
  }

  async removeCatalogFile(relativePath: string): Promise<void> {
    checkCatalogFilePath(this.name, relativePath);
    const absolute = path.posix.join(this.root, relativePath);
    await this.connection.withRetry('removeCatalogFile', relativePath, async (s) => {
      await this.requireMarkedRoot(s, 'removeCatalogFile');
      await this.requests.unlink(s, absolute);
    });
  }

  /** Close the connection (tests, and callers that want to release it early). */
  close(): Promise<void> {
    return this.connection.close();
  }

  private resolve(operation: string, relativePath: string): string {
    checkDestinationPath(this.name, operation, relativePath);
    return path.posix.join(this.root, relativePath);
  }

  private async rootStateOn(s: Session, operation: string): Promise<RootState> {
    // The root may be reached through a symlink (a mount behind a link), so stat follows it.
    const stats = await this.requests.statFollowing(s, this.root);
    if (stats === null) {
      await this.requireNoFileAbove(s, this.root, operation);
      return 'missing';
    }
    if (!stats.isDirectory()) throw new DestinationUnavailableError(this.name, operation, `${this.root} on ${this.where} is not a directory; check the path in the config`);
    return markedRootState(this.name, this.location, await this.requests.readSmallFile(s, this.markerPath), operation);
  }

  /**
   * SFTP reports "not a directory" as "no such file": a root below a regular file would look
   * missing. The first ancestor that exists must be a directory, else nothing can be checked.
   */
  private async requireNoFileAbove(s: Session, absolute: string, operation: string): Promise<void> {
    for (let dir = path.posix.dirname(absolute); ; dir = path.posix.dirname(dir)) {
      const stats = await this.requests.statFollowing(s, dir);
      if (stats !== null) {
        if (!stats.isDirectory()) throw new DestinationUnavailableError(this.name, operation, `${dir} on ${this.where} is not a directory, so ${absolute} cannot exist; check the path in the config`);
        return;
      }
      if (dir === '/') return;
    }
  }

  private async absent(s: Session, operation: string): Promise<typeof ABSENT> {
    await this.requireMarkedRoot(s, operation);
    return ABSENT;
  }

  /** Open a regular file for reading; null when nothing is there. Symlinks are refused. */
  private async openForRead(s: Session, operation: string, relativePath: string, absolute: string): Promise<{ handle: Buffer; sizeBytes: number; fingerprint?: string } | null> {
    // Both requests go out together: one round trip.
    const [stats, handle] = await Promise.allSettled([this.requests.lstat(s, absolute), this.requests.open(s, absolute, 'r')]);
    const opened = handle.status === 'fulfilled' ? handle.value : null;
    try {
      if (stats.status === 'rejected') throw stats.reason;
      if (stats.value === null) return null;
      if (!stats.value.isFile()) throw this.notAFile(operation, relativePath, stats.value);
      if (handle.status === 'rejected') throw handle.reason;
      if (opened === null) return null;
      return { handle: opened, sizeBytes: stats.value.size, fingerprint: mtimeFingerprint(stats.value) };
    } catch (err) {
      if (opened !== null) await this.requests.closeQuietly(s, opened);
      throw err;
    }
  }

  private async *readChunks(relativePath: string, absolute: string): AsyncGenerator<Uint8Array> {
    // A dropped connection resumes at the byte it reached; the caller hashes what it gets.
    let offset = 0;
    for (let attempt = 1; ; attempt++) {
      let s: Session | null = null;
      try {
        s = await this.connection.session('read');
        const opened = await this.openForRead(s, 'read', relativePath, absolute);
        if (opened === null) {
          await this.requireMarkedRoot(s, 'read');
          throw new DestinationUnavailableError(this.name, 'read', `${relativePath} does not exist on ${this.where}`);
        }
        try {
          for await (const chunk of this.requests.readBlocks(s, opened.handle, offset, opened.sizeBytes)) {
            offset += chunk.length;
            attempt = 0;
            this.connection.reachable();
            yield chunk;
          }
          this.connection.reachable();
          return;
        } finally {
          await this.requests.closeQuietly(s, opened.handle);
        }
      } catch (err) {
        await this.connection.afterFailure('read', relativePath, err, s, attempt);
      }
    }
  }

  private async *listFrom(prefix: string): AsyncGenerator<ListedFile> {
    // One directory at a time, each read whole (a retry after a dropped connection reads it
    // again, so no file is listed twice), visited in listing order: files come out sorted.
    const top = await this.connection.withRetry('list', prefix || this.root, async (s) => {
      // Even an empty answer needs the marker: an unmounted disk's mount point is empty too.
      await this.requireMarkedRoot(s, 'list');
      if (prefix !== '') {
        const stats = await this.requests.lstat(s, path.posix.join(this.root, prefix));
        if (stats === null) return null;
        if (stats.isSymbolicLink()) throw new DestinationUnavailableError(this.name, 'list', `${prefix} is a symbolic link; squirrel does not follow links on a destination`);
        if (!stats.isDirectory()) return null;
      }
      return this.readInOrder(s, prefix);
    });
    if (top === null) return;
    const levels = [{ directory: prefix, entries: top, next: 0 }];
    while (levels.length > 0) {
      const level = levels[levels.length - 1];
      if (level.next === level.entries.length) {
        levels.pop();
        continue;
      }
      const entry = level.entries[level.next++];
      const relativePath = level.directory === '' ? entry.filename : `${level.directory}/${entry.filename}`;
      if (entry.attrs.isDirectory()) {
        const entries = await this.connection.withRetry('list', relativePath, (s) => this.readInOrder(s, relativePath));
        if (entries !== null) levels.push({ directory: relativePath, entries, next: 0 });
      } else if (entry.attrs.isFile()) yield { path: relativePath, sizeBytes: entry.attrs.size, fingerprint: mtimeFingerprint(entry.attrs) };
    }
  }

  /** A directory's entries in listing order; null when a directory below the root vanished while we walked. */
  private async readInOrder(s: Session, directory: string): Promise<{ filename: string; attrs: Stats }[] | null> {
    const entries = await this.requests.readDirectory(s, directory === '' ? this.root : path.posix.join(this.root, directory));
    if (entries === null) {
      if (directory !== '') return null;
      throw new DestinationUnavailableError(this.name, 'list', `${this.root} vanished from ${this.where} while listing`);
    }
    const named = entries.filter((entry) => entry.filename !== '.' && entry.filename !== '..');
    return inListingOrder(named, (entry) => entry.filename, (entry) => entry.attrs.isDirectory());
  }

  /** Writers and "absent" answers need the marker: without it this may be an empty mount point. */
  private async requireMarkedRoot(s: Session, operation: string): Promise<void> {
    if ((await this.requests.lstat(s, this.markerPath))?.isFile()) return;
    requireMarkedRootState(this.name, operation, await this.rootStateOn(s, operation), {
      missing: `root ${this.root} does not exist on ${this.where} (is the disk mounted? a new destination needs sync --init)`,
      unmarked: `root ${this.root} on ${this.where} has no ${DESTINATION_MARKER} marker (is the right disk mounted? a new destination needs sync --init)`,
    });
  }

  private notAFile(operation: string, relativePath: string, stats: Stats): DestinationUnavailableError {
    return notAFile(this.name, operation, `${relativePath} on ${this.where}`, nonFileKind(stats));
  }
}
