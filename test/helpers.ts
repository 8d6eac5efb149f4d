// Test fixtures: temp trees built from object literals, a sandbox config, two ways to run the
// CLI (in-process through runCli, fast with captured output, and as the real binary), the
// --json documents typed from the commands that print them, and small looks at the disk.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { fixedClock } from '../src/clock.js';
import type { EvidenceReport as EvidenceDocument } from '../src/cli/commands/evidence.js';
import type { RunsReport as RunsDocument } from '../src/cli/commands/runs.js';
import type { StatusReport as StatusDocument } from '../src/cli/commands/status.js';
import type { SyncReport as SyncDocument } from '../src/cli/commands/sync.js';
import type { VerifyReport as VerifyDocument } from '../src/cli/commands/verify.js';
import type { Deps, JsonOf } from '../src/cli/context.js';
import { runCli } from '../src/cli/main.js';
import type { OffloadReportJson } from '../src/cli/render/offload-report.js';
import type { IndexResult } from '../src/core/index/index.js';
import { noHooks } from '../src/core/reporter.js';
import type { RestoreResult } from '../src/core/restore.js';
import { hashBytes } from '../src/hash.js';
import { Store } from '../src/store/store.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(REPO_ROOT, 'bin', 'squirrel');
export const DAY_NS = 86_400_000_000_000n;
/** A fixed "now" for tests: 2026-06-01T00:00:00Z. */
export const TEST_NOW_NS = 1_780_272_000_000_000_000n;

const tempDirs: string[] = [];

export function tempDir(prefix = 'squirrel-test-'): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  tempDirs.push(dir);
  return dir;
}

export function cleanupTempDirs(): void {
  for (const dir of tempDirs.splice(0)) {
    spawnSync('chmod', ['-R', 'u+rwx', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export type Tree = Record<string, string | Buffer>;

/** Write files (creating parent directories) under root. */
export function writeTree(root: string, files: Tree): void {
  for (const [relative, content] of Object.entries(files)) {
    const target = path.join(root, relative);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  }
}

export function makeVolume(files: Tree, root = path.join(tempDir(), 'volume')): string {
  fs.mkdirSync(root, { recursive: true });
  writeTree(root, files);
  return root;
}

export interface Sandbox {
  dir: string;
  configPath: string;
  dbPath: string;
  volumePath: string;
  destinations: Record<string, string>;
  /** Rewrite the config from a partial object merged over the default one. */
  writeConfig(overrides?: Record<string, unknown>): void;
  config: Record<string, unknown>;
}

/**
 * A sandbox: one volume `photos` with the given files and local destinations (default
 * `nas` and `offsite`), all required for offload.
 */
export function makeSandbox(files: Tree = {}, options: { destinations?: string[]; volume?: Record<string, unknown> } = {}): Sandbox {
  const dir = tempDir();
  const volumePath = makeVolume(files, path.join(dir, 'photos'));
  const names = options.destinations ?? ['nas', 'offsite'];
  const destinations: Record<string, string> = {};
  for (const name of names) {
    destinations[name] = path.join(dir, 'dest', name);
    fs.mkdirSync(destinations[name], { recursive: true });
  }
  const sandbox: Sandbox = {
    dir,
    configPath: path.join(dir, 'config.yaml'),
    dbPath: path.join(dir, 'index.db'),
    volumePath,
    destinations,
    config: {},
    writeConfig(overrides = {}) {
      const base = {
        node: 'laptop',
        db: sandbox.dbPath,
        volumes: { photos: { path: volumePath, sync_to: names, offload_requires: names, ...(options.volume ?? {}) } },
        destinations: Object.fromEntries(names.map((n) => [n, { type: 'local', path: destinations[n] }])),
      };
      sandbox.config = { ...base, ...overrides };
      fs.writeFileSync(sandbox.configPath, YAML.stringify(sandbox.config));
    },
  };
  sandbox.writeConfig();
  return sandbox;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in-process with captured output and a fixed clock. */
export async function cli(args: string[], options: { nowNs?: bigint; env?: NodeJS.ProcessEnv; deps?: Partial<Deps> } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const deps: Deps = {
    env: { ...process.env, ...(options.env ?? {}) },
    stdout: { write: (text: string) => void (stdout += text) },
    stderr: { write: (text: string) => void (stderr += text) },
    stderrIsTTY: false,
    clock: fixedClock(options.nowNs ?? TEST_NOW_NS),
    hooks: noHooks,
    pid: process.pid,
    host: os.hostname(),
    ...(options.deps ?? {}),
  };
  const code = await runCli(['node', 'squirrel', ...args], deps);
  return { code, stdout, stderr };
}

/** Run the real binary as a subprocess. */
export function bin(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; nowNs?: bigint } = {}): CliResult {
  const env: NodeJS.ProcessEnv = { ...process.env, ...(options.env ?? {}) };
  if (options.nowNs !== undefined) env.SQUIRREL_TEST_NOW_NS = options.nowNs.toString();
  const result = spawnSync(process.execPath, [BIN, ...args], { env, cwd: options.cwd, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Start the real binary without waiting (for kills and races). */
export function binSpawn(args: string[], options: { env?: NodeJS.ProcessEnv; nowNs?: bigint } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...(options.env ?? {}) };
  if (options.nowNs !== undefined) env.SQUIRREL_TEST_NOW_NS = options.nowNs.toString();
  return spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Wait until a pause file written by the test hook appears. */
export async function waitForFile(file: string, timeoutMs = 30_000): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, 'utf8');
      if (text.endsWith('\n')) return text;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${file}`);
}

/** A --json document from a command's output (a CliResult, a spawnSync result, ...). */
export function json<T = Record<string, unknown>>(result: { stdout: string; stderr?: string; code?: number | null; status?: number | null }): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code ?? result.status}):\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

// The --json documents as a test reads them: each command's own report type, after JSON.
export type OffloadReport = JsonOf<OffloadReportJson>;
export type IndexReport = JsonOf<IndexResult>;
export type SyncReport = JsonOf<SyncDocument>;
export type VerifyReport = JsonOf<VerifyDocument>;
export type StatusReport = JsonOf<StatusDocument>;
export type EvidenceReport = JsonOf<EvidenceDocument>;
export type RunsReport = JsonOf<RunsDocument>;
export type RestoreReport = JsonOf<RestoreResult>;
/** What every command prints with --json when it fails. */
export interface ErrorReport {
  error: { code: string; message: string };
}

/** Arguments every sandbox command needs. */
export function withConfig(sandbox: Sandbox, ...args: string[]): string[] {
  return ['--config', sandbox.configPath, ...args];
}

/** Open the sandbox's store for a look (or a setup write) and close it again. */
export function withStore<T>(sb: Sandbox, fn: (store: Store, volumeId: number) => T): T {
  const store = Store.open(sb.dbPath, { create: false });
  try {
    // -1 (no row matches) before the volume was first indexed
    return fn(store, store.volume('photos')?.id ?? -1);
  } finally {
    store.close();
  }
}

/** Live rows of the sandbox volume: path -> status. */
export function rowStatuses(sb: Sandbox): Record<string, string> {
  return withStore(sb, (store, volumeId) => Object.fromEntries(store.files.live(volumeId).map((f) => [f.path, f.status])));
}

/** Every run, oldest first, as `kind:status`. */
export function runList(sb: Sandbox): string[] {
  return withStore(sb, (store) => store.runs.list({ limit: 1000 }).reverse().map((r) => `${r.kind}:${r.status}`));
}

/** A file's permission bits. */
export function fileMode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

/** The file's bytes as a digest, to prove a file was left untouched. */
export function fingerprint(file: string): string {
  return hashBytes(fs.readFileSync(file)).toString('hex');
}

/**
 * Every entry under a directory with its bytes (symlinks as their target), for "nothing here
 * changed". The catalog snapshots commands publish at destinations are left out unless asked for.
 */
export function snapshotTree(dir: string, options: { catalogs?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (current: string) => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      if (entry.name === '.squirrel-catalog' && !options.catalogs) continue;
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) out[path.relative(dir, full)] = fs.readFileSync(full).toString('hex');
      else if (entry.isSymbolicLink()) out[path.relative(dir, full)] = `-> ${fs.readlinkSync(full)}`;
    }
  };
  walk(dir);
  return out;
}

/** The BLAKE3 reference vectors' input: bytes 0, 1, ..., 250, 0, 1, ... */
export function vectorInput(lengthBytes: number): Buffer {
  const bytes = Buffer.alloc(lengthBytes);
  for (let i = 0; i < lengthBytes; i++) bytes[i] = i % 251;
  return bytes;
}
