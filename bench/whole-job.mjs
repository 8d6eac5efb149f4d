// Bench case `whole-job`: the job squirrel exists for, done three ways on the same tree: get
// every file onto two local destinations, prove the copies, and free the local disk.
//   squirrel:  index, sync (both destinations, read-back), verify, offload .
//   git-annex: init + two directory special remotes, add, copy --to each, fsck --from each,
//              drop with numcopies 2 (Debian's git-annex, default backend SHA256E)
//   rclone:    copy --checksum to each, check --download each, rm (Debian's rclone)
// Every leg is cold processes on a warm page cache (the tree is copied and `sync`ed, untimed,
// before each case). After every case an independent SHA-256 (Node's crypto) checks each file
// on both destinations against the source tree, and that no local copy is left.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  KIB, MIB, SQUIRREL_BIN, WORK_DIR, bestLegsInterleaved, ensureTool, generateTree, listFiles, loadAverage, numberArg, parseArgs, printTable,
  requireBuild, runChecked, settleDisk, settleSecondsFor, sha256File,
} from './lib.mjs';

export const description =
  'back up to two destinations, verify, delete locally: squirrel vs git-annex vs rclone (--files N --size BYTES --runs N --warmups N --settle S --only a,b --squirrel-bin PATH --baseline-bin PATH)';

const DEFAULT_TREES = [
  { files: 2000, sizeBytes: 64 * KIB },
  { files: 200, sizeBytes: 8 * MIB },
];
/** The issue's targets: small files against both peers, large files against rclone only. */
const LARGE_FILE_BYTES = MIB;
const TARGETS_SMALL = { annexSpeedup: 15, rcloneRatio: 1.5 };
const TARGETS_LARGE = { annexSpeedup: null, rcloneRatio: 1.3 };
const DESTINATIONS = ['d1', 'd2'];

export async function run(argv) {
  const args = parseArgs(argv);
  const custom = args.files !== undefined || args.size !== undefined;
  const trees = custom
    ? [{ files: Math.round(numberArg(args, 'files', DEFAULT_TREES[0].files)), sizeBytes: Math.round(numberArg(args, 'size', DEFAULT_TREES[0].sizeBytes)) }]
    : DEFAULT_TREES;
  const runs = Math.round(numberArg(args, 'runs', 3));
  const warmups = args.warmups === '0' ? 0 : Math.round(numberArg(args, 'warmups', 1));
  const settleSeconds = settleSecondsFor(WORK_DIR, args);
  const only = args.only === undefined ? null : new Set(String(args.only).split(','));
  // Another build (a checkout of an older commit, say) can be timed against the same peers,
  // or alongside this one as a baseline, in the same interleaved rounds.
  const squirrelBin = args.squirrelBin === undefined ? SQUIRREL_BIN : path.resolve(String(args.squirrelBin));
  const baselineBin = args.baselineBin === undefined ? null : path.resolve(String(args.baselineBin));
  if (squirrelBin === SQUIRREL_BIN) requireBuild();
  ensureTool('git');
  ensureTool('git-annex');
  ensureTool('rclone');

  const results = [];
  for (const tree of trees) results.push(runTree(tree, { runs, warmups, settleSeconds, only, squirrelBin, baselineBin }));
  return results;
}

function runTree({ files: fileCount, sizeBytes }, { runs, warmups, settleSeconds, only, squirrelBin, baselineBin }) {
  const caseDir = path.join(WORK_DIR, `whole-job-${fileCount}x${sizeBytes}`);
  const sourceDir = path.join(caseDir, 'source');
  fs.mkdirSync(caseDir, { recursive: true });
  console.log(`\ntree: ${fileCount} files of ${formatSize(sizeBytes)} in ${sourceDir}`);
  const files = generateTree(sourceDir, { files: fileCount, totalBytes: fileCount * sizeBytes, minBytes: sizeBytes, maxBytes: sizeBytes, seed: 8 });
  // The independent "before": what every destination copy must hash to.
  const expected = new Map(files.map((f) => [f.path, sha256File(path.join(sourceDir, f.path))]));
  const loadBefore = loadAverage();

  const tools = [
    squirrelTool(caseDir, fileCount, 'squirrel', squirrelBin),
    ...(baselineBin === null ? [] : [squirrelTool(caseDir, fileCount, 'baseline', baselineBin)]),
    annexTool(caseDir),
    rcloneTool(caseDir, 'rclone', false),
    rcloneTool(caseDir, 'rclone+sync', true),
  ].filter((t) => only === null || only.has(t.name));
  const cases = tools.map((tool) => ({
    name: tool.name,
    before: () => {
      fs.rmSync(tool.dir, { recursive: true, force: true });
      fs.mkdirSync(tool.dir, { recursive: true });
      runChecked('cp', ['-a', sourceDir, tool.volumeDir]);
      tool.prepare?.();
      settleDisk(settleSeconds);
    },
    fn: (leg) => tool.legs(leg),
    after: () => {
      checkOutcome(tool, files, expected);
      fs.rmSync(tool.dir, { recursive: true, force: true });
    },
  }));
  const best = bestLegsInterleaved(cases, {
    warmups,
    runs,
    onRound: (r) => console.log(`  ${r.warmup ? 'warm-up' : `round ${r.round - warmups + 1}`} ${r.name.padEnd(11)} ${r.seconds.toFixed(2)} s  (${r.legs.map((l) => `${l.name} ${l.seconds.toFixed(2)}`).join(', ')})`),
  });
  const loadAfter = loadAverage();

  const totalBytes = fileCount * sizeBytes;
  const builds = ['squirrel', 'baseline'].filter((name) => best.has(name));
  const ratio = (build, peer) => (best.has(peer) ? best.get(build).seconds / best.get(peer).seconds : null);
  const peers = [...best.keys()].filter((name) => !builds.includes(name));
  console.log(
    `\n${fileCount} files x ${formatSize(sizeBytes)} (${formatSize(totalBytes)}), ${os.availableParallelism()} cores, ${loadBefore} before / ${loadAfter} after;` +
      ` best of ${runs} interleaved round(s) after ${warmups} warm-up(s), warm page cache, ${settleSeconds} s settle before each case;` +
      ' every round checked by SHA-256 on both destinations\n',
  );
  printTable([
    ['tool', 'legs (s)', 'total s', 'MiB/s', ...builds.map((b) => `${b}/tool`)],
    ...[...best.entries()].map(([name, b]) => [
      name,
      b.legs.map((l) => `${l.name} ${l.seconds.toFixed(2)}`).join('  '),
      b.seconds.toFixed(2),
      (totalBytes / MIB / b.seconds).toFixed(0),
      ...builds.map((build) => (build === name ? '-' : `${ratio(build, name).toFixed(3)}x`)),
    ]),
  ]);

  const targets = sizeBytes >= LARGE_FILE_BYTES ? TARGETS_LARGE : TARGETS_SMALL;
  const verdicts = [];
  for (const build of builds) {
    const annexRatio = ratio(build, 'git-annex');
    if (targets.annexSpeedup !== null && annexRatio !== null) {
      verdicts.push({ target: `${build} >= ${targets.annexSpeedup}x faster than git-annex`, met: 1 / annexRatio >= targets.annexSpeedup, actual: `${(1 / annexRatio).toFixed(1)}x faster` });
    }
    const rcloneRatio = ratio(build, 'rclone');
    if (rcloneRatio !== null) {
      verdicts.push({ target: `${build} <= ${targets.rcloneRatio}x rclone's time`, met: rcloneRatio <= targets.rcloneRatio, actual: `${rcloneRatio.toFixed(2)}x` });
    }
  }
  console.log('');
  for (const v of verdicts) console.log(`target: ${v.target}: ${v.met ? 'met' : 'NOT met'} (${v.actual})`);
  return { files: fileCount, sizeBytes, load: { before: loadBefore, after: loadAfter }, best: Object.fromEntries(best), peers, verdicts };
}

/** squirrel as its README has it: one config, four commands. */
function squirrelTool(caseDir, fileCount, name, squirrelBin) {
  const dir = path.join(caseDir, name);
  const volumeDir = path.join(dir, 'volume');
  const configPath = path.join(dir, 'config.yaml');
  const squirrel = (...args) => runChecked(process.execPath, [squirrelBin, '--config', configPath, '--no-progress', ...args]);
  return {
    name,
    dir,
    volumeDir,
    copyPath: (destination, file) => path.join(dir, destination, 'bench', file.path),
    prepare: () => {
      const lines = [
        'node: bench',
        `db: ${path.join(dir, 'index.db')}`,
        'volumes:',
        '  bench:',
        `    path: ${volumeDir}`,
        `    sync_to: [${DESTINATIONS.join(', ')}]`,
        `    offload_requires: [${DESTINATIONS.join(', ')}]`,
        'destinations:',
        ...DESTINATIONS.flatMap((d) => [`  ${d}:`, '    type: local', `    path: ${path.join(dir, d)}`]),
        '',
      ];
      fs.writeFileSync(configPath, lines.join('\n'));
    },
    legs: (leg) => {
      leg('index', () => squirrel('--quiet', 'index', 'bench'));
      leg('sync', () => squirrel('--quiet', 'sync', 'bench', '--init'));
      leg('verify', () => squirrel('--quiet', 'verify', 'bench'));
      const offload = leg('offload', () => squirrel('offload', 'bench', '.', '--strict'));
      if (!offload.stdout.includes(`offloaded=${fileCount} `)) throw new Error(`squirrel offload did not offload every file:\n${offload.stdout}`);
    },
    leftLocally: (file) => presentLocally(path.join(volumeDir, file.path)),
  };
}

/** git-annex with its defaults (SHA256E, one job), in a fresh repository with its own HOME. */
function annexTool(caseDir) {
  const dir = path.join(caseDir, 'git-annex');
  const volumeDir = path.join(dir, 'volume');
  const home = path.join(dir, 'home');
  const env = { ...process.env, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'bench', GIT_AUTHOR_EMAIL: 'bench@example.org', GIT_COMMITTER_NAME: 'bench', GIT_COMMITTER_EMAIL: 'bench@example.org' };
  const git = (...args) => runChecked('git', args, { cwd: volumeDir, env });
  const annex = (...args) => git('annex', ...args, '--quiet');
  // The directory remote files a key under two hash directories; find copies by key instead.
  const remoteIndex = new Map();
  return {
    name: 'git-annex',
    dir,
    volumeDir,
    copyPath: (destination, file, sha256) => {
      if (!remoteIndex.has(destination)) remoteIndex.set(destination, new Map(listFiles(path.join(dir, destination)).map((p) => [path.basename(p), p])));
      const found = remoteIndex.get(destination).get(`SHA256E-s${file.sizeBytes}--${sha256}${path.extname(file.path)}`);
      return found === undefined ? null : path.join(dir, destination, found);
    },
    prepare: () => {
      remoteIndex.clear();
      fs.mkdirSync(home, { recursive: true });
    },
    legs: (leg) => {
      leg('setup', () => {
        git('init', '--quiet');
        annex('init', 'bench');
        for (const d of DESTINATIONS) {
          fs.mkdirSync(path.join(dir, d));
          annex('initremote', d, 'type=directory', `directory=${path.join(dir, d)}`, 'encryption=none');
        }
        annex('numcopies', '2');
      });
      leg('add', () => annex('add', '.'));
      leg('copy', () => DESTINATIONS.forEach((d) => annex('copy', '--to', d, '.')));
      leg('fsck', () => DESTINATIONS.forEach((d) => annex('fsck', '--from', d, '.')));
      leg('drop', () => annex('drop', '.'));
    },
    // After a drop the working tree keeps a dangling symlink, and no object file is left.
    leftLocally: (file) => presentLocally(path.join(volumeDir, file.path)),
    leftOver: () => listFiles(path.join(volumeDir, '.git', 'annex', 'objects')).map((p) => `.git/annex/objects/${p}`),
  };
}

/**
 * The hand-rolled recipe: copy, check by reading both sides, then delete. rclone does not
 * fsync what it writes, so `check` reads the page cache and `rm` may run before the copies
 * are on the disk; the +sync variant flushes the destinations' filesystem before checking.
 */
function rcloneTool(caseDir, name, flush) {
  const dir = path.join(caseDir, name);
  const volumeDir = path.join(dir, 'volume');
  const configPath = path.join(dir, 'rclone.conf');
  const rclone = (...args) => runChecked('rclone', ['--config', configPath, ...args]);
  return {
    name,
    dir,
    volumeDir,
    copyPath: (destination, file) => path.join(dir, destination, file.path),
    prepare: () => fs.writeFileSync(configPath, ''),
    legs: (leg) => {
      leg('copy', () => DESTINATIONS.forEach((d) => rclone('copy', '--checksum', volumeDir, path.join(dir, d))));
      if (flush) leg('sync', () => runChecked('sync', ['-f', ...DESTINATIONS.map((d) => path.join(dir, d))]));
      leg('check', () => DESTINATIONS.forEach((d) => rclone('check', '--download', volumeDir, path.join(dir, d))));
      leg('rm', () => runChecked('rm', ['-r', '--', ...fs.readdirSync(volumeDir).map((name) => path.join(volumeDir, name))]));
    },
    leftLocally: (file) => presentLocally(path.join(volumeDir, file.path)),
  };
}

/** Are these bytes still readable at this local path (following links, as a user would)? */
function presentLocally(absolute) {
  try {
    return fs.statSync(absolute).isFile();
  } catch (err) {
    if (err.code === 'ENOENT') return false;
    throw err;
  }
}

/** The independent check: every file intact on both destinations, and gone locally. */
function checkOutcome(tool, files, expected) {
  const problems = [];
  for (const file of files) {
    const sha256 = expected.get(file.path);
    for (const d of DESTINATIONS) {
      const copy = tool.copyPath(d, file, sha256);
      if (copy === null || !fs.existsSync(copy)) problems.push(`${file.path}: no copy at ${d}`);
      else if (sha256File(copy) !== sha256) problems.push(`${file.path}: the copy at ${d} differs (SHA-256)`);
    }
    if (tool.leftLocally(file)) problems.push(`${file.path}: still on the local disk`);
  }
  for (const leftOver of tool.leftOver?.() ?? []) problems.push(`${leftOver}: still on the local disk`);
  if (problems.length > 0) {
    throw new Error(`${tool.name}: the outcome check failed for ${problems.length} file(s), e.g.\n  ${problems.slice(0, 5).join('\n  ')}`);
  }
}

function formatSize(bytes) {
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(1)} MiB`;
  if (bytes >= KIB && bytes % KIB === 0) return `${bytes / KIB} KiB`;
  return `${bytes} B`;
}
