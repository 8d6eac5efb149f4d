// Bench case `offload`: (1) the gate at scale — `offload . --dry-run` over an index of
// 10k / 100k / 1M files with three required targets, rows generated straight into SQLite,
// wall time and peak RSS of the cold-started process (targets: 1M in <= 3 s and <= 500 MB,
// linear); (2) a real offload (re-check, re-hash, intent, unlink) of a generated tree against
// Debian's b3sum over the same bytes (target: >= 0.7x b3sum's throughput).

import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GIB, MIB, REPO_ROOT, SQUIRREL_BIN, WORK_DIR, bestOfInterleaved, ensureTool, generateTree, numberArg, parseArgs, printTable, requireBuild, runChecked,
} from './lib.mjs';

export const description = 'offload --dry-run over 10k..1M indexed files (3 targets), and real offload vs b3sum (--sizes 10000,100000,1000000 --files N --size-mib M)';

const TARGETS = ['t1', 't2', 't3'];
const NS_PER_DAY = 86_400_000_000_000n;

function writeConfig(dir, volumeDir, targets, dbPath) {
  const configPath = path.join(dir, 'config.yaml');
  const dests = targets.map((t) => `  ${t}:\n    type: local\n    path: ${path.join(dir, t)}\n`).join('');
  fs.writeFileSync(
    configPath,
    `node: bench\ndb: ${dbPath}\nvolumes:\n  bench:\n    path: ${volumeDir}\n    sync_to: [${targets.join(', ')}]\n    offload_requires: [${targets.join(', ')}]\n    offload_max_evidence_age: 30d\ndestinations:\n${dests}`,
  );
  return configPath;
}

/** An index of `count` present files with evidence on three targets, written straight into SQLite. */
export function seedIndex(dir, count) {
  fs.rmSync(dir, { recursive: true, force: true });
  const volumeDir = path.join(dir, 'volume');
  fs.mkdirSync(volumeDir, { recursive: true });
  const dbPath = path.join(dir, 'index.db');
  const configPath = writeConfig(dir, volumeDir, TARGETS, dbPath);
  runChecked(process.execPath, [SQUIRREL_BIN, '--config', configPath, '--quiet', 'index', 'bench']);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.defaultSafeIntegers(true);
  const volumeId = db.prepare("SELECT id FROM volumes WHERE name = 'bench'").get().id;
  const nodeId = db.prepare("SELECT id FROM nodes WHERE name = 'bench'").get().id;
  const insertRun = db.prepare("INSERT INTO runs (kind, volume_id, destination, status, started_at_ns, ended_at_ns, pid, host, node_id) VALUES (?, ?, ?, 'success', ?, ?, 1, 'bench', ?)");
  const content = db.prepare('INSERT INTO contents (blake3, size, origin_node_id, origin_run_id) VALUES (?, ?, ?, ?)');
  const file = db.prepare("INSERT INTO files (volume_id, path, content_id, mtime_ns, status, first_seen_run_id, last_seen_run_id, status_changed_run_id) VALUES (?, ?, ?, ?, 'present', ?, ?, ?)");
  const copy = db.prepare("INSERT INTO remote_copies (volume_id, destination, path, content_id, state, pushed_run_id, verified_at_ns) VALUES (?, ?, ?, ?, 'ok', ?, ?)");
  const component = db.prepare("INSERT INTO destination_run_ids (volume_id, destination, origin_node_id, origin_run_id, verify_method, source_node_id, updated_at_ns, verified_at_ns, version) VALUES (?, ?, ?, ?, 'blake3-readback', ?, ?, ?, 1)");
  db.transaction(() => {
    const indexRun = insertRun.run('index', volumeId, null, nowNs, nowNs, nodeId).lastInsertRowid;
    const pushRuns = TARGETS.map((t) => insertRun.run('sync', volumeId, t, nowNs, nowNs, nodeId).lastInsertRowid);
    // A later index run adds 5% of the files: the vector does not cover them ("evidence behind").
    const laterRun = insertRun.run('index', volumeId, null, nowNs, nowNs, nodeId).lastInsertRowid;
    const hash = Buffer.alloc(32);
    for (let i = 0; i < count; i++) {
      crypto.randomFillSync(hash);
      const origin = i % 20 === 19 ? laterRun : indexRun;
      const contentId = content.run(hash, 65536n, nodeId, origin).lastInsertRowid;
      const relative = `y${String(i % 40).padStart(2, '0')}/m${String(Math.floor(i / 40) % 100).padStart(2, '0')}/IMG_${String(i).padStart(7, '0')}.jpg`;
      file.run(volumeId, relative, contentId, nowNs - 400n * NS_PER_DAY, origin, origin, origin);
      TARGETS.forEach((t, k) => copy.run(volumeId, t, `bench/${relative}`, contentId, pushRuns[k], nowNs - NS_PER_DAY));
    }
    TARGETS.forEach((t) => component.run(volumeId, t, nodeId, indexRun, nodeId, nowNs, nowNs - NS_PER_DAY));
  })();
  db.close();
  return { configPath };
}

/** Run the CLI in a wrapper that reports the process's peak RSS. */
function timedWithRss(configPath, args) {
  const wrapper = `import(${JSON.stringify(path.join(REPO_ROOT, 'dist', 'cli', 'main.js'))}).then((m) => m.main(process.argv)).then((code) => { process.stderr.write('\\nMAXRSS_KB ' + process.resourceUsage().maxRSS + '\\n'); process.exitCode = code; });`;
  const started = performance.now();
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', wrapper, 'squirrel', '--config', configPath, '--no-progress', ...args], { encoding: 'utf8', maxBuffer: 64 * MIB });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`offload exited ${result.status}: ${result.stderr}`);
  const rssKb = Number(/MAXRSS_KB (\d+)/.exec(result.stderr)?.[1] ?? NaN);
  return { seconds, rssMb: rssKb / 1024, stdout: result.stdout };
}

function gateAtScale(sizes) {
  const rows = [['files', 'best s', 'µs/file', 'peak RSS MB', 'would offload', 'refused']];
  let largest = null;
  for (const count of sizes) {
    const dir = path.join(WORK_DIR, `offload-gate-${count}`);
    process.stdout.write(`seeding ${count} files ... `);
    const { configPath } = seedIndex(dir, count);
    console.log('done');
    let best = { seconds: Infinity, rssMb: 0 };
    let report = null;
    for (let round = 0; round < 4; round++) {
      const r = timedWithRss(configPath, ['--json', 'offload', 'bench', '.', '--dry-run']);
      if (round > 0 && r.seconds < best.seconds) best = r;
      report = JSON.parse(r.stdout);
    }
    rows.push([count, best.seconds.toFixed(2), ((best.seconds * 1e6) / count).toFixed(2), best.rssMb.toFixed(0), report.allowed.files, report.totals.notDurable]);
    largest = { count, ...best };
    if (!process.env.BENCH_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
  printTable(rows);
  if (largest.count >= 1_000_000) {
    const ok = largest.seconds <= 3 && largest.rssMb <= 500;
    console.log(`target: 1M files in <= 3 s and <= 500 MB: ${ok ? 'met' : 'NOT met'} (${largest.seconds.toFixed(2)} s, ${largest.rssMb.toFixed(0)} MB)`);
  }
}

function realOffload(fileCount, sizeMib) {
  ensureTool('b3sum');
  const dir = path.join(WORK_DIR, `offload-real-${fileCount}x${sizeMib}m`);
  const pristine = path.join(dir, 'pristine');
  const volumeDir = path.join(dir, 'volume');
  const files = generateTree(pristine, { files: fileCount, totalBytes: fileCount * sizeMib * MIB, minBytes: sizeMib * MIB, maxBytes: sizeMib * MIB, seed: 3 });
  const totalBytes = files.reduce((sum, f) => sum + f.sizeBytes, 0);
  const dbPath = path.join(dir, 'index.db');
  const configPath = writeConfig(dir, volumeDir, ['t1'], dbPath);
  const squirrel = (...args) => runChecked(process.execPath, [SQUIRREL_BIN, '--config', configPath, '--quiet', '--no-progress', ...args]);
  const fresh = () => {
    for (const p of [volumeDir, path.join(dir, 't1'), dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) fs.rmSync(p, { recursive: true, force: true });
    runChecked('cp', ['-a', pristine, volumeDir]);
    squirrel('index', 'bench');
    squirrel('sync', 'bench', '--init');
    // Offload meets files written long ago: let the copy's dirty pages reach the disk first.
    runChecked('sync', []);
  };
  const paths = files.map((f) => f.path);
  const best = bestOfInterleaved(
    [
      { name: 'b3sum over the same files', fn: () => runChecked('b3sum', paths, { cwd: pristine }) },
      { name: 'squirrel offload . (re-check + re-hash + unlink)', before: fresh, fn: () => squirrel('offload', 'bench', '.') },
    ],
    { warmups: 1, runs: 3 },
  );
  const left = fs.readdirSync(volumeDir, { recursive: true }).filter((p) => fs.statSync(path.join(volumeDir, p)).isFile() && !String(p).startsWith('.squirrel'));
  if (left.length !== 0) throw new Error(`offload left ${left.length} files behind`);
  const [b3sum, offload] = [...best.values()];
  const gibps = (s) => totalBytes / GIB / s;
  printTable([
    ['tool', 'best s', 'GiB/s'],
    ...[...best.entries()].map(([name, s]) => [name, s.toFixed(3), gibps(s).toFixed(2)]),
  ]);
  const ratio = b3sum / offload;
  console.log(`target: offload >= 0.7x b3sum: ${ratio >= 0.7 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x over ${files.length} files, ${(totalBytes / GIB).toFixed(2)} GiB)`);
}

export async function run(argv) {
  const args = parseArgs(argv);
  requireBuild();
  const sizes = String(args.sizes ?? '10000,100000,1000000').split(',').map(Number);
  console.log(`machine: ${os.availableParallelism()} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log('\n-- offload . --dry-run over a generated index, 3 required targets (best of 3 after a warm-up) --');
  gateAtScale(sizes);
  console.log('\n-- real offload vs b3sum --');
  realOffload(Math.round(numberArg(args, 'files', 128)), numberArg(args, 'sizeMib', 8));
}
