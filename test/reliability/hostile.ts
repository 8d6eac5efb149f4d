// Hostile input generators: broken configurations (mutations of config.example.yaml), bad
// offload selectors, and volumes full of awkward file names. Each input has a known right
// answer (exit 2 naming the key path; a usage error; every file either kept or durably
// offloaded), so the runners report a violation whenever squirrel answers otherwise.

import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { hashBytes } from '../../src/hash.js';
import { REPO_ROOT, tempDir } from '../helpers.js';
import { formatViolations } from './invariants.js';
import { Rng, runProblem, VOLUME, World } from './world.js';

const EXAMPLE = path.join(REPO_ROOT, 'config.example.yaml');

/** Secret values the base config resolves: none may ever be printed. */
export const SECRET_ENV = {
  AWS_ACCESS_KEY_ID: 'AKIAMUTATIONKEY7F3A0',
  AWS_SECRET_ACCESS_KEY: 'mutation-secret-9c41d2e8b7',
  BOX_PASSWORD: 'mutation-password-55e0aa',
};

export interface ConfigMutation {
  kind: string;
  description: string;
  text: string;
  env: Record<string, string>;
  /** The key path the error must name; `line N, column M` for YAML syntax errors. */
  expect: string | RegExp;
  /** Values that must not be echoed (inline secrets). */
  neverShown: string[];
}

/** The example with its optional s3 and sftp blocks enabled: every key type is present. */
export function baseConfigText(): string {
  return fs.readFileSync(EXAMPLE, 'utf8').replace(/^(\s*)#: ?/gm, '$1');
}

type Json = Record<string, unknown>;

/** A key in the base config and the wrong values that must be refused there. */
interface Slot {
  path: string;
  get: (c: Json) => Json;
  key: string | number;
  wrong: unknown[];
}

const NAME_WRONG = [42, true, [], {}, null, 'Upper', '-dash', 'sp ace', '', 'über', 'a.b', '_x'];
const PATH_WRONG = [42, true, [], {}, '', '   ', 'relative/dir', null];
const LIST_WRONG = ['nas', 42, {}, true, null];
const DURATION_WRONG = [30, '30', ' 30 ', 'soon', '0d', '0s', '-5d', '500ms', '0.5s', '', true, [], '1.5.3d', '30 fortnights', 'P30D', null, '30dd', '∞'];
const MAP_WRONG = [42, 'text', ['a'], true];
const SECRET_WRONG = ['inline-secret-value-0b1c', 42, { env: '1BAD' }, { env: 'has space' }, { env: 'SQUIRREL_MUTATION_UNSET_VAR' }, { env: 'AWS_ACCESS_KEY_ID', extra: 1 }, ['x'], {}, { env: '' }];

const v = (name: string) => (c: Json) => (c.volumes as Json)[name] as Json;
const d = (name: string) => (c: Json) => (c.destinations as Json)[name] as Json;
const top = (c: Json) => c;

const SLOTS: Slot[] = [
  { path: 'node', get: top, key: 'node', wrong: NAME_WRONG },
  { path: 'db', get: top, key: 'db', wrong: PATH_WRONG },
  { path: 'volumes', get: top, key: 'volumes', wrong: MAP_WRONG },
  { path: 'destinations', get: top, key: 'destinations', wrong: MAP_WRONG },
  { path: 'volumes.pictures', get: (c) => c.volumes as Json, key: 'pictures', wrong: [...MAP_WRONG, null] },
  { path: 'destinations.usb', get: (c) => c.destinations as Json, key: 'usb', wrong: [...MAP_WRONG, null] },
  { path: 'volumes.pictures.path', get: v('pictures'), key: 'path', wrong: PATH_WRONG },
  { path: 'volumes.documents.path', get: v('documents'), key: 'path', wrong: PATH_WRONG },
  { path: 'volumes.pictures.sync_to', get: v('pictures'), key: 'sync_to', wrong: LIST_WRONG },
  { path: 'volumes.pictures.sync_to[1]', get: (c) => v('pictures')(c).sync_to as Json, key: 1, wrong: [...NAME_WRONG, 'nowhere', 'nas'] },
  { path: 'volumes.documents.sync_to[0]', get: (c) => v('documents')(c).sync_to as Json, key: 0, wrong: [...NAME_WRONG, 'nowhere'] },
  { path: 'volumes.pictures.offload_requires', get: v('pictures'), key: 'offload_requires', wrong: [...LIST_WRONG, []] },
  { path: 'volumes.pictures.offload_requires[0]', get: (c) => v('pictures')(c).offload_requires as Json, key: 0, wrong: [...NAME_WRONG, 'nowhere'] },
  { path: 'volumes.pictures.offload_max_evidence_age', get: v('pictures'), key: 'offload_max_evidence_age', wrong: DURATION_WRONG },
  { path: 'destinations.nas.type', get: d('nas'), key: 'type', wrong: ['ftp', 42, '', 'LOCAL', null, ['local']] },
  { path: 'destinations.nas.path', get: d('nas'), key: 'path', wrong: PATH_WRONG },
  { path: 'destinations.offsite.bucket', get: d('offsite'), key: 'bucket', wrong: [42, '', [], null, {}] },
  { path: 'destinations.offsite.force_path_style', get: d('offsite'), key: 'force_path_style', wrong: ['yes', 1, 'true', [], {}] },
  { path: 'destinations.offsite.request_checksum', get: d('offsite'), key: 'request_checksum', wrong: ['always', 1, true, []] },
  { path: 'destinations.offsite.endpoint', get: d('offsite'), key: 'endpoint', wrong: ['ftp://x.example', 'not a url', 42, 'http://has space.example'] },
  { path: 'destinations.offsite.access_key_id', get: d('offsite'), key: 'access_key_id', wrong: SECRET_WRONG },
  { path: 'destinations.offsite.secret_access_key', get: d('offsite'), key: 'secret_access_key', wrong: SECRET_WRONG },
  { path: 'destinations.box.password', get: d('box'), key: 'password', wrong: SECRET_WRONG },
  { path: 'destinations.box.port', get: d('box'), key: 'port', wrong: [0, 70000, -22, 22.5, '22', 'ssh', true] },
  { path: 'destinations.box.host', get: d('box'), key: 'host', wrong: [42, '', [], null] },
  { path: 'destinations.box.user', get: d('box'), key: 'user', wrong: [42, '', [], null] },
  { path: 'destinations.box.path', get: d('box'), key: 'path', wrong: [42, '', 'relative/dir', null] },
  { path: 'destinations.box.remote_hash', get: d('box'), key: 'remote_hash', wrong: ['sha256', 1, true] },
  { path: 'destinations.box.private_key_file', get: d('box'), key: 'private_key_file', wrong: ['id_ed25519', 42, ''] },
];

const REQUIRED: { path: string; get: (c: Json) => Json; key: string }[] = [
  { path: 'volumes.pictures.path', get: v('pictures'), key: 'path' },
  { path: 'volumes.documents.sync_to', get: v('documents'), key: 'sync_to' },
  { path: 'destinations.nas.type', get: d('nas'), key: 'type' },
  { path: 'destinations.usb.path', get: d('usb'), key: 'path' },
  { path: 'destinations.offsite.bucket', get: d('offsite'), key: 'bucket' },
  { path: 'destinations.box.host', get: d('box'), key: 'host' },
  { path: 'destinations.box.user', get: d('box'), key: 'user' },
  { path: 'destinations.box.path', get: d('box'), key: 'path' },
];

const KEYED_OBJECTS: { path: string; get: (c: Json) => Json; known: string[] }[] = [
  { path: '', get: top, known: ['node', 'db', 'volumes', 'destinations'] },
  { path: 'volumes.pictures', get: v('pictures'), known: ['path', 'sync_to', 'offload_requires', 'offload_max_evidence_age'] },
  { path: 'volumes.documents', get: v('documents'), known: ['path', 'sync_to', 'offload_requires', 'offload_max_evidence_age'] },
  { path: 'destinations.nas', get: d('nas'), known: ['type', 'path'] },
  { path: 'destinations.offsite', get: d('offsite'), known: ['type', 'bucket', 'prefix', 'region', 'endpoint', 'force_path_style', 'access_key_id', 'secret_access_key', 'request_checksum'] },
  { path: 'destinations.box', get: d('box'), known: ['type', 'host', 'port', 'user', 'path', 'private_key_file', 'password', 'host_key', 'known_hosts_file', 'remote_hash'] },
];

const SECRET_SLOTS = new Set(['destinations.offsite.access_key_id', 'destinations.offsite.secret_access_key', 'destinations.box.password']);
const BAD_NAMES = ['Pictures', 'pic tures', '-pics', '_pics', 'pics.old', 'ñas', 'x/y', '', 'NAS', 'a:b'];

function typo(rng: Rng, key: string): string {
  const i = rng.int(key.length);
  switch (rng.int(5)) {
    case 0:
      return key.slice(0, i) + key.slice(i + 1);
    case 1:
      return key.slice(0, i) + 'x' + key.slice(i);
    case 2:
      return key.replace(/_/g, '-') === key ? key.toUpperCase() : key.replace(/_/g, '-');
    case 3:
      return i + 1 < key.length ? key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2) : `${key}s`;
    default:
      return `${key}_extra`;
  }
}

function renameKey(obj: Json, from: string, to: string): void {
  const entries = Object.entries(obj);
  for (const key of Object.keys(obj)) delete obj[key];
  for (const [key, value] of entries) obj[key === from ? to : key] = value;
}

/** Generate `count` broken configurations, each with the key path its error must name. */
export function configMutations(seed: number, count: number): ConfigMutation[] {
  const rng = new Rng(seed);
  const baseText = baseConfigText();
  const base = YAML.parse(baseText) as Json;
  const out: ConfigMutation[] = [];
  const kinds = ['wrong-type', 'wrong-type', 'wrong-type', 'unknown-key', 'missing-required', 'bad-name', 'reference', 'env', 'overlap', 'yaml-syntax', 'top-level'];
  while (out.length < count) {
    const config = structuredClone(base);
    const env: Record<string, string> = { ...SECRET_ENV };
    const kind = rng.pick(kinds);
    const neverShown: string[] = [];
    let expectPath: string | RegExp;
    let description: string;
    let text: string | null = null;
    switch (kind) {
      case 'wrong-type': {
        const slot = rng.pick(SLOTS);
        const value = rng.pick(slot.wrong);
        slot.get(config)[slot.key as string] = structuredClone(value);
        if (typeof value === 'string' && SECRET_SLOTS.has(slot.path)) neverShown.push(value);
        expectPath = slot.path;
        description = `${slot.path} = ${JSON.stringify(value)}`;
        break;
      }
      case 'unknown-key': {
        const target = rng.pick(KEYED_OBJECTS);
        let key = typo(rng, rng.pick(target.known));
        while (target.known.includes(key)) key = `${key}x`;
        target.get(config)[key] = rng.pick(['x', 1, true, [], { a: 1 }]);
        expectPath = target.path ? `${target.path}.${key}` : key;
        description = `unknown key ${expectPath}`;
        break;
      }
      case 'missing-required': {
        const slot = rng.pick(REQUIRED);
        delete slot.get(config)[slot.key];
        expectPath = slot.path;
        description = `${slot.path} removed`;
        break;
      }
      case 'bad-name': {
        const bad = rng.pick(BAD_NAMES);
        if (rng.chance(0.25)) {
          config.node = bad;
          expectPath = 'node';
        } else if (rng.chance(0.5)) {
          renameKey(config.volumes as Json, rng.pick(['pictures', 'documents']), bad);
          expectPath = `volumes.${bad}`;
        } else {
          renameKey(config.destinations as Json, rng.pick(['nas', 'usb', 'offsite', 'box']), bad);
          expectPath = `destinations.${bad}`;
        }
        description = `bad name ${JSON.stringify(bad)} at ${expectPath}`;
        break;
      }
      case 'reference': {
        const pictures = v('pictures')(config);
        const documents = v('documents')(config);
        const choice = rng.int(4);
        if (choice === 0) {
          (pictures.sync_to as string[]).push('nowhere');
          expectPath = 'volumes.pictures.sync_to[2]';
        } else if (choice === 1) {
          (pictures.sync_to as string[]).push('nas');
          expectPath = 'volumes.pictures.sync_to[2]';
        } else if (choice === 2) {
          documents.offload_requires = ['usb'];
          expectPath = 'volumes.documents.offload_requires[0]';
        } else {
          pictures.offload_requires = ['nas', 'nas'];
          expectPath = 'volumes.pictures.offload_requires[1]';
        }
        description = `reference problem at ${expectPath}`;
        break;
      }
      case 'env': {
        const variable = rng.pick(Object.keys(SECRET_ENV) as (keyof typeof SECRET_ENV)[]);
        if (rng.chance(0.5)) delete env[variable];
        else env[variable] = '';
        expectPath = { AWS_ACCESS_KEY_ID: 'destinations.offsite.access_key_id', AWS_SECRET_ACCESS_KEY: 'destinations.offsite.secret_access_key', BOX_PASSWORD: 'destinations.box.password' }[variable];
        description = `${variable} unset`;
        break;
      }
      case 'overlap': {
        const choice = rng.int(4);
        const pictures = v('pictures')(config);
        if (choice === 0) {
          v('documents')(config).path = `${pictures.path as string}/inside`;
          expectPath = 'volumes.documents.path';
        } else if (choice === 1) {
          d('nas')(config).path = `${pictures.path as string}/backup`;
          expectPath = 'volumes.pictures.path';
        } else if (choice === 2) {
          config.db = `${pictures.path as string}/index.db`;
          expectPath = 'db';
        } else {
          d('usb')(config).path = `${d('nas')(config).path as string}/usb`;
          expectPath = 'destinations.usb.path';
        }
        description = `overlap at ${expectPath}`;
        break;
      }
      case 'yaml-syntax': {
        const lines = baseText.split('\n');
        const choice = rng.int(4);
        if (choice === 0) lines.push('node: again');
        else if (choice === 1) lines.splice(lines.findIndex((l) => /sync_to: \[nas, usb\]/.test(l)), 1, '    sync_to: [nas, usb');
        else if (choice === 2) lines.splice(lines.findIndex((l) => /^volumes:/.test(l)) + 1, 0, '\tbroken: tab');
        else lines.splice(lines.findIndex((l) => /^node:/.test(l)), 1, 'node: "unterminated');
        text = lines.join('\n');
        expectPath = /line \d+, column \d+/;
        description = `YAML syntax error #${choice}`;
        break;
      }
      default: {
        text = rng.pick(['- a\n- b\n', '42\n', '"just a string"\n', 'true\n']);
        expectPath = '(top level)';
        description = `top level ${JSON.stringify(text)}`;
      }
    }
    out.push({ kind, description, text: text ?? YAML.stringify(config), env, expect: expectPath, neverShown });
  }
  return out;
}

/** What a configuration error must look like: exit 2, the key path named, no crash, no secret shown. */
export function judgeConfigError(m: ConfigMutation, result: { code: number; stdout: string; stderr: string }, json: boolean): string | null {
  const output = `${result.stdout}\n${result.stderr}`;
  const where = `${m.kind} (${m.description})`;
  if (result.code !== 2) return `${where}: exit ${result.code}, expected 2\n${output.slice(0, 600)}`;
  if (/internal error|^\s+at .+:\d+:\d+\)?$/m.test(output)) return `${where}: crashed\n${output.slice(0, 600)}`;
  const named =
    typeof m.expect === 'string'
      ? result.stderr.split('\n').some((line) => line.trimStart().startsWith(`${m.expect}:`) || line.trimStart().startsWith(`${m.expect} `))
      : m.expect.test(result.stderr);
  if (!named) return `${where}: the error does not name ${String(m.expect)}\n${result.stderr.slice(0, 600)}`;
  for (const secret of [...Object.values(SECRET_ENV), ...m.neverShown]) {
    if (secret.length >= 6 && output.includes(secret)) return `${where}: printed the secret value ${JSON.stringify(secret)}`;
  }
  if (json) {
    try {
      const parsed = JSON.parse(result.stdout) as { error?: { code?: string; message?: string } };
      if (parsed.error?.code !== 'config') return `${where}: --json error code is ${parsed.error?.code}, expected 'config'`;
    } catch {
      return `${where}: --json output is not one JSON document: ${result.stdout.slice(0, 300)}`;
    }
  }
  return null;
}

export interface HostileSummary {
  inputs: number;
  violations: string[];
}

type Cli = (args: string[], options: { env?: NodeJS.ProcessEnv }) => Promise<{ code: number; stdout: string; stderr: string }>;

/** Feed each mutation to `config check` (and every third with --json). */
export async function runConfigMutations(o: { seed: number; count: number; cli: Cli }): Promise<HostileSummary> {
  const dir = tempDir('squirrel-config-');
  const file = path.join(dir, 'config.yaml');
  const summary: HostileSummary = { inputs: 0, violations: [] };
  const clean = Object.fromEntries(Object.keys(SECRET_ENV).map((k) => [k, undefined]));
  for (const [i, m] of configMutations(o.seed, o.count).entries()) {
    fs.writeFileSync(file, m.text);
    const json = i % 3 === 0;
    const result = await o.cli(['--config', file, ...(json ? ['--json'] : []), 'config', 'check'], { env: { ...clean, ...m.env } });
    summary.inputs++;
    const problem = judgeConfigError(m, result, json);
    if (problem) summary.violations.push(`seed ${o.seed}, mutation ${i}: ${problem}`);
  }
  return summary;
}

/** Selector strings built from the pieces that make paths dangerous. */
export function selectorInputs(seed: number, count: number): string[] {
  const rng = new Rng(seed);
  const pieces = ['a', 'b', '2019', '/', '/', '.', '..', '\0', '\n', '\r', ' ', '-', '~', '*', '.squirrel-x', '//', './', '../', 'é'];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    for (let n = 1 + rng.int(5); n > 0; n--) s += rng.pick(pieces);
    out.push(s);
  }
  return out;
}

/** Whether a selector must be refused: anything that is not a plain path inside the volume. */
export function selectorMustBeRefused(selector: string): boolean {
  if (selector === '' || /[\0\n\r]/.test(selector) || selector.startsWith('/')) return true;
  const segments = selector.split('/').filter((s) => s !== '' && s !== '.');
  return segments.includes('..') || segments.some((s) => s.startsWith('.squirrel-'));
}

/**
 * Feed generated selectors to `offload --dry-run` on an indexed, pushed world: a selector that
 * must be refused is a usage error (exit 2), any other is answered with a plan whose files all
 * lie in its subtree; the refused ones then go to a real offload, which must also stop at exit 2.
 */
export async function runSelectorFuzz(o: { seed: number; count: number }): Promise<HostileSummary & { refused: number }> {
  const world = new World({ seed: o.seed, files: 0 });
  for (const [relativePath, text] of Object.entries({ 'a/x.bin': 'ax', 'b/y.bin': 'by', '2019/z.bin': 'z', 'top.bin': 'top', 'a b/é.bin': 'ab' })) {
    world.write(relativePath, Buffer.from(text));
  }
  const summary = { inputs: 0, refused: 0, violations: [] as string[] };
  const violation = (detail: string) => summary.violations.push(`seed ${o.seed}, selectors: ${detail}`);
  for (const args of [['index', VOLUME], ['sync', VOLUME, '--init']]) {
    const result = await world.cli(args);
    if (result.code !== 0) violation(`setup ${args.join(' ')}: exit ${result.code} ${result.stderr}`);
  }
  const inputs = selectorInputs(o.seed, o.count);
  for (const selector of inputs) {
    const result = await world.cli(['--json', 'offload', VOLUME, '--dry-run', '--', selector]);
    summary.inputs++;
    const refused = selectorMustBeRefused(selector);
    const shown = JSON.stringify(selector);
    if (/internal error/.test(result.stderr)) violation(`${shown}: crashed: ${result.stderr}`);
    else if (refused && result.code !== 2) violation(`${shown}: exit ${result.code}, expected a usage error`);
    else if (!refused && result.code !== 0) violation(`${shown}: exit ${result.code}: ${result.stderr}`);
    else if (!refused) {
      const report = JSON.parse(result.stdout) as { selectors?: string[]; allowed?: { paths: string[] } };
      for (const p of report.allowed?.paths ?? []) {
        if (!(report.selectors ?? []).some((s) => s === '.' || p === s || p.startsWith(`${s}/`))) violation(`${shown} selected ${p}, outside its subtree`);
      }
    }
  }
  for (const selector of inputs.filter(selectorMustBeRefused).slice(0, 40)) {
    const result = await world.cli(['offload', VOLUME, '--', selector]);
    summary.refused++;
    if (result.code !== 2) violation(`${JSON.stringify(selector)} (no --dry-run): exit ${result.code}`);
  }
  const gone = [...world.written.keys()].filter((p) => !fs.existsSync(path.join(world.root, p)));
  if (gone.length > 0) violation(`files gone after refused selectors: ${gone.join(', ')}`);
  const violations = world.check({ settled: true });
  if (violations.length > 0) violation(formatViolations(violations));
  return summary;
}

/** Awkward but legal file names (as bytes), and one that is not valid UTF-8. */
export function awkwardNames(rng: Rng): Buffer[] {
  const names = [
    'line\nbreak.bin',
    '-rf',
    '--help',
    ' leading space',
    'trailing space ',
    'back\\slash',
    'quote\'s "both"',
    '\u00e9t\u00e9.bin',
    'e\u0301te\u0301.bin',
    'tab\there',
    `${'n'.repeat(251)}.bin`,
    '*?[glob]',
    '$(echo no)',
    '\u202eevil.txt',
    '.hidden',
  ].map((n) => Buffer.from(n));
  names.push(Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]));
  // A byte-length-limited name made of multi-byte characters: 85 x 3 bytes = 255.
  names.push(Buffer.from('\u6587'.repeat(85)));
  return names.filter(() => rng.chance(0.8));
}

/**
 * One world full of awkward names and a deep tree, through index, sync, offload and restore.
 * Every valid-UTF-8 file must end offloaded with durable copies, then come back byte for byte;
 * the invalid-UTF-8 one is reported and left alone.
 */
export async function runNameWorld(seed: number): Promise<HostileSummary> {
  const rng = new Rng(seed);
  const world = new World({ seed, files: 0 });
  const summary: HostileSummary = { inputs: 0, violations: [] };
  const violation = (detail: string) => summary.violations.push(`seed ${seed}, names: ${detail}`);
  const rawRoot = Buffer.from(world.root);
  const sep = Buffer.from('/');
  for (const name of awkwardNames(rng)) {
    const dir = rng.chance(0.5) ? Buffer.from('') : Buffer.from(rng.pick(['-dir/', 'sub dir/', 'x\ny/', '\u00e9/']));
    const full = Buffer.concat([rawRoot, sep, dir, name]);
    if (dir.length > 0) fs.mkdirSync(Buffer.concat([rawRoot, sep, dir]).toString(), { recursive: true });
    const bytes = Buffer.concat([name, world.rng.bytes(1 + rng.int(2048))]);
    fs.writeFileSync(full, bytes);
    summary.inputs++;
    const relative = Buffer.concat([dir, name]);
    const text = relative.toString('utf8');
    if (Buffer.from(text).equals(relative)) world.written.set(text, hashBytes(bytes));
  }
  let deep = '';
  const depth = 20 + rng.int(40);
  for (let i = 0; i < depth; i++) deep += `${rng.pick(['d', 'deep', 'x y', '-'])}${i}/`;
  world.write(`${deep}bottom.bin`, Buffer.from(`deep ${depth}`));
  fs.symlinkSync('.', path.join(world.root, 'loop-self'));
  fs.symlinkSync('loop-b', path.join(world.root, 'loop-a'));
  fs.symlinkSync('loop-a', path.join(world.root, 'loop-b'));
  fs.symlinkSync('/', path.join(world.root, 'to-root'));
  summary.inputs += 5;

  const expectations: [string[], number[]][] = [
    [['index', VOLUME], [0, 1]],
    [['sync', VOLUME, '--init'], [0]],
    [['offload', VOLUME, '.'], [0]],
    [['restore', VOLUME, '.'], [0]],
  ];
  for (const [args, codes] of expectations) {
    const result = await world.run(args);
    const problem = runProblem(result);
    if (problem) violation(problem);
    else if (!codes.includes(result.code ?? -1)) violation(`squirrel ${args.join(' ')}: exit ${result.code}\n${result.stderr.slice(0, 800)}`);
    const violations = world.check({ settled: true });
    if (violations.length > 0) violation(`after ${args.join(' ')}: ${formatViolations(violations)}`);
    if (args[0] === 'offload') {
      const left = world.onDisk();
      if (left.length > 0) violation(`offload left valid files behind: ${JSON.stringify(left.slice(0, 5))}`);
    }
  }
  const missing = [...world.written.keys()].filter((p) => !fs.existsSync(path.join(world.root, p)));
  if (missing.length > 0) violation(`restore did not bring back ${JSON.stringify(missing.slice(0, 5))}`);
  return summary;
}
