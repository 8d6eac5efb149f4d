// Shared helpers for `npm run bench` cases: argument parsing, deterministic test trees under
// bench/.work/ (git-ignored), installing a reference tool from Debian when missing, timing
// cold-started processes (best of N after a warm-up), and printing result tables.

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(BENCH_DIR, '..');
export const WORK_DIR = path.join(BENCH_DIR, '.work');
export const SQUIRREL_BIN = path.join(REPO_ROOT, 'bin', 'squirrel');
export const GIB = 1024 ** 3;
export const KIB = 1024;
export const MIB = 1024 ** 2;

/** `--files 3000 --total-gib 2` -> { files: '3000', totalGib: '2' }; bare flags become true. */
export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'`);
    const key = arg.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[key] = argv[++i];
    else out[key] = true;
  }
  return out;
}

export function numberArg(args, key, fallback) {
  if (args[key] === undefined) return fallback;
  const value = Number(args[key]);
  if (!(value > 0)) throw new Error(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} expects a positive number, got '${args[key]}'`);
  return value;
}

/** The built CLI must exist: benches measure what `npm run build` produced. */
export function requireBuild() {
  if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'bundle', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first');
  }
}

function haveCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Make sure a reference tool is installed, from Debian's archive when it is missing. */
export function ensureTool(command, aptPackage = command) {
  if (haveCommand(command)) return;
  console.log(`installing ${aptPackage} (apt-get install -y ${aptPackage}) ...`);
  const install = () => spawnSync('apt-get', ['install', '-y', aptPackage], { stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
  if (!install()) {
    spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'] });
    install();
  }
  if (!haveCommand(command)) throw new Error(`${command} is not installed and apt-get could not install ${aptPackage}; install it and run again`);
}

/** A small seeded PRNG (mulberry32): the same tree for the same parameters. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * File sizes between minBytes and maxBytes, skewed towards small (size = min * ratio^(u^k)),
 * with k solved so the sizes add up to about totalBytes. The first file is the largest size
 * and the second the smallest, so both ends of the range are always present.
 */
export function treeSizes({ files, totalBytes, minBytes, maxBytes, seed = 1 }) {
  const random = prng(seed);
  const draws = Array.from({ length: files }, random);
  const sizesFor = (k) => draws.map((u) => Math.round(minBytes * (maxBytes / minBytes) ** (u ** k)));
  const sum = (sizes) => sizes.reduce((a, b) => a + b, 0);
  let low = 0.01;
  let high = 200;
  for (let i = 0; i < 60; i++) {
    const mid = Math.sqrt(low * high);
    if (sum(sizesFor(mid)) > totalBytes) low = mid;
    else high = mid;
  }
  const sizes = sizesFor(Math.sqrt(low * high));
  if (files > 0) sizes[0] = maxBytes;
  if (files > 1) sizes[1] = minBytes;
  return sizes;
}

/**
 * Generate (or reuse) a tree of distinct files under dir. A manifest records the parameters;
 * a tree with the same manifest is reused as it is.
 */
export function generateTree(dir, params) {
  const manifestPath = path.join(path.dirname(dir), `${path.basename(dir)}.manifest.json`);
  const wanted = JSON.stringify(params);
  if (fs.existsSync(manifestPath) && fs.readFileSync(manifestPath, 'utf8') === wanted && fs.existsSync(dir)) {
    return JSON.parse(fs.readFileSync(path.join(path.dirname(dir), `${path.basename(dir)}.files.json`), 'utf8'));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(manifestPath, { force: true });
  const sizes = treeSizes(params);
  const pool = crypto.randomBytes(64 * MIB);
  const files = [];
  const chunk = Buffer.allocUnsafe(4 * MIB);
  sizes.forEach((size, i) => {
    const relative = path.join(`d${String(i % 16).padStart(2, '0')}`, `e${String(Math.floor(i / 16) % 32).padStart(2, '0')}`, `file-${String(i).padStart(6, '0')}.bin`);
    const absolute = path.join(dir, relative);
    fs.mkdirSync(path.dirname(absolute), { recursive: true });
    const fd = fs.openSync(absolute, 'w');
    let offset = (i * 7919 * 4096) % pool.length;
    let written = 0;
    while (written < size) {
      const n = Math.min(chunk.length, size - written, pool.length - offset);
      pool.copy(chunk, 0, offset, offset + n);
      // The file's index in its first bytes keeps every file's content distinct.
      if (written === 0) chunk.writeUInt32LE(i, 0);
      fs.writeSync(fd, chunk, 0, n);
      written += n;
      offset = (offset + n) % pool.length;
    }
    fs.closeSync(fd);
    files.push({ path: relative, sizeBytes: size });
  });
  fs.writeFileSync(path.join(path.dirname(dir), `${path.basename(dir)}.files.json`), JSON.stringify(files));
  fs.writeFileSync(manifestPath, wanted);
  return files;
}

/** Run a command to completion; throw with its stderr when it fails. */
export function runChecked(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * MIB, ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.slice(0, 4).join(' ')} ... exited ${result.status}: ${result.stderr}`);
  return result;
}

/**
 * Time cases that start cold processes: one untimed warm-up round, then `runs` timed rounds;
 * each case's best time is kept. Rounds interleave the cases so a machine busy with something
 * else slows them alike. A case is { name, fn, before? } (before runs untimed, e.g. deleting a
 * database). Returns seconds per case name.
 */
export function bestOfInterleaved(cases, { warmups = 1, runs = 3 } = {}) {
  const best = new Map(cases.map((c) => [c.name, Infinity]));
  for (let round = 0; round < warmups + runs; round++) {
    for (const c of cases) {
      c.before?.();
      const started = performance.now();
      c.fn();
      const seconds = (performance.now() - started) / 1000;
      if (round >= warmups) best.set(c.name, Math.min(best.get(c.name), seconds));
    }
  }
  return best;
}

export function printTable(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const row of rows) console.log(row.map((cell, i) => String(cell).padEnd(widths[i])).join('  ').trimEnd());
}

/**
 * Time cases made of several legs, each leg a few cold processes: `fn(leg)` runs one case and
 * times each step through `leg(name, thunk)`. Rounds interleave the cases as in
 * bestOfInterleaved, each round starting one case later and every other round in reverse, so no
 * case always runs right after the same neighbour (whose cleanup may still be reaching the
 * disk). `before` and `after` run
 * untimed around each case (prepare a fresh tree; check the outcome and clean up). Returns,
 * per case name, the round with the best total: { seconds, legs: [{ name, seconds }] }.
 */
export function bestLegsInterleaved(cases, { warmups = 1, runs = 3, onRound } = {}) {
  const best = new Map(cases.map((c) => [c.name, { seconds: Infinity, legs: [] }]));
  for (let round = 0; round < warmups + runs; round++) {
    const order = cases.map((_, i) => cases[(round + i) % cases.length]);
    if (round % 2 === 1) order.reverse();
    for (const c of order) {
      c.before?.();
      const legs = [];
      const leg = (name, thunk) => {
        const started = performance.now();
        const value = thunk();
        legs.push({ name, seconds: (performance.now() - started) / 1000 });
        return value;
      };
      c.fn(leg);
      c.after?.();
      const seconds = legs.reduce((sum, l) => sum + l.seconds, 0);
      onRound?.({ round, warmup: round < warmups, name: c.name, seconds, legs });
      if (round >= warmups && seconds < best.get(c.name).seconds) best.set(c.name, { seconds, legs });
    }
  }
  return best;
}

/** SHA-256 of a file, with Node's crypto: an independent check on what the tools wrote. */
export function sha256File(file) {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(4 * MIB);
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(n === buffer.length ? buffer : buffer.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Every regular file under dir (relative paths), symlinks and directories excluded. */
export function listFiles(dir) {
  const out = [];
  const walk = (relative) => {
    for (const entry of fs.readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) out.push(child);
    }
  };
  if (fs.existsSync(dir)) walk('');
  return out;
}

/**
 * Does the filesystem holding `dir` refuse to reuse recently freed inodes? ext4 without a journal
 * (this machine's root) will not hand out an inode freed in the last 60 s, and scans past every
 * one of them on each create: right after a bench deletes a tree, every tool's file creates
 * pay for it (a 2,000-file sync: 2.4 s settled, 4 to 5 s within seconds of a cleanup).
 */
export function freedInodesLinger(dir) {
  let best = null;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const mountPoint = left.split(' ')[4].replace(/\\040/g, ' ');
    const [fsType, source] = right.split(' ');
    const inside = dir === mountPoint || dir.startsWith(mountPoint === '/' ? '/' : `${mountPoint}/`);
    if (inside && (best === null || mountPoint.length > best.mountPoint.length)) best = { mountPoint, fsType, source };
  }
  if (best?.fsType !== 'ext4') return false;
  const device = path.basename(best.source);
  const journals = fs.existsSync('/proc/fs/jbd2') ? fs.readdirSync('/proc/fs/jbd2') : [];
  return !journals.some((name) => name.startsWith(`${device}-`));
}

/** The wait before a case that creates files (`--settle S` overrides): 61 s where freed inodes linger, else 2 s. */
export function settleSecondsFor(dir, args) {
  if (args.settle === '0') return 0;
  return numberArg(args, 'settle', freedInodesLinger(dir) ? 61 : 2);
}

/** Nothing of a case's preparation (or of the last case's cleanup) left for the disk to do while a tool runs. */
export function settleDisk(seconds) {
  runChecked('sync', []);
  if (seconds > 0) runChecked('sleep', [String(seconds)]);
}

/** "load 1.52 1.20 0.98" (1, 5, 15 minutes): benches on a busy machine say how busy. */
export function loadAverage() {
  return `load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}
