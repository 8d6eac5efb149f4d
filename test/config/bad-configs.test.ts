// The table of bad configs, each run through the real binary (`config check`): exit 2 and a
// message naming the exact key path. The binary is the contract a user meets, so the table
// is checked there, not against validateConfig alone.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, CliResult, cleanupTempDirs, ErrorReport, json as parseJson, tempDir } from '../helpers.js';

afterAll(cleanupTempDirs);

/** The real binary, asynchronously, so the table's cases can run side by side. */
function binAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const root = tempDir();
const home = path.join(root, 'home');

/** A valid config; each case breaks one thing in a fresh copy. */
function base(): Raw {
  return {
    node: 'laptop',
    db: path.join(root, 'index.db'),
    volumes: {
      pictures: { path: path.join(home, 'Pictures'), sync_to: ['nas', 'offsite'], offload_requires: ['nas', 'offsite'], offload_max_evidence_age: '30d' },
      documents: { path: path.join(home, 'Documents'), sync_to: ['nas'] },
    },
    destinations: {
      nas: { type: 'local', path: path.join(root, 'nas') },
      offsite: { type: 'local', path: path.join(root, 'offsite') },
    },
  };
}

interface BadConfig {
  name: string;
  edit?: (c: Raw) => void;
  /** Literal YAML instead of an edited base config. */
  yaml?: string;
  env?: NodeJS.ProcessEnv;
  /** Each expected problem line: the key path, then a fragment of the message. */
  expect: [keyPath: string, fragment: string][];
  /** Text that must not appear anywhere in the output (an inline secret). */
  hidden?: string;
}

const cases: BadConfig[] = [
  // unknown keys, with a did-you-mean
  { name: 'unknown top-level key', edit: (c) => (c.volume = {}), expect: [['volume', "unknown key (did you mean 'volumes'?)"]] },
  {
    name: 'unknown volume key',
    edit: (c) => ((c.volumes.documents['sync-to'] = c.volumes.documents.sync_to), delete c.volumes.documents.sync_to),
    expect: [['volumes.documents.sync-to', "unknown key (did you mean 'sync_to'?)"], ['volumes.documents.sync_to', 'is required']],
  },
  { name: 'key of another destination type', edit: (c) => (c.destinations.nas.bucket = 'b'), expect: [['destinations.nas.bucket', 'unknown key for a local destination']] },
  // missing required keys
  { name: 'volume without path', edit: (c) => delete c.volumes.pictures.path, expect: [['volumes.pictures.path', 'is required']] },
  { name: 'volume without sync_to', edit: (c) => delete c.volumes.documents.sync_to, expect: [['volumes.documents.sync_to', 'is required']] },
  { name: 'sync_to left empty (null)', edit: (c) => (c.volumes.documents.sync_to = null), expect: [['volumes.documents.sync_to', 'expected a list of destination names']] },
  { name: 'destination without type', edit: (c) => delete c.destinations.nas.type, expect: [['destinations.nas.type', 'is required']] },
  { name: 'local destination without path', edit: (c) => delete c.destinations.nas.path, expect: [['destinations.nas.path', 'is required']] },
  { name: 's3 destination without bucket', edit: (c) => (c.destinations.cloud = { type: 's3' }), expect: [['destinations.cloud.bucket', 'is required']] },
  // wrong types and values
  { name: 'unknown destination type', edit: (c) => (c.destinations.nas.type = 'ftp'), expect: [['destinations.nas.type', 'unknown destination type string "ftp"']] },
  { name: 'sync_to as a string', edit: (c) => (c.volumes.documents.sync_to = 'nas'), expect: [['volumes.documents.sync_to', 'expected a list of destination names']] },
  { name: 'volumes as a list', edit: (c) => (c.volumes = [c.volumes.pictures]), expect: [['volumes', 'expected a mapping of volume names']] },
  { name: 'sftp port as a string', edit: (c) => (c.destinations.box = { type: 'sftp', host: 'h', user: 'u', path: '/b', port: '22' }), expect: [['destinations.box.port', 'expected a port number']] },
  { name: 's3 endpoint not a URL', edit: (c) => (c.destinations.cloud = { type: 's3', bucket: 'b', endpoint: 'minio:9000' }), expect: [['destinations.cloud.endpoint', 'must be an http(s) URL']] },
  { name: 's3 prefix with a .. segment', edit: (c) => (c.destinations.cloud = { type: 's3', bucket: 'b', prefix: 'photos/../other' }), expect: [['destinations.cloud.prefix', "must be key segments joined by single '/'"]] },
  { name: 'sftp host_key that is not a key', edit: (c) => (c.destinations.box = { type: 'sftp', host: 'h', user: 'u', path: '/b', host_key: 'a1:b2:c3' }), expect: [['destinations.box.host_key', 'is not a host key; give its SHA256 fingerprint']] },
  // names
  { name: 'upper-case volume name', edit: (c) => ((c.volumes.Pictures = c.volumes.pictures), delete c.volumes.pictures), expect: [['volumes.Pictures', "'Pictures' is not a valid name"]] },
  {
    name: 'destination name starting with _',
    edit: (c) => ((c.destinations._nas = c.destinations.nas), delete c.destinations.nas, (c.volumes.pictures.sync_to = ['_nas', 'offsite']), delete c.volumes.pictures.offload_requires),
    expect: [['destinations._nas', "'_nas' is not a valid name"], ['volumes.pictures.sync_to[0]', "'_nas' is not a valid name"]],
  },
  { name: 'node name with a space', edit: (c) => (c.node = 'my laptop'), expect: [['node', "'my laptop' is not a valid name"]] },
  // lists
  { name: 'duplicate in sync_to', edit: (c) => (c.volumes.pictures.sync_to = ['nas', 'offsite', 'nas']), expect: [['volumes.pictures.sync_to[2]', "'nas' is listed twice"]] },
  { name: 'duplicate in offload_requires', edit: (c) => (c.volumes.pictures.offload_requires = ['offsite', 'offsite']), expect: [['volumes.pictures.offload_requires[1]', "'offsite' is listed twice"]] },
  { name: 'sync_to naming an undefined destination', edit: (c) => (c.volumes.pictures.sync_to = ['nas', 'offsit']), expect: [['volumes.pictures.sync_to[1]', "'offsit' is not a defined destination (did you mean 'offsite'?)"]] },
  { name: 'offload_requires naming an undefined destination', edit: (c) => (c.volumes.pictures.offload_requires = ['cloud']), expect: [['volumes.pictures.offload_requires[0]', "'cloud' is not a defined destination"]] },
  { name: 'offload_requires outside sync_to', edit: (c) => (c.volumes.documents.offload_requires = ['offsite']), expect: [['volumes.documents.offload_requires[0]', "'offsite' is not in sync_to"]] },
  { name: 'empty offload_requires', edit: (c) => (c.volumes.pictures.offload_requires = []), expect: [['volumes.pictures.offload_requires', 'must name at least one destination']] },
  // secrets
  {
    name: 'unset { env: VAR } secret',
    edit: (c) => (c.destinations.cloud = { type: 's3', bucket: 'b', access_key_id: { env: 'SQUIRREL_TEST_KEY' }, secret_access_key: { env: 'SQUIRREL_TEST_UNSET' } }),
    env: { SQUIRREL_TEST_KEY: 'AKIA', SQUIRREL_TEST_UNSET: '' },
    expect: [['destinations.cloud.secret_access_key', 'environment variable SQUIRREL_TEST_UNSET is not set']],
  },
  {
    name: 'inline secret',
    edit: (c) => (c.destinations.box = { type: 'sftp', host: 'h', user: 'u', path: '/b', password: 'correct-horse-battery' }),
    expect: [['destinations.box.password', 'secrets are given as { env: VARIABLE_NAME }, never inline']],
    hidden: 'correct-horse-battery',
  },
  { name: 'secret env name that is not a variable name', edit: (c) => (c.destinations.box = { type: 'sftp', host: 'h', user: 'u', path: '/b', password: { env: '$PW' } }), expect: [['destinations.box.password', "'$PW' is not an environment variable name"]] },
  {
    name: 'only one of the s3 key pair',
    edit: (c) => (c.destinations.cloud = { type: 's3', bucket: 'b', access_key_id: { env: 'SQUIRREL_TEST_KEY' } }),
    env: { SQUIRREL_TEST_KEY: 'AKIA' },
    expect: [['destinations.cloud', 'give both access_key_id and secret_access_key, or neither']],
  },
  // paths
  { name: 'relative volume path', edit: (c) => (c.volumes.pictures.path = 'Pictures'), expect: [['volumes.pictures.path', "'Pictures' must be an absolute path (or start with ~/)"]] },
  { name: '~user path (only ~/ expands)', edit: (c) => (c.volumes.pictures.path = '~ann/Pictures'), expect: [['volumes.pictures.path', "'~ann/Pictures' must be an absolute path"]] },
  { name: 'relative db', edit: (c) => (c.db = 'index.db'), expect: [['db', "'index.db' must be an absolute path"]] },
  { name: 'relative sftp server path', edit: (c) => (c.destinations.box = { type: 'sftp', host: 'h', user: 'u', path: 'backup' }), expect: [['destinations.box.path', 'must be an absolute path on the server']] },
  // durations
  { name: 'duration as a bare number', edit: (c) => (c.volumes.pictures.offload_max_evidence_age = 30), expect: [['volumes.pictures.offload_max_evidence_age', 'a bare number (30) has no unit']] },
  { name: 'duration as a quoted bare number', edit: (c) => (c.volumes.pictures.offload_max_evidence_age = '30'), expect: [['volumes.pictures.offload_max_evidence_age', 'a bare number ("30") has no unit']] },
  { name: 'duration garbage', edit: (c) => (c.volumes.pictures.offload_max_evidence_age = 'soon'), expect: [['volumes.pictures.offload_max_evidence_age', '"soon" is not a duration']] },
  { name: 'duration zero', edit: (c) => (c.volumes.pictures.offload_max_evidence_age = '0d'), expect: [['volumes.pictures.offload_max_evidence_age', '"0d" must be positive']] },
  { name: 'duration negative', edit: (c) => (c.volumes.pictures.offload_max_evidence_age = '-30d'), expect: [['volumes.pictures.offload_max_evidence_age', '"-30d" must be positive']] },
  { name: 'duration sub-second', edit: (c) => (c.volumes.pictures.offload_max_evidence_age = '500ms'), expect: [['volumes.pictures.offload_max_evidence_age', '"500ms" is below one second']] },
  // nesting
  { name: 'volume inside another volume', edit: (c) => (c.volumes.documents.path = path.join(home, 'Pictures', 'docs')), expect: [['volumes.documents.path', "overlaps volume 'pictures'"]] },
  { name: 'two volumes on one path', edit: (c) => (c.volumes.documents.path = path.join(home, 'Pictures') + '/'), expect: [['volumes.documents.path', "overlaps volume 'pictures'"]] },
  { name: 'volume inside a local destination', edit: (c) => (c.volumes.documents.path = path.join(root, 'nas', 'docs')), expect: [['volumes.documents.path', "overlaps local destination 'nas'"]] },
  { name: 'local destination inside a volume', edit: (c) => (c.destinations.nas.path = path.join(home, 'Pictures', '.backup')), expect: [['volumes.pictures.path', "overlaps local destination 'nas'"]] },
  { name: 'local destinations nested', edit: (c) => (c.destinations.offsite.path = path.join(root, 'nas', 'offsite')), expect: [['destinations.offsite.path', "overlaps local destination 'nas'"]] },
  { name: 'database inside a volume', edit: (c) => (c.db = path.join(home, 'Documents', 'index.db')), expect: [['db', "is inside volume 'documents'"]] },
  // the file itself
  { name: 'YAML syntax error', yaml: 'volumes: [\n', expect: [['line 2, column 1', 'Flow sequence']] },
  { name: 'duplicate YAML key', yaml: 'node: a\nnode: b\n', expect: [['line 2, column 1', 'Map keys must be unique']] },
  { name: 'top level is not a mapping', yaml: '- pictures\n', expect: [['(top level)', 'expected a mapping']] },
];

describe('bad configs, through the real binary', () => {
  it('the table covers at least 25 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.concurrent.each(cases)('$name -> exit 2 naming the key path', async (badConfig) => {
    // setup
    const config = base();
    badConfig.edit?.(config);
    const configPath = path.join(tempDir(), 'config.yaml');
    fs.writeFileSync(configPath, badConfig.yaml ?? YAML.stringify(config));
    // act
    const result = await binAsync(['--config', configPath, 'config', 'check'], badConfig.env);
    // expect
    expect(result.code, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`invalid configuration in ${configPath}:`);
    const problems = result.stderr.split('\n').filter((line) => line.startsWith('  ')).map((line) => line.trim());
    for (const [keyPath, fragment] of badConfig.expect) {
      expect(problems.some((p) => p.startsWith(`${keyPath}: `) && p.includes(fragment)), `${keyPath}: ...${fragment}... in\n${result.stderr}`).toBe(true);
    }
    if (badConfig.hidden) expect(result.stderr + result.stdout).not.toContain(badConfig.hidden);
  });

  it('names every bad key at once, and --json carries the same list', async () => {
    // setup: three independent mistakes
    const config = base();
    config.volumes.pictures.sync_to = ['nas', 'nas'];
    config.volumes.documents.offload_max_evidence_age = 'soon';
    config.destinations.nas.paht = '/x';
    const configPath = path.join(tempDir(), 'config.yaml');
    fs.writeFileSync(configPath, YAML.stringify(config));
    // act
    const text = await binAsync(['--config', configPath, 'config', 'check']);
    const json = await binAsync(['--config', configPath, '--json', 'config', 'check']);
    // expect
    expect(text.code).toBe(2);
    expect(json.code).toBe(2);
    const expectedPaths = ['destinations.nas.paht', 'volumes.pictures.sync_to[1]', 'volumes.documents.offload_max_evidence_age'];
    for (const keyPath of expectedPaths) expect(text.stderr).toContain(`  ${keyPath}: `);
    const error = parseJson<ErrorReport>(json).error;
    expect(error.code).toBe('config');
    for (const keyPath of expectedPaths) expect(error.message).toContain(`${keyPath}: `);
  });

  it('the valid base config passes (so each case fails for its own reason)', async () => {
    // setup
    const configPath = path.join(tempDir(), 'config.yaml');
    fs.writeFileSync(configPath, YAML.stringify(base()));
    // act
    const result = await binAsync(['--config', configPath, 'config', 'check']);
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`config ${configPath}: ok`);
  });

  it('a missing config file is exit 2 with the way out', async () => {
    // act
    const result = await binAsync(['--config', path.join(root, 'nope.yaml'), 'config', 'check']);
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`no config file at ${path.join(root, 'nope.yaml')}; create one with \`squirrel init\``);
  });
});
