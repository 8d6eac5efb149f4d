// The SFTP requests the sftp destination is built from, on one session: stat, open, read with
// a window of requests in flight, write, flush, and no-clobber placement (hardlink@openssh.com,
// else the plain rename, which by the protocol refuses an existing target; posix-rename only
// for squirrel's own small files). Paths are absolute on the server.

import path from 'node:path';
import type { Stats } from 'ssh2';
import { DestinationUnavailableError, MARKER_MAX_BYTES } from '../destination.js';
import { copyMode, DIRECTORY_MODE, LocalSource, readSource } from '../local-source.js';
import { isUnsupported, Session, SFTP_NO_SUCH_FILE, SftpConnection, sftpCode } from './connection.js';

/** Bytes per SFTP read/write request, and requests kept in flight (4 MiB) to fill the pipe. */
const BLOCK_BYTES = 128 * 1024;
const WINDOW_REQUESTS = 32;

export type Placement = 'linked' | 'renamed' | 'exists';

/** A request's answer, or null when the server says there is no such file (or directory). */
async function unlessNoSuchFile<T>(request: Promise<T>): Promise<T | null> {
  try {
    return await request;
  } catch (err) {
    if (sftpCode(err) === SFTP_NO_SUCH_FILE) return null;
    throw err;
  }
}

export class SftpRequests {
  constructor(
    private readonly connection: SftpConnection,
    /** The destination's name and root, for refusals and as the floor of directory creation. */
    private readonly name: string,
    private readonly root: string,
  ) {}

  private get where(): string {
    return this.connection.where;
  }

  lstat(s: Session, absolute: string): Promise<Stats | null> {
    return unlessNoSuchFile(this.connection.call<Stats>(s, 'lstat', (done) => s.sftp.lstat(absolute, done)));
  }

  statFollowing(s: Session, absolute: string): Promise<Stats | null> {
    return unlessNoSuchFile(this.connection.call<Stats>(s, 'stat', (done) => s.sftp.stat(absolute, done)));
  }

  /** A handle, or null when the path (or its directory) does not exist. New files get `mode`. */
  open(s: Session, absolute: string, flags: 'r' | 'wx', mode = 0o600): Promise<Buffer | null> {
    return unlessNoSuchFile(this.connection.call<Buffer>(s, 'open', (done) => s.sftp.open(absolute, flags, { mode }, done)));
  }

  closeHandle(s: Session, handle: Buffer): Promise<void> {
    return this.connection.call<void>(s, 'close', (done) => s.sftp.close(handle, done));
  }

  async closeQuietly(s: Session, handle: Buffer): Promise<void> {
    try {
      if (s.alive) await this.closeHandle(s, handle);
    } catch {
      // the handle dies with the connection, or was already gone
    }
  }

  /** A new file with these bytes, flushed on the server. */
  async writeNewFile(s: Session, absolute: string, bytes: Buffer, operation: string): Promise<void> {
    const handle = await this.open(s, absolute, 'wx', 0o644);
    if (handle === null) throw new DestinationUnavailableError(this.name, operation, `cannot create ${absolute} on ${this.where}`);
    try {
      await this.connection.call<void>(s, 'write', (done) => s.sftp.write(handle, bytes, 0, bytes.length, 0, done));
      await this.fsync(s, handle);
    } finally {
      await this.closeHandle(s, handle);
    }
  }

  /** True when something was removed. */
  async unlink(s: Session, absolute: string): Promise<boolean> {
    const removed = await unlessNoSuchFile(this.connection.call<void>(s, 'unlink', (done) => s.sftp.unlink(absolute, done)));
    return removed !== null;
  }

  /** Scratch cleanup: a leftover staging file costs space, never correctness. */
  async unlinkQuietly(s: Session, absolute: string): Promise<void> {
    try {
      if (s.alive) await this.unlink(s, absolute);
    } catch {
      // cleanup is for a later run
    }
  }

  async fsync(s: Session, handle: Buffer): Promise<void> {
    if (s.fsync === false) return;
    try {
      await this.connection.call<void>(s, 'fsync', (done) => s.sftp.ext_openssh_fsync(handle, (err) => done(err)));
      s.fsync = true;
    } catch (err) {
      // Without fsync@openssh.com the server flushes on its own schedule; nothing more to ask.
      if (!isUnsupported(err)) throw err;
      s.fsync = false;
    }
  }

  async readSmallFile(s: Session, absolute: string, maxBytes = MARKER_MAX_BYTES): Promise<Buffer | null> {
    const handle = await this.open(s, absolute, 'r');
    if (handle === null) return null;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of this.readBlocks(s, handle, 0, 0)) {
        chunks.push(chunk);
        if (chunks.reduce((sum, c) => sum + c.length, 0) > maxBytes) break;
      }
      return Buffer.concat(chunks);
    } finally {
      await this.closeQuietly(s, handle);
    }
  }

  /**
   * The bytes from `offset` to the end, in order, with up to WINDOW_REQUESTS reads in flight.
   * `sizeHint` (the size stat saw) bounds how far ahead to ask; the end is wherever the
   * server answers EOF, so a file that grew or shrank is read as it is.
   */
  async *readBlocks(s: Session, handle: Buffer, offset: number, sizeHint: number): AsyncGenerator<Buffer> {
    const queue: { offset: number; bytes: Promise<Buffer> }[] = [];
    const request = (at: number, length: number): Promise<Buffer> =>
      this.connection.call<Buffer>(s, 'read', (done) => {
        const buffer = Buffer.allocUnsafe(length);
        s.sftp.read(handle, buffer, 0, length, at, (err, bytesRead) => done(err, err ? undefined : buffer.subarray(0, bytesRead)));
      });
    let nextOffset = offset;
    let horizon = Math.max(sizeHint, offset);
    try {
      for (;;) {
        while (queue.length < WINDOW_REQUESTS && nextOffset <= horizon) {
          queue.push({ offset: nextOffset, bytes: request(nextOffset, BLOCK_BYTES) });
          nextOffset += BLOCK_BYTES;
        }
        const head = queue.shift();
        if (head === undefined) return;
        const bytes = await head.bytes;
        if (bytes.length === 0) return;
        yield bytes;
        let position = head.offset + bytes.length;
        // A short answer is the end of the file, or a server that answers less than asked:
        // fill the rest of this block before going on.
        while (position < head.offset + BLOCK_BYTES) {
          const more = await request(position, head.offset + BLOCK_BYTES - position);
          if (more.length === 0) return;
          yield more;
          position += more.length;
        }
        // Data up to the horizon: the file is at least this long, so ask one block further.
        horizon = Math.max(horizon, position);
      }
    } finally {
      await Promise.allSettled(queue.map((entry) => entry.bytes));
    }
  }

  readDirectory(s: Session, absolute: string): Promise<{ filename: string; attrs: Stats }[] | null> {
    return unlessNoSuchFile(this.connection.call(s, 'readdir', (done) => s.sftp.readdir(absolute, done)));
  }

  exec(s: Session, command: string, timeoutMs: number): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    return this.connection.call(
      s,
      'exec',
      (done) => {
        s.client.exec(command, (err, channel) => {
          if (err) return done(err);
          // Decoded once whole: a character split across two chunks must not become two U+FFFDs.
          const stdout: Buffer[] = [];
          const stderr: Buffer[] = [];
          let exitCode: number | null = null;
          channel.on('data', (data: Buffer) => stdout.push(data));
          channel.stderr.on('data', (data: Buffer) => stderr.push(data));
          channel.on('exit', (code: number | null) => (exitCode = code));
          channel.on('error', (channelErr: Error) => done(channelErr));
          channel.on('close', () => done(undefined, { exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
        });
      },
      timeoutMs,
    );
  }

  /** Copy the local file into a fresh staging file on the server and flush it there. */
  async upload(s: Session, source: LocalSource, localFile: string, staging: string): Promise<void> {
    // A leftover staging file is unlinked, never truncated: after a crash it may be a hard
    // link to a placed target.
    await this.unlink(s, staging);
    const mode = copyMode(source.mode);
    let handle = await this.open(s, staging, 'wx', mode);
    if (handle === null) {
      await this.makeDirectories(s, path.posix.dirname(staging), 'put', this.root);
      handle = await this.open(s, staging, 'wx', mode);
      if (handle === null) throw new DestinationUnavailableError(this.name, 'put', `cannot create ${staging} on ${this.where}`);
    }
    try {
      await this.writeAll(s, handle, source.fd, localFile);
      await this.fsync(s, handle);
    } catch (err) {
      await this.closeQuietly(s, handle);
      throw err;
    }
    // Some servers report a failed write only when the handle closes.
    await this.closeHandle(s, handle);
  }

  /** Stream the local file from offset 0 with up to WINDOW_REQUESTS writes in flight. */
  private async writeAll(s: Session, handle: Buffer, sourceFd: number, localFile: string): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let failure: unknown = null;
    let position = 0;
    try {
      while (failure === null) {
        const block = Buffer.allocUnsafe(BLOCK_BYTES);
        const bytesRead = readSource(localFile, sourceFd, block, 0, block.length, position);
        if (bytesRead === 0) break;
        const at = position;
        position += bytesRead;
        const write: Promise<void> = this.connection.call<void>(s, 'write', (done) => s.sftp.write(handle, block, 0, bytesRead, at, done)).then(
          () => void inFlight.delete(write),
          (err: unknown) => {
            inFlight.delete(write);
            failure ??= err;
          },
        );
        inFlight.add(write);
        if (inFlight.size >= WINDOW_REQUESTS) await Promise.race(inFlight);
      }
    } finally {
      await Promise.all(inFlight);
    }
    if (failure !== null) throw failure;
  }

  /**
   * Give `from` the name `to` unless `to` exists. hardlink@openssh.com is link(2): atomic,
   * and it fails on an existing target. Without it, the plain SFTP rename, which must refuse
   * an existing target; the check before it covers servers that do not.
   */
  async place(s: Session, from: string, to: string): Promise<Placement> {
    if (s.hardlink !== false) {
      try {
        await this.connection.call<void>(s, 'hardlink', (done) => s.sftp.ext_openssh_hardlink(from, to, done));
        s.hardlink = true;
        return 'linked';
      } catch (err) {
        if (!isUnsupported(err)) {
          if (sftpCode(err) !== SFTP_NO_SUCH_FILE && (await this.lstat(s, to)) !== null) return 'exists';
          throw err;
        }
        s.hardlink = false;
      }
    }
    if ((await this.lstat(s, to)) !== null) return 'exists';
    try {
      await this.connection.call<void>(s, 'rename', (done) => s.sftp.rename(from, to, done));
    } catch (err) {
      if (sftpCode(err) !== SFTP_NO_SUCH_FILE && (await this.lstat(s, to)) !== null) return 'exists';
      throw err;
    }
    return 'renamed';
  }

  /**
   * Swap `from` in at `to`, replacing what is there: only for squirrel's own small files (a
   * marker being upgraded). posix-rename@openssh.com is atomic; without it the old file is
   * removed first, so for a moment there is none.
   */
  async replace(s: Session, from: string, to: string): Promise<void> {
    try {
      await this.connection.call<void>(s, 'posix-rename', (done) => s.sftp.ext_openssh_rename(from, to, done));
      return;
    } catch (err) {
      if (!isUnsupported(err)) throw err;
    }
    await this.unlink(s, to);
    await this.connection.call<void>(s, 'rename', (done) => s.sftp.rename(from, to, done));
  }

  /** place(); if the target's directory is missing, create it below the root and try again. */
  async placeCreatingDirectories(s: Session, from: string, to: string, operation: string): Promise<Placement> {
    try {
      return await this.place(s, from, to);
    } catch (err) {
      if (sftpCode(err) !== SFTP_NO_SUCH_FILE) throw err;
    }
    await this.makeDirectories(s, path.posix.dirname(to), operation, this.root);
    return this.place(s, from, to);
  }

  /** mkdir -p of `directory`, creating nothing at or above `floor` (the root, for writers). */
  async makeDirectories(s: Session, directory: string, operation: string, floor: string): Promise<void> {
    const missing: string[] = [];
    for (let dir = directory; dir !== floor && dir !== path.posix.dirname(dir); dir = path.posix.dirname(dir)) {
      const stats = await this.statFollowing(s, dir);
      if (stats !== null) {
        if (!stats.isDirectory()) throw new DestinationUnavailableError(this.name, operation, `${path.posix.relative(this.root, dir) || dir} is a file, not a directory; look at it by hand`);
        break;
      }
      missing.unshift(dir);
    }
    for (const dir of missing) {
      try {
        await this.connection.call<void>(s, 'mkdir', (done) => s.sftp.mkdir(dir, { mode: DIRECTORY_MODE }, done));
      } catch (err) {
        // Made by someone else meanwhile is fine; anything else is not.
        if (!(await this.statFollowing(s, dir))?.isDirectory()) throw err;
      }
    }
  }

  /**
   * Remove the file, or the folder and everything in it, at `root/relativePath`; links are
   * removed, never followed, and a link among its parents refuses it. Returns the files removed.
   */
  async removeTree(s: Session, relativePath: string, operation: string): Promise<number> {
    const segments = relativePath.split('/');
    for (let depth = 1; depth < segments.length; depth++) {
      const stats = await this.lstat(s, path.posix.join(this.root, ...segments.slice(0, depth)));
      if (stats === null) return 0;
      if (!stats.isDirectory()) throw new DestinationUnavailableError(this.name, operation, `${segments.slice(0, depth).join('/')} is not a folder (a link?); nothing was removed`);
    }
    const remove = async (absolute: string, stats: Stats | null): Promise<number> => {
      if (stats === null) return 0;
      if (!stats.isDirectory()) return Number(await this.unlink(s, absolute));
      let removed = 0;
      for (const entry of (await this.readDirectory(s, absolute)) ?? []) {
        if (entry.filename !== '.' && entry.filename !== '..') removed += await remove(path.posix.join(absolute, entry.filename), entry.attrs);
      }
      await this.connection.call<void>(s, 'rmdir', (done) => s.sftp.rmdir(absolute, done));
      return removed;
    };
    const target = path.posix.join(this.root, relativePath);
    return remove(target, await this.lstat(s, target));
  }

  /** A folder moves whole by a plain rename (a hard link cannot take a folder); never over anything. False: the target is taken. */
  async moveFolder(s: Session, source: string, destination: string): Promise<boolean> {
    await this.makeDirectories(s, path.posix.dirname(destination), 'moveAside', this.root);
    if ((await this.lstat(s, destination)) !== null) return false;
    await this.connection.call<void>(s, 'rename', (done) => s.sftp.rename(source, destination, done));
    return true;
  }
}

/**
 * A copy's fingerprint over SFTP (destination.ts): its mtime, whole seconds (SFTP has no inode).
 * squirrel's own put stamps the time it landed; an older file put back (a snapshot rolled back)
 * carries its own older time. Servers that send no time give none, and only verify can tell.
 */
export function mtimeFingerprint(stats: { mtime?: number }): string | undefined {
  return typeof stats.mtime === 'number' ? `mtime:${stats.mtime}` : undefined;
}
