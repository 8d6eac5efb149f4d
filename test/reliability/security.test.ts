// Security basics. What squirrel creates is private to the user: the config, the database and
// its -wal/-shm journals, and the VACUUM INTO copy taken before a migration, all mode 0600
// even under a permissive umask. Secrets given as { env: VAR } never appear anywhere: not in
// text or --json output, not in errors (including --debug and failed network calls to real
// servers), not in the database, not in any file squirrel writes. Each test searches for the
// secret's value itself.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/db.js';
import { BIN, cleanupTempDirs, REPO_ROOT, tempDir } from '../helpers.js';
import { S3Server, SshServer, startS3Server, startSshServer } from '../destinations/servers.js';

afterAll(cleanupTempDirs);

/** Run the real binary under umask 000, so only squirrel's own modes protect what it creates. */
function squirrelUnderOpenUmask(args: string[], env: NodeJS.ProcessEnv = {}) {
  const command = `umask 000; exec "$0" "$@"`;
  const result = spawnSync('sh', ['-c', command, process.execPath, BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function modeOf(file: string): string {
  return (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0');
}

/** Modes of the database and whichever journals exist next to it. */
function databaseModes(dbPath: string): Record<string, string> {
  const modes: Record<string, string> = {};
  for (const suffix of ['', '-wal', '-shm']) if (fs.existsSync(dbPath + suffix)) modes[path.basename(dbPath + suffix)] = modeOf(dbPath + suffix);
  return modes;
}

describe('files squirrel creates are private (0600), even under umask 000', () => {
  it('init: the config and the database', () => {
    // setup
    const dir = path.join(tempDir(), 'fresh');
    // act
    const result = squirrelUnderOpenUmask(['init', '--path', dir]);
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(modeOf(path.join(dir, 'config.yaml'))).toBe('0600');
    expect(Object.values(databaseModes(path.join(dir, 'index.db')))).toEqual(expect.arrayContaining(['0600']));
    expect(new Set(Object.values(databaseModes(path.join(dir, 'index.db'))))).toEqual(new Set(['0600']));
    expect(modeOf(dir)).toBe('0700');
  });

  it.each([['index'], ['recover']])('%s creating the database: it and its journals', (command) => {
    // setup
    const dir = tempDir();
    const volume = path.join(dir, 'photos');
    fs.mkdirSync(volume);
    fs.writeFileSync(path.join(volume, 'a.jpg'), 'alpha');
    const dbPath = path.join(dir, 'state', 'index.db');
    const configPath = path.join(dir, 'config.yaml');
    fs.writeFileSync(configPath, YAML.stringify({ node: 'laptop', db: dbPath, volumes: { photos: { path: volume, sync_to: ['nas'] } }, destinations: { nas: { type: 'local', path: path.join(dir, 'nas') } } }));
    if (command === 'recover') {
      // a catalog at nas, then the database lost
      fs.mkdirSync(path.join(dir, 'nas'));
      squirrelUnderOpenUmask(['--config', configPath, 'index', 'photos']);
      squirrelUnderOpenUmask(['--config', configPath, 'sync', '--init']);
      for (const suffix of ['', '-wal', '-shm']) fs.rmSync(dbPath + suffix, { force: true });
    }
    // act
    const result = squirrelUnderOpenUmask(['--config', configPath, ...(command === 'recover' ? ['recover', '--from', 'nas'] : [command, 'photos'])]);
    // expect
    expect(result.stderr).not.toMatch(/internal error/);
    expect(fs.existsSync(dbPath)).toBe(true);
    expect(new Set(Object.values(databaseModes(dbPath)))).toEqual(new Set(['0600']));
    expect(modeOf(path.dirname(dbPath))).toBe('0700');
  });

  it('a command other than init and index meeting no database creates none (it would stand in the way of recover)', () => {
    // setup
    const dir = tempDir();
    const dbPath = path.join(dir, 'index.db');
    const configPath = path.join(dir, 'config.yaml');
    fs.mkdirSync(path.join(dir, 'photos'));
    fs.writeFileSync(configPath, YAML.stringify({ node: 'laptop', db: dbPath, volumes: { photos: { path: path.join(dir, 'photos'), sync_to: ['nas'] } }, destinations: { nas: { type: 'local', path: path.join(dir, 'nas') } } }));
    // act
    const results = [['sync', '--init'], ['status'], ['verify'], ['runs'], ['evidence', 'photos']].map((args) => squirrelUnderOpenUmask(['--config', configPath, ...args]));
    // expect
    for (const result of results) {
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/no database at .*recover --from/);
    }
    expect(fs.existsSync(dbPath)).toBe(false);
  });

  it('the VACUUM INTO copy taken before a migration', () => {
    // setup: a database at schema version 1, then a binary that knows version 2
    const dbPath = path.join(tempDir(), 'index.db');
    const previous = process.umask(0);
    try {
      openDatabase(dbPath, { create: true, migrationsDir: path.join(REPO_ROOT, 'test/fixtures/migrations-v1') }).db.close();
      // act
      const opened = openDatabase(dbPath, { migrationsDir: path.join(REPO_ROOT, 'test/fixtures/migrations-v2') });
      opened.db.close();
      // expect
      expect(opened.backupPath).not.toBeNull();
      expect(modeOf(opened.backupPath!)).toBe('0600');
      expect(new Set(Object.values(databaseModes(dbPath)))).toEqual(new Set(['0600']));
    } finally {
      process.umask(previous);
    }
  });
});

describe('secrets given as { env: VAR } never appear anywhere', () => {
  const secrets = {
    SQUIRREL_SEC_S3_KEY: 'AKIASQUIRRELLEAKTEST7',
    SQUIRREL_SEC_S3_SECRET: 'leak+test/s3cr3t=Zq9xW2vB',
    SQUIRREL_SEC_BOX_PASSWORD: 'leak-test-p4ssw0rd-Kd81',
  };
  let s3: S3Server;
  let ssh: SshServer;

  beforeAll(async () => {
    [s3, ssh] = await Promise.all([startS3Server(), startSshServer()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([s3?.dispose(), ssh?.dispose()]);
  });

  it('in output, --json, --debug, errors from real servers that refuse the credentials, the database and every file written', () => {
    // setup: a local destination that works, an s3 and an sftp one that refuse these credentials, one unreachable
    const dir = tempDir();
    const volume = path.join(dir, 'photos');
    fs.mkdirSync(volume);
    fs.writeFileSync(path.join(volume, 'a.jpg'), 'alpha');
    const configPath = path.join(dir, 'config.yaml');
    fs.writeFileSync(
      configPath,
      YAML.stringify({
        node: 'laptop',
        db: path.join(dir, 'index.db'),
        volumes: { photos: { path: volume, sync_to: ['nas', 'cloud', 'box', 'gone'], offload_requires: ['nas', 'cloud'] } },
        destinations: {
          nas: { type: 'local', path: path.join(dir, 'nas') },
          cloud: { type: 's3', bucket: 'squirrel-leak-test', endpoint: s3.endpoint, force_path_style: true, region: 'us-east-1', access_key_id: { env: 'SQUIRREL_SEC_S3_KEY' }, secret_access_key: { env: 'SQUIRREL_SEC_S3_SECRET' } },
          box: { type: 'sftp', host: ssh.host, port: ssh.port, user: ssh.user, path: path.join(ssh.dataDir, 'box'), password: { env: 'SQUIRREL_SEC_BOX_PASSWORD' }, host_key: ssh.hostPublicKey },
          gone: { type: 's3', bucket: 'b', endpoint: 'http://127.0.0.1:9', force_path_style: true, region: 'us-east-1', access_key_id: { env: 'SQUIRREL_SEC_S3_KEY' }, secret_access_key: { env: 'SQUIRREL_SEC_S3_SECRET' } },
        },
      }),
    );
    const commands = [
      ['config', 'check'],
      ['--json', 'config', 'check'],
      ['index', 'photos'],
      ['sync', 'photos', '--init'],
      ['--json', 'sync', 'photos'],
      ['--debug', 'sync', 'photos', '--to', 'cloud'],
      ['--debug', '--json', 'sync', 'photos', '--to', 'box'],
      ['verify', 'photos'],
      ['--json', 'verify', 'photos'],
      ['status'],
      ['--json', 'status', '--check'],
      ['offload', 'photos', '.', '--dry-run', '--per-file'],
      ['restore', 'photos', '.', '--from', 'cloud'],
      ['--json', 'runs'],
      ['--json', 'evidence', 'photos', '--history'],
    ];
    // act
    const outputs = commands.map((args) => {
      const result = spawnSync(process.execPath, [BIN, '--config', configPath, '--no-progress', ...args], { env: { ...process.env, ...secrets }, encoding: 'utf8', timeout: 120_000 });
      return { args: args.join(' '), code: result.status, text: `${result.stdout}\n${result.stderr}` };
    });
    const written = filesUnder(dir).map((file) => ({ file, bytes: fs.readFileSync(file) }));
    // expect: the commands really ran into the refusing servers
    expect(outputs.find((o) => o.args === '--json sync photos')!.text).toMatch(/cloud/);
    for (const [name, value] of Object.entries(secrets)) {
      for (const output of outputs) expect(output.text.includes(value), `${name} in the output of \`squirrel ${output.args}\``).toBe(false);
      for (const { file, bytes } of written) {
        const asText = [value, Buffer.from(value).toString('base64'), encodeURIComponent(value)];
        for (const form of asText) expect(bytes.includes(form), `${name} (as ${form}) in ${path.relative(dir, file)}`).toBe(false);
      }
    }
    expect(outputs.every((o) => !/internal error/.test(o.text)), outputs.map((o) => `${o.args}: ${o.code}\n${o.text}`).join('\n')).toBe(true);
  }, 180_000);
});

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out.push(full);
    }
  };
  walk(dir);
  return out;
}
