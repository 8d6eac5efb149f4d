// Planning an offload: selectors (SPEC §6 scenario 5, 6), candidates (9, 10), refusals before
// any work (4, 12), the report renderer, and a 100k-row plan that shows the streaming design
// stays correct at scale. Real SQLite in temp dirs; evidence written through the Store API.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { cleanupTempDirs, DAY_NS, tempDir } from '../helpers.js';
import { writeMarker } from '../../src/core/index/volume-root.js';
import { OffloadPlan, planOffload, PlanOptions } from '../../src/core/offload/plan.js';
import { parseSelectors } from '../../src/core/selectors.js';
import { offloadReportJson, renderOffloadReport } from '../../src/cli/render/offload-report.js';
import type { Reporter } from '../../src/core/reporter.js';
import { OperationalError, SquirrelError, UsageError } from '../../src/errors.js';
import { OffloadWorld } from './offload-world.js';

const worlds: OffloadWorld[] = [];
function world(options: ConstructorParameters<typeof OffloadWorld>[0] = {}): OffloadWorld {
  const w = new OffloadWorld(options);
  worlds.push(w);
  return w;
}

afterEach(() => {
  for (const w of worlds.splice(0)) w.close();
  cleanupTempDirs();
});

/** A world whose files are all seeded on both targets. */
function seeded(files: Record<string, string>, options: { mtimeNs?: Record<string, bigint> } = {}): OffloadWorld {
  const w = world();
  w.index(files, options);
  w.sync('nas');
  w.sync('offsite');
  return w;
}

function plan(w: OffloadWorld, selectors: string[], options: Partial<PlanOptions> = {}): OffloadPlan {
  return planOffload(w.store, w.volumeConfig(), parseSelectors(selectors), { olderThanMs: null, nowNs: w.nowNs, thisNodeId: w.laptopId, ...options });
}

function allowedPaths(p: OffloadPlan): string[] {
  return [...p.allowed].map((f) => f.path);
}

function thrown(fn: () => unknown): SquirrelError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SquirrelError) return err;
    throw err;
  }
  throw new Error('expected a refusal, but nothing was thrown');
}

function recordingReporter(): Reporter & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (m) => warnings.push(m), info: () => {}, progress: () => {} };
}

describe('parseSelectors', () => {
  test('scenario 5: no selector is a usage error (exit 2) that mentions `.`', () => {
    // act
    const error = thrown(() => parseSelectors([]));

    // expect
    expect(error).toBeInstanceOf(UsageError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain("'.' for the whole volume");
  });

  test.each([
    ['../x', "contains '..'"],
    ['/abs', 'is absolute'],
    ['a/../..', "contains '..'"],
    ['a/..', "contains '..'"],
    ['', 'is empty'],
    ['a\0b', 'contains a NUL byte'],
    ['a\nb', 'contains a line break'],
    ['a\rb', 'contains a line break'],
    ['.squirrel-trash', 'reserved'],
    ['Photos/.squirrel-volume', 'reserved'],
  ])('scenario 5: selector %j is a usage error (%s)', (raw, problem) => {
    // act
    const error = thrown(() => parseSelectors(['ok', raw]));

    // expect
    expect(error).toBeInstanceOf(UsageError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain(JSON.stringify(raw));
    expect(error.message).toContain(problem);
  });

  test('trailing slashes, `./` and doubled slashes are normalised; `.` is the whole volume; duplicates collapse', () => {
    // act
    const selectors = parseSelectors(['Photos/2019/', './Photos//2019/.', '.', './', 'a b/c']);

    // expect
    expect(selectors).toEqual([
      { raw: 'Photos/2019/', path: 'Photos/2019' },
      { raw: '.', path: '.' },
      { raw: 'a b/c', path: 'a b/c' },
    ]);
  });
});

describe('selection', () => {
  test('scenario 5: `Photos/2019` selects Photos/2019 and everything under it, never Photos/2019-extra', () => {
    // setup
    const w = seeded({
      'Photos/2019/a.jpg': 'a',
      'Photos/2019/sub/b.jpg': 'b',
      'Photos/2019-extra/c.jpg': 'c',
      'Photos/2019.jpg': 'd',
      'Photos/20190/e.jpg': 'e',
      'Photos/2019 copy/f.jpg': 'f',
      'Other/g.jpg': 'g',
    });

    // act
    const subtree = plan(w, ['Photos/2019']);
    const trailingSlash = plan(w, ['Photos/2019/']);
    const oneFile = plan(w, ['Photos/2019.jpg']);

    // expect
    expect(allowedPaths(subtree)).toEqual(['Photos/2019/a.jpg', 'Photos/2019/sub/b.jpg']);
    expect(allowedPaths(trailingSlash)).toEqual(['Photos/2019/a.jpg', 'Photos/2019/sub/b.jpg']);
    expect(allowedPaths(oneFile)).toEqual(['Photos/2019.jpg']);
    expect(subtree.candidates).toBe(2);
  });

  test('`.` selects the whole volume; nested selectors do not count a file twice', () => {
    // setup
    const w = seeded({ 'Photos/2019/a.jpg': 'a', 'Photos/2020/b.jpg': 'b', 'c.jpg': 'c' });

    // act
    const whole = plan(w, ['.']);
    const nested = plan(w, ['Photos/2019', 'Photos', 'Photos/2019/a.jpg']);

    // expect
    expect(allowedPaths(whole)).toEqual(['Photos/2019/a.jpg', 'Photos/2020/b.jpg', 'c.jpg']);
    expect(allowedPaths(nested)).toEqual(['Photos/2019/a.jpg', 'Photos/2020/b.jpg']);
    expect(nested.candidates).toBe(2);
    expect(nested.unmatchedSelectors).toEqual([]);
  });

  test('scenario 5: --older-than selects by indexed mtime, strictly older than now minus the duration', () => {
    // setup
    const w = world();
    // half a second past a whole second, so the cutoff has a nanosecond part
    w.nowNs += 500_000_000n;
    const now = w.nowNs;
    const mtimes = {
      'old.jpg': now - 2n * DAY_NS,
      'just-old.jpg': now - DAY_NS - 1n,
      'edge.jpg': now - DAY_NS,
      'new.jpg': now - 3_600_000_000_000n,
      'before-1970.jpg': -1_500_000_001n,
    };
    w.index(Object.fromEntries(Object.keys(mtimes).map((p) => [p, p])), { mtimeNs: mtimes });
    w.sync('nas');
    w.sync('offsite');

    // act
    const p = plan(w, ['.'], { olderThanMs: 86_400_000 });

    // expect
    expect(allowedPaths(p)).toEqual(['before-1970.jpg', 'just-old.jpg', 'old.jpg']);
    expect(p.candidates).toBe(3);
    expect(p.tooRecent).toBe(2);
    expect([...p.allowed].map((f) => f.mtimeNs)).toEqual([-1_500_000_001n, now - DAY_NS - 1n, now - 2n * DAY_NS]);
  });

  test('scenario 6: a selector matching nothing is a warning naming it, and nothing else happens', () => {
    // setup
    const w = seeded({ 'a.jpg': 'a' }, { mtimeNs: { 'a.jpg': 0n } });
    const reporter = recordingReporter();

    // act
    const nothing = plan(w, ['Nope/missing'], { reporter });

    // expect
    expect(nothing.unmatchedSelectors.map((u) => u.selector)).toEqual(['Nope/missing']);
    expect(reporter.warnings).toHaveLength(1);
    expect(reporter.warnings[0]).toContain("'Nope/missing' matches no present file");
    expect(nothing.candidates).toBe(0);
    expect(nothing.allowed.length).toBe(0);
    expect(nothing.groups).toEqual([]);
  });

  test('a selector whose files are all too recent says so instead of "matches nothing"', () => {
    // setup
    const w = world();
    w.index({ 'fresh/a.jpg': 'a', 'old/b.jpg': 'b' }, { mtimeNs: { 'fresh/a.jpg': w.nowNs, 'old/b.jpg': 0n } });
    w.sync('nas');
    w.sync('offsite');
    const reporter = recordingReporter();

    // act
    const p = plan(w, ['fresh', 'old'], { olderThanMs: 86_400_000, reporter });

    // expect
    expect(allowedPaths(p)).toEqual(['old/b.jpg']);
    expect(p.unmatchedSelectors).toEqual([{ selector: 'fresh', tooRecentFiles: 1, message: "'fresh': none of its 1 indexed file(s) is older than 1d; nothing selected there" }]);
    expect(reporter.warnings).toEqual([p.unmatchedSelectors[0].message]);
  });

  test('scenario 9: missing, superseded and offloaded rows are never candidates', () => {
    // setup
    const w = world();
    w.index({ 'changed.jpg': 'v1', 'gone.jpg': 'gone', 'done.jpg': 'done', 'kept.jpg': 'kept' });
    w.sync('nas');
    w.sync('offsite');
    const run = w.index({ 'changed.jpg': 'v2' }, { missing: ['gone.jpg'] });
    w.store.immediate(() => w.store.files.setStatus(w.file('done.jpg').id, 'offloaded', run));

    // act
    const p = plan(w, ['.']);

    // expect: the superseded v1 row is not offered although its evidence is perfect
    expect(p.candidates).toBe(2);
    expect(allowedPaths(p)).toEqual(['kept.jpg']);
    expect(p.groups.map((g) => [g.target, g.reason, g.paths])).toEqual([
      ['nas', 'evidence-behind', ['changed.jpg']],
      ['offsite', 'evidence-behind', ['changed.jpg']],
    ]);
  });

  test('scenario 10: files under reserved .squirrel-* subtrees are never offloaded, even with perfect evidence', () => {
    // setup
    const w = seeded({ '.squirrel-trash/x.jpg': 'x', 'a/.squirrel-tmp/y.jpg': 'y', 'a/.squirrel-volume': 'm', 'a/b.jpg': 'b', 'a/.squirrelish.jpg': 's' });

    // act
    const p = plan(w, ['.']);
    const inside = plan(w, ['a']);

    // expect
    expect(allowedPaths(p)).toEqual(['a/.squirrelish.jpg', 'a/b.jpg']);
    expect(p.reservedSkipped).toBe(3);
    expect(allowedPaths(inside)).toEqual(['a/.squirrelish.jpg', 'a/b.jpg']);
    expect(inside.reservedSkipped).toBe(2);
  });

  test('an allowed file carries what the execute step checks: id, content, hash, size, mtime, evidence versions', () => {
    // setup
    const w = seeded({ 'a.jpg': 'hello' });
    const row = w.file('a.jpg');

    // act
    const [allowed] = [...plan(w, ['a.jpg']).allowed];

    // expect
    expect(allowed).toEqual({
      fileId: row.id,
      path: 'a.jpg',
      contentId: row.contentId,
      sizeBytes: 5,
      mtimeNs: row.mtimeNs,
      originNodeId: w.laptopId,
      evidenceVersions: [
        { target: 'nas', componentVersion: 1, lastPushRunId: 2 },
        { target: 'offsite', componentVersion: 1, lastPushRunId: 3 },
      ],
    });
  });

  test('a whole-volume scan (contents preloaded) and subtree scans (joined) give every candidate the same content facts', () => {
    // setup: more files than one scan chunk, contents shared between paths
    const names = Object.fromEntries(Array.from({ length: 4200 }, (_, i) => [`${i % 2 ? 'a' : 'b'}/${String(i).padStart(4, '0')}.jpg`, `bytes ${i % 3000}`]));
    const w = seeded(names);
    const facts = (rows: Iterable<{ path: string; contentId: number; size: number; originNodeId: number; originRunId: number }>) =>
      [...rows].map(({ path, contentId, size, originNodeId, originRunId }) => ({ path, contentId, size, originNodeId, originRunId }));

    // act: a content indexed after the whole-volume scan preloaded contents, found in a later chunk
    const whole = w.store.offloadCandidates.iterate(w.volumeId, null);
    const first = whole.next().value!;
    w.index({ 'c/new.jpg': 'indexed during the scan' });
    const wholeFacts = facts([first, ...whole]);
    const subtreeFacts = ['a', 'b', 'c'].flatMap((top) => facts(w.store.offloadCandidates.iterate(w.volumeId, { fromPath: top, toPath: `${top}0` })));

    // expect
    expect(wholeFacts).toHaveLength(4201);
    expect(wholeFacts).toEqual(subtreeFacts);
    for (const f of wholeFacts) {
      const content = w.store.files.contentRow(f.contentId)!;
      expect(f).toMatchObject({ size: content.size, originNodeId: content.originNodeId, originRunId: content.originRunId });
    }
    expect(wholeFacts.at(-1)).toMatchObject({ path: 'c/new.jpg', size: 'indexed during the scan'.length });
  });

  test('a plan made to be executed keeps every allowed file\'s indexed BLAKE3, scanned whole or by subtree; a dry-run plan keeps none', () => {
    // setup: more files than one scan chunk, contents shared between paths, a gap in the content ids
    const names = Object.fromEntries(Array.from({ length: 4200 }, (_, i) => [`${i % 2 ? 'a' : 'b'}/${String(i).padStart(4, '0')}.jpg`, `bytes ${i % 3000}`]));
    const w = world();
    w.index(names);
    const lastId = w.store.db.prepare('SELECT max(id) FROM contents').pluck().get() as number;
    w.store.db.prepare('INSERT INTO contents (id, blake3, size, origin_node_id, origin_run_id) VALUES (?, ?, 1, ?, 1)').run(lastId + 10, Buffer.alloc(32, 7), w.laptopId);
    w.index({ 'c/late.jpg': 'indexed after the gap' });
    w.sync('nas');
    w.sync('offsite');

    // act
    const whole = plan(w, ['.'], { withHashes: true });
    const subtrees = plan(w, ['a', 'b', 'c'], { withHashes: true });
    const dry = plan(w, ['.']);

    // expect
    for (const p of [whole, subtrees]) {
      expect(p.allowed.length).toBe(4201);
      for (let i = 0; i < p.allowed.length; i++) expect(p.allowed.blake3(i).equals(w.file(p.allowed.path(i)).blake3)).toBe(true);
    }
    expect(() => dry.allowed.blake3(0)).toThrow('keeps no hashes');
  });

  test('indexed mtimes come back exact to the nanosecond, before 1970 too', () => {
    // setup
    const mtimes = { 'ns.jpg': 1_700_000_000_123_456_789n, 'old.jpg': -1_500_000_001n, 'zero.jpg': 0n };
    const w = seeded({ 'ns.jpg': 'n', 'old.jpg': 'o', 'zero.jpg': 'z' }, { mtimeNs: mtimes });

    // act
    const allowed = [...plan(w, ['.']).allowed].map((f) => [f.path, f.mtimeNs]);

    // expect
    expect(allowed).toEqual(Object.entries(mtimes).sort());
  });

  test('refused paths are sampled per group; --per-file keeps every one', () => {
    // setup
    const w = world();
    const files = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`f${String(i).padStart(2, '0')}.jpg`, `bytes ${i}`]));
    w.index(files);
    w.sync('nas');

    // act
    const sampled = plan(w, ['.']);
    const perFile = plan(w, ['.'], { perFile: true });

    // expect
    expect(sampled.groups).toHaveLength(1);
    expect(sampled.groups[0]).toMatchObject({ target: 'offsite', reason: 'no-evidence', count: 25, pathsComplete: false });
    expect(sampled.groups[0].paths).toEqual(Object.keys(files).slice(0, 10));
    expect(perFile.groups[0]).toMatchObject({ count: 25, pathsComplete: true });
    expect(perFile.groups[0].paths).toEqual(Object.keys(files));
    expect(sampled.refusedFiles).toBe(25);
  });

  test('a group spanning several runs shows the span in its coordinates', () => {
    // setup
    const w = world();
    w.index({ 'a.jpg': 'a' });
    w.sync('nas');
    w.sync('offsite');
    w.index({ 'b.jpg': 'b' });
    w.index({ 'c.jpg': 'c' });

    // act
    const p = plan(w, ['.']);

    // expect
    expect(p.groups.map((g) => [g.target, g.reason, g.count, g.coordinates])).toEqual([
      ['nas', 'evidence-behind', 2, ['covers origin laptop through run 1, these contents need runs 4 to 5']],
      ['offsite', 'evidence-behind', 2, ['covers origin laptop through run 1, these contents need runs 4 to 5']],
    ]);
  });
});

describe('refusals before any work', () => {
  test('scenario 4: a volume without offload_requires is refused (exit 2) and no run row is written', () => {
    // setup
    const w = seeded({ 'a.jpg': 'a' });
    const runsBefore = w.store.runs.list({ limit: 100 });

    // act
    const error = thrown(() =>
      planOffload(w.store, w.volumeConfig({ offloadRequires: null }), parseSelectors(['.']), { olderThanMs: null, nowNs: w.nowNs, thisNodeId: w.laptopId }),
    );

    // expect
    expect(error).toBeInstanceOf(UsageError);
    expect(error.code).toBe('offload-not-configured');
    expect(error.message).toContain('offload_requires');
    expect(w.store.runs.list({ limit: 100 })).toEqual(runsBefore);
  });

  test('planning itself never writes a run or changes a row', () => {
    // setup
    const w = seeded({ 'a.jpg': 'a', 'b.jpg': 'b' });
    w.index({ 'c.jpg': 'c' });
    const before = { runs: w.store.runs.list({ limit: 100 }), files: w.store.files.live(w.volumeId) };

    // act
    plan(w, ['.']);

    // expect
    expect({ runs: w.store.runs.list({ limit: 100 }), files: w.store.files.live(w.volumeId) }).toEqual(before);
  });

  test('scenario 12: the config root differs from the indexed root -> refused, naming both', () => {
    // setup
    const w = seeded({ 'a.jpg': 'a' });
    const elsewhere = path.join(tempDir(), 'photos');
    fs.mkdirSync(elsewhere);
    writeMarker(elsewhere, { format: 1, volume: 'photos', node: 'laptop', index: null, generation: null });

    // act
    const error = thrown(() =>
      planOffload(w.store, w.volumeConfig({ path: elsewhere }), parseSelectors(['.']), { olderThanMs: null, nowNs: w.nowNs, thisNodeId: w.laptopId }),
    );

    // expect
    expect(error.code).toBe('volume-root-changed');
    expect(error.message).toContain(w.root);
    expect(error.message).toContain(elsewhere);
  });

  test('scenario 12: the volume marker names another volume -> refused', () => {
    // setup
    const w = seeded({ 'a.jpg': 'a' });
    writeMarker(w.root, { format: 1, volume: 'music', node: 'laptop', index: null, generation: null });

    // act
    const error = thrown(() => plan(w, ['.']));

    // expect
    expect(error.code).toBe('volume-marker-mismatch');
    expect(error.message).toContain("'music'");
  });

  test('no volume marker at the root -> refused (an unmounted drive must not look like the volume)', () => {
    // setup
    const w = seeded({ 'a.jpg': 'a' });
    fs.rmSync(path.join(w.root, '.squirrel-volume'));

    // act
    const error = thrown(() => plan(w, ['.']));

    // expect
    expect(error).toBeInstanceOf(OperationalError);
    expect(error.code).toBe('volume-marker-missing');
  });

  test('a volume with no marker and nothing indexed yet is refused too', () => {
    // setup
    const w = world({ marker: false });

    // act
    const error = thrown(() => plan(w, ['.']));

    // expect
    expect(error.code).toBe('volume-marker-missing');
  });

  test('a volume never indexed -> refused, pointing at squirrel index', () => {
    // setup
    const w = world();

    // act
    const error = thrown(() =>
      planOffload(w.store, w.volumeConfig({ name: 'music' }), parseSelectors(['.']), { olderThanMs: null, nowNs: w.nowNs, thisNodeId: w.laptopId }),
    );

    // expect
    expect(error).toBeInstanceOf(OperationalError);
    expect(error.message).toContain('squirrel index music');
  });
});

describe('the offload report', () => {
  function mixedPlan(options: Partial<PlanOptions> = {}) {
    const w = world();
    w.index({ 'a.jpg': 'a', 'b.jpg': 'b' });
    w.sync('nas');
    w.sync('offsite');
    w.index({ 'c.jpg': 'c' });
    w.sync('nas');
    return plan(w, ['.'], options);
  }

  test('dry run: would-offload lines, refusal groups with coordinates and next, satisfaction, totals with run=-', () => {
    // setup
    const p = mixedPlan();

    // act
    const lines = renderOffloadReport(p, null);

    // expect
    expect(lines).toEqual([
      'would offload a.jpg',
      'would offload b.jpg',
      "refused on offsite: evidence-behind, 1 file(s): offsite's evidence covers an earlier run than this content",
      '  covers origin laptop through run 1, this content needs run 4',
      '  next: squirrel sync photos --to offsite',
      '    c.jpg',
      'nas: satisfied for 3 of 3',
      'offsite: satisfied for 2 of 3',
      'dry run: would offload 2 of 3 file(s) (2 B); nothing was deleted',
      'offloaded=0 not_durable=1 drift=0 errors=0 run=-',
    ]);
  });

  test('an execution: offloaded, drift and error lines, and the run id in the totals', () => {
    // setup
    const p = mixedPlan();

    // act
    const lines = renderOffloadReport(p, {
      runId: 9,
      offloaded: ['a.jpg'],
      drift: [{ path: 'b.jpg', reason: 'size changed since indexing' }],
      errors: [],
      refused: [],
    });

    // expect
    expect(lines.slice(0, 2)).toEqual(['offloaded a.jpg', 'drift b.jpg: size changed since indexing; nothing deleted']);
    expect(lines.at(-1)).toBe('offloaded=1 not_durable=1 drift=1 errors=0 run=9');
    expect(lines.some((l) => l.startsWith('dry run'))).toBe(false);
  });

  test('long lists are bounded unless --per-file', () => {
    // setup
    const w = world();
    w.index(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${String(i).padStart(2, '0')}.jpg`, `bytes ${i}`])));
    w.sync('nas');
    w.sync('offsite');

    // act
    const bounded = renderOffloadReport(plan(w, ['.']), null);
    const all = renderOffloadReport(plan(w, ['.'], { perFile: true }), null);

    // expect
    expect(bounded.filter((l) => l.startsWith('would offload '))).toHaveLength(20);
    expect(bounded).toContain('... and 10 more files would be offloaded (--per-file lists them all)');
    expect(all.filter((l) => l.startsWith('would offload '))).toHaveLength(30);
  });

  test('--per-file lists every blocked path under its group', () => {
    // setup
    const w = world();
    w.index(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${String(i).padStart(2, '0')}.jpg`, `bytes ${i}`])));
    w.sync('nas');

    // act
    const bounded = renderOffloadReport(plan(w, ['.']), null);
    const all = renderOffloadReport(plan(w, ['.'], { perFile: true }), null);

    // expect
    expect(bounded.filter((l) => l.startsWith('    f'))).toHaveLength(10);
    expect(bounded).toContain('    ... and 2 more (--per-file lists them all)');
    expect(all.filter((l) => l.startsWith('    f'))).toHaveLength(12);
  });

  test('the JSON shape is plain data with the same facts', () => {
    // setup
    const p = mixedPlan();

    // act
    const document = JSON.parse(JSON.stringify(offloadReportJson(p, null)));

    // expect
    expect(document).toMatchObject({
      volume: 'photos',
      dryRun: true,
      selectors: ['.'],
      requiredTargets: ['nas', 'offsite'],
      candidates: 3,
      allowed: { files: 2, bytes: 2, paths: ['a.jpg', 'b.jpg'], pathsComplete: true },
      refusals: [{ target: 'offsite', reason: 'evidence-behind', count: 1, next: 'squirrel sync photos --to offsite', paths: ['c.jpg'] }],
      targets: [
        { target: 'nas', satisfied: 3, of: 3 },
        { target: 'offsite', satisfied: 2, of: 3 },
      ],
      execution: null,
      totals: { offloaded: 0, notDurable: 1, drift: 0, errors: 0, run: null },
    });
  });
});

describe('scale', () => {
  test('plans 100k indexed files against 2 targets with exact counts and bounded samples', () => {
    // setup: one transaction of generated rows; every 100th copy on nas found corrupt, every
    // 50th file indexed by a later run that no vector covers yet; every 10th file under big/
    const w = world();
    const total = 100_000;
    const { store, volumeId } = w;
    const firstIndex = w.beginRun('index');
    store.runs.finishRun(firstIndex, 'success', {}, w.nowNs);
    const laterIndex = w.beginRun('index');
    store.runs.finishRun(laterIndex, 'success', {}, w.nowNs);
    const pushes = ['nas', 'offsite'].map((target) => {
      const run = w.beginRun('sync', target);
      store.runs.finishRun(run, 'success', {}, w.nowNs);
      return run;
    });
    const pathOf = (i: number) => `${i % 10 === 0 ? 'big' : `dir-${String(i % 100).padStart(3, '0')}`}/img-${String(i).padStart(6, '0')}.jpg`;
    store.immediate(() => {
      const seed = Buffer.alloc(32);
      for (let i = 0; i < total; i++) {
        seed.writeUInt32BE(i, 0);
        const late = i % 50 === 0;
        const contentId = store.files.ensureContent(Buffer.from(seed), 1000 + i, w.laptopId, late ? laterIndex : firstIndex);
        store.files.insertFile(volumeId, pathOf(i), contentId, w.nowNs - DAY_NS, late ? laterIndex : firstIndex);
        for (const [t, target] of ['nas', 'offsite'].entries()) {
          store.evidence.recordVerifiedCopy(volumeId, target, `photos/${pathOf(i)}`, contentId, pushes[t], w.nowNs);
        }
        if (i % 100 === 1) store.evidence.markCopy(volumeId, 'nas', `photos/${pathOf(i)}`, 'corrupt', w.nowNs, 1);
      }
    });
    for (const target of ['nas', 'offsite']) w.writeComponent(target, { originRunId: firstIndex });

    // act
    const whole = plan(w, ['.']);
    const oneDir = plan(w, ['dir-001']);
    const big = plan(w, ['big']);

    // expect
    const late = total / 50;
    const corrupt = total / 100;
    expect(whole.candidates).toBe(total);
    expect(whole.refusedFiles).toBe(late + corrupt);
    expect(whole.allowed.length).toBe(total - late - corrupt);
    expect(whole.groups.map((g) => [g.target, g.reason, g.count, g.paths.length])).toEqual([
      ['nas', 'evidence-behind', late, 10],
      ['nas', 'lost-at-destination', corrupt, 10],
      ['offsite', 'evidence-behind', late, 10],
    ]);
    expect(whole.targets).toEqual([
      { target: 'nas', satisfied: total - late - corrupt, of: total },
      { target: 'offsite', satisfied: total - late, of: total },
    ]);
    const allowed = [...whole.allowed].map((f) => f.path);
    expect(allowed).toEqual([...allowed].sort());
    const sample = whole.allowed.at(12_345);
    expect(sample).toMatchObject({ path: w.file(sample.path).path, fileId: w.file(sample.path).id, contentId: w.file(sample.path).contentId, sizeBytes: w.file(sample.path).size });
    // dir-001 holds i = 1, 101, 201, ...: every one has a corrupt nas copy, none is late
    expect(oneDir.candidates).toBe(total / 100);
    expect(oneDir.allowed.length).toBe(0);
    expect(oneDir.groups.map((g) => [g.target, g.reason, g.count])).toEqual([['nas', 'lost-at-destination', total / 100]]);
    // big/ holds every 10th file (more than one read chunk), and every late file
    expect(big.candidates).toBe(total / 10);
    expect(big.allowed.length).toBe(total / 10 - late);
    expect(big.groups.map((g) => [g.target, g.reason, g.count])).toEqual([
      ['nas', 'evidence-behind', late],
      ['offsite', 'evidence-behind', late],
    ]);
  });
});
