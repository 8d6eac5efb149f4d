// End to end through the real binary against real servers on loopback: an OpenSSH sshd for
// an `sftp` destination (hashing with b3sum on the server) and s3rver for an `s3` one. The
// whole job (index, sync, verify, offload, restore), a copy lost or altered on either server, a server
// that goes away mid-sync, and a host key that does not match.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { pseudoRandomBytes } from '../destinations/conformance.js';
import { sha256 } from '../physical.js';
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3Server, SshServer, objectBytes, startS3Server, startSshServer } from '../destinations/servers.js';
import { bin, binSpawn, cleanupTempDirs, CliResult, EvidenceReport, json, makeSandbox, OffloadReport, RunsReport, Sandbox, SyncReport, Tree, VerifyReport, waitForFile, withConfig } from '../helpers.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

let ssh: SshServer;
let s3: S3Server;
let raw: S3Client;
let sandboxes = 0;

/** The S3 secrets reach squirrel the way a user's would: through the environment. */
const ENV = { SQUIRREL_E2E_S3_KEY: S3_ACCESS_KEY_ID, SQUIRREL_E2E_S3_SECRET: S3_SECRET_ACCESS_KEY };

beforeAll(async () => {
  [ssh, s3] = await Promise.all([startSshServer(), startS3Server()]);
  // No kept-alive sockets: the tests block this process in spawnSync for seconds at a time,
  // long enough on a loaded machine for s3rver to close an idle socket the client would reuse
  // ("socket hang up").
  raw = new S3Client({
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
    maxAttempts: 1,
    requestHandler: { httpAgent: new http.Agent({ keepAlive: false }) },
  });
}, 30_000);

afterEach(cleanupTempDirs);

afterAll(async () => {
  raw?.destroy();
  await Promise.all([ssh?.dispose(), s3?.dispose()]);
});

interface Network {
  sb: Sandbox;
  /** The sftp destination's root on the server's disk. */
  boxRoot: string;
  bucket: string;
}

/** A sandbox whose volume `photos` syncs to (and offloads only with) both network destinations, or the `targets` named. */
function networkSandbox(files: Tree, box: Record<string, unknown> = {}, targets = ['box', 'cloud']): Network {
  const n = ++sandboxes;
  const sb = makeSandbox(files, { destinations: [] });
  const boxRoot = path.join(ssh.dataDir, `e2e-${n}`, 'squirrel');
  fs.mkdirSync(path.dirname(boxRoot), { recursive: true });
  const bucket = `e2e-${n}`;
  sb.writeConfig({
    volumes: { photos: { path: sb.volumePath, sync_to: targets, offload_requires: targets } },
    destinations: {
      box: {
        type: 'sftp',
        host: ssh.host,
        port: ssh.port,
        user: ssh.user,
        path: boxRoot,
        private_key_file: ssh.clientKeyFile,
        host_key: ssh.hostKeyFingerprint,
        remote_hash: 'b3sum',
        ...box,
      },
      cloud: {
        type: 's3',
        bucket,
        prefix: 'squirrel',
        region: 'us-east-1',
        endpoint: s3.endpoint,
        force_path_style: true,
        access_key_id: { env: 'SQUIRREL_E2E_S3_KEY' },
        secret_access_key: { env: 'SQUIRREL_E2E_S3_SECRET' },
      },
    },
  });
  return { sb, boxRoot, bucket };
}

function squirrel(sb: Sandbox, ...args: string[]): CliResult {
  return bin(withConfig(sb, '--no-progress', ...args), { env: ENV });
}

function ok(sb: Sandbox, ...args: string[]): CliResult {
  const result = squirrel(sb, ...args);
  expect(result.code, `squirrel ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  return result;
}

function components(sb: Sandbox): EvidenceReport['components'] {
  return json<EvidenceReport>(ok(sb, '--json', 'evidence', 'photos')).components;
}

function runsOf(sb: Sandbox): RunsReport['runs'] {
  return json<RunsReport>(ok(sb, '--json', 'runs')).runs;
}

const FILES: Tree = { 'a.jpg': 'alpha', 'sub/b.jpg': 'bravo', 'c.raw': pseudoRandomBytes(300_000, 4) };

describe('a node on the NAS vouches for the laptop, over sftp and s3', () => {
  it("the laptop's own evidence aged out; the NAS node verifies box (the same directory, as a local path) and cloud (over s3); the laptop offloads", () => {
    // setup: the laptop pushes to box over sftp and to cloud over s3, 20-day age limit
    const T = 1_780_272_000_000_000_000n;
    const LATER = T + 25n * 86_400_000_000_000n;
    const { sb, boxRoot } = networkSandbox(FILES);
    const laptopConfig = { ...sb.config } as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    laptopConfig.volumes.photos.offload_max_evidence_age = '20d';
    const nasConfigPath = path.join(sb.dir, 'nasbox.yaml');
    const nasConfig = { node: 'nasbox', db: path.join(sb.dir, 'nasbox', 'index.db'), destinations: { box: { type: 'local', path: boxRoot }, cloud: laptopConfig.destinations.cloud } };
    fs.writeFileSync(nasConfigPath, YAML.stringify(nasConfig));
    const nasbox = (...args: string[]) => bin(['--config', nasConfigPath, '--no-progress', ...args], { env: ENV, nowNs: LATER });
    const laptop = (nowNs: bigint, ...args: string[]) => bin(withConfig(sb, '--no-progress', ...args), { env: ENV, nowNs });
    const keyOf = (r: CliResult) => (JSON.parse(r.stdout) as { public_key: string }).public_key;
    laptopConfig.peers = { nasbox: { public_key: keyOf(nasbox('--json', 'node', 'show')) } };
    sb.writeConfig(laptopConfig);
    fs.writeFileSync(nasConfigPath, YAML.stringify({ ...nasConfig, peers: { laptop: { public_key: keyOf(laptop(T, '--json', 'node', 'show')) } } }));
    expect(laptop(T, 'index', 'photos').code).toBe(0);
    expect(laptop(T, 'sync', '--init').code).toBe(0);
    // act
    const refused = laptop(LATER, 'offload', 'photos', '.', '--offline');
    const box = nasbox('verify', '--to', 'box', '--peer', 'laptop');
    const cloud = nasbox('verify', '--to', 'cloud', '--peer', 'laptop');
    const offload = laptop(LATER, 'offload', 'photos', '.');
    // expect
    expect(refused.stdout).toMatch(/offloaded=0 /);
    expect(box.code, box.stdout + box.stderr).toBe(0);
    expect(cloud.code, cloud.stdout + cloud.stderr).toBe(0);
    expect(offload.stdout, offload.stderr).toMatch(/offloaded=3 /);
    for (const [relative, bytes] of Object.entries(FILES)) {
      expect(sha256(fs.readFileSync(path.join(boxRoot, 'photos', relative)))).toBe(sha256(bytes));
    }
    expect(laptop(LATER, 'restore', 'photos', '.', '--from', 'cloud').stdout).toMatch(/restored=3 failed=0/);
  });
});

describe('an sftp destination that is the volume itself', () => {
  it('the volume folder reached again over sftp (the same share, or this machine) is refused, and nothing is offloaded', () => {
    // setup: the sftp root's namespace for photos is the volume's own folder
    const { sb } = networkSandbox({ 'a.jpg': 'only copy', 'b.jpg': 'only copy too' });
    const share = path.dirname(sb.volumePath);
    sb.writeConfig({
      volumes: { photos: { path: sb.volumePath, sync_to: ['box'], offload_requires: ['box'] } },
      destinations: {
        box: { type: 'sftp', host: ssh.host, port: ssh.port, user: ssh.user, path: share, private_key_file: ssh.clientKeyFile, host_key: ssh.hostKeyFingerprint },
      },
    });
    ok(sb, 'index', 'photos');
    // act
    const sync = squirrel(sb, 'sync', '--init');
    const offload = squirrel(sb, 'offload', 'photos', '.');
    // expect
    expect(sync.code, sync.stdout + sync.stderr).toBe(2);
    expect(sync.stdout + sync.stderr).toMatch(/volume marker.*a copy there would be the file itself/);
    expect(offload.stdout).toMatch(/offloaded=0 /);
    expect(fs.readFileSync(path.join(sb.volumePath, 'a.jpg'), 'utf8')).toBe('only copy');
  });
});

describe('network destinations through the real binary', () => {
  it('index -> sync to sftp and s3 -> verify -> offload -> restore: the files go, their copies are on both servers and come back', async () => {
    // setup
    const { sb, boxRoot, bucket } = networkSandbox(FILES);
    ok(sb, 'index', 'photos');

    // act
    const synced = ok(sb, '--json', 'sync', 'photos', '--init');
    const verified = ok(sb, '--json', 'verify', 'photos');
    const offloaded = ok(sb, '--json', 'offload', 'photos', 'a.jpg', 'sub');

    // expect: the copies, byte for byte, where the config says
    expect(json<SyncReport>(synced).results).toEqual([
      expect.objectContaining({ destination: 'box', status: 'success', sentFiles: 3 }),
      expect.objectContaining({ destination: 'cloud', status: 'success', sentFiles: 3 }),
    ]);
    expect(fs.readFileSync(path.join(boxRoot, 'photos/sub/b.jpg'), 'utf8')).toBe('bravo');
    expect((await objectBytes(raw, bucket, 'squirrel/photos/c.raw')).equals(FILES['c.raw'] as Buffer)).toBe(true);
    expect(json<VerifyReport>(verified).results.map((r) => [r.status, r.ok])).toEqual([
      ['success', 3],
      ['success', 3],
    ]);
    // the sftp evidence rests on b3sum run on the server, recorded as such; the s3 copies
    // were re-read by the verify
    expect(components(sb).map((c) => [c.destination, c.verifyMethod])).toEqual([
      ['box', 'b3sum-remote'],
      ['cloud', 'blake3-reverify'],
    ]);
    // offload: the selected files are gone locally, the rest stays
    expect(json<OffloadReport>(offloaded).totals.offloaded).toBe(2);
    expect(fs.existsSync(path.join(sb.volumePath, 'a.jpg'))).toBe(false);
    expect(fs.existsSync(path.join(sb.volumePath, 'sub/b.jpg'))).toBe(false);
    expect(fs.existsSync(path.join(sb.volumePath, 'c.raw'))).toBe(true);
    // and each server gives its bytes back
    ok(sb, 'restore', 'photos', 'a.jpg', '--from', 'box');
    ok(sb, 'restore', 'photos', 'sub', '--from', 'cloud');
    expect(fs.readFileSync(path.join(sb.volumePath, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(path.join(sb.volumePath, 'sub/b.jpg'), 'utf8')).toBe('bravo');
  });

  it.each([['box'], ['cloud']])('the database lost: recover --from %s, then restore . brings every file back byte-identical', (from) => {
    // setup: everything offloaded, then the database gone
    const { sb } = networkSandbox(FILES);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', 'photos', '--init');
    expect(json<OffloadReport>(ok(sb, '--json', 'offload', 'photos', '.')).totals.offloaded).toBe(3);
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(sb.dbPath + suffix, { force: true });
    // act
    const recovered = ok(sb, 'recover', '--from', from);
    const restored = ok(sb, 'restore', 'photos', '.', '--from', from);
    // expect (sha256, not squirrel's BLAKE3)
    expect(recovered.stdout).toMatch(/installed run-\d{12}-[0-9a-f]{32}-[0-9a-f]{64}\.db\.gz/);
    expect(restored.stdout).toMatch(/restored=3 failed=0/);
    for (const [relative, bytes] of Object.entries(FILES)) {
      expect(sha256(fs.readFileSync(path.join(sb.volumePath, relative)))).toBe(sha256(bytes));
    }
  });

  it('a copy deleted on the sftp server or altered in the bucket: verify reports it and the gate refuses that file there', async () => {
    // setup
    const { sb, boxRoot, bucket } = networkSandbox(FILES);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', 'photos', '--init');
    fs.rmSync(path.join(boxRoot, 'photos/a.jpg'));
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'squirrel/photos/sub/b.jpg', Body: Buffer.from('bravO') }));

    // act
    const verified = squirrel(sb, '--json', 'verify', 'photos');
    const gate = ok(sb, '--json', 'offload', 'photos', 'a.jpg', 'sub', 'c.raw', '--dry-run', '--per-file');

    // expect
    expect(verified.code).toBe(1);
    const problems = json<VerifyReport>(verified).results.map((r) => [r.destination, r.problems.map((p) => [p.path, p.state])]);
    expect(problems).toEqual([
      ['box', [['photos/a.jpg', 'missing']]],
      ['cloud', [['photos/sub/b.jpg', 'corrupt']]],
    ]);
    const report = json<OffloadReport>(gate);
    expect(report.allowed.paths).toEqual(['c.raw']);
    expect(report.refusals.map((r) => [r.target, r.reason, r.paths])).toEqual([
      ['box', 'lost-at-destination', ['a.jpg']],
      ['cloud', 'lost-at-destination', ['sub/b.jpg']],
    ]);
  });

  it.each([
    ['box', () => ssh],
    ['cloud', () => s3],
  ])('%s stopped mid-sync: the run ends partial, the evidence is unchanged, and the next sync completes', async (destination, serverOf) => {
    // setup: a first sync, then more files to push
    const server = serverOf();
    const { sb } = networkSandbox({ 'old.jpg': 'old' });
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', 'photos', '--init');
    const before = components(sb).find((c) => c.destination === destination);
    fs.mkdirSync(path.join(sb.volumePath, 'new'));
    for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(sb.volumePath, 'new', `${i}.jpg`), `new ${i}`);
    ok(sb, 'index', 'photos');
    const pause = path.join(sb.dir, 'pause');

    // act: the server goes away after the first file has landed
    const sync = binSpawn(withConfig(sb, '--no-progress', '--json', 'sync', 'photos', '--to', destination), {
      env: { ...ENV, SQUIRREL_TEST_PAUSE_AT: 'sync.after-file', SQUIRREL_TEST_PAUSE_FILE: pause },
    });
    let stdout = '';
    sync.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    const exited = new Promise<number | null>((resolve) => sync.on('close', resolve));
    await waitForFile(pause);
    await server.stop();
    fs.rmSync(pause);
    const code = await exited;
    await server.start();

    // expect
    expect(code).toBe(1);
    const result = JSON.parse(stdout).results[0];
    // partial: some files were there or landed before the pause (puts run side by side), not all
    expect(result).toMatchObject({ destination, status: 'partial' });
    expect(result.sentFiles).toBeLessThan(8);
    expect(result.failures.length).toBeGreaterThan(0);
    expect(result.message).toMatch(new RegExp(`destination '${destination}' stopped answering .*the evidence for '${destination}' was left unchanged`));
    expect(runsOf(sb)[0]).toMatchObject({ kind: 'sync', destination, status: 'partial' });
    expect(components(sb).find((c) => c.destination === destination)).toEqual(before);
    // and once the server is back, a sync completes and advances the evidence
    ok(sb, 'sync', 'photos', '--to', destination);
    expect(components(sb).find((c) => c.destination === destination)!.originRunId).toBeGreaterThan(before!.originRunId);
  });

  it('a host key that does not match the pinned one is refused with the offered fingerprint; nothing is written', async () => {
    // setup
    const pinned = 'SHA256:' + 'B'.repeat(43);
    const { sb, boxRoot } = networkSandbox({ 'a.jpg': 'alpha' }, { host_key: pinned });
    ok(sb, 'index', 'photos');

    // act
    const synced = squirrel(sb, '--json', 'sync', 'photos', '--to', 'box', '--init');

    // expect
    expect(synced.code).toBe(1);
    const result = json<SyncReport>(synced).results[0];
    expect(result.status).toBe('failed');
    expect(result.message).toContain(`the server offered ssh-ed25519 key ${ssh.hostKeyFingerprint}, but host_key in the config pins ${pinned}`);
    expect(fs.existsSync(boxRoot)).toBe(false);
  });

  it('copies deleted or truncated behind squirrel on the sftp server and in the bucket: the next sync, judging by listings, re-sends exactly those', async () => {
    // setup
    const { sb, boxRoot, bucket } = networkSandbox(FILES);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', 'photos', '--init');
    fs.rmSync(path.join(boxRoot, 'photos/a.jpg'));
    fs.truncateSync(path.join(boxRoot, 'photos/c.raw'), 1000);
    await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'squirrel/photos/a.jpg' }));
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'squirrel/photos/c.raw', Body: (FILES['c.raw'] as Buffer).subarray(0, 1000) }));

    // act
    const synced = ok(sb, '--json', 'sync', 'photos');

    // expect
    expect(json<SyncReport>(synced).results).toEqual([
      expect.objectContaining({ destination: 'box', status: 'success', sentFiles: 2, alreadyThereFiles: 1, movedAsideFiles: 1 }),
      expect.objectContaining({ destination: 'cloud', status: 'success', sentFiles: 2, alreadyThereFiles: 1, movedAsideFiles: 1 }),
    ]);
    expect(fs.readFileSync(path.join(boxRoot, 'photos/a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(path.join(boxRoot, 'photos/c.raw')).equals(FILES['c.raw'] as Buffer)).toBe(true);
    expect(await objectBytes(raw, bucket, 'squirrel/photos/a.jpg')).toEqual(Buffer.from('alpha'));
    expect((await objectBytes(raw, bucket, 'squirrel/photos/c.raw')).equals(FILES['c.raw'] as Buffer)).toBe(true);
  });

  it('an s3 copy deleted behind squirrel is found missing by verify', async () => {
    // setup
    const { sb, bucket } = networkSandbox({ 'a.jpg': 'alpha' });
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', 'photos', '--init', '--to', 'cloud');
    await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'squirrel/photos/a.jpg' }));

    // act
    const verified = squirrel(sb, '--json', 'verify', 'photos', '--to', 'cloud');

    // expect
    expect(verified.code).toBe(1);
    expect(json<VerifyReport>(verified).results[0].problems).toEqual([
      expect.objectContaining({ path: 'photos/a.jpg', state: 'missing' }),
    ]);
  });

  it('an s3 copy replaced by hand with other bytes of the same size: the next sync reads it again and re-sends; offload then deletes only what the bucket holds', async () => {
    // setup: an outside test's finding (the sync counted the replaced copy as there, offload deleted the last copy of a.jpg)
    const { sb, bucket } = networkSandbox({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, {}, ['cloud']);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', 'photos', '--init');
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'squirrel/photos/a.jpg', Body: Buffer.from('ALPHA') }));

    // act
    const synced = ok(sb, '--json', 'sync', 'photos');
    ok(sb, 'offload', 'photos', '.');

    // expect: the original bytes are back at the key, the replacement kept in history
    expect(json<SyncReport>(synced).results).toEqual([expect.objectContaining({ destination: 'cloud', status: 'success', sentFiles: 1, alreadyThereFiles: 1, movedAsideFiles: 1 })]);
    expect(await objectBytes(raw, bucket, 'squirrel/photos/a.jpg')).toEqual(Buffer.from('alpha'));
    expect(await objectBytes(raw, bucket, 'squirrel/photos/b.jpg')).toEqual(Buffer.from('bravo'));
    expect(fs.existsSync(path.join(sb.volumePath, 'a.jpg'))).toBe(false);
  });

  it('an s3 copy replaced by hand with other bytes of the same size after the sync: offload keeps the file', async () => {
    // setup
    const { sb, bucket } = networkSandbox({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, {}, ['cloud']);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', 'photos', '--init');
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'squirrel/photos/a.jpg', Body: Buffer.from('ALPHA') }));

    // act
    squirrel(sb, 'offload', 'photos', '.');

    // expect
    expect(fs.readFileSync(path.join(sb.volumePath, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.existsSync(path.join(sb.volumePath, 'b.jpg'))).toBe(false);
  });

  it('an older file of the same size put back on the sftp server (a snapshot rolled back): the next sync reads it again; offload before that keeps the file', async () => {
    // setup: the copy replaced with other bytes of the same size and an hour-old mtime, as a rollback leaves it
    const { sb, boxRoot } = networkSandbox({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, { remote_hash: undefined }, ['box']);
    ok(sb, 'index', 'photos');
    ok(sb, 'sync', 'photos', '--init');
    const copy = path.join(boxRoot, 'photos/a.jpg');
    fs.writeFileSync(copy, 'ALPHA');
    const anHourAgo = new Date(fs.statSync(copy).mtimeMs - 3_600_000);
    fs.utimesSync(copy, anHourAgo, anHourAgo);

    // act
    squirrel(sb, 'offload', 'photos', 'a.jpg');
    const keptBeforeSync = fs.readFileSync(path.join(sb.volumePath, 'a.jpg'), 'utf8');
    const synced = ok(sb, '--json', 'sync', 'photos');

    // expect
    expect(keptBeforeSync).toBe('alpha');
    expect(json<SyncReport>(synced).results).toEqual([expect.objectContaining({ destination: 'box', status: 'success', sentFiles: 1, alreadyThereFiles: 1, movedAsideFiles: 1 })]);
    expect(fs.readFileSync(copy, 'utf8')).toBe('alpha');
  });
});
