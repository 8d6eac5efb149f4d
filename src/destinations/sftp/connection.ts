// The SSH side of the sftp destination: one connection per destination object, opened on first
// use after the host key is verified, requests with a deadline that kills a silent connection,
// and retries of transient failures (connection lost, timeout) on a fresh connection with
// backoff. Anything else, and the last failure, is "could not check".

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Client, ConnectConfig, ServerHostKeyAlgorithm, SFTPWrapper } from 'ssh2';
import { SftpDestinationConfig } from '../../config/types.js';
import { errorDetail } from '../../errors.js';
import { DestinationUnavailableError, LocalSourceError, unavailable } from '../destination.js';
import { HostKeyPolicy, judgeHostKey, preferredHostKeyTypes, readKnownHosts } from './host-key.js';

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
export const SFTP_NO_SUCH_FILE = 2;
const SFTP_NO_CONNECTION = 6;
const SFTP_CONNECTION_LOST = 7;
const SFTP_OP_UNSUPPORTED = 8;

/** Socket errors that say "try again later", not "this is wrong". */
const TRANSIENT_NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN']);

/** Host key algorithms ssh2 can verify, in its default order. */
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** A failure worth another attempt on a fresh connection. */
class TransientError extends Error {}

export interface Session {
  client: Client;
  sftp: SFTPWrapper;
  socket: net.Socket;
  alive: boolean;
  /** null: not tried yet on this connection. */
  hardlink: boolean | null;
  fsync: boolean | null;
}

export function sftpCode(err: unknown): number | string | undefined {
  return (err as { code?: number | string } | null)?.code;
}

/** The server lacks an extension squirrel may do without (hardlink, fsync, posix-rename). */
export function isUnsupported(err: unknown): boolean {
  return sftpCode(err) === SFTP_OP_UNSUPPORTED || (err instanceof Error && /does not support this extended request/.test(err.message));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class SftpConnection {
  /** `user@host:port`, for messages. */
  readonly where: string;
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
    readonly options: SftpOptions,
  ) {
    this.where = `${config.user}@${config.host}:${config.port}`;
  }

  private get name(): string {
    return this.config.name;
  }

  /**
   * Run an operation on a connection; on a transient failure, drop the connection, wait and
   * try again on a fresh one. Anything else, or the last failure, is "could not check".
   */
  async withRetry<T>(operation: string, subject: string, body: (s: Session) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let s: Session | null = null;
      try {
        s = await this.session(operation);
        const result = await body(s);
        this.reachable();
        return result;
      } catch (err) {
        await this.afterFailure(operation, subject, err, s, attempt);
      }
    }
  }

  /**
   * The retry decision after attempt `attempt` failed with `err` on `s`: throws what another
   * attempt cannot fix and the last failure; otherwise drops the connection and waits. An
   * operation that made progress counts its attempts again from 0 (a read that resumes).
   */
  async afterFailure(operation: string, subject: string, err: unknown, s: Session | null, attempt: number): Promise<void> {
    if (err instanceof DestinationUnavailableError || err instanceof LocalSourceError) throw err;
    if (!this.isTransient(err, s)) throw this.unavailable(operation, subject, err);
    if (s !== null) this.drop(s);
    if (attempt >= this.attempts) {
      this.unreachable = true;
      throw this.unavailable(operation, subject, err, attempt);
    }
    await delay(this.options.retryDelayMs * 2 ** (Math.max(attempt, 1) - 1));
  }

  /** The server answered: the next failure gets every attempt again. */
  reachable(): void {
    this.unreachable = false;
  }

  async session(operation: string): Promise<Session> {
    if (this.live?.alive) return this.live;
    this.live = null;
    this.opening ??= this.connect(operation).finally(() => {
      this.opening = null;
    });
    const s = await this.opening;
    this.live = s;
    return s;
  }

  /**
   * Run one request on the connection: the socket holds the process open only while a
   * request waits, and an answer that does not come in time kills the connection.
   */
  call<T>(s: Session, what: string, start: (done: (err: Error | null | undefined, value?: T) => void) => void, timeoutMs = this.options.requestTimeoutMs): Promise<T> {
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

  /** Close the connection (tests, and callers that want to release it early). */
  async close(): Promise<void> {
    const opening = this.opening;
    if (opening !== null) await opening.catch(() => null);
    if (this.live !== null) this.drop(this.live);
  }

  drop(s: Session): void {
    s.alive = false;
    s.client.end();
    s.socket.destroy();
    if (this.live === s) this.live = null;
  }

  unavailable(operation: string, subject: string, err: unknown, attempts?: number): DestinationUnavailableError {
    const gaveUp = attempts !== undefined && attempts > 1 ? ` (gave up after ${attempts} attempts)` : '';
    return unavailable(this.name, operation, err, () => `${subject} on ${this.where}: ${errorDetail(err)}${gaveUp}`);
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
}
