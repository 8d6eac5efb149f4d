// Real servers on loopback for the network destinations: Debian's OpenSSH sshd with throwaway
// host and user keys, and s3rver (an S3-compatible server from npm) in a child process. Both
// listen on 127.0.0.1 only, keep their data in temp directories, and can be stopped and
// started again on the same port (a server that goes away mid-sync). A TCP proxy in front of
// either lets a test cut or stall the network without touching the server. Their directories
// are their own (not tempDir's), so a test's cleanupTempDirs() never pulls them away.

import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fingerprintOf } from '../../src/config/host-key.js';
import { REPO_ROOT } from '../helpers.js';

export const SSHD = '/usr/sbin/sshd';
const START_TIMEOUT_MS = 15_000;

/** Fail loudly (not skip) when the machine lacks what the suites need. */
export function requireSshd(): void {
  if (!fs.existsSync(SSHD)) {
    throw new Error(`${SSHD} is missing: install Debian's openssh-server (apt-get install -y openssh-server); .ci/run does this`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something on the port answers with the expected greeting (or any bytes). */
async function waitForListener(port: number, greeting: RegExp | null, isDead: () => string | null): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const dead = isDead();
    if (dead !== null) throw new Error(dead);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let settled = false;
      const done = (value: boolean) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        resolve(value);
      };
      socket.on('error', () => done(false));
      if (greeting === null) socket.on('connect', () => done(true));
      else socket.on('data', (data) => done(greeting.test(data.toString('latin1'))));
      socket.setTimeout(2000, () => done(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing answered on 127.0.0.1:${port} within ${START_TIMEOUT_MS / 1000}s`);
}

/**
 * The sshd processes below a listener, from /proc (its per-connection children run in their
 * own sessions, out of its process group). Commands those sessions run are left alone: they
 * lose their connection like on a real server and exit on their own, cleaning up after
 * themselves (a SIGKILLed login shell can leave a lock behind that stalls every later login).
 */
function sshdDescendantsOf(pid: number): number[] {
  const processes = new Map<number, { parent: number; command: string }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      processes.set(Number(entry), { parent: Number(fields[1]), command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  const pending = [pid];
  while (pending.length > 0) {
    const parent = pending.pop()!;
    for (const [child, info] of processes) {
      if (info.parent === parent && info.command.startsWith('sshd')) {
        found.push(child);
        pending.push(child);
      }
    }
  }
  return found;
}

async function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** A directory that lives as long as its server; dispose() removes it. */
function serverDir(prefix: string): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr || result.error}`);
}

export interface SshServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** A directory on the server's filesystem for destinations to live in. */
  readonly dataDir: string;
  /** The user's private key (authorized on the server). */
  readonly clientKeyFile: string;
  /** A second key the server does not accept. */
  readonly strangerKeyFile: string;
  readonly hostKeyFingerprint: string;
  /** The host public key line (`ssh-ed25519 AAAA...`). */
  readonly hostPublicKey: string;
  /** Stop the server and every connection it serves (as a crash or power cut would). */
  stop(): Promise<void>;
  /** Start it again on the same port with the same keys. */
  start(): Promise<void>;
  /** Stop it and remove its directory. */
  dispose(): Promise<void>;
}

/**
 * sshd on 127.0.0.1:<free port>, run as the current user (root here), accepting only the
 * throwaway client key, with the internal SFTP server and exec (for remote b3sum).
 */
export async function startSshServer(): Promise<SshServer> {
  requireSshd();
  const dir = serverDir('squirrel-sshd-');
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir);
  const hostKey = path.join(dir, 'host_ed25519');
  const clientKeyFile = path.join(dir, 'client_ed25519');
  const strangerKeyFile = path.join(dir, 'stranger_ed25519');
  for (const key of [hostKey, clientKeyFile, strangerKeyFile]) run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'squirrel-test', '-f', key]);
  fs.copyFileSync(`${clientKeyFile}.pub`, path.join(dir, 'authorized_keys'));
  const hostPublicKey = fs.readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const port = await freePort();
  const configFile = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    configFile,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'Subsystem sftp internal-sftp',
      'MaxStartups 100',
      'MaxSessions 100',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // sshd refuses to start without its privilege separation directory (normally made by systemd).
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  let child: ChildProcess | null = null;
  let stderr = '';
  const start = async () => {
    stderr = '';
    const started = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    started.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
    await waitForListener(port, /^SSH-2\.0-/, () => (started.exitCode !== null ? `sshd exited ${started.exitCode}: ${stderr.trim()}` : null));
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (running === null || running.pid === undefined) return;
    for (const pid of [...sshdDescendantsOf(running.pid), running.pid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitForExit(running);
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    user: os.userInfo().username,
    dataDir,
    clientKeyFile,
    strangerKeyFile,
    hostKeyFingerprint: fingerprintOf(Buffer.from(hostPublicKey.split(' ')[1], 'base64')),
    hostPublicKey,
    stop,
    start,
    dispose: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const S3_ACCESS_KEY_ID = 'S3RVER';
export const S3_SECRET_ACCESS_KEY = 'S3RVER';

/** An object's bytes read with a plain SDK client, behind squirrel's back. */
export async function objectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await response.Body!.transformToByteArray());
}

export interface S3Server {
  readonly port: number;
  readonly endpoint: string;
  /** Where s3rver keeps the buckets on disk. */
  readonly directory: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * s3rver in a child process. It encrypts list continuation tokens with DES, which OpenSSL 3
 * only offers through its legacy provider, hence the flag.
 */
export async function startS3Server(): Promise<S3Server> {
  const directory = serverDir('squirrel-s3rver-');
  const port = await freePort();
  // It exits when its stdin closes, so a test process that dies never leaves it running.
  const script = `
    process.stdin.on('end', () => process.exit(0)).resume();
    const S3rver = require('s3rver');
    new S3rver({ address: '127.0.0.1', port: ${port}, silent: true, directory: ${JSON.stringify(directory)} })
      .run()
      .catch((err) => { console.error(err); process.exit(1); });
  `;
  let child: ChildProcess | null = null;
  let stderr = '';
  const start = async () => {
    stderr = '';
    const started = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { cwd: REPO_ROOT, stdio: ['pipe', 'ignore', 'pipe'] });
    child = started;
    started.stderr!.on('data', (data: Buffer) => (stderr += data.toString()));
    await waitForListener(port, null, () => (started.exitCode !== null ? `s3rver exited ${started.exitCode}: ${stderr.trim()}` : null));
  };
  const stop = async () => {
    const running = child;
    child = null;
    if (running === null) return;
    running.kill('SIGKILL');
    await waitForExit(running);
  };
  await start();
  const dispose = async () => {
    await stop();
    fs.rmSync(directory, { recursive: true, force: true });
  };
  return { port, endpoint: `http://127.0.0.1:${port}`, directory, stop, start, dispose };
}

/**
 * A TCP proxy on loopback in front of a server. `cut()` is the network going away: every
 * open connection is reset and new ones are refused. `stall()` is a server that hangs.
 * `answerWith(bytes)` makes every new connection get those bytes and a close (an HTTP 503,
 * say) instead of the server.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private canned: Buffer | null = null;
  private stalled = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    const server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => client.destroy());
      if (this.stalled) return;
      if (this.canned !== null) {
        const reply = this.canned;
        client.once('data', () => client.end(reply));
        return;
      }
      const upstream = net.connect({ host: '127.0.0.1', port: this.targetPort });
      this.sockets.add(upstream);
      upstream.on('close', () => {
        this.sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', () => resolve()));
    this.port = (server.address() as net.AddressInfo).port;
    return this;
  }

  answerWith(bytes: Buffer): void {
    this.canned = bytes;
    for (const socket of this.sockets) socket.destroy();
  }

  /** The server goes silent: connections stay open (new ones are accepted) and nothing passes. */
  stall(): void {
    this.stalled = true;
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
