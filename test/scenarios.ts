// The steps the end-to-end scenarios share (offload, restore, sync and verify): a sandbox indexed
// and pushed in-process for speed, the real binary for the command under test, where a file
// sits locally and on each destination, and a binary paused at a test hook point. SPEC §6
// numbers the offload scenarios; test/cli/offload-*.test.ts are grouped by those numbers.

import { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { hashBytes, hashFile } from '../src/hash.js';
import { bin, binSpawn, cli, CliResult, json, makeSandbox, OffloadReport, Sandbox, TEST_NOW_NS, Tree, waitForFile, withConfig, withStore } from './helpers.js';

export const NOW = TEST_NOW_NS;
/** The sandbox's destinations, every one required for offload. */
export const TARGETS = ['nas', 'offsite'];

/** An in-process setup step that must succeed. */
export async function setup(sb: Sandbox, args: string[], nowNs = NOW): Promise<CliResult> {
  const result = await cli(withConfig(sb, ...args), { nowNs });
  expect(result.code, `${args.join(' ')}\n${result.stdout}${result.stderr}`).toBe(0);
  return result;
}

/** A sandbox indexed and pushed (read back, content-verified) to the `seed` targets. */
export async function seeded(files: Tree, options: { seed?: string[]; volume?: Record<string, unknown>; nowNs?: bigint } = {}): Promise<Sandbox> {
  const sb = makeSandbox(files, { volume: options.volume });
  await setup(sb, ['index', 'photos'], options.nowNs);
  for (const dest of options.seed ?? TARGETS) await setup(sb, ['sync', 'photos', '--to', dest, '--init'], options.nowNs);
  return sb;
}

/** Seeded on every target, and the given paths offloaded (all in-process). */
export async function offloaded(files: Tree, paths: string[]): Promise<Sandbox> {
  const sb = await seeded(files);
  const result = await setup(sb, ['offload', 'photos', ...paths]);
  expect(result.stdout).toMatch(/^offloaded=[1-9]\d* not_durable=0 drift=0 errors=0 /m);
  return sb;
}

/** The real binary's offload, at the tests' fixed "now". */
export function offload(sb: Sandbox, ...args: string[]): CliResult {
  return bin(withConfig(sb, '--no-progress', 'offload', 'photos', ...args), { nowNs: NOW });
}

export function offloadJson(sb: Sandbox, ...args: string[]): { result: CliResult; report: OffloadReport } {
  const result = bin(withConfig(sb, '--json', 'offload', 'photos', ...args), { nowNs: NOW });
  return { result, report: json<OffloadReport>(result) };
}

/** The totals line `offloaded=A not_durable=B drift=C errors=D run=ID`, as key -> value. */
export function totalsOf(result: CliResult): Record<string, string> {
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  expect(line, result.stdout + result.stderr).toMatch(/^offloaded=\d+ not_durable=\d+ drift=\d+ errors=\d+ run=(\d+|-)$/);
  return Object.fromEntries(line.split(' ').map((kv) => kv.split('=') as [string, string]));
}

export function runCounts(sb: Sandbox, runId: number): Record<string, number> {
  return withStore(sb, (store) => JSON.parse(store.runs.get(runId)!.counts) as Record<string, number>);
}

/** Where a volume-relative path is on the local disk. */
export function local(sb: Sandbox, relative: string): string {
  return path.join(sb.volumePath, relative);
}

/** Where a local destination keeps its copy of a volume-relative path. */
export function copyAt(sb: Sandbox, destination: string, relative: string): string {
  return path.join(sb.destinations[destination], 'photos', relative);
}

/** The file's bytes on every required destination, hashed from the destination files themselves. */
export function expectDurableEverywhere(sb: Sandbox, relative: string, bytes: string | Buffer): void {
  const expected = hashBytes(Buffer.from(bytes));
  for (const dest of TARGETS) {
    const copy = copyAt(sb, dest, relative);
    expect(fs.existsSync(copy), `${relative} at ${dest}`).toBe(true);
    expect(hashFile(copy).hash.equals(expected), `${relative} at ${dest} is byte-identical`).toBe(true);
  }
}

export function setMtimeSeconds(file: string, seconds: number): void {
  fs.utimesSync(file, seconds, seconds);
}

const children: ChildProcess[] = [];

/** For afterEach: kill any child a failed test left running. */
export function killChildren(): void {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Track a spawned child so killChildren stops it. */
function tracked(child: ChildProcess): ChildProcess {
  children.push(child);
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** A spawned child's output, read as it comes (a paused child must not block on a full pipe). */
function collect(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return { stdout: () => stdout, stderr: () => stderr };
}

export interface Paused {
  pid: number;
  stdout: () => string;
  stderr: () => string;
  /** Let it go on; resolves to its exit code. */
  resume(): Promise<number | null>;
  kill(): Promise<void>;
}

/**
 * Start the real binary and wait until it pauses at a test hook point. If it exits before
 * pausing, fail at once with its stderr rather than waiting for the pause file to time out.
 */
export async function spawnPaused(sb: Sandbox, args: string[], point: string, nowNs = NOW): Promise<Paused> {
  const pauseFile = path.join(sb.dir, `pause-${point}`);
  const child = tracked(binSpawn(withConfig(sb, ...args), { nowNs, env: { SQUIRREL_TEST_PAUSE_AT: point, SQUIRREL_TEST_PAUSE_FILE: pauseFile } }));
  const output = collect(child);
  let paused = false;
  const diedFirst = exited(child).then((code) => {
    if (!paused) throw new Error(`squirrel ${args.join(' ')} exited (${code}) before pausing at ${point}:\n${output.stderr()}`);
    return '';
  });
  const text = await Promise.race([waitForFile(pauseFile).then((t) => ((paused = true), t)), diedFirst]);
  return {
    pid: Number(text.split(' ')[0]),
    ...output,
    resume: () => {
      fs.rmSync(pauseFile);
      return exited(child);
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited(child);
    },
  };
}
