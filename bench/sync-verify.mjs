// Bench case `sync-verify`: squirrel sync to a local destination (write, fsync, read back,
// BLAKE3) against `rclone copy --checksum` to the same kind of destination, and squirrel
// verify of that destination against `b3sum` over the destination's files and `rclone check
// --download`. Cold-started processes, warm page cache, best of 3 interleaved rounds.
// Targets: sync >= 0.5x rclone's throughput; verify >= 0.8x b3sum's.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  GIB, KIB, MIB, SQUIRREL_BIN, WORK_DIR, bestOfInterleaved, ensureTool, generateTree, numberArg, parseArgs, printTable, requireBuild, runChecked, settleDisk, settleSecondsFor,
} from './lib.mjs';

export const description = 'sync with read-back vs rclone copy --checksum; verify vs b3sum and rclone check --download (--files N --total-gib G --settle S)';

export async function run(argv) {
  const args = parseArgs(argv);
  const fileCount = Math.round(numberArg(args, 'files', 1000));
  const totalGib = numberArg(args, 'totalGib', 1);
  // Each sync round starts right after the last round's copies were deleted: settle first.
  const settleSeconds = settleSecondsFor(WORK_DIR, args);
  requireBuild();
  ensureTool('b3sum');
  ensureTool('rclone');

  const caseDir = path.join(WORK_DIR, `sync-verify-${fileCount}-${totalGib}g`);
  const volumeDir = path.join(caseDir, 'volume');
  fs.mkdirSync(caseDir, { recursive: true });
  const files = generateTree(volumeDir, { files: fileCount, totalBytes: Math.round(totalGib * GIB), minBytes: 4 * KIB, maxBytes: 32 * MIB, seed: 2 });
  const totalBytes = files.reduce((sum, f) => sum + f.sizeBytes, 0);
  const squirrelDest = path.join(caseDir, 'dest-squirrel');
  const rcloneDest = path.join(caseDir, 'dest-rclone');
  const dbPath = path.join(caseDir, 'index.db');
  const configPath = path.join(caseDir, 'config.yaml');
  fs.writeFileSync(configPath, `node: bench\ndb: ${dbPath}\nvolumes:\n  bench:\n    path: ${volumeDir}\n    sync_to: [d]\ndestinations:\n  d:\n    type: local\n    path: ${squirrelDest}\n`);
  const squirrel = (...extra) => runChecked(process.execPath, [SQUIRREL_BIN, '--config', configPath, '--quiet', '--no-progress', ...extra]);
  const clean = (...paths) => () => {
    for (const p of paths) fs.rmSync(p, { recursive: true, force: true });
  };
  // The index is not part of the sync timing: a fresh database indexed before each sync round.
  const freshIndex = () => {
    clean(squirrelDest, dbPath, `${dbPath}-wal`, `${dbPath}-shm`)();
    squirrel('index', 'bench');
    settleDisk(settleSeconds);
  };
  const destFiles = files.map((f) => path.join('bench', f.path));

  console.log(`tree: ${files.length} files, ${(totalBytes / GIB).toFixed(2)} GiB (4 KiB - 32 MiB); ${os.availableParallelism()} cores, load ${os.loadavg()[0].toFixed(1)}; ${settleSeconds} s settle before each sync`);
  const syncBest = bestOfInterleaved([
    { name: 'rclone copy --checksum', before: () => { clean(rcloneDest)(); settleDisk(settleSeconds); }, fn: () => runChecked('rclone', ['copy', '--checksum', volumeDir, rcloneDest]) },
    { name: 'squirrel sync (fsync + read-back + BLAKE3)', before: freshIndex, fn: () => squirrel('sync', 'bench', '--init') },
  ]);
  const verifyBest = bestOfInterleaved([
    { name: 'b3sum over the destination files', fn: () => runChecked('b3sum', destFiles, { cwd: squirrelDest }) },
    { name: 'rclone check --download', fn: () => runChecked('rclone', ['check', '--download', volumeDir, rcloneDest]) },
    { name: 'squirrel verify (re-read + BLAKE3)', fn: () => squirrel('verify', 'bench') },
  ]);

  const gibps = (s) => totalBytes / GIB / s;
  const rows = [['leg', 'best s', 'GiB/s']];
  for (const [name, s] of [...syncBest, ...verifyBest]) rows.push([name, s.toFixed(3), gibps(s).toFixed(2)]);
  printTable(rows);
  const [rcloneCopy, squirrelSync] = [...syncBest.values()];
  const [b3sum, , squirrelVerify] = [...verifyBest.values()];
  const syncRatio = rcloneCopy / squirrelSync;
  const verifyRatio = b3sum / squirrelVerify;
  console.log(`target: sync >= 0.5x rclone copy: ${syncRatio >= 0.5 ? 'met' : 'NOT met'} (${syncRatio.toFixed(2)}x)`);
  console.log(`target: verify >= 0.8x b3sum: ${verifyRatio >= 0.8 ? 'met' : 'NOT met'} (${verifyRatio.toFixed(2)}x)`);
  return { syncRatio, verifyRatio };
}
