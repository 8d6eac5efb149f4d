// The sftp destination against a real OpenSSH server on loopback: the conformance suite, then
// what only SSH has: host keys (pinned, known_hosts, unknown, changed), authentication that
// fails without retrying or leaking a secret, remote b3sum, a server that restarts, hangs or
// vanishes, and the bytes as they land on the server's disk.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Secret, SftpDestinationConfig } from '../../src/config/types.js';
import { DESTINATION_MARKER, DestinationUnavailableError, METHOD_REMOTE_B3SUM } from '../../src/destinations/destination.js';
import { SftpOptions } from '../../src/destinations/sftp/connection.js';
import { SftpRequests } from '../../src/destinations/sftp/requests.js';
import { SftpDestination } from '../../src/destinations/sftp/sftp.js';
import { hashBytes } from '../../src/hash.js';
import { cleanupTempDirs, tempDir } from '../helpers.js';
import { ConformanceHarness, listAll, localFile, pseudoRandomBytes, putBytes, readAll, runConformance, stagingFor } from './conformance.js';
import { SshServer, TcpProxy, startSshServer } from './servers.js';

let server: SshServer;
let roots = 0;
const opened: SftpDestination[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  server = await startSshServer();
}, 30_000);

afterEach(async () => {
  await Promise.all(opened.splice(0).map((destination) => destination.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.cut()));
});

afterAll(async () => {
  await server?.dispose();
  cleanupTempDirs();
});

/** Quick to give up, so "could not check" cases stay fast. */
const FAST: Partial<SftpOptions> = { attempts: 2, retryDelayMs: 20, requestTimeoutMs: 5_000, connectTimeoutMs: 5_000 };

function sftpConfig(name: string, root: string, overrides: Partial<SftpDestinationConfig> = {}): SftpDestinationConfig {
  return {
    name,
    type: 'sftp',
    host: server.host,
    port: server.port,
    user: server.user,
    path: root,
    privateKeyFile: server.clientKeyFile,
    password: null,
    hostKey: server.hostKeyFingerprint,
    knownHostsFile: null,
    remoteHash: null,
    ...overrides,
  };
}

function sftp(config: SftpDestinationConfig, options: Partial<SftpOptions> = {}): SftpDestination {
  const destination = new SftpDestination(config, { homeDir: tempDir('squirrel-home-'), agentSocket: null, ...FAST, ...options });
  opened.push(destination);
  return destination;
}

/** A root that does not exist yet, in a folder that does (a mounted disk): init creates only the root. */
function freshRoot(): string {
  const mountPoint = path.join(server.dataDir, `t${++roots}`, 'mnt');
  fs.mkdirSync(mountPoint, { recursive: true });
  return path.join(mountPoint, 'root');
}

interface SftpHarness extends ConformanceHarness {
  root: string;
  proxy: TcpProxy;
}

async function makeSftp(name: string): Promise<SftpHarness> {
  // Every harness talks through its own proxy, so a test can cut its network alone.
  const proxy = await new TcpProxy(server.port).start();
  proxies.push(proxy);
  const root = freshRoot();
  const through = (destinationName: string) => sftp(sftpConfig(destinationName, root, { port: proxy.port, hostKey: server.hostKeyFingerprint }));
  return {
    root,
    proxy,
    destination: through(name),
    sameRoot: (other) => through(other),
    createUnmarkedRoot: () => void fs.mkdirSync(root, { recursive: true }),
  };
}

function replaceRoot(root: string, replace: (root: string) => void): void {
  fs.renameSync(root, `${root}.moved`);
  replace(root);
}

runConformance('sftp', {
  make: makeSftp,
  unreachableWays: {
    'the network is cut (connections reset, then refused)': ({ proxy }) => proxy.cut(),
    'the root path on the server is a regular file': ({ root }) => replaceRoot(root, () => fs.writeFileSync(root, 'not a directory')),
    'a parent of the root on the server is a regular file': ({ root }) => {
      const parent = path.dirname(root);
      fs.renameSync(parent, `${parent}.moved`);
      fs.writeFileSync(parent, 'not a directory');
    },
  },
});

describe('sftp destination: on the server', () => {
  afterEach(() => cleanupTempDirs());

  it('init writes the marker; put places the bytes at <root>/<path> and leaves no staging file', async () => {
    // setup
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root));

    // act
    await destination.init();
    await putBytes(destination, 'vol/sub/photo.jpg', Buffer.from('jpeg bytes'));

    // expect
    expect(JSON.parse(fs.readFileSync(path.join(root, DESTINATION_MARKER), 'utf8'))).toEqual({ squirrel: 2, name: 'box', id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(fs.readFileSync(path.join(root, 'vol/sub/photo.jpg'), 'utf8')).toBe('jpeg bytes');
    expect(fs.statSync(path.join(root, 'vol/sub/photo.jpg')).nlink).toBe(1);
    expect(fs.existsSync(path.join(root, stagingFor('vol/sub/photo.jpg')))).toBe(false);
    expect(fs.readdirSync(root).sort()).toEqual([DESTINATION_MARKER, 'vol']);
  });

  it('a copy is never more readable than its source, and folders squirrel creates are private', async () => {
    // setup
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root));
    await destination.init();
    const secret = localFile(Buffer.from('dear diary'));
    fs.chmodSync(secret, 0o600);

    // act
    await destination.put('vol/private/diary.txt', secret, stagingFor('vol/private/diary.txt'));

    // expect
    expect(fs.statSync(path.join(root, 'vol/private/diary.txt')).mode & 0o077).toBe(0);
    expect(fs.statSync(path.join(root, 'vol/private')).mode & 0o077).toBe(0);
  });

  it('a leftover staging file hard-linked to a placed file is replaced, never truncated', async () => {
    // setup: a put that crashed after linking, before removing its staging name
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root));
    await destination.init();
    await putBytes(destination, 'vol/a.txt', Buffer.from('placed bytes'));
    fs.mkdirSync(path.dirname(path.join(root, stagingFor('vol/a.txt'))), { recursive: true });
    fs.linkSync(path.join(root, 'vol/a.txt'), path.join(root, stagingFor('vol/a.txt')));

    // act
    const retry = putBytes(destination, 'vol/a.txt', Buffer.from('other bytes!'));

    // expect
    await expect(retry).rejects.toThrow(/already exists/);
    expect(fs.readFileSync(path.join(root, 'vol/a.txt'), 'utf8')).toBe('placed bytes');
  });

  it('hash reads the bytes back every time: bit rot on the server shows', async () => {
    // setup
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root));
    await destination.init();
    await putBytes(destination, 'vol/a.bin', Buffer.from('abcdef'));
    const before = await destination.hash('vol/a.bin');

    // act
    fs.writeFileSync(path.join(root, 'vol/a.bin'), 'abcdeX');
    const after = await destination.hash('vol/a.bin');

    // expect
    expect(before).toMatchObject({ kind: 'present', blake3: hashBytes(Buffer.from('abcdef')), method: 'blake3-readback' });
    expect(after).toMatchObject({ kind: 'present', blake3: hashBytes(Buffer.from('abcdeX')), sizeBytes: 6 });
  });

  it('a large file round-trips through the pipelined writer and reader', async () => {
    // setup
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root));
    await destination.init();
    const bytes = pseudoRandomBytes(9 * 1024 * 1024 + 4321, 3);

    // act
    await putBytes(destination, 'vol/big.bin', bytes);

    // expect
    expect(fs.readFileSync(path.join(root, 'vol/big.bin')).equals(bytes)).toBe(true);
    expect(await destination.hash('vol/big.bin')).toMatchObject({ blake3: hashBytes(bytes), sizeBytes: bytes.length });
    expect((await readAll(destination, 'vol/big.bin')).bytes.equals(bytes)).toBe(true);
  });

  it('symlinks planted on the server are never followed: not present, not listed', async () => {
    // setup
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root));
    await destination.init();
    const outside = tempDir('squirrel-outside-');
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside the root');
    fs.mkdirSync(path.join(root, 'vol'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'vol/link.txt'));
    fs.symlinkSync(outside, path.join(root, 'vol/linkdir'));

    // act + expect
    await expect(destination.stat('vol/link.txt')).rejects.toThrow(/symbolic link/);
    await expect(destination.hash('vol/link.txt')).rejects.toThrow(/symbolic link/);
    await expect(readAll(destination, 'vol/link.txt')).rejects.toThrow(/symbolic link/);
    await expect(listAll(destination, 'vol/linkdir')).rejects.toThrow(/symbolic link/);
    expect((await listAll(destination, '')).map((file) => file.path)).toEqual([DESTINATION_MARKER]);
  });
});

describe('sftp destination: host keys', () => {
  afterEach(() => cleanupTempDirs());

  function knownHostsWith(...lines: string[]): string {
    const file = path.join(tempDir('squirrel-ssh-'), 'known_hosts');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  it('an unknown host key is refused, showing the fingerprint to check and pin; nothing is written', async () => {
    // setup: no host_key, and a known_hosts without this server
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root, { hostKey: null, knownHostsFile: knownHostsWith('other.example ssh-ed25519 ' + server.hostPublicKey.split(' ')[1]) }));

    // act
    const attempt = destination.init();

    // expect
    await expect(attempt).rejects.toBeInstanceOf(DestinationUnavailableError);
    await expect(attempt).rejects.toThrow(`is not known (the server offered ssh-ed25519 key ${server.hostKeyFingerprint})`);
    await expect(attempt).rejects.toThrow(`host_key: "${server.hostKeyFingerprint}"`);
    expect(fs.existsSync(root)).toBe(false);
  });

  it('a changed host key (known_hosts has another key for this host) is refused, naming both', async () => {
    // setup: the stranger's key stands in for the server's old key
    const oldKey = fs.readFileSync(`${server.strangerKeyFile}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    const destination = sftp(sftpConfig('box', freshRoot(), { hostKey: null, knownHostsFile: knownHostsWith(`[${server.host}]:${server.port} ${oldKey}`) }));

    // act + expect
    await expect(destination.rootState()).rejects.toThrow(/host key CHANGED: the server offered ssh-ed25519 key SHA256:\S+, but .*known_hosts has ssh-ed25519 SHA256:\S+ for \[127\.0\.0\.1\]:\d+/);
  });

  it('a pinned fingerprint that does not match is refused, with the offered one shown', async () => {
    // setup
    const wrong = 'SHA256:' + 'A'.repeat(43);
    const destination = sftp(sftpConfig('box', freshRoot(), { hostKey: wrong }));

    // act + expect
    await expect(destination.rootState()).rejects.toThrow(`offered ssh-ed25519 key ${server.hostKeyFingerprint}, but host_key in the config pins ${wrong}`);
  });

  it.each([
    ['a plain known_hosts entry', () => ({ hostKey: null, knownHostsFile: knownHostsWith(`[${server.host}]:${server.port} ${server.hostPublicKey}`) })],
    ['a hashed known_hosts entry', () => ({ hostKey: null, knownHostsFile: knownHostsWith(hashedEntry(`[${server.host}]:${server.port}`, server.hostPublicKey)) })],
    ['a wildcard known_hosts entry', () => ({ hostKey: null, knownHostsFile: knownHostsWith(`[127.0.0.*]:${server.port} ${server.hostPublicKey}`) })],
    ['a pinned public key line', () => ({ hostKey: server.hostPublicKey })],
    ['a pinned fingerprint', () => ({ hostKey: server.hostKeyFingerprint })],
  ])('the right key through %s is accepted', async (_label, overrides) => {
    // setup
    const destination = sftp(sftpConfig('box', freshRoot(), overrides()));

    // act + expect
    expect(await destination.rootState()).toBe('missing');
  });

  it('a key that known_hosts marks @revoked is refused even next to a valid entry', async () => {
    // setup
    const name = `[${server.host}]:${server.port}`;
    const destination = sftp(sftpConfig('box', freshRoot(), { hostKey: null, knownHostsFile: knownHostsWith(`${name} ${server.hostPublicKey}`, `@revoked ${name} ${server.hostPublicKey}`) }));

    // act + expect
    await expect(destination.rootState()).rejects.toThrow(/marks @revoked/);
  });
});

describe('sftp destination: authentication and failures', () => {
  afterEach(() => cleanupTempDirs());

  it('a key the server does not accept fails at once, naming user and host, without retrying', async () => {
    // setup: retries would take minutes if authentication failures were retried
    const destination = sftp(sftpConfig('box', freshRoot(), { privateKeyFile: server.strangerKeyFile }), { attempts: 5, retryDelayMs: 60_000 });

    // act + expect
    await expect(destination.rootState()).rejects.toThrow(`authentication as '${server.user}' on ${server.user}@${server.host}:${server.port} failed`);
  });

  it('a rejected password never appears in the error', async () => {
    // setup: this server takes keys only
    const password = new Secret('hunter2-do-not-print', 'BOX_PASSWORD');
    const destination = sftp(sftpConfig('box', freshRoot(), { privateKeyFile: null, password }));

    // act
    const error = await destination.rootState().then(
      () => null,
      (err: unknown) => err as Error,
    );

    // expect
    expect(error).toBeInstanceOf(DestinationUnavailableError);
    expect(error!.message).toContain('the password from BOX_PASSWORD');
    expect(error!.message).not.toContain('hunter2');
  });

  it('no credentials at all is "could not check", saying what to set', async () => {
    // setup
    const destination = sftp(sftpConfig('box', freshRoot(), { privateKeyFile: null }));

    // act + expect
    await expect(destination.stat('vol/a.txt')).rejects.toThrow(/no credentials to log in with: set private_key_file or password/);
  });

  it('a server that restarts between operations is reconnected to transparently', async () => {
    // setup
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root), { attempts: 4, retryDelayMs: 100 });
    await destination.init();
    await putBytes(destination, 'vol/a.txt', Buffer.from('before'));

    // act
    await server.stop();
    await server.start();

    // expect
    expect(await destination.stat('vol/a.txt')).toEqual({ kind: 'present', sizeBytes: 6, fingerprint: expect.stringMatching(/^mtime:\d+$/) });
    await putBytes(destination, 'vol/b.txt', Buffer.from('after'));
    expect(fs.readFileSync(path.join(root, 'vol/b.txt'), 'utf8')).toBe('after');
  });

  it('a server that hangs is "could not check" after the request timeout, never "absent"', async () => {
    // setup
    const proxy = await new TcpProxy(server.port).start();
    proxies.push(proxy);
    const destination = sftp(sftpConfig('box', freshRoot(), { port: proxy.port }), { attempts: 2, retryDelayMs: 10, requestTimeoutMs: 300, connectTimeoutMs: 300 });
    await destination.init();

    // act
    proxy.stall();

    // expect
    await expect(destination.stat('vol/absent.txt')).rejects.toThrow(/stat failed: .*(no answer|Timed out).*\(gave up after 2 attempts\)/);
    await expect(destination.hash('vol/absent.txt')).rejects.toBeInstanceOf(DestinationUnavailableError);
  });
});

describe('sftp destination: remote_hash b3sum', () => {
  afterEach(() => cleanupTempDirs());

  it('hashes on the server with b3sum, reported as its own method, and sees bit rot', async () => {
    // setup
    const root = freshRoot();
    // b3sum runs through the user's login shell; on a busy machine that alone can take seconds
    const destination = sftp(sftpConfig('box', root, { remoteHash: 'b3sum' }), { requestTimeoutMs: 30_000 });
    await destination.init();
    const bytes = pseudoRandomBytes(2 * 1024 * 1024 + 5, 9);
    await putBytes(destination, "vol/it's a \"file\" $(x).bin", bytes);

    // act
    const hashed = await destination.hash("vol/it's a \"file\" $(x).bin");
    fs.appendFileSync(path.join(root, "vol/it's a \"file\" $(x).bin"), 'x');
    const rotted = await destination.hash("vol/it's a \"file\" $(x).bin");

    // expect
    expect(hashed).toEqual({ kind: 'present', blake3: hashBytes(bytes), sizeBytes: bytes.length, method: METHOD_REMOTE_B3SUM, fingerprint: expect.stringMatching(/^mtime:\d+$/) });
    expect(rotted).toMatchObject({ kind: 'present', sizeBytes: bytes.length + 1 });
    expect(rotted.kind === 'present' && rotted.blake3.equals(hashBytes(bytes))).toBe(false);
    expect(await destination.hash('vol/absent.bin')).toEqual({ kind: 'absent' });
  });

  it('hashes many files per exec, awkward names included, and answers each caller with its own file', async () => {
    // setup: names a careless parser would split, merge or shift
    const root = freshRoot();
    const destination = sftp(sftpConfig('box', root, { remoteHash: 'b3sum' }), { requestTimeoutMs: 30_000 });
    await destination.init();
    const names = ['plain.bin', 'with space.bin', "it's \"quoted\".bin", 'new\nline.bin', 'back\\slash.bin', 'ünïcödé 日本.bin', '-dash.bin', '$(touch pwned).bin', 'cr\rreturn.bin'];
    const bytesOf = new Map(names.map((name, i) => [`vol/${name}`, pseudoRandomBytes(1000 + i * 17, 40 + i)]));
    for (const [remotePath, bytes] of bytesOf) await putBytes(destination, remotePath, bytes);
    const execs = vi.spyOn(SftpRequests.prototype, 'exec');

    // act: asked all at once, as sync's lanes do
    const hashed = await Promise.all([...bytesOf.keys(), 'vol/absent.bin'].map((remotePath) => destination.hash(remotePath)));

    // expect
    expect(hashed).toEqual([...[...bytesOf.values()].map((bytes) => ({ kind: 'present', blake3: hashBytes(bytes), sizeBytes: bytes.length, method: METHOD_REMOTE_B3SUM, fingerprint: expect.stringMatching(/^mtime:\d+$/) })), { kind: 'absent' }]);
    expect(execs.mock.calls.length).toBeLessThan(names.length);
    expect(fs.existsSync(path.join(root, 'vol', 'pwned'))).toBe(false);
    execs.mockRestore();
  });
});

function hashedEntry(name: string, publicKey: string): string {
  // `ssh-keygen -H` format: |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const salt = crypto.randomBytes(20);
  const hash = crypto.createHmac('sha1', salt).update(name).digest('base64');
  return `|1|${salt.toString('base64')}|${hash} ${publicKey}`;
}
