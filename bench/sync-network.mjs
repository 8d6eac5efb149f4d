// Bench case `sync-network`: squirrel sync to an `sftp` destination (Debian's OpenSSH sshd)
// and an `s3` destination (s3rver), both on loopback, against `rclone copy` to the same
// servers. squirrel reads every file back (a download and BLAKE3, or b3sum on the server with
// remote_hash); rclone checks what the server offers (sftp: md5sum over ssh; s3: the MD5
// ETag). Cold-started processes, a fresh destination and a fresh index for every round (the
// index is not timed); best of 3 interleaved rounds after a warm-up. No target: the numbers
// say what a network destination costs against the reference tool.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  KIB, MIB, REPO_ROOT, SQUIRREL_BIN, WORK_DIR, bestOfInterleaved, ensureTool, generateTree, numberArg, parseArgs, printTable, requireBuild, runChecked,
} from './lib.mjs';

export const description = 'sync to sftp (sshd) and s3 (s3rver) on loopback vs rclone copy to the same servers (--files N --total-mib M --only sftp|s3 --nothing-new --squirrel-bin PATH)';

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, what) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited ${child.exitCode}`);
    const up = await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.on('connect', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port}`);
}

/**
 * Kill a process and the processes of the same program below it (sshd's per-connection
 * children leave its process group). What the sessions run is left to exit on its own: a
 * SIGKILLed login shell can leave a lock behind that stalls every later login.
 */
function killTree(pid) {
  const processes = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      processes.set(Number(entry), { parent: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // exited meanwhile
    }
  }
  const program = processes.get(pid)?.command ?? '';
  const doomed = [pid];
  for (let i = 0; i < doomed.length; i++) {
    for (const [child, info] of processes) if (info.parent === doomed[i] && info.command === program) doomed.push(child);
  }
  for (const victim of doomed.reverse()) {
    try {
      process.kill(victim, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function startSshd(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const key of ['host_ed25519', 'client_ed25519']) runChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, key)]);
  fs.copyFileSync(path.join(dir, 'client_ed25519.pub'), path.join(dir, 'authorized_keys'));
  const port = await freePort();
  const hostPublicKey = fs.readFileSync(path.join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  fs.writeFileSync(path.join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostPublicKey}\n`);
  fs.writeFileSync(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${path.join(dir, 'host_ed25519')}`, `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`, 'StrictModes no', 'UsePAM no', 'PasswordAuthentication no',
      'PermitRootLogin prohibit-password', 'Subsystem sftp internal-sftp', 'MaxStartups 100', 'LogLevel ERROR', '',
    ].join('\n'),
  );
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true });
  // stderr ignored: sshd logs every probe of waitForPort as a failed key exchange.
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: 'ignore' });
  await waitForPort(port, child, 'sshd');
  const fingerprint = `SHA256:${crypto.createHash('sha256').update(Buffer.from(hostPublicKey.split(' ')[1], 'base64')).digest('base64').replace(/=+$/, '')}`;
  return { port, fingerprint, keyFile: path.join(dir, 'client_ed25519'), knownHosts: path.join(dir, 'known_hosts'), stop: () => killTree(child.pid) };
}

async function startS3rver(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  // s3rver encrypts list continuation tokens with DES: OpenSSL 3 keeps it in the legacy provider.
  const script = `new (require('s3rver'))({ address: '127.0.0.1', port: ${port}, silent: true, directory: ${JSON.stringify(dir)} }).run()`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, 's3rver');
  return { port, endpoint: `http://127.0.0.1:${port}`, dir, stop: () => killTree(child.pid) };
}

export async function run(argv) {
  const args = parseArgs(argv);
  const fileCount = Math.round(numberArg(args, 'files', 200));
  const totalMib = numberArg(args, 'totalMib', 256);
  // One kind of server alone (`--only s3`): the sftp legs with rclone's md5sum per file take minutes.
  const only = args.only === undefined ? null : String(args.only);
  if (only !== null && only !== 'sftp' && only !== 's3') throw new Error(`--only expects sftp or s3, got '${only}'`);
  const squirrelBin = args.squirrelBin === undefined ? SQUIRREL_BIN : path.resolve(String(args.squirrelBin));
  requireBuild();
  ensureTool('rclone');
  ensureTool('b3sum');
  if (!fs.existsSync('/usr/sbin/sshd')) ensureTool('sshd', 'openssh-server');

  const caseDir = path.join(WORK_DIR, `sync-network-${fileCount}-${totalMib}m`);
  const volumeDir = path.join(caseDir, 'volume');
  fs.mkdirSync(caseDir, { recursive: true });
  const files = generateTree(volumeDir, { files: fileCount, totalBytes: Math.round(totalMib * MIB), minBytes: 4 * KIB, maxBytes: 48 * MIB, seed: 3 });
  const totalBytes = files.reduce((sum, f) => sum + f.sizeBytes, 0);
  const serverRoot = path.join(caseDir, 'sftp-server');
  const [sshd, s3] = await Promise.all([startSshd(path.join(caseDir, 'sshd')), startS3rver(process.env.BENCH_S3_DIR ?? path.join(caseDir, 's3rver'))]);
  try {
    const dbPath = path.join(caseDir, 'index.db');
    const configPath = path.join(caseDir, 'config.yaml');
    const env = { ...process.env, BENCH_S3_KEY: 'S3RVER', BENCH_S3_SECRET: 'S3RVER', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    let round = 0;
    // Every timed run gets a destination that has never seen the files: a new directory on
    // the server, a new bucket. The previous round's are removed untimed.
    const fresh = () => {
      round++;
      fs.rmSync(serverRoot, { recursive: true, force: true });
      // sync --init creates the destination's own folder, never the folders above it.
      fs.mkdirSync(serverRoot, { recursive: true });
      for (const entry of fs.existsSync(s3.dir) ? fs.readdirSync(s3.dir) : []) fs.rmSync(path.join(s3.dir, entry), { recursive: true, force: true });
      return { sftpPath: path.join(serverRoot, `round-${round}`), bucket: `bench-${round}` };
    };
    const writeConfig = (sftpPath, bucket, remoteHash) => {
      fs.writeFileSync(
        configPath,
        [
          'node: bench', `db: ${dbPath}`, 'volumes:', '  bench:', `    path: ${volumeDir}`, '    sync_to: [box, cloud]', 'destinations:',
          '  box:', '    type: sftp', '    host: 127.0.0.1', `    port: ${sshd.port}`, `    user: ${os.userInfo().username}`, `    path: ${sftpPath}`,
          `    private_key_file: ${sshd.keyFile}`, `    host_key: "${sshd.fingerprint}"`, ...(remoteHash ? ['    remote_hash: b3sum'] : []),
          '  cloud:', '    type: s3', `    bucket: ${bucket}`, '    region: us-east-1', `    endpoint: ${s3.endpoint}`, '    force_path_style: true',
          '    access_key_id: { env: BENCH_S3_KEY }', '    secret_access_key: { env: BENCH_S3_SECRET }', '',
        ].join('\n'),
      );
    };
    const squirrel = (...extra) => runChecked(process.execPath, [squirrelBin, '--config', configPath, '--quiet', '--no-progress', ...extra], { env });
    const freshIndex = (remoteHash = false) => () => {
      const { sftpPath, bucket } = fresh();
      writeConfig(sftpPath, bucket, remoteHash);
      for (const suffix of ['', '-wal', '-shm']) fs.rmSync(dbPath + suffix, { force: true });
      // A fresh database over a volume whose marker names the last round's index.
      squirrel('index', 'bench', '--new-index');
    };
    let rcloneTarget = null;
    const rcloneEnv = {
      ...process.env,
      RCLONE_CONFIG: path.join(caseDir, 'rclone.conf'),
      RCLONE_CONFIG_BOX_TYPE: 'sftp',
      RCLONE_CONFIG_BOX_HOST: '127.0.0.1',
      RCLONE_CONFIG_BOX_PORT: String(sshd.port),
      RCLONE_CONFIG_BOX_USER: os.userInfo().username,
      RCLONE_CONFIG_BOX_KEY_FILE: sshd.keyFile,
      RCLONE_CONFIG_BOX_KNOWN_HOSTS_FILE: sshd.knownHosts,
      RCLONE_CONFIG_CLOUD_TYPE: 's3',
      RCLONE_CONFIG_CLOUD_PROVIDER: 'Other',
      RCLONE_CONFIG_CLOUD_ACCESS_KEY_ID: 'S3RVER',
      RCLONE_CONFIG_CLOUD_SECRET_ACCESS_KEY: 'S3RVER',
      RCLONE_CONFIG_CLOUD_ENDPOINT: s3.endpoint,
      RCLONE_CONFIG_CLOUD_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG_CLOUD_REGION: 'us-east-1',
    };
    // Plain http on loopback needs no CA; rclone's S3 client fails on an AWS_CA_BUNDLE it cannot use.
    delete rcloneEnv.AWS_CA_BUNDLE;
    fs.writeFileSync(rcloneEnv.RCLONE_CONFIG, '');
    const freshRclone = () => {
      rcloneTarget = fresh();
    };
    const rclone = (remote) => runChecked('rclone', ['copy', volumeDir, remote], { env: rcloneEnv });

    console.log(`tree: ${files.length} files, ${(totalBytes / MIB).toFixed(0)} MiB (4 KiB - 48 MiB); servers on loopback; ${os.availableParallelism()} cores, load ${os.loadavg()[0].toFixed(1)}`);
    // --nothing-new: each timed run finds everything already there (the first copy runs untimed in `before`).
    const nothingNew = args.nothingNew === true;
    const squirrelCase = (name, to, remoteHash) => {
      const sync = () => squirrel('sync', 'bench', '--to', to, '--init');
      return nothingNew
        ? { name: `${name}, nothing new`, before: () => (freshIndex(remoteHash)(), sync()), fn: () => squirrel('sync', 'bench', '--to', to) }
        : { name, before: freshIndex(remoteHash), fn: sync };
    };
    const rcloneCase = (name, remote) =>
      nothingNew ? { name: `${name}, nothing new`, before: () => (freshRclone(), rclone(remote())), fn: () => rclone(remote()) } : { name, before: freshRclone, fn: () => rclone(remote()) };
    const cases = [
      rcloneCase('rclone copy -> sftp', () => `box:${rcloneTarget.sftpPath}`),
      squirrelCase('squirrel sync -> sftp (download + BLAKE3)', 'box', false),
      squirrelCase('squirrel sync -> sftp (remote b3sum)', 'box', true),
      rcloneCase('rclone copy -> s3', () => `cloud:${rcloneTarget.bucket}`),
      squirrelCase('squirrel sync -> s3 (GET + BLAKE3)', 'cloud', false),
    ].filter((c) => only === null || c.name.includes(`-> ${only}`));
    const best = bestOfInterleaved(cases);
    const mibps = (name) => totalBytes / MIB / best.get(name);
    const reference = (name) => cases.find((c) => c.name.startsWith('rclone copy') && c.name.includes(name.includes('sftp') ? 'sftp' : 's3')).name;
    printTable([
      ['leg', 'best s', 'MiB/s', 'files/s', 'vs rclone'],
      ...cases.map((c) => [
        c.name,
        best.get(c.name).toFixed(3),
        mibps(c.name).toFixed(1),
        (files.length / best.get(c.name)).toFixed(0),
        c.name.startsWith('rclone') ? '-' : `${(mibps(c.name) / mibps(reference(c.name))).toFixed(2)}x`,
      ]),
    ]);
    return Object.fromEntries(cases.map((c) => [c.name, { seconds: best.get(c.name), ratio: mibps(c.name) / mibps(reference(c.name)) }]));
  } finally {
    sshd.stop();
    s3.stop();
    spawnSync('rm', ['-rf', serverRoot]);
  }
}
