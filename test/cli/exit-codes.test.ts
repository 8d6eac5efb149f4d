// Help and behaviour agree (issue 19, item 4), as one table through the real binary: for every
// command, each exit code its --help lists is reached by a row of the table, and every row
// ends with a code its --help lists. A new command without rows fails the coverage check.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/registry.js';
import { bin, cleanupTempDirs, makeSandbox, Sandbox, tempDir, withConfig } from '../helpers.js';
import { copyAt, NOW, seeded, setup } from '../scenarios.js';

afterAll(cleanupTempDirs);

interface Row {
  /** What the row does, for the test name. */
  what: string;
  /** The sandbox to run in (fresh per row), and the arguments after --config. */
  prepare: () => Promise<{ sb: Sandbox | null; args: string[] }>;
  code: number;
}

const fresh = async () => makeSandbox({ 'a.jpg': 'alpha' });
const indexed = async () => {
  const sb = await fresh();
  await setup(sb, ['index', 'photos']);
  return sb;
};
const pushed = async () => seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
const onlyNas = async () => seeded({ 'a.jpg': 'alpha' }, { seed: ['nas'] });
const inSandbox = (make: () => Promise<Sandbox>, ...args: string[]) => async () => ({ sb: await make(), args });

/** Rows per command (its words), one or more per exit code its help promises. */
const TABLE: Record<string, Row[]> = {
  init: [
    { what: 'a fresh place', code: 0, prepare: async () => ({ sb: null, args: ['init', '--path', path.join(tempDir(), 'new')] }) },
    { what: 'a config that cannot be written', code: 1, prepare: async () => ({ sb: null, args: ['--db', path.join(tempDir(), 'index.db'), 'init', '--path', '/proc/self'] }) },
    { what: 'over an existing config', code: 2, prepare: async () => ({ sb: await fresh(), args: ['init'] }) },
  ],
  config: [
    { what: '--help', code: 0, prepare: inSandbox(fresh, 'config', '--help') },
    { what: 'no subcommand', code: 2, prepare: inSandbox(fresh, 'config') },
  ],
  'config check': [
    { what: 'a valid config', code: 0, prepare: inSandbox(fresh, 'config', 'check') },
    {
      what: 'an invalid config',
      code: 2,
      prepare: async () => {
        const sb = await fresh();
        sb.writeConfig({ volumes: { photos: { path: 'relative', sync_to: [] } } });
        return { sb, args: ['config', 'check'] };
      },
    },
  ],
  index: [
    { what: 'a volume', code: 0, prepare: inSandbox(fresh, 'index', 'photos') },
    {
      what: 'a volume whose root is gone',
      code: 1,
      prepare: async () => {
        const sb = await fresh();
        fs.rmSync(sb.volumePath, { recursive: true });
        return { sb, args: ['index', 'photos'] };
      },
    },
    { what: 'an unknown volume', code: 2, prepare: inSandbox(fresh, 'index', 'music') },
  ],
  sync: [
    { what: 'a first sync', code: 0, prepare: inSandbox(indexed, 'sync', 'photos', '--init') },
    { what: 'an unmarked destination', code: 1, prepare: inSandbox(indexed, 'sync', 'photos', '--to', 'nas') },
    { what: 'an unknown destination', code: 2, prepare: inSandbox(indexed, 'sync', '--to', 'tape') },
  ],
  verify: [
    { what: 'sound copies', code: 0, prepare: inSandbox(pushed, 'verify', 'photos') },
    {
      what: 'a corrupt copy',
      code: 1,
      prepare: async () => {
        const sb = await pushed();
        fs.writeFileSync(copyAt(sb, 'nas', 'a.jpg'), 'rotten');
        return { sb, args: ['verify', 'photos', '--to', 'nas'] };
      },
    },
    { what: 'a bad --sample', code: 2, prepare: inSandbox(pushed, 'verify', '--sample', '0') },
  ],
  offload: [
    { what: 'a dry run', code: 0, prepare: inSandbox(pushed, 'offload', 'photos', '.', '--dry-run') },
    {
      what: 'a volume whose root is gone',
      code: 1,
      prepare: async () => {
        const sb = await pushed();
        fs.rmSync(sb.volumePath, { recursive: true });
        return { sb, args: ['offload', 'photos', '.'] };
      },
    },
    { what: 'no selector', code: 2, prepare: inSandbox(pushed, 'offload', 'photos') },
    { what: '--strict with refusals', code: 3, prepare: inSandbox(onlyNas, 'offload', 'photos', '.', '--strict') },
  ],
  restore: [
    { what: 'nothing to restore', code: 0, prepare: inSandbox(pushed, 'restore', 'photos', '.') },
    {
      what: 'no good copy left',
      code: 1,
      prepare: async () => {
        const sb = await pushed();
        await setup(sb, ['offload', 'photos', 'a.jpg']);
        for (const dest of ['nas', 'offsite']) fs.writeFileSync(copyAt(sb, dest, 'a.jpg'), 'rotten');
        return { sb, args: ['restore', 'photos', '.'] };
      },
    },
    { what: '--from a destination the volume does not sync to', code: 2, prepare: inSandbox(pushed, 'restore', 'photos', '.', '--from', 'tape') },
  ],
  status: [
    { what: 'without --check', code: 0, prepare: inSandbox(onlyNas, 'status') },
    {
      what: '--check, amber (evidence behind)',
      code: 1,
      prepare: async () => {
        const sb = await pushed();
        fs.writeFileSync(path.join(sb.volumePath, 'c.jpg'), 'charlie');
        await setup(sb, ['index', 'photos']);
        return { sb, args: ['status', '--check'] };
      },
    },
    { what: '--check, red (a destination never marked)', code: 2, prepare: inSandbox(onlyNas, 'status', '--check') },
    { what: 'an unknown volume', code: 2, prepare: inSandbox(fresh, 'status', 'music') },
  ],
  ls: [
    { what: 'the root', code: 0, prepare: inSandbox(pushed, 'ls', 'photos') },
    { what: 'a path not in the index', code: 1, prepare: inSandbox(pushed, 'ls', 'photos', 'nope') },
    { what: '--offloaded with --present', code: 2, prepare: inSandbox(pushed, 'ls', 'photos', '--offloaded', '--present') },
  ],
  evidence: [
    { what: 'a volume', code: 0, prepare: inSandbox(pushed, 'evidence', 'photos') },
    { what: 'an unknown volume', code: 2, prepare: inSandbox(pushed, 'evidence', 'music') },
  ],
  runs: [
    { what: 'the runs', code: 0, prepare: inSandbox(pushed, 'runs') },
    { what: 'a bad --limit', code: 2, prepare: inSandbox(pushed, 'runs', '--limit', 'many') },
  ],
  query: [
    { what: 'a path in the index', code: 0, prepare: inSandbox(pushed, 'query', 'photos:a.jpg') },
    { what: 'a path not in the index', code: 1, prepare: inSandbox(pushed, 'query', 'photos:nope.jpg') },
    { what: 'a path that leaves the volume', code: 2, prepare: inSandbox(pushed, 'query', 'photos:../x') },
  ],
  recover: [
    {
      what: 'a lost index',
      code: 0,
      prepare: async () => {
        const sb = await pushed();
        fs.rmSync(sb.dbPath);
        return { sb, args: ['recover', '--from', 'offsite'] };
      },
    },
    {
      what: 'another destination holds a newer snapshot',
      code: 2,
      prepare: async () => {
        const sb = await pushed();
        fs.rmSync(sb.dbPath);
        return { sb, args: ['recover', '--from', 'nas'] };
      },
    },
    {
      what: 'a destination with no catalog',
      code: 1,
      prepare: async () => {
        const sb = await pushed();
        fs.rmSync(sb.dbPath);
        fs.rmSync(path.join(sb.destinations.nas, '.squirrel-catalog'), { recursive: true });
        return { sb, args: ['recover', '--from', 'nas'] };
      },
    },
    { what: 'over an existing database', code: 2, prepare: inSandbox(pushed, 'recover', '--from', 'nas') },
  ],
  node: [
    { what: '--help', code: 0, prepare: inSandbox(fresh, 'node', '--help') },
    { what: 'no subcommand', code: 2, prepare: inSandbox(fresh, 'node') },
  ],
  'node show': [
    { what: 'a node', code: 0, prepare: inSandbox(fresh, 'node', 'show') },
    { what: 'a key that cannot be written', code: 1, prepare: async () => ({ sb: await fresh(), args: ['--db', '/proc/self/index.db', 'node', 'show'] }) },
    { what: 'an unknown option', code: 2, prepare: inSandbox(fresh, 'node', 'show', '--frobnicate') },
  ],
  peers: [
    { what: '--help', code: 0, prepare: inSandbox(fresh, 'peers', '--help') },
    { what: 'no subcommand', code: 2, prepare: inSandbox(fresh, 'peers') },
  ],
  'peers pull': [
    { what: 'no peer has attested', code: 0, prepare: inSandbox(pushed, 'peers', 'pull') },
    {
      what: 'a destination that is gone',
      code: 1,
      prepare: async () => {
        const sb = await pushed();
        fs.rmSync(sb.destinations.nas, { recursive: true });
        return { sb, args: ['peers', 'pull'] };
      },
    },
    { what: 'an untrusted --peer', code: 2, prepare: inSandbox(pushed, 'peers', 'pull', '--peer', 'bob') },
  ],
  completion: [
    { what: 'bash', code: 0, prepare: inSandbox(fresh, 'completion', 'bash') },
    { what: 'an unknown shell', code: 2, prepare: inSandbox(fresh, 'completion', 'tcsh') },
  ],
};

/** The codes a command's --help lists under "Exit codes:". */
function helpCodes(words: string[]): number[] {
  const help = bin([...words, '--help']);
  expect(help.code, help.stderr).toBe(0);
  const section = help.stdout.slice(help.stdout.indexOf('Exit codes:'));
  return [...section.matchAll(/^ {2}(\d) {2}/gm)].map((m) => Number(m[1]));
}

describe('every command: --help and behaviour agree on exit codes', () => {
  it('the table covers every command and subcommand', () => {
    const declared = COMMANDS.flatMap((c) => [c.name, ...(c.subcommands ?? []).map((sub) => `${c.name} ${sub}`)]);
    expect(Object.keys(TABLE).sort()).toEqual(declared.sort());
  });

  for (const [command, rows] of Object.entries(TABLE)) {
    it(`${command}: each code its help lists is reached, and only those`, async () => {
      const words = command.split(' ');
      const listed = helpCodes(words);
      for (const row of rows) {
        const { sb, args } = await row.prepare();
        const result = bin(sb ? withConfig(sb, '--no-progress', ...args) : ['--no-progress', ...args], { nowNs: NOW });
        expect({ row: row.what, code: result.code, internal: /internal error/.test(result.stderr) }, result.stdout + result.stderr).toEqual({ row: row.what, code: row.code, internal: false });
        expect(listed, `${command} --help lists ${row.code} (${row.what})`).toContain(row.code);
      }
      expect([...new Set(rows.map((r) => r.code))].sort()).toEqual([...listed].sort());
    });
  }

  it('the program: no command is a usage error, --help and --version are not', () => {
    expect(bin([]).code).toBe(2);
    expect(bin(['--help']).code).toBe(0);
    expect(bin(['--version']).code).toBe(0);
    expect(bin(['frobnicate']).code).toBe(2);
  });
});
