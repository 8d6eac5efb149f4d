// Bench case `scale`: every everyday command over trees of many small files (1 KiB, in folders of
// 100), at several sizes, beside the reference tools on the same tree in the same run: `find
// -printf` (a walk with stat), `node-walk` (the same walk in Node, floor-walk.mjs), `b3sum` (hash every byte), `rclone copy` (first, and with nothing
// new) and `rclone check --download`. Each step is one cold process, timed for wall time and
// peak RSS (GNU time's %M). With --baseline-bin, a second squirrel build runs each step right
// after this one, on its own database and destination, so a busy machine slows both alike.
// The growth table gives the cost per file at each size and the ratio to the step's reference.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BENCH_DIR, MIB, SQUIRREL_BIN, WORK_DIR, ensureTool, loadAverage, parseArgs, printTable, requireBuild, settleDisk, settleSecondsFor } from './lib.mjs';

export const description =
  'every everyday command over 10k..1M files of 1 KiB vs find, b3sum, rclone (--sizes 10000,100000 --steps a,b --squirrel-bin PATH --baseline-bin PATH --baseline-label L --mixed --settle S)';

const FILE_BYTES = 1024;
const FILES_PER_FOLDER = 100;
/** The folder offloaded and restored (100 files), present at every size. */
const SAMPLE_FOLDER = 'a000/b00';

/** Each step: what it runs, and which reference it is measured against (a reference step's name). */
const SQUIRREL_STEPS = [
  { name: 'index-first', args: ['index', 'bench'], reference: 'b3sum', fresh: true },
  { name: 'index-again', args: ['index', 'bench'], reference: 'b3sum' },
  { name: 'index-shallow', args: ['index', 'bench', '--shallow'], reference: 'find' },
  { name: 'sync-first', args: ['sync', 'bench', '--init'], reference: 'rclone-copy+check', settle: true },
  { name: 'sync-nothing-new', args: ['sync', 'bench'], reference: 'rclone-copy-nothing-new' },
  { name: 'verify-sample-1', args: ['verify', 'bench', '--sample', '1'], reference: null },
  { name: 'status', args: ['status', 'bench', '--offline'], reference: null, exitCodes: [0, 1] },
  { name: 'offload-dry-run', args: ['offload', 'bench', '.', '--dry-run'], reference: null },
  // Offload a folder and bring it back, so the tree is whole again for the next step or run.
  { name: 'offload-folder', args: ['offload', 'bench', SAMPLE_FOLDER], reference: null, expect: /offloaded=100 / },
  { name: 'restore-folder', args: ['restore', 'bench', SAMPLE_FOLDER], reference: null, after: 'offload-folder', expect: /restored=100 failed=0/ },
];

/** `a000/b00/f0000000.bin`: 100 files a folder, 100 folders a parent. */
function relativePathOf(i) {
  const folder = Math.floor(i / FILES_PER_FOLDER);
  return `a${String(Math.floor(folder / 100)).padStart(3, '0')}/b${String(folder % 100).padStart(2, '0')}/f${String(i).padStart(7, '0')}.bin`;
}

/** Sizes of the mixed tree: mostly small, some photos, a few videos (seeded, so the same tree). */
function mixedSize(i) {
  const r = (Math.imul(i + 1, 2654435761) >>> 0) / 4294967296;
  if (r < 0.01) return 8 * MIB + Math.floor(r * 100 * 24 * MIB);
  if (r < 0.3) return 256 * 1024 + Math.floor(r * 8 * MIB);
  return FILE_BYTES + Math.floor(r * 32 * 1024);
}

/** Write (or reuse) the tree: a tight loop of writeFileSync, distinct bytes in every file. */
function generateSmallTree(dir, count, mixed) {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const manifestPath = `${dir}.manifest.json`;
  const wanted = JSON.stringify({ count, mixed, layout: 2 });
  if (fs.existsSync(manifestPath) && fs.readFileSync(manifestPath, 'utf8') === wanted) return;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(manifestPath, { force: true });
  const pool = Buffer.alloc(40 * MIB);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE((Math.imul(i + 7, 2246822519) ^ (i >>> 7)) >>> 0, i);
  const started = performance.now();
  let lastFolder = '';
  for (let i = 0; i < count; i++) {
    const relative = relativePathOf(i);
    const folder = path.dirname(relative);
    if (folder !== lastFolder) fs.mkdirSync(path.join(dir, folder), { recursive: true });
    lastFolder = folder;
    const size = mixed ? mixedSize(i) : FILE_BYTES;
    const offset = (i * 4099) % (pool.length - size);
    const bytes = pool.subarray(offset, offset + size);
    bytes.writeUInt32LE(i, 0);
    fs.writeFileSync(path.join(dir, relative), bytes);
  }
  fs.writeFileSync(manifestPath, wanted);
  console.log(`  generated ${count} files in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** One cold process under GNU time: wall seconds and peak RSS in MB. */
function measure(command, args, { cwd, exitCodes = [0], shell = false, expect = null } = {}) {
  const timeFile = path.join(os.tmpdir(), `squirrel-bench-time-${process.pid}`);
  const argv = shell ? ['sh', '-c', command] : [command, ...args];
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', '-o', timeFile, ...argv], { cwd, encoding: 'utf8', maxBuffer: 256 * MIB, stdio: ['ignore', expect ? 'pipe' : 'ignore', 'pipe'] });
  const seconds = (performance.now() - started) / 1000;
  if (result.error) throw result.error;
  if (!exitCodes.includes(result.status)) throw new Error(`${argv.slice(0, 6).join(' ')} exited ${result.status}: ${result.stderr.slice(-2000)}`);
  if (expect && !expect.test(result.stdout)) throw new Error(`${argv.slice(0, 6).join(' ')} did not report ${expect}: ${result.stdout.slice(-2000)}`);
  const rssMb = Number(fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()) / 1024;
  fs.rmSync(timeFile, { force: true });
  return { seconds, rssMb };
}

function freeBytes(dir) {
  const stats = fs.statfsSync(dir);
  return stats.bavail * stats.bsize;
}

/** Each build indexes a tree of its own: a volume's marker names the one index that owns it. */
function setUpBuild(caseDir, label, bin) {
  const dir = path.join(caseDir, label);
  const volumeDir = path.join(dir, 'volume');
  fs.mkdirSync(dir, { recursive: true });
  const dbPath = path.join(dir, 'index.db');
  const destDir = path.join(dir, 'dest');
  const configPath = path.join(dir, 'config.yaml');
  fs.writeFileSync(
    configPath,
    `node: bench\ndb: ${dbPath}\nvolumes:\n  bench:\n    path: ${volumeDir}\n    sync_to: [d]\n    offload_requires: [d]\ndestinations:\n  d:\n    type: local\n    path: ${destDir}\n`,
  );
  const reset = () => {
    for (const p of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`, destDir, path.join(volumeDir, '.squirrel-volume')]) fs.rmSync(p, { recursive: true, force: true });
  };
  return { label, bin, configPath, volumeDir, reset };
}

function runSize(count, args, builds, stepNames, settleSeconds) {
  const caseDir = path.join(WORK_DIR, `scale-${count}${args.mixed ? '-mixed' : ''}`);
  const volumeDir = builds[0].volumeDir;
  // A tree and a destination per build and rclone's: about 4 KiB a file on disk, each.
  const needed = count * 4096 * (1 + 2 * builds.length) * (args.mixed ? 40 : 1);
  if (freeBytes(WORK_DIR) < needed) throw new Error(`${count} files need about ${(needed / 1e9).toFixed(1)} GB free under ${WORK_DIR}`);
  console.log(`\n${count} files${args.mixed ? ' (mixed sizes)' : ' of 1 KiB'} in folders of ${FILES_PER_FOLDER}, ${volumeDir}; ${loadAverage()}`);
  for (const build of builds) generateSmallTree(build.volumeDir, count, Boolean(args.mixed));
  const rcloneDest = path.join(caseDir, 'rclone-dest');
  const results = new Map();
  const record = (name, label, figures) => {
    results.set(`${name}|${label}`, figures);
    console.log(`  ${name.padEnd(26)} ${label.padEnd(10)} ${figures.seconds.toFixed(2).padStart(8)} s ${figures.rssMb.toFixed(0).padStart(6)} MB`);
  };
  const wants = (name) => stepNames === null || stepNames.has(name);

  // Read every tree once, names and bytes, so every tool starts from a warm page cache (a
  // million files just written may not all be cached: b3sum over a cold 1M tree took 104 s).
  for (const build of builds) measure('find . -type f -print0 | xargs -0 cat > /dev/null', [], { cwd: build.volumeDir, shell: true });
  if (wants('find')) record('find', 'reference', measure(`find . -type f -printf '%s %T@\\n' > /dev/null`, [], { cwd: volumeDir, shell: true }));
  // The floor for a Node program: readdir and a BigInt lstat per entry, nothing kept (floor-walk.mjs).
  if (wants('node-walk')) record('node-walk', 'reference', measure(process.execPath, [path.join(BENCH_DIR, 'floor-walk.mjs'), volumeDir]));
  if (wants('b3sum')) record('b3sum', 'reference', measure('find . -type f -print0 | xargs -0 b3sum > /dev/null', [], { cwd: volumeDir, shell: true }));
  for (const build of builds) build.reset();
  const runStep = (step, build) =>
    record(step.name, build.label, measure(process.execPath, [build.bin, '--config', build.configPath, ...(step.expect ? [] : ['--quiet']), '--no-progress', ...step.args], { exitCodes: step.exitCodes, expect: step.expect }));
  for (const step of SQUIRREL_STEPS) {
    if (step.after !== undefined || !wants(step.name)) continue;
    if (step.settle) {
      // A fresh destination for every tool: rclone's first copy is timed beside squirrel's first sync.
      fs.rmSync(rcloneDest, { recursive: true, force: true });
      settleDisk(settleSeconds);
      const copy = measure('rclone', ['copy', volumeDir, rcloneDest]);
      const check = measure('rclone', ['check', '--download', volumeDir, rcloneDest]);
      record('rclone-copy', 'reference', copy);
      record('rclone-check-download', 'reference', check);
      record('rclone-copy+check', 'reference', { seconds: copy.seconds + check.seconds, rssMb: Math.max(copy.rssMb, check.rssMb) });
      record('rclone-copy-nothing-new', 'reference', measure('rclone', ['copy', volumeDir, rcloneDest]));
    }
    for (const build of builds) {
      if (step.fresh) build.reset();
      runStep(step, build);
      // A paired step runs right after on the same build: the offloaded folder is back before the next turn.
      const pair = SQUIRREL_STEPS.find((s) => s.after === step.name);
      if (pair) runStep(pair, build);
    }
  }
  return results;
}

function growthTable(sizes, resultsBySize, builds) {
  const rows = [['step', 'build', ...sizes.flatMap((n) => [`${n} s`, 'µs/file', 'MB', 'vs ref'])]];
  const referenceNames = ['find', 'node-walk', 'b3sum', 'rclone-copy', 'rclone-check-download', 'rclone-copy+check', 'rclone-copy-nothing-new'];
  const perFile = (figures, n) => ((figures.seconds * 1e6) / n).toFixed(1);
  for (const name of referenceNames) {
    if (!sizes.some((n) => resultsBySize.get(n).has(`${name}|reference`))) continue;
    rows.push([name, 'reference', ...sizes.flatMap((n) => {
      const f = resultsBySize.get(n).get(`${name}|reference`);
      if (!f) return ['-', '-', '-', '-'];
      const find = resultsBySize.get(n).get('find|reference');
      return [f.seconds.toFixed(2), perFile(f, n), f.rssMb.toFixed(0), name === 'node-walk' && find ? `${(f.seconds / find.seconds).toFixed(2)}x find` : '-'];
    })]);
  }
  for (const step of SQUIRREL_STEPS) {
    for (const build of builds) {
      if (!sizes.some((n) => resultsBySize.get(n).has(`${step.name}|${build.label}`))) continue;
      rows.push([step.name, build.label, ...sizes.flatMap((n) => {
        const results = resultsBySize.get(n);
        const f = results.get(`${step.name}|${build.label}`);
        if (!f) return ['-', '-', '-', '-'];
        const ref = step.reference && results.get(`${step.reference}|reference`);
        return [f.seconds.toFixed(2), perFile(f, n), f.rssMb.toFixed(0), ref ? `${(f.seconds / ref.seconds).toFixed(2)}x ${step.reference}` : '-'];
      })]);
    }
  }
  printTable(rows);
}

export async function run(argv) {
  const args = parseArgs(argv);
  const sizes = String(args.sizes ?? '10000,100000').split(',').map(Number);
  if (sizes.some((n) => !(n >= FILES_PER_FOLDER))) throw new Error(`--sizes expects file counts of at least ${FILES_PER_FOLDER}, got '${args.sizes}'`);
  const stepNames = args.steps === undefined ? null : new Set(String(args.steps).split(','));
  const squirrelBin = args.squirrelBin === undefined ? SQUIRREL_BIN : path.resolve(String(args.squirrelBin));
  if (squirrelBin === SQUIRREL_BIN) requireBuild();
  ensureTool('b3sum');
  ensureTool('rclone');
  const builds = [{ label: 'squirrel', bin: squirrelBin }];
  if (args.baselineBin !== undefined) builds.push({ label: String(args.baselineLabel ?? 'baseline'), bin: path.resolve(String(args.baselineBin)) });
  const settleSeconds = settleSecondsFor(WORK_DIR, args);
  console.log(`${os.availableParallelism()} cores; builds: ${builds.map((b) => `${b.label}=${b.bin}`).join(', ')}; one timed run per step (each a cold process), builds interleaved step by step`);
  const resultsBySize = new Map();
  for (const count of sizes) {
    const caseDir = path.join(WORK_DIR, `scale-${count}${args.mixed ? '-mixed' : ''}`);
    fs.mkdirSync(caseDir, { recursive: true });
    const prepared = builds.map((b) => setUpBuild(caseDir, b.label, b.bin));
    resultsBySize.set(count, runSize(count, args, prepared, stepNames, settleSeconds));
  }
  console.log('\ngrowth: seconds, microseconds per file, peak RSS, and the ratio to the step\'s reference tool at each size\n');
  growthTable(sizes, resultsBySize, builds);
  return resultsBySize;
}
