// A world for the reliability suites: a sandbox with one volume and two local destinations,
// a record of every byte the test wrote there (the oracle for "nothing deleted silently"),
// and control of the real binary as a subprocess: run to the end, pause at a named step,
// kill at any moment. Seeded, so a failing trial can be replayed from its seed.

import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { hashBytes } from '../../src/hash.js';
import { BIN, cli, CliResult, tempDir } from '../helpers.js';
import { checkInvariants, CheckOptions, DbSnapshot, snapshotDb, Violation } from './invariants.js';

/** A small, fast, seeded PRNG (mulberry32): the same seed replays the same trial. */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0 || 1;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  bytes(count: number): Buffer {
    const out = Buffer.alloc(count);
    for (let i = 0; i < count; i++) out[i] = this.int(256);
    return out;
  }
}

export interface RunResult {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process was killed by the test. */
  killed: boolean;
}

/** A running squirrel process. */
export class Running {
  readonly done: Promise<RunResult>;
  private exited = false;
  private killedByTest = false;

  constructor(
    readonly child: ChildProcess,
    readonly args: string[],
    readonly pauseFile: string | null,
    timeoutMs: number,
  ) {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      stderr += `\n[test] no exit after ${timeoutMs} ms: killed as hung\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    this.done = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.exited = true;
        if (this.pauseFile) fs.rmSync(this.pauseFile, { force: true });
        resolve({ args, code, signal, stdout, stderr, killed: this.killedByTest });
      });
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Resolves with the pause point once the process waits there, or null if it exited first. */
  async paused(timeoutMs = 30_000): Promise<string | null> {
    if (!this.pauseFile) return null;
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.exited) return null;
      try {
        const text = fs.readFileSync(this.pauseFile, 'utf8');
        if (text.endsWith('\n')) return text.trim().split(' ')[1] ?? '';
      } catch {
        // not there yet
      }
      await sleep(5);
    }
    throw new Error(`${this.args.join(' ')}: never reached its pause point`);
  }

  /** Let a paused process go on. */
  resume(): void {
    if (this.pauseFile) fs.rmSync(this.pauseFile, { force: true });
  }

  /** SIGKILL now; true when the process was still alive to be killed. */
  async kill(): Promise<boolean> {
    if (this.exited) return false;
    this.killedByTest = this.child.kill('SIGKILL');
    await this.done;
    return this.killedByTest;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface WorldOptions {
  seed: number;
  files?: number;
  maxFileBytes?: number;
  /** This world's node name (default laptop). */
  node?: string;
  /** Where the world lives (default: a fresh temp dir); two nodes may share a parent. */
  dir?: string;
  /** Destination roots by name (default: `<dir>/dest/<name>` for nas and offsite). */
  destinations?: Record<string, string>;
  /** Top-level config keys beside node, db, volumes and destinations (e.g. namespace_prefix). */
  extraConfig?: Record<string, unknown>;
}

const DIRECTORIES = ['', '2019', '2019/beach', '2019/party', '2020', 'docs', 'docs/old'];
export const VOLUME = 'photos';
export const TARGETS = ['nas', 'offsite'];

export class World {
  readonly rng: Rng;
  readonly dir: string;
  readonly configPath: string;
  readonly dbPath: string;
  readonly root: string;
  readonly destinations: Record<string, string> = {};
  /** Every file the test wrote and did not remove itself, by relative path: its BLAKE3. */
  readonly written = new Map<string, Buffer>();
  /** The squirrel processes of this world that have not exited yet. */
  readonly running = new Set<Running>();
  private nextName = 0;
  private uniqueCounter = 1;
  private recent: Buffer[] = [];
  private pauseCounter = 0;
  private readonly maxFileBytes: number;

  readonly node: string;
  readonly targets: string[];
  /** The volume path the config names: the root itself, or a link or mount leading to it. */
  configuredRoot: string;
  private readonly extraConfig: Record<string, unknown>;
  private volumeOverrides: Record<string, unknown> = {};

  constructor(options: WorldOptions) {
    this.rng = new Rng(options.seed);
    this.maxFileBytes = options.maxFileBytes ?? 48 * 1024;
    this.node = options.node ?? 'laptop';
    this.dir = options.dir ?? tempDir('squirrel-rel-');
    this.root = path.join(this.dir, VOLUME);
    this.configuredRoot = this.root;
    this.configPath = path.join(this.dir, 'config.yaml');
    this.dbPath = path.join(this.dir, 'index.db');
    this.extraConfig = options.extraConfig ?? {};
    fs.mkdirSync(this.root, { recursive: true });
    this.targets = options.destinations ? Object.keys(options.destinations) : TARGETS;
    for (const name of this.targets) this.destinations[name] = options.destinations?.[name] ?? path.join(this.dir, 'dest', name);
    // The folder a drive would be mounted at: sync --init creates the destination, not its parents.
    for (const root of Object.values(this.destinations)) fs.mkdirSync(path.dirname(root), { recursive: true });
    this.writeConfig();
    for (let i = 0; i < (options.files ?? 12); i++) this.addFile();
  }

  writeConfig(volumeOverrides: Record<string, unknown> = this.volumeOverrides): void {
    this.volumeOverrides = volumeOverrides;
    const config = {
      node: this.node,
      db: this.dbPath,
      ...this.extraConfig,
      volumes: { [VOLUME]: { path: this.configuredRoot, sync_to: this.targets, offload_requires: this.targets, ...volumeOverrides } },
      destinations: Object.fromEntries(this.targets.map((name) => [name, { type: 'local', path: this.destinations[name] }])),
    };
    fs.writeFileSync(this.configPath, YAML.stringify(config));
  }

  /** Set a top-level config key (e.g. peers) and write the config again. */
  setConfig(key: string, value: unknown): void {
    this.extraConfig[key] = value;
    this.writeConfig();
  }

  /** The volume's folder at a destination, as the config makes it. */
  namespace(target: string): string {
    const explicit = this.volumeOverrides.namespace;
    if (typeof explicit === 'string') return explicit;
    if (explicit && typeof explicit === 'object' && target in explicit) return (explicit as Record<string, string>)[target];
    return `${(this.extraConfig.namespace_prefix as string | undefined) ?? ''}${VOLUME}`;
  }

  /** Write bytes at a volume path and remember them. */
  write(relativePath: string, bytes: Buffer): void {
    const target = path.join(this.root, relativePath);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, bytes);
    this.written.set(relativePath, hashBytes(bytes));
  }

  randomBytes(): Buffer {
    // Mostly distinct contents; now and then an empty file or a duplicate of earlier bytes.
    if (this.rng.chance(0.05)) return Buffer.alloc(0);
    if (this.recent.length > 0 && this.rng.chance(0.1)) return this.rng.pick(this.recent);
    const size = 8 + this.rng.int(this.maxFileBytes);
    const pattern = this.rng.bytes(64);
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i += pattern.length) pattern.copy(bytes, i, 0, Math.min(pattern.length, size - i));
    bytes.writeDoubleLE(this.uniqueCounter++, 0);
    this.recent = [bytes, ...this.recent.slice(0, 4)];
    return bytes;
  }

  addFile(): string {
    const directory = this.rng.pick(DIRECTORIES);
    const name = `f${String(this.nextName++).padStart(4, '0')}.bin`;
    const relativePath = directory ? `${directory}/${name}` : name;
    this.write(relativePath, this.randomBytes());
    return relativePath;
  }

  /** Paths of the written files that are on disk now. */
  onDisk(): string[] {
    return [...this.written.keys()].filter((p) => fs.existsSync(path.join(this.root, p))).sort();
  }

  /** A user's edit: new bytes at an existing path (in place, the same inode). */
  modifyFile(): string | null {
    const present = this.onDisk();
    if (present.length === 0) return null;
    const target = this.rng.pick(present);
    this.write(target, this.randomBytes());
    return target;
  }

  /** A user deleting a file: the test's own removal, so nothing is owed for it. */
  deleteFile(): string | null {
    const present = this.onDisk();
    if (present.length === 0) return null;
    const target = this.rng.pick(present);
    fs.rmSync(path.join(this.root, target));
    this.written.delete(target);
    return target;
  }

  /** A random user action between commands. */
  mutate(): string {
    const roll = this.rng.next();
    if (roll < 0.5) return `added ${this.addFile()}`;
    if (roll < 0.8) return `modified ${this.modifyFile() ?? '-'}`;
    return `deleted ${this.deleteFile() ?? '-'}`;
  }

  /**
   * Bit rot: flip a byte of one destination copy whose bytes are not in `spare` (hex BLAKE3).
   * Squirrel's own reserved folders are left alone. Returns the damaged file, or null.
   */
  rotCopy(spare: Set<string>): string | null {
    const candidates: string[] = [];
    for (const root of Object.values(this.destinations)) {
      const walk = (dir: string) => {
        let entries: fs.Dirent[];
        try {
          entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const entry of entries) {
          if (entry.name.startsWith('.squirrel-')) continue;
          const full = path.join(dir, entry.name);
          if (entry.isDirectory()) walk(full);
          else if (entry.isFile() && !spare.has(hashBytes(fs.readFileSync(full)).toString('hex'))) candidates.push(full);
        }
      };
      walk(path.join(root, this.namespace(Object.keys(this.destinations).find((n) => this.destinations[n] === root)!)));
    }
    if (candidates.length === 0) return null;
    const victim = this.rng.pick(candidates.sort());
    const bytes = fs.readFileSync(victim);
    fs.writeFileSync(victim, bytes.length === 0 ? Buffer.from([0]) : Buffer.concat([bytes.subarray(0, -1), Buffer.from([bytes[bytes.length - 1] ^ 0xff])]));
    return victim;
  }

  /** Start the real binary on this world's config. */
  start(args: string[], options: { pauseAt?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Running {
    const env: NodeJS.ProcessEnv = { ...process.env, ...(options.env ?? {}) };
    delete env.SQUIRREL_TEST_PAUSE_AT;
    delete env.SQUIRREL_TEST_PAUSE_FILE;
    let pauseFile: string | null = null;
    if (options.pauseAt && options.pauseAt.length > 0) {
      pauseFile = path.join(this.dir, `pause-${process.pid}-${this.pauseCounter++}`);
      env.SQUIRREL_TEST_PAUSE_AT = options.pauseAt.join(',');
      env.SQUIRREL_TEST_PAUSE_FILE = pauseFile;
    }
    const fullArgs = ['--config', this.configPath, '--no-progress', ...args];
    const child = spawn(process.execPath, [BIN, ...fullArgs], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const running = new Running(child, args, pauseFile, options.timeoutMs ?? 90_000);
    this.running.add(running);
    void running.done.then(() => this.running.delete(running));
    return running;
  }

  /** Run the real binary to the end. */
  run(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    return this.start(args, options).done;
  }

  /** Run a command in-process (fast; no pause points, the test clock). */
  cli(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    return cli(['--config', this.configPath, '--no-progress', ...args], options);
  }

  invariantWorld() {
    return {
      dbPath: this.dbPath,
      volumes: [{ name: VOLUME, root: this.root, offloadRequires: this.targets, namespaces: Object.fromEntries(this.targets.map((t) => [t, this.namespace(t)])) }],
      destinations: this.destinations,
      written: new Map([[VOLUME, this.written]]),
    };
  }

  check(options: CheckOptions = {}): Violation[] {
    return checkInvariants(this.invariantWorld(), options);
  }

  snapshot(): DbSnapshot | undefined {
    return fs.existsSync(this.dbPath) ? snapshotDb(this.dbPath) : undefined;
  }
}

/** Signs of a crash in a finished run's output: an internal error, a stack trace, a raw SQLite error. */
export function crashSigns(result: RunResult): string | null {
  if (result.killed) return null;
  const output = `${result.stdout}\n${result.stderr}`;
  if (result.signal) return `ended by ${result.signal}`;
  if (/internal error/i.test(output)) return 'internal error';
  if (/^\s+at .+:\d+:\d+\)?$/m.test(output)) return 'stack trace';
  if (/SQLITE_BUSY|database is locked/i.test(output)) return 'SQLITE_BUSY';
  if (/SqliteError|SQLITE_[A-Z]+/.test(output)) return 'raw SQLite error';
  return null;
}

/** Exit codes a command may end with in these suites (2 would mean a usage or config error). */
export const ALLOWED_EXITS: Record<string, number[]> = {
  index: [0, 1],
  sync: [0, 1],
  verify: [0, 1],
  offload: [0, 1, 3],
  restore: [0, 1],
  status: [0, 1, 2],
  runs: [0],
};

/** What went wrong with a finished (not killed) run, or null. */
export function runProblem(result: RunResult): string | null {
  const signs = crashSigns(result);
  const kind = result.args.find((a) => !a.startsWith('-')) ?? '';
  const summary = `squirrel ${result.args.join(' ')}`;
  if (signs) return `${summary}: ${signs}\n${result.stderr.slice(0, 2000)}`;
  if (result.killed) return null;
  const allowed = ALLOWED_EXITS[kind] ?? [0];
  if (result.code === null || !allowed.includes(result.code)) return `${summary}: exit ${result.code}\n${result.stderr.slice(0, 2000)}${result.stdout.slice(0, 1000)}`;
  return null;
}
