// `type: sftp`: a directory on an SSH server (a NAS, a box at a friend's). One SSH connection
// per destination object, opened on first use after the host key is verified. Writes go to a
// staging name and are placed with hardlink@openssh.com (atomic and refusing an existing
// target, like the local destination's link), else with the plain SFTP rename, which by the
// protocol refuses an existing target. posix-rename is never used: it replaces the target.
// Read-back downloads and hashes with BLAKE3, or runs b3sum on the server when the config
// says it has it (a distinct method). Transient failures (connection lost, timeout) are
// retried on a fresh connection with backoff; everything else is "could not check".

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Client, ConnectConfig, ServerHostKeyAlgorithm, SFTPWrapper, Stats } from 'ssh2';
import { SftpDestinationConfig } from '../config/types.js';
import { errorDetail } from '../errors.js';
import { parseBlake3Hex, StreamingBlake3 } from '../hash.js';
import { copyMode, DIRECTORY_MODE, LocalSource, openLocalSource } from './local-source.js';
import {
  DESTINATION_MARKER,
  Destination,
  DestinationUnavailableError,
  HashResult,
  ListedFile,
  LocalSourceError,
  METHOD_READBACK,
  METHOD_REMOTE_B3SUM,
  RootState,
  StatResult,
  checkDestinationPath,
  checkStagingPath,
  SourceExpectation,
} from './destination.js';
import { checkMarker, encodeMarker } from './markers.js';
import { HostKeyPolicy, judgeHostKey, preferredHostKeyTypes, readKnownHosts } from './ssh-host-key.js';

export interface SftpOptions {
  /** Where ~/.ssh/known_hosts is looked for when the config names no file. */
  homeDir: string;
  /** An ssh-agent socket (SSH_AUTH_SOCK) to authenticate with, if any. */
  agentSocket: string | null;
  /** TCP connect plus SSH handshake and authentication. */
  connectTimeoutMs: number;
  /** Longest wait for one SFTP answer before the connection is declared dead. */
  requestTimeoutMs: number;
  /** Attempts per operation (1 = no retry) for transient failures. */
  attempts: number;
  /** Delay before the second attempt; it doubles for each further one. */
  retryDelayMs: number;
}

export const DEFAULT_SFTP_OPTIONS: Omit<SftpOptions, 'homeDir' | 'agentSocket'> = {
  connectTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  attempts: 4,
  retryDelayMs: 500,
};

/** SFTP status codes (draft-ietf-secsh-filexfer-02), as ssh2 reports them in `code`. */
const SFTP_NO_SUCH_FILE = 2;
const SFTP_NO_CONNECTION = 6;
const SFTP_CONNECTION_LOST = 7;
const SFTP_OP_UNSUPPORTED = 8;

/** Socket errors that say "try again later", not "this is wrong". */
const TRANSIENT_NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN']);

/** Host key algorithms ssh2 can verify, in its default order. */
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** Bytes per SFTP read/write request, and requests kept in flight (4 MiB) to fill the pipe. */
const BLOCK_BYTES = 128 * 1024;
const WINDOW_REQUESTS = 32;
/** The marker is tiny; anything bigger is not ours. */
const MARKER_MAX_BYTES = 64 * 1024;
/** remote b3sum gets this much extra time per byte of the file (a slow NAS disk: 20 MB/s). */
const B3SUM_MS_PER_MIB = 50;

/** A failure worth another attempt on a fresh connection. */
class TransientError extends Error {}

interface Session {
  client: Client;
  sftp: SFTPWrapper;
  socket: net.Socket;
  alive: boolean;
  /** null: not tried yet on this connection. */
  hardlink: boolean | null;
  fsync: boolean | null;
}

type Placement = 'linked' | 'renamed' | 'exists';

function sftpCode(err: unknown): number | string | undefined {
  return (err as { code?: number | string } | null)?.code;
}

function isUnsupported(err: unknown): boolean {
  return sftpCode(err) === SFTP_OP_UNSUPPORTED || (err instanceof Error && /does not support this extended request/.test(err.message));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One argument for a POSIX shell: single-quoted, with embedded quotes closed and escaped. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export class SftpDestination implements Destination {
  readonly type = 'sftp';
  /** Puts in flight at once, multiplexed on the one connection: they hide each other's round trips. */
  readonly concurrentPuts = 4;
  readonly name: string;
  readonly location: string;
  private readonly root: string;
  private readonly markerPath: string;
  /** `user@host:port`, for messages. */
  private readonly where: string;
  private readonly options: SftpOptions;
  private live: Session | null = null;
  private opening: Promise<Session> | null = null;
  private requestsInFlight = 0;
  /**
   * The last operation gave up on a transient failure: the server is probably gone, so the
   * next ones try once instead of waiting through every backoff again. Any success clears it.
   */
  private unreachable = false;

  constructor(
    private readonly config: SftpDestinationConfig,
    options: Partial<SftpOptions> & Pick<SftpOptions, 'homeDir' | 'agentSocket'>,
  ) {
    this.name = config.name;
    this.options = { ...DEFAULT_SFTP_OPTIONS, ...options };
    this.root = path.posix.resolve('/', config.path);
    this.markerPath = path.posix.join(this.root, DESTINATION_MARKER);
    this.where = `${config.user}@${config.host}:${config.port}`;
    this.location = `sftp://${this.where}${this.root}`;
  }

  async rootState(): Promise<RootState> {
    return this.withRetry('rootState', this.root, (s) => this.rootStateOn(s, 'rootState'));
  }

  async init(): Promise<void> {
    await this.withRetry('init', this.root, async (s) => {
      if ((await this.rootStateOn(s, 'init')) === 'ok') return;
      // Only the destination's own folder is created, never the folders above it (an unmounted disk).
      const parent = path.posix.dirname(this.root);
      if ((await this.statFollowing(s, parent)) === null) {
        throw new DestinationUnavailableError(this.name, 'init', `${parent} does not exist on ${this.where}: squirrel creates the destination's own folder, never the folders above it (is the disk mounted?); create ${parent} first`);
      }
      await this.makeDirectories(s, this.root, 'init', '/');
      const temporary = `${this.markerPath}.tmp`;
      await this.unlink(s, temporary);
      const handle = await this.open(s, temporary, 'wx', 0o644);
      if (handle === null) throw new DestinationUnavailableError(this.name, 'init', `cannot create ${temporary} on ${this.where}`);
      try {
        const marker = encodeMarker(this.name);
        await this.call(s, 'write', (done) => s.sftp.write(handle, marker, 0, marker.length, 0, done));
        await this.fsync(s, handle);
      } finally {
        await this.closeHandle(s, handle);
      }
      try {
        if ((await this.place(s, temporary, this.markerPath)) !== 'exists') return;
        // Another process marked the root first; it must have named us.
        const bytes = await this.readSmallFile(s, this.markerPath);
        checkMarker(this.name, this.location, bytes ?? Buffer.alloc(0), 'init');
      } finally {
        await this.unlinkQuietly(s, temporary);
      }
    });
  }

  list(prefix: string): AsyncIterable<ListedFile> {
    const start = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    checkDestinationPath(this.name, 'list', start, true);
    return this.listFrom(start);
  }

  async stat(relativePath: string): Promise<StatResult> {
    const absolute = this.resolve('stat', relativePath);
    return this.withRetry('stat', relativePath, async (s) => {
      const stats = await this.lstat(s, absolute);
      if (stats === null) return this.absent(s, 'stat');
      if (!stats.isFile()) throw this.notAFile('stat', relativePath, stats);
      return { kind: 'present', sizeBytes: stats.size };
    });
  }

  read(relativePath: string): AsyncIterable<Uint8Array> {
    const absolute = this.resolve('read', relativePath);
    return this.readChunks(relativePath, absolute);
  }

  async hash(relativePath: string): Promise<HashResult> {
    const absolute = this.resolve('hash', relativePath);
    return this.withRetry('hash', relativePath, async (s) => {
      if (this.config.remoteHash === 'b3sum') return this.remoteB3sum(s, relativePath, absolute);
      const opened = await this.openForRead(s, 'hash', relativePath, absolute);
      if (opened === null) return this.absent(s, 'hash');
      try {
        const hasher = new StreamingBlake3();
        for await (const chunk of this.readBlocks(s, opened.handle, 0, opened.sizeBytes)) hasher.update(chunk);
        return { kind: 'present', blake3: hasher.digest(), sizeBytes: hasher.sizeBytes, method: METHOD_READBACK };
      } finally {
        await this.closeQuietly(s, opened.handle);
      }
    });
  }

  async put(relativePath: string, localFile: string, stagingPath: string, expected?: SourceExpectation): Promise<void> {
    const target = this.resolve('put', relativePath);
    checkStagingPath(this.name, relativePath, stagingPath);
    const staging = path.posix.join(this.root, stagingPath);
    const source = openLocalSource(localFile, expected);
    try {
      await this.withRetry('put', relativePath, async (s) => {
        const [, existing] = await Promise.all([this.requireMarkedRoot(s, 'put'), this.lstat(s, target)]);
        if (existing !== null) throw new DestinationUnavailableError(this.name, 'put', `${relativePath} already exists; it was left untouched (move it aside first)`);
        await this.upload(s, source, localFile, staging);
        try {
          if ((await this.placeCreatingDirectories(s, staging, target, 'put')) === 'exists') {
            throw new DestinationUnavailableError(this.name, 'put', `${relativePath} already exists; it was left untouched (move it aside first)`);
          }
        } finally {
          await this.unlinkQuietly(s, staging);
        }
      });
    } finally {
      fs.closeSync(source.fd);
    }
  }

  async readSmall(relativePath: string): Promise<Buffer | null> {
    const absolute = this.resolve('readSmall', relativePath);
    return this.withRetry('readSmall', relativePath, async (s) => {
      const stats = await this.lstat(s, absolute);
      if (stats === null) return null;
      if (!stats.isFile()) throw this.notAFile('readSmall', relativePath, stats);
      return this.readSmallFile(s, absolute);
    });
  }

  async writeSmall(relativePath: string, bytes: Buffer, mode: 'create' | 'replace'): Promise<boolean> {
    const target = this.resolve('writeSmall', relativePath);
    const temporary = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    return this.withRetry('writeSmall', relativePath, async (s) => {
      await this.requireMarkedRoot(s, 'writeSmall');
      await this.makeDirectories(s, path.posix.dirname(target), 'writeSmall', this.root);
      const handle = await this.open(s, temporary, 'wx', 0o644);
      if (handle === null) throw new DestinationUnavailableError(this.name, 'writeSmall', `cannot create ${temporary} on ${this.where}`);
      try {
        try {
          await this.call(s, 'write', (done) => s.sftp.write(handle, bytes, 0, bytes.length, 0, done));
          await this.fsync(s, handle);
        } finally {
          await this.closeHandle(s, handle);
        }
        if (mode === 'create') return (await this.place(s, temporary, target)) !== 'exists';
        await this.replace(s, temporary, target);
        return true;
      } finally {
        await this.unlinkQuietly(s, temporary);
      }
    });
  }

  async moveAside(relativePath: string, historyPath: string): Promise<void> {
    const source = this.resolve('moveAside', relativePath);
    const destination = this.resolve('moveAside', historyPath);
    await this.withRetry('moveAside', relativePath, async (s) => {
      await this.requireMarkedRoot(s, 'moveAside');
      if ((await this.lstat(s, source)) === null) return;
      const placement = await this.placeCreatingDirectories(s, source, destination, 'moveAside');
      if (placement === 'exists') throw new DestinationUnavailableError(this.name, 'moveAside', `${historyPath} already exists; nothing was moved`);
      // A link leaves both names; the history name is in place, so the old one can go.
      if (placement === 'linked') await this.unlink(s, source);
    });
  }

  /** Close the connection (tests, and callers that want to release it early). */
  async close(): Promise<void> {
    const opening = this.opening;
    if (opening !== null) await opening.catch(() => null);
    if (this.live !== null) this.drop(this.live);
  }

  // ---- connection -------------------------------------------------------------------------

  private async session(operation: string): Promise<Session> {
    if (this.live?.alive) return this.live;
    this.live = null;
    this.opening ??= this.connect(operation).finally(() => {
      this.opening = null;
    });
    const s = await this.opening;
    this.live = s;
    return s;
  }

  private drop(s: Session): void {
    s.alive = false;
    s.client.end();
    s.socket.destroy();
    if (this.live === s) this.live = null;
  }

  private async connect(operation: string): Promise<Session> {
    // ssh2 costs a noticeable fraction of a second to load; only commands that use sftp pay it.
    const { Client } = await import('ssh2');
    const policy: HostKeyPolicy = {
      host: this.config.host,
      port: this.config.port,
      pinned: this.config.hostKey,
      knownHostsFile: this.config.knownHostsFile ?? path.join(this.options.homeDir, '.ssh', 'known_hosts'),
    };
    let knownHosts: ReturnType<typeof readKnownHosts> = [];
    if (policy.pinned === null) {
      try {
        knownHosts = readKnownHosts(policy.knownHostsFile);
      } catch (err) {
        throw new DestinationUnavailableError(this.name, operation, `cannot read ${policy.knownHostsFile} to check the host key: ${errorDetail(err)}`);
      }
    }
    const auth = this.authentication(operation);
    const preferred = preferredHostKeyTypes(policy, knownHosts).filter((type) => HOST_KEY_ALGORITHMS.includes(type));

    return new Promise<Session>((resolve, reject) => {
      const socket = net.connect({ host: this.config.host, port: this.config.port });
      socket.setNoDelay(true);
      const client = new Client();
      let hostKeyRefusal: string | null = null;
      let session: Session | null = null;
      let settled = false;
      const fail = (err: unknown) => {
        if (session) this.drop(session);
        if (settled) return;
        settled = true;
        client.end();
        socket.destroy();
        reject(err);
      };
      client.on('error', (err: Error & { level?: string }) => {
        if (hostKeyRefusal !== null) {
          fail(new DestinationUnavailableError(this.name, operation, `refused to connect to ${this.where}: ${hostKeyRefusal}`));
        } else if (err.level === 'client-authentication') {
          fail(new DestinationUnavailableError(this.name, operation, `authentication as '${this.config.user}' on ${this.where} failed (tried ${auth.tried}); check user and credentials`));
        } else {
          fail(err);
        }
      });
      client.on('close', () => fail(new TransientError(`connection to ${this.where} closed`)));
      client.on('ready', () => {
        client.sftp((err, sftp) => {
          if (err) return fail(err);
          session = { client, sftp, socket, alive: true, hardlink: null, fsync: null };
          // A broken SFTP channel ends the session; requests on it fail and are retried.
          sftp.on('error', (channelErr: Error) => fail(channelErr));
          sftp.on('close', () => fail(new TransientError(`SFTP channel to ${this.where} closed`)));
          settled = true;
          // An idle connection must not keep the process alive; call() refs it while waiting.
          if (this.requestsInFlight === 0) socket.unref();
          resolve(session);
        });
      });
      const connectConfig: ConnectConfig = {
        sock: socket,
        username: this.config.user,
        ...auth.config,
        readyTimeout: this.options.connectTimeoutMs,
        hostVerifier: (key: Buffer) => {
          const verdict = judgeHostKey(policy, key, knownHosts);
          if (!verdict.trusted) hostKeyRefusal = verdict.reason;
          return verdict.trusted;
        },
      };
      if (preferred.length > 0) {
        connectConfig.algorithms = { serverHostKey: [...preferred, ...HOST_KEY_ALGORITHMS.filter((type) => !preferred.includes(type))] as ServerHostKeyAlgorithm[] };
      }
      try {
        client.connect(connectConfig);
      } catch (err) {
        // ssh2 parses the private key synchronously: an encrypted or malformed key lands here.
        fail(new DestinationUnavailableError(this.name, operation, `cannot use private_key_file ${this.config.privateKeyFile}: ${errorDetail(err)} (squirrel needs an unencrypted key, or the key loaded in ssh-agent)`));
      }
    });
  }

  /** The credentials to offer; secrets go to ssh2 and nowhere else. */
  private authentication(operation: string): { config: Partial<ConnectConfig>; tried: string } {
    const config: Partial<ConnectConfig> = {};
    const tried: string[] = [];
    if (this.config.privateKeyFile !== null) {
      try {
        config.privateKey = fs.readFileSync(this.config.privateKeyFile);
      } catch (err) {
        throw new DestinationUnavailableError(this.name, operation, `cannot read private_key_file ${this.config.privateKeyFile}: ${errorDetail(err)}`);
      }
      tried.push(`the key in ${this.config.privateKeyFile}`);
    }
    if (this.config.password !== null) {
      config.password = this.config.password.reveal();
      tried.push(`the password from ${this.config.password.source}`);
    }
    if (this.options.agentSocket) {
      config.agent = this.options.agentSocket;
      tried.push('ssh-agent');
    }
    if (tried.length === 0) {
      throw new DestinationUnavailableError(this.name, operation, 'no credentials to log in with: set private_key_file or password in the config, or run an ssh-agent');
    }
    return { config, tried: tried.join(', ') };
  }

  /**
   * Run one request on the connection: the socket holds the process open only while a
   * request waits, and an answer that does not come in time kills the connection.
   */
  private call<T>(s: Session, what: string, start: (done: (err: Error | null | undefined, value?: T) => void) => void, timeoutMs = this.options.requestTimeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!s.alive) {
        reject(new TransientError(`connection to ${this.where} lost`));
        return;
      }
      this.requestsInFlight++;
      s.socket.ref();
      let finished = false;
      const finish = (err: Error | null | undefined, value?: T) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        if (--this.requestsInFlight === 0) s.socket.unref();
        if (err) reject(err);
        else resolve(value as T);
      };
      const timer = setTimeout(() => {
        finish(new TransientError(`${what}: no answer from ${this.where} within ${Math.round(timeoutMs / 1000)}s`));
        this.drop(s);
      }, timeoutMs);
      try {
        start(finish);
      } catch (err) {
        finish(err as Error);
      }
    });
  }

  private get attempts(): number {
    return this.unreachable ? 1 : this.options.attempts;
  }

  private isTransient(err: unknown, s: Session | null): boolean {
    if (err instanceof TransientError) return true;
    if (s !== null && !s.alive) return true;
    const code = sftpCode(err);
    if (code === SFTP_NO_CONNECTION || code === SFTP_CONNECTION_LOST) return true;
    if (typeof code === 'string' && TRANSIENT_NET_CODES.has(code)) return true;
    const level = (err as { level?: string } | null)?.level;
    if (level === 'client-socket' || level === 'client-timeout') return true;
    return err instanceof Error && /No response from server|Not connected|Connection lost before handshake|Timed out while waiting for handshake/.test(err.message);
  }

  /**
   * Run an operation on a connection; on a transient failure, drop the connection, wait and
   * try again on a fresh one. Anything else, or the last failure, is "could not check".
   */
  private async withRetry<T>(operation: string, subject: string, body: (s: Session) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let s: Session | null = null;
      try {
        s = await this.session(operation);
        const result = await body(s);
        this.unreachable = false;
        return result;
      } catch (err) {
        if (err instanceof DestinationUnavailableError || err instanceof LocalSourceError) throw err;
        if (!this.isTransient(err, s)) throw this.unavailable(operation, subject, err);
        if (s !== null) this.drop(s);
        if (attempt >= this.attempts) {
          this.unreachable = true;
          throw this.unavailable(operation, subject, err, attempt);
        }
        await delay(this.options.retryDelayMs * 2 ** (attempt - 1));
      }
    }
  }

  // ---- requests ---------------------------------------------------------------------------

  private async lstat(s: Session, absolute: string): Promise<Stats | null> {
    try {
      return await this.call<Stats>(s, 'lstat', (done) => s.sftp.lstat(absolute, done));
    } catch (err) {
      if (sftpCode(err) === SFTP_NO_SUCH_FILE) return null;
      throw err;
    }
  }

  private async statFollowing(s: Session, absolute: string): Promise<Stats | null> {
    try {
      return await this.call<Stats>(s, 'stat', (done) => s.sftp.stat(absolute, done));
    } catch (err) {
      if (sftpCode(err) === SFTP_NO_SUCH_FILE) return null;
      throw err;
    }
  }

  /** A handle, or null when the path (or its directory) does not exist. New files get `mode`. */
  private async open(s: Session, absolute: string, flags: 'r' | 'wx', mode = 0o600): Promise<Buffer | null> {
    try {
      return await this.call<Buffer>(s, 'open', (done) => s.sftp.open(absolute, flags, { mode }, done));
    } catch (err) {
      if (sftpCode(err) === SFTP_NO_SUCH_FILE) return null;
      throw err;
    }
  }

  private closeHandle(s: Session, handle: Buffer): Promise<void> {
    return this.call<void>(s, 'close', (done) => s.sftp.close(handle, done));
  }

  private async closeQuietly(s: Session, handle: Buffer): Promise<void> {
    try {
      if (s.alive) await this.closeHandle(s, handle);
    } catch {
      // the handle dies with the connection, or was already gone
    }
  }

  /** True when something was removed. */
  private async unlink(s: Session, absolute: string): Promise<boolean> {
    try {
      await this.call<void>(s, 'unlink', (done) => s.sftp.unlink(absolute, done));
      return true;
    } catch (err) {
      if (sftpCode(err) === SFTP_NO_SUCH_FILE) return false;
      throw err;
    }
  }

  /** Scratch cleanup: a leftover staging file costs space, never correctness. */
  private async unlinkQuietly(s: Session, absolute: string): Promise<void> {
    try {
      if (s.alive) await this.unlink(s, absolute);
    } catch {
      // cleanup is for a later run
    }
  }

  private async fsync(s: Session, handle: Buffer): Promise<void> {
    if (s.fsync === false) return;
    try {
      await this.call<void>(s, 'fsync', (done) => s.sftp.ext_openssh_fsync(handle, (err) => done(err)));
      s.fsync = true;
    } catch (err) {
      // Without fsync@openssh.com the server flushes on its own schedule; nothing more to ask.
      if (!isUnsupported(err)) throw err;
      s.fsync = false;
    }
  }

  private async readSmallFile(s: Session, absolute: string): Promise<Buffer | null> {
    const handle = await this.open(s, absolute, 'r');
    if (handle === null) return null;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of this.readBlocks(s, handle, 0, 0)) {
        chunks.push(chunk);
        if (chunks.reduce((sum, c) => sum + c.length, 0) > MARKER_MAX_BYTES) break;
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
  private async *readBlocks(s: Session, handle: Buffer, offset: number, sizeHint: number): AsyncGenerator<Buffer> {
    const queue: { offset: number; bytes: Promise<Buffer> }[] = [];
    const request = (at: number, length: number): Promise<Buffer> =>
      this.call<Buffer>(s, 'read', (done) => {
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

  private async readDirectory(s: Session, absolute: string): Promise<{ filename: string; attrs: Stats }[] | null> {
    try {
      return await this.call(s, 'readdir', (done) => s.sftp.readdir(absolute, done));
    } catch (err) {
      if (sftpCode(err) === SFTP_NO_SUCH_FILE) return null;
      throw err;
    }
  }

  private exec(s: Session, command: string, timeoutMs: number): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    return this.call(
      s,
      'exec',
      (done) => {
        s.client.exec(command, (err, channel) => {
          if (err) return done(err);
          let stdout = '';
          let stderr = '';
          let exitCode: number | null = null;
          channel.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
          channel.stderr.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
          channel.on('exit', (code: number | null) => (exitCode = code));
          channel.on('error', (channelErr: Error) => done(channelErr));
          channel.on('close', () => done(undefined, { exitCode, stdout, stderr }));
        });
      },
      timeoutMs,
    );
  }

  // ---- operations -------------------------------------------------------------------------

  private resolve(operation: string, relativePath: string): string {
    checkDestinationPath(this.name, operation, relativePath);
    return path.posix.join(this.root, relativePath);
  }

  private async rootStateOn(s: Session, operation: string): Promise<RootState> {
    // The root may be reached through a symlink (a mount behind a link), so stat follows it.
    const stats = await this.statFollowing(s, this.root);
    if (stats === null) {
      await this.requireNoFileAbove(s, this.root, operation);
      return 'missing';
    }
    if (!stats.isDirectory()) throw new DestinationUnavailableError(this.name, operation, `${this.root} on ${this.where} is not a directory; check the path in the config`);
    const marker = await this.readSmallFile(s, this.markerPath);
    if (marker === null) return 'unmarked';
    checkMarker(this.name, this.location, marker, operation);
    return 'ok';
  }

  /**
   * SFTP reports "not a directory" as "no such file": a root below a regular file would look
   * missing. The first ancestor that exists must be a directory, else nothing can be checked.
   */
  private async requireNoFileAbove(s: Session, absolute: string, operation: string): Promise<void> {
    for (let dir = path.posix.dirname(absolute); ; dir = path.posix.dirname(dir)) {
      const stats = await this.statFollowing(s, dir);
      if (stats !== null) {
        if (!stats.isDirectory()) throw new DestinationUnavailableError(this.name, operation, `${dir} on ${this.where} is not a directory, so ${absolute} cannot exist; check the path in the config`);
        return;
      }
      if (dir === '/') return;
    }
  }

  /** Writers and "absent" answers need the marker: without it this may be an empty mount point. */
  private async requireMarkedRoot(s: Session, operation: string): Promise<void> {
    const marker = await this.lstat(s, this.markerPath);
    if (marker?.isFile()) return;
    const state = await this.rootStateOn(s, operation);
    if (state === 'missing') {
      throw new DestinationUnavailableError(this.name, operation, `root ${this.root} does not exist on ${this.where} (is the disk mounted? a new destination needs sync --init)`);
    }
    if (state === 'unmarked') {
      throw new DestinationUnavailableError(this.name, operation, `root ${this.root} on ${this.where} has no ${DESTINATION_MARKER} marker (is the right disk mounted? a new destination needs sync --init)`);
    }
  }

  private async absent(s: Session, operation: string): Promise<{ kind: 'absent' }> {
    await this.requireMarkedRoot(s, operation);
    return { kind: 'absent' };
  }

  /** Open a regular file for reading; null when nothing is there. Symlinks are refused. */
  private async openForRead(s: Session, operation: string, relativePath: string, absolute: string): Promise<{ handle: Buffer; sizeBytes: number } | null> {
    // Both requests go out together: one round trip.
    const [stats, handle] = await Promise.allSettled([this.lstat(s, absolute), this.open(s, absolute, 'r')]);
    const opened = handle.status === 'fulfilled' ? handle.value : null;
    try {
      if (stats.status === 'rejected') throw stats.reason;
      if (stats.value === null) return null;
      if (!stats.value.isFile()) throw this.notAFile(operation, relativePath, stats.value);
      if (handle.status === 'rejected') throw handle.reason;
      if (opened === null) return null;
      return { handle: opened, sizeBytes: stats.value.size };
    } catch (err) {
      if (opened !== null) await this.closeQuietly(s, opened);
      throw err;
    }
  }

  private async remoteB3sum(s: Session, relativePath: string, absolute: string): Promise<HashResult> {
    const stats = await this.lstat(s, absolute);
    if (stats === null) return this.absent(s, 'hash');
    if (!stats.isFile()) throw this.notAFile('hash', relativePath, stats);
    const timeoutMs = this.options.requestTimeoutMs + Math.ceil(stats.size / (1024 * 1024)) * B3SUM_MS_PER_MIB;
    const result = await this.exec(s, `b3sum --no-names -- ${shellQuote(absolute)}`, timeoutMs);
    if (result.exitCode === 127) {
      throw new DestinationUnavailableError(this.name, 'hash', `b3sum is not installed on ${this.where} (the config says remote_hash: b3sum); install it there or remove remote_hash`);
    }
    const hex = result.stdout.trim();
    const blake3 = parseBlake3Hex(hex);
    if (result.exitCode !== 0 || blake3 === null) {
      const said = (result.stderr.trim() || hex).split('\n')[0].slice(0, 200);
      throw new DestinationUnavailableError(this.name, 'hash', `${relativePath}: b3sum on ${this.where} exited ${result.exitCode ?? 'on a signal'}: ${said}`);
    }
    return { kind: 'present', blake3, sizeBytes: stats.size, method: METHOD_REMOTE_B3SUM };
  }

  private async *readChunks(relativePath: string, absolute: string): AsyncGenerator<Uint8Array> {
    // A dropped connection resumes at the byte it reached; the caller hashes what it gets.
    let offset = 0;
    for (let attempt = 1; ; attempt++) {
      let s: Session | null = null;
      try {
        s = await this.session('read');
        const opened = await this.openForRead(s, 'read', relativePath, absolute);
        if (opened === null) {
          await this.requireMarkedRoot(s, 'read');
          throw new DestinationUnavailableError(this.name, 'read', `${relativePath} does not exist on ${this.where}`);
        }
        try {
          for await (const chunk of this.readBlocks(s, opened.handle, offset, opened.sizeBytes)) {
            offset += chunk.length;
            attempt = 0;
            this.unreachable = false;
            yield chunk;
          }
          this.unreachable = false;
          return;
        } finally {
          await this.closeQuietly(s, opened.handle);
        }
      } catch (err) {
        if (err instanceof DestinationUnavailableError) throw err;
        if (!this.isTransient(err, s)) throw this.unavailable('read', relativePath, err);
        if (s !== null) this.drop(s);
        if (attempt >= this.attempts) {
          this.unreachable = true;
          throw this.unavailable('read', relativePath, err, attempt);
        }
        await delay(this.options.retryDelayMs * 2 ** (Math.max(attempt, 1) - 1));
      }
    }
  }

  private async *listFrom(prefix: string): AsyncGenerator<ListedFile> {
    // Collected first, so a retry after a dropped connection never lists a file twice.
    const files = await this.withRetry('list', prefix || this.root, async (s) => {
      // Even an empty answer needs the marker: an unmounted disk's mount point is empty too.
      await this.requireMarkedRoot(s, 'list');
      const found: ListedFile[] = [];
      if (prefix !== '') {
        const stats = await this.lstat(s, path.posix.join(this.root, prefix));
        if (stats === null) return found;
        if (stats.isSymbolicLink()) throw new DestinationUnavailableError(this.name, 'list', `${prefix} is a symbolic link; squirrel does not follow links on a destination`);
        if (!stats.isDirectory()) return found;
      }
      const pending = [prefix];
      while (pending.length > 0) {
        const directory = pending.pop()!;
        const entries = await this.readDirectory(s, directory === '' ? this.root : path.posix.join(this.root, directory));
        if (entries === null) {
          // Removed while we walked: nothing under it any more. The root itself must answer.
          if (directory !== '') continue;
          throw new DestinationUnavailableError(this.name, 'list', `${this.root} vanished from ${this.where} while listing`);
        }
        for (const entry of entries) {
          const relativePath = directory === '' ? entry.filename : `${directory}/${entry.filename}`;
          if (entry.attrs.isDirectory()) pending.push(relativePath);
          else if (entry.attrs.isFile()) found.push({ path: relativePath, sizeBytes: entry.attrs.size });
        }
      }
      return found;
    });
    yield* files;
  }

  /** Copy the local file into a fresh staging file on the server and flush it there. */
  private async upload(s: Session, source: LocalSource, localFile: string, staging: string): Promise<void> {
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
        let bytesRead: number;
        try {
          bytesRead = fs.readSync(sourceFd, block, 0, block.length, position);
        } catch (err) {
          throw new LocalSourceError(localFile, errorDetail(err));
        }
        if (bytesRead === 0) break;
        const at = position;
        position += bytesRead;
        const write: Promise<void> = this.call<void>(s, 'write', (done) => s.sftp.write(handle, block, 0, bytesRead, at, done)).then(
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
  private async place(s: Session, from: string, to: string): Promise<Placement> {
    if (s.hardlink !== false) {
      try {
        await this.call<void>(s, 'hardlink', (done) => s.sftp.ext_openssh_hardlink(from, to, done));
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
      await this.call<void>(s, 'rename', (done) => s.sftp.rename(from, to, done));
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
  private async replace(s: Session, from: string, to: string): Promise<void> {
    try {
      await this.call<void>(s, 'posix-rename', (done) => s.sftp.ext_openssh_rename(from, to, done));
      return;
    } catch (err) {
      if (!isUnsupported(err)) throw err;
    }
    await this.unlink(s, to);
    await this.call<void>(s, 'rename', (done) => s.sftp.rename(from, to, done));
  }

  /** place(); if the target's directory is missing, create it below the root and try again. */
  private async placeCreatingDirectories(s: Session, from: string, to: string, operation: string): Promise<Placement> {
    try {
      return await this.place(s, from, to);
    } catch (err) {
      if (sftpCode(err) !== SFTP_NO_SUCH_FILE) throw err;
    }
    await this.makeDirectories(s, path.posix.dirname(to), operation, this.root);
    return this.place(s, from, to);
  }

  /** mkdir -p of `directory`, creating nothing at or above `floor` (the root, for writers). */
  private async makeDirectories(s: Session, directory: string, operation: string, floor: string): Promise<void> {
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
        await this.call<void>(s, 'mkdir', (done) => s.sftp.mkdir(dir, { mode: DIRECTORY_MODE }, done));
      } catch (err) {
        // Made by someone else meanwhile is fine; anything else is not.
        if (!(await this.statFollowing(s, dir))?.isDirectory()) throw err;
      }
    }
  }

  private notAFile(operation: string, relativePath: string, stats: Stats): DestinationUnavailableError {
    const what = stats.isDirectory() ? 'a directory' : stats.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
    return new DestinationUnavailableError(this.name, operation, `${relativePath} on ${this.where} is ${what}, not a file squirrel wrote; look at it by hand`);
  }

  private unavailable(operation: string, subject: string, err: unknown, attempts?: number): DestinationUnavailableError {
    if (err instanceof DestinationUnavailableError) return err;
    const gaveUp = attempts !== undefined && attempts > 1 ? ` (gave up after ${attempts} attempts)` : '';
    return new DestinationUnavailableError(this.name, operation, `${subject} on ${this.where}: ${errorDetail(err)}${gaveUp}`);
  }
}
