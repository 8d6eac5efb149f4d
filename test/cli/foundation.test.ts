// The frame every command stands on: --version, help with exit codes, usage errors as exit 2,
// `init` and `config check`. The user-facing cases run the real binary.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import YAML from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { fixedClock } from '../../src/clock.js';
import { noHooks } from '../../src/core/reporter.js';
import { BIN, REPO_ROOT, bin, cleanupTempDirs, cli, fileMode, json, makeSandbox, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

const packageVersion = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Every command path the program registers: ['init'], ['config', 'check'], ... */
function commandPaths(): string[][] {
  const sink = { write: () => {} };
  const program = buildProgram({ env: {}, stdout: sink, stderr: sink, stderrIsTTY: false, clock: fixedClock(0n), hooks: noHooks, pid: 1, host: 'h' });
  const paths: string[][] = [];
  const walk = (command: Command, prefix: string[]) => {
    for (const sub of command.commands) {
      if (sub.name() === 'help') continue;
      paths.push([...prefix, sub.name()]);
      walk(sub, [...prefix, sub.name()]);
    }
  };
  walk(program, []);
  return paths;
}

describe('version and help', () => {
  it('--version prints the package version', () => {
    // act
    const result = bin(['--version']);
    // expect
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${packageVersion}\n`);
  });

  it('--help lists the commands and ends with the exit codes', () => {
    // act
    const result = bin(['--help']);
    // expect
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: squirrel /);
    for (const name of ['init', 'config', 'runs']) expect(result.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    expect(result.stdout.trimEnd()).toMatch(/Exit codes:\n {2}0 {2}ok.*\n {2}1 {2}operational error.*\n {2}2 {2}usage or configuration error.*$/);
  });

  it('`help <cmd>` of every command ends with its exit codes', async () => {
    // setup
    const paths = commandPaths();
    expect(paths.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['init', 'config', 'config check', 'runs']));
    for (const commandPath of paths) {
      // act: `squirrel help init`, `squirrel config help check`
      const result = await cli([...commandPath.slice(0, -1), 'help', commandPath.at(-1)!]);
      // expect
      const text = result.stdout.trimEnd();
      expect(result.code, commandPath.join(' ')).toBe(0);
      expect(text, commandPath.join(' ')).toMatch(new RegExp(`^Usage: squirrel ${commandPath.join(' ')}\\b`));
      const exitCodes = text.slice(text.lastIndexOf('Exit codes:'));
      expect(exitCodes, commandPath.join(' ')).toMatch(/^Exit codes:\n {2}0 {2}ok/);
      expect(exitCodes, commandPath.join(' ')).toContain('  2  usage or configuration error');
      // A command may add notes on its own exit codes, but no other section comes after them.
      expect(exitCodes.split('\n').slice(1).filter((line) => /^[A-Z][A-Za-z ]*:$/.test(line)), commandPath.join(' ')).toEqual([]);
    }
  });

  it('`squirrel help init` through the binary', () => {
    // act
    const result = bin(['help', 'init']);
    // expect
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--path <dir>');
    expect(result.stdout.trimEnd()).toMatch(/ {2}2 {2}usage or configuration error$/);
  });
});

describe('output into a closed pipe', () => {
  it('`squirrel --help | true` neither crashes nor fails', () => {
    // act: `true` exits before node has started, so every write meets a closed pipe
    const result = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" --help | true`], { encoding: 'utf8' });
    // expect
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('usage errors are exit 2', () => {
  it.each([
    ['an unknown command', ['frobnicate'], "unknown command 'frobnicate'"],
    ['an unknown global flag', ['--frobnicate', 'runs'], "unknown option '--frobnicate'"],
    ['an unknown command flag', ['runs', '--frobnicate'], "unknown option '--frobnicate'"],
    ['a flag missing its value', ['runs', '--limit'], "option '--limit <n>' argument missing"],
    ['no command at all', [], 'Usage: squirrel'],
    ['a command group without its subcommand', ['config'], 'Usage: squirrel config'],
  ])('%s', (_label, args, message) => {
    // act
    const result = bin(args);
    // expect
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
  });

  it('with --json, a usage error is also one JSON document on stdout', () => {
    // act
    const result = bin(['--json', 'frobnicate']);
    // expect
    expect(result.code).toBe(2);
    expect(json(result)).toEqual({ error: { code: 'usage', message: "unknown command 'frobnicate'" } });
  });
});

describe('squirrel init', () => {
  it('writes a starter config and creates the database, both mode 0600, and the config checks clean', () => {
    // setup
    const dir = path.join(tempDir(), 'fresh', 'squirrel');
    // act
    const result = bin(['init', '--path', dir]);
    // expect
    expect(result.code, result.stderr).toBe(0);
    const configPath = path.join(dir, 'config.yaml');
    const dbPath = path.join(dir, 'index.db');
    expect(result.stdout).toContain(`wrote ${configPath}`);
    expect(result.stdout).toContain(`created ${dbPath}`);
    expect(fileMode(configPath)).toBe(0o600);
    expect(fileMode(dbPath)).toBe(0o600);
    expect(fileMode(dir)).toBe(0o700);
    const check = bin(['--config', configPath, 'config', 'check']);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain(`db: ${dbPath}`);
    const runs = bin(['--config', configPath, 'runs']);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toBe('no runs\n');
  });

  it('never overwrites an existing config', () => {
    // setup
    const dir = tempDir();
    const configPath = path.join(dir, 'config.yaml');
    fs.writeFileSync(configPath, 'node: mine\n');
    // act
    const result = bin(['init', '--path', dir]);
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${configPath} already exists; squirrel init never overwrites a config`);
    expect(fs.readFileSync(configPath, 'utf8')).toBe('node: mine\n');
    expect(fs.existsSync(path.join(dir, 'index.db'))).toBe(false);
  });

  it('an unusable --db leaves no config behind', () => {
    // setup
    const dir = tempDir();
    const notOurs = path.join(dir, 'notes.txt');
    fs.writeFileSync(notOurs, 'my notes, not a database\n');
    // act
    const result = bin(['--db', notOurs, 'init', '--path', dir]);
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is not a squirrel database');
    expect(fs.existsSync(path.join(dir, 'config.yaml'))).toBe(false);
    expect(fs.readFileSync(notOurs, 'utf8')).toBe('my notes, not a database\n');
  });

  it('keeps an existing squirrel database and says so', async () => {
    // setup
    const dir = tempDir();
    expect((await cli(['init', '--path', path.join(dir, 'first')])).code).toBe(0);
    // act
    const result = await cli(['--db', path.join(dir, 'first', 'index.db'), 'init', '--path', path.join(dir, 'second')]);
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`using the existing database ${path.join(dir, 'first', 'index.db')}`);
  });

  it('without --path, writes where --config (or SQUIRREL_CONFIG) points', () => {
    // setup
    const dir = tempDir();
    const viaFlag = path.join(dir, 'a', 'squirrel.yaml');
    const viaEnv = path.join(dir, 'b', 'config.yaml');
    // act
    const flagResult = bin(['--config', viaFlag, 'init']);
    const envResult = bin(['init'], { env: { SQUIRREL_CONFIG: viaEnv } });
    // expect
    expect(flagResult.code, flagResult.stderr).toBe(0);
    expect(envResult.code, envResult.stderr).toBe(0);
    expect(fs.existsSync(viaFlag)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'a', 'index.db'))).toBe(true);
    expect(fs.existsSync(viaEnv)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'b', 'index.db'))).toBe(true);
  });

  it('records an explicit --db in the config, so later commands find the same database', async () => {
    // setup
    const dir = tempDir();
    const dbPath = path.join(dir, 'data', 'squirrel.db');
    // act
    const result = await cli(['--db', dbPath, '--json', 'init', '--path', path.join(dir, 'conf')]);
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(json(result)).toEqual({ config: path.join(dir, 'conf', 'config.yaml'), db: dbPath, dbExisted: false });
    expect(YAML.parse(fs.readFileSync(path.join(dir, 'conf', 'config.yaml'), 'utf8')).db).toBe(dbPath);
    expect(fileMode(dbPath)).toBe(0o600);
    const check = await cli(['--config', path.join(dir, 'conf', 'config.yaml'), '--json', 'config', 'check']);
    expect(json(check).db).toBe(dbPath);
  });

  it('names the node after the host', async () => {
    // setup
    const dir = tempDir();
    // act
    await cli(['init', '--path', dir], { deps: { host: 'Ann-Laptop.example.org' } });
    // expect
    expect(YAML.parse(fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8')).node).toBe('ann-laptop');
  });
});

describe('squirrel config check', () => {
  it('prints the resolved config: absolute paths, defaults, the offload policy', () => {
    // setup
    const sandbox = makeSandbox({}, { volume: { offload_max_evidence_age: '90m' } });
    // act
    const result = bin(['--config', sandbox.configPath, 'config', 'check']);
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`config ${sandbox.configPath}: ok`);
    expect(result.stdout).toContain('node: laptop');
    expect(result.stdout).toContain(`  photos: ${sandbox.volumePath}`);
    expect(result.stdout).toContain('    offload_requires: nas, offsite');
    expect(result.stdout).toContain('    offload_max_evidence_age: 90m');
    expect(result.stdout).toContain(`  nas (local):\n    path: ${sandbox.destinations.nas}`);
  });

  it("masks secrets: a secret's value never appears in text or --json output", () => {
    // setup
    const sandbox = makeSandbox();
    const secretValue = 'sup3r-s3cret-Value-9';
    const keyValue = 'AKIAIOSFODNN7EXAMPLE';
    sandbox.writeConfig({
      destinations: {
        ...(sandbox.config.destinations as object),
        cloud: { type: 's3', bucket: 'b', access_key_id: { env: 'SQ_TEST_KEY_ID' }, secret_access_key: { env: 'SQ_TEST_SECRET' } },
        box: { type: 'sftp', host: 'box.example', user: 'ann', path: '/backup', password: { env: 'SQ_TEST_SECRET' } },
      },
    });
    const env = { SQ_TEST_KEY_ID: keyValue, SQ_TEST_SECRET: secretValue };
    // act
    const text = bin(['--config', sandbox.configPath, 'config', 'check'], { env });
    const asJson = bin(['--config', sandbox.configPath, '--json', 'config', 'check'], { env });
    // expect
    expect(text.code, text.stderr).toBe(0);
    expect(asJson.code, asJson.stderr).toBe(0);
    for (const output of [text.stdout, text.stderr, asJson.stdout, asJson.stderr]) {
      expect(output).not.toContain(secretValue);
      expect(output).not.toContain(keyValue);
    }
    expect(text.stdout).toContain('    secret_access_key: ******** (from env SQ_TEST_SECRET)');
    expect(text.stdout).toContain('    password: ******** (from env SQ_TEST_SECRET)');
    const destinations = json<{ destinations: Record<string, Record<string, unknown>> }>(asJson).destinations;
    expect(destinations.cloud.secretAccessKey).toBe('******** (from env SQ_TEST_SECRET)');
    expect(destinations.box.password).toBe('******** (from env SQ_TEST_SECRET)');
  });

  it('does not need or touch the database', () => {
    // setup
    const sandbox = makeSandbox();
    // act
    const result = bin(['--config', sandbox.configPath, 'config', 'check']);
    // expect
    expect(result.code).toBe(0);
    expect(fs.existsSync(sandbox.dbPath)).toBe(false);
  });

  it('expands ~ against the home directory', () => {
    // setup
    const home = tempDir();
    const configPath = path.join(home, 'config.yaml');
    fs.writeFileSync(configPath, YAML.stringify({ volumes: { docs: { path: '~/Documents', sync_to: [] } } }));
    // act
    const result = bin(['--config', configPath, '--json', 'config', 'check'], { env: { HOME: home } });
    // expect
    expect(result.code, result.stderr).toBe(0);
    const resolved = json<{ db: string; node: string; volumes: Record<string, { path: string }> }>(result);
    expect(resolved.volumes.docs.path).toBe(path.join(home, 'Documents'));
    expect(resolved.db).toBe(path.join(home, 'index.db'));
    expect(resolved.node).toMatch(/^[a-z0-9][a-z0-9_-]*$/);
    expect(os.homedir()).not.toBe(home);
  });
});
