// Bench case `index`: squirrel's index throughput against Debian's b3sum over the same tree.
// Both are cold-started processes on a warm page cache (one untimed run each, then the best
// of three). Target: squirrel indexing a new database at >= 0.8x b3sum's GiB/s. The hashes
// squirrel recorded are checked against b3sum's output.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GIB, KIB, MIB, SQUIRREL_BIN, WORK_DIR, bestOfInterleaved, ensureTool, generateTree, numberArg, parseArgs, printTable, requireBuild, runChecked,
} from './lib.mjs';

export const description = 'squirrel index vs b3sum over a generated tree (--files N, --total-gib G, --rounds R, --squirrel-bin PATH)';

const TARGET_RATIO = 0.8;
/** Keep each b3sum command line well under ARG_MAX; more files means more (cold) invocations. */
const MAX_ARG_BYTES = 96 * KIB;

function argChunks(paths) {
  const chunks = [];
  let current = [];
  let bytes = 0;
  for (const p of paths) {
    if (bytes + p.length + 1 > MAX_ARG_BYTES && current.length > 0) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(p);
    bytes += p.length + 1;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export async function run(argv) {
  const args = parseArgs(argv);
  const fileCount = Math.round(numberArg(args, 'files', 3000));
  const totalGib = numberArg(args, 'totalGib', 3);
  const rounds = Math.round(numberArg(args, 'rounds', 3));
  const squirrelBin = args.squirrelBin === undefined ? SQUIRREL_BIN : path.resolve(String(args.squirrelBin));
  if (squirrelBin === SQUIRREL_BIN) requireBuild();
  ensureTool('b3sum');

  const caseDir = path.join(WORK_DIR, `index-${fileCount}-${totalGib}g`);
  const volumeDir = path.join(caseDir, 'volume');
  fs.mkdirSync(caseDir, { recursive: true });
  console.log(`tree: ${fileCount} files, ~${totalGib} GiB, 4 KiB - 64 MiB, in ${volumeDir}`);
  const files = generateTree(volumeDir, { files: fileCount, totalBytes: Math.round(totalGib * GIB), minBytes: 4 * KIB, maxBytes: 64 * MIB, seed: 1 });
  const totalBytes = files.reduce((sum, f) => sum + f.sizeBytes, 0);

  const dbPath = path.join(caseDir, 'index.db');
  const configPath = path.join(caseDir, 'config.yaml');
  fs.writeFileSync(configPath, `node: bench\ndb: ${dbPath}\nvolumes:\n  bench:\n    path: ${volumeDir}\n    sync_to: []\ndestinations: {}\n`);
  // A new database needs the volume's marker gone too: the marker names the index that owns it.
  const removeDb = () => {
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(dbPath + suffix, { force: true });
    fs.rmSync(path.join(volumeDir, '.squirrel-volume'), { force: true });
  };
  const squirrel = (...extra) => runChecked(process.execPath, [squirrelBin, '--config', configPath, '--quiet', '--no-progress', 'index', 'bench', ...extra]);

  const chunks = argChunks(files.map((f) => f.path));
  let b3sumOutput = '';
  const b3sum = () => {
    b3sumOutput = chunks.map((chunk) => runChecked('b3sum', chunk, { cwd: volumeDir }).stdout).join('');
  };

  const cases = [
    { name: `b3sum (${chunks.length} process${chunks.length > 1 ? 'es' : ''})`, fn: b3sum, reference: true },
    { name: 'squirrel index, new database', fn: () => squirrel(), before: removeDb, target: true },
    { name: 'squirrel index, re-hash (database kept)', fn: () => squirrel() },
    { name: 'squirrel index --shallow (nothing to hash)', fn: () => squirrel('--shallow'), noRatio: true },
  ];
  const best = bestOfInterleaved(cases, { runs: rounds });
  const timings = cases.map((c) => ({ ...c, seconds: best.get(c.name) }));

  // Correctness: what squirrel recorded must be exactly what b3sum computed.
  const expected = new Map(b3sumOutput.trim().split('\n').map((line) => [line.slice(66), line.slice(0, 64)]));
  const db = new Database(dbPath, { readonly: true });
  const rows = db.prepare("SELECT f.path, hex(c.blake3) AS hash FROM files f JOIN contents c ON c.id = f.content_id WHERE f.status = 'present'").all();
  db.close();
  const mismatches = rows.filter((r) => expected.get(r.path) !== r.hash.toLowerCase());
  if (rows.length !== files.length || mismatches.length > 0) {
    throw new Error(`hash check failed: ${rows.length} rows for ${files.length} files, ${mismatches.length} mismatches (e.g. ${mismatches[0]?.path})`);
  }

  const reference = timings.find((t) => t.reference);
  const gibps = (t) => totalBytes / GIB / t.seconds;
  console.log(`\n${files.length} files, ${(totalBytes / GIB).toFixed(2)} GiB, ${os.availableParallelism()} cores; best of ${rounds} interleaved rounds after a warm-up; hashes checked: ${rows.length} equal\n`);
  printTable([
    ['tool', 'best s', 'GiB/s', 'vs b3sum'],
    ...timings.map((t) => [t.name, t.seconds.toFixed(3), gibps(t).toFixed(2), t.noRatio ? '-' : `${(gibps(t) / gibps(reference)).toFixed(2)}x`]),
  ]);
  const ratio = gibps(timings.find((t) => t.target)) / gibps(reference);
  console.log(`\ntarget: squirrel (new database) >= ${TARGET_RATIO}x b3sum: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`);
  return { totalBytes, files: files.length, timings, ratio };
}
