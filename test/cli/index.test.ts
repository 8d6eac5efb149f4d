// `squirrel index` end to end through the real binary (bin/squirrel loads dist/: build first),
// on real temp trees: every state transition of a file row, what is skipped, the volume root
// checks, errors that make a run partial, concurrency, and a killed run.

import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileWithContent, RunRow } from '../../src/store/types.js';
import { blake3Hex, hashBytes } from '../../src/hash.js';
import { APPLY_BATCH_FILES } from '../../src/core/index/pass.js';
import { IndexReport, Sandbox, bin, binSpawn, cleanupTempDirs, json, makeSandbox, rowStatuses, tempDir, vectorInput, waitForFile, withConfig, withStore } from '../helpers.js';

afterEach(cleanupTempDirs);

function index(sb: Sandbox, ...flags: string[]) {
  const result = bin(withConfig(sb, '--json', 'index', 'photos', ...flags));
  // Parsed when read: a run that printed no document fails there, with its output.
  return {
    ...result,
    get report() {
      return json<IndexReport>(result);
    },
  };
}

function live(sb: Sandbox): Map<string, FileWithContent> {
  return withStore(sb, (store, volumeId) => new Map(store.files.live(volumeId).map((row) => [row.path, row])));
}

function history(sb: Sandbox, filePath: string): FileWithContent[] {
  return withStore(sb, (store, volumeId) => store.files.pathHistory(volumeId, filePath));
}

function run(sb: Sandbox, runId: number): RunRow {
  return withStore(sb, (store) => store.runs.get(runId)!);
}

describe('index: state transitions', () => {
  it('records new files as present, with this node and run as the content origin', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', 'sub/b.txt': 'beta' });
    // act
    const first = index(sb);
    // expect
    expect(first.code).toBe(0);
    expect(first.report.counts).toMatchObject({ new: 2, changed: 0, unchanged: 0, missing: 0, errors: 0 });
    expect(first.report.status).toBe('success');
    const rows = live(sb);
    expect([...rows.keys()]).toEqual(['a.txt', 'sub/b.txt']);
    const a = rows.get('a.txt')!;
    expect(a).toMatchObject({ status: 'present', firstSeenRunId: first.report.runId, lastSeenRunId: first.report.runId, statusChangedRunId: first.report.runId, size: 5 });
    expect(a.originRunId).toBe(first.report.runId);
    expect(withStore(sb, (store) => store.nodeName(a.originNodeId))).toBe('laptop');
    expect(blake3Hex(a.blake3)).toBe(blake3Hex(hashBytes(Buffer.from('alpha'))));
    expect(run(sb, first.report.runId!)).toMatchObject({ kind: 'index', status: 'success' });
  });

  it('prints the summary line in text mode', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    // act
    const result = bin(withConfig(sb, 'index', 'photos'));
    // expect
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^new=1 changed=0 unchanged=0 reappeared=0 missing=0 errors=0 run=1$/m);
  });

  it('touches unchanged files: same row, last_seen_run_id moves, first_seen_run_id stays', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const first = index(sb).report;
    const before = live(sb).get('a.txt')!;
    // act
    const second = index(sb).report;
    // expect
    expect(second.counts).toMatchObject({ new: 0, changed: 0, unchanged: 1, missing: 0 });
    const after = live(sb).get('a.txt')!;
    expect(after.id).toBe(before.id);
    expect(after).toMatchObject({ firstSeenRunId: first.runId, lastSeenRunId: second.runId, statusChangedRunId: first.runId });
    expect(history(sb, 'a.txt')).toHaveLength(1);
  });

  it('supersedes the row when a path gets new content, never rewriting it', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const first = index(sb).report;
    fs.writeFileSync(path.join(sb.volumePath, 'a.txt'), 'alpha, edited');
    // act
    const second = index(sb).report;
    // expect
    expect(second.counts).toMatchObject({ new: 0, changed: 1, unchanged: 0 });
    const rows = history(sb, 'a.txt');
    expect(rows.map((r) => [r.status, r.size, r.firstSeenRunId, r.statusChangedRunId])).toEqual([
      ['superseded', 5, first.runId, second.runId],
      ['present', 13, second.runId, second.runId],
    ]);
    expect(blake3Hex(rows[0].blake3)).toBe(blake3Hex(hashBytes(Buffer.from('alpha'))));
    expect(rows[1].originRunId).toBe(second.runId);
  });

  it('marks files that are gone as missing after a complete walk', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    index(sb);
    fs.rmSync(path.join(sb.volumePath, 'b.txt'));
    // act
    const second = index(sb).report;
    // expect
    expect(second.counts).toMatchObject({ unchanged: 1, missing: 1, errors: 0 });
    expect(live(sb).get('b.txt')).toMatchObject({ status: 'missing', statusChangedRunId: second.runId });
  });

  it('brings a missing path back to present in the same row when the same bytes return', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const first = index(sb).report;
    fs.rmSync(path.join(sb.volumePath, 'a.txt'));
    index(sb);
    fs.writeFileSync(path.join(sb.volumePath, 'a.txt'), 'alpha');
    // act
    const third = index(sb).report;
    // expect
    expect(third.counts).toMatchObject({ reappeared: 1, new: 0, changed: 0 });
    expect(history(sb, 'a.txt')).toHaveLength(1);
    expect(live(sb).get('a.txt')).toMatchObject({ status: 'present', firstSeenRunId: first.runId, statusChangedRunId: third.runId, lastSeenRunId: third.runId, originRunId: first.runId });
  });

  it('supersedes a missing row when different bytes appear at its path', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    index(sb);
    fs.rmSync(path.join(sb.volumePath, 'a.txt'));
    index(sb);
    fs.writeFileSync(path.join(sb.volumePath, 'a.txt'), 'other bytes');
    // act
    const third = index(sb).report;
    // expect
    expect(third.counts).toMatchObject({ changed: 1, reappeared: 0 });
    expect(history(sb, 'a.txt').map((r) => r.status)).toEqual(['superseded', 'present']);
    expect(live(sb).get('a.txt')).toMatchObject({ firstSeenRunId: third.runId, originRunId: third.runId });
  });

  it('keeps an offloaded row offloaded when its file is gone, and present again when the bytes return', () => {
    // setup: offload simulated through the store API
    const sb = makeSandbox({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    const first = index(sb).report;
    withStore(sb, (store, volumeId) => store.immediate(() => store.files.setStatus(store.files.livePath(volumeId, 'a.txt')!.id, 'offloaded', first.runId!)));
    fs.rmSync(path.join(sb.volumePath, 'a.txt'));
    // act
    const second = index(sb).report;
    // expect
    expect(second.counts).toMatchObject({ missing: 0, unchanged: 1 });
    expect(live(sb).get('a.txt')).toMatchObject({ status: 'offloaded', statusChangedRunId: first.runId });

    // act: the bytes come back (a restore)
    fs.writeFileSync(path.join(sb.volumePath, 'a.txt'), 'alpha');
    const third = index(sb).report;
    // expect: the same row, its first_seen_run_id kept
    expect(third.counts).toMatchObject({ reappeared: 1 });
    expect(history(sb, 'a.txt')).toHaveLength(1);
    expect(live(sb).get('a.txt')).toMatchObject({ status: 'present', firstSeenRunId: first.runId, statusChangedRunId: third.runId });
  });

  it('keeps the first origin of content seen again at another path in a later run', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'same bytes' });
    const first = index(sb).report;
    fs.writeFileSync(path.join(sb.volumePath, 'copy.txt'), 'same bytes');
    // act
    const second = index(sb).report;
    // expect
    expect(second.counts).toMatchObject({ new: 1 });
    const copy = live(sb).get('copy.txt')!;
    expect(copy).toMatchObject({ firstSeenRunId: second.runId, originRunId: first.runId });
    expect(copy.contentId).toBe(live(sb).get('a.txt')!.contentId);
  });
});

describe('index: what is walked', () => {
  it('skips symlinks (never following one out of the volume), FIFOs and reserved names', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', '.squirrel-trash/old.txt': 'x', 'sub/.squirrel-partial': 'y' });
    const outside = tempDir();
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside');
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(sb.volumePath, 'link.txt'));
    fs.symlinkSync(outside, path.join(sb.volumePath, 'linkdir'));
    fs.symlinkSync('/nonexistent', path.join(sb.volumePath, 'dangling'));
    fs.mkdirSync(path.join(sb.volumePath, 'pipes'));
    expect(spawnSync('mkfifo', [path.join(sb.volumePath, 'pipes', 'fifo')]).status).toBe(0);
    // act
    const result = index(sb);
    // expect
    expect(result.code).toBe(0);
    expect(result.report.status).toBe('success');
    expect(result.report.counts).toMatchObject({ new: 1, skippedSymlinks: 3, skippedOther: 1, errors: 0 });
    expect([...live(sb).keys()]).toEqual(['a.txt']);
  });

  it('hashes files larger than one read the way BLAKE3 defines (b3sum semantics)', () => {
    // setup: the official vector input and a file spanning several reads
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 256;
    const sb = makeSandbox({ 'vector.bin': vectorInput(1025), 'big.bin': big, 'empty.bin': '' });
    // act
    index(sb);
    const query = bin(withConfig(sb, 'query', 'photos:vector.bin'));
    // expect
    expect(query.code).toBe(0);
    expect(query.stdout).toContain('d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444');
    const rows = live(sb);
    expect(blake3Hex(rows.get('vector.bin')!.blake3)).toBe('d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444');
    expect(blake3Hex(rows.get('big.bin')!.blake3)).toBe(blake3Hex(hashBytes(big)));
    expect(blake3Hex(rows.get('empty.bin')!.blake3)).toBe('af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262');
  });

  it('indexes a tree larger than one apply batch', () => {
    // setup
    const files: Record<string, string> = {};
    for (let i = 0; i < 1234; i++) files[`d${i % 7}/f${i}.txt`] = `file ${i}`;
    const sb = makeSandbox(files);
    // act
    const result = index(sb).report;
    // expect
    expect(result.counts).toMatchObject({ new: 1234, errors: 0 });
    expect(live(sb).size).toBe(1234);
  });

  it('never indexes the database when --db puts it inside the volume', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const dbInside = path.join(sb.volumePath, 'index.db');
    // act
    const first = bin(['--config', sb.configPath, '--db', dbInside, '--json', 'index', 'photos']);
    const second = bin(['--config', sb.configPath, '--db', dbInside, '--json', 'index', 'photos']);
    // expect
    expect(first.code).toBe(0);
    expect(json<IndexReport>(first).counts.new).toBe(1);
    expect(json<IndexReport>(second).counts).toMatchObject({ new: 0, unchanged: 1, errors: 0 });
  });
});

describe('index: errors make the run partial and mark nothing missing', () => {
  it('an unreadable file', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', 'locked.txt': 'secret', 'gone.txt': 'g' });
    index(sb);
    fs.rmSync(path.join(sb.volumePath, 'gone.txt'));
    fs.chmodSync(path.join(sb.volumePath, 'locked.txt'), 0o000);
    // act
    const result = index(sb);
    // expect
    if (process.getuid?.() === 0) {
      // Root reads a mode-000 file anyway, so this case cannot fail here. The same error path
      // is covered in test/core/index.test.ts with an injected failing hasher, and below by a
      // directory name that is not valid UTF-8, which fails for root too.
      expect(result.report.counts.errors).toBe(0);
      return;
    }
    expect(result.code).toBe(1);
    expect(result.report.status).toBe('partial');
    expect(result.report.errors.map((e) => e.path)).toEqual(['locked.txt']);
    expect(live(sb).get('gone.txt')!.status).toBe('present');
  });

  it('a name that is not valid UTF-8: reported with its directory, never a crash', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', 'gone.txt': 'g', 'odd/ok.txt': 'ok' });
    index(sb);
    fs.rmSync(path.join(sb.volumePath, 'gone.txt'));
    const badName = Buffer.concat([Buffer.from(path.join(sb.volumePath, 'odd') + '/'), Buffer.from([0x62, 0xff, 0xfe, 0x2e, 0x6a, 0x70, 0x67])]);
    fs.writeFileSync(badName, 'latin-1 name');
    // act
    const result = index(sb);
    // expect
    expect(result.code).toBe(1);
    expect(result.report.status).toBe('partial');
    expect(result.report.counts.errors).toBe(1);
    expect(result.report.errors[0].path).toBe('odd');
    expect(result.report.errors[0].message).toContain(path.join(sb.volumePath, 'odd'));
    expect(result.report.errors[0].message).toContain('\\xff\\xfe');
    expect(result.stderr).toContain('not valid UTF-8');
    expect(live(sb).get('gone.txt')!.status).toBe('present');
    expect(live(sb).get('odd/ok.txt')!.status).toBe('present');
    expect(run(sb, result.report.runId!)).toMatchObject({ status: 'partial' });
    expect(run(sb, result.report.runId!).note).toContain('nothing marked missing');
  });
});

describe('index: --shallow and --dry-run', () => {
  it('--shallow trusts size and mtime of present rows; a full index does not', () => {
    // setup: same size, same mtime, different bytes
    const sb = makeSandbox({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    index(sb);
    const file = path.join(sb.volumePath, 'a.txt');
    // touch -r copies timestamps with full nanosecond precision (utimes from JS would round).
    const reference = path.join(sb.dir, 'mtime-reference');
    fs.writeFileSync(reference, '');
    expect(spawnSync('touch', ['-r', file, reference]).status).toBe(0);
    fs.writeFileSync(file, 'ALPHA');
    expect(spawnSync('touch', ['-r', reference, file]).status).toBe(0);
    fs.rmSync(path.join(sb.volumePath, 'b.txt'));
    // act
    const shallow = index(sb, '--shallow').report;
    const full = index(sb).report;
    // expect
    expect(shallow.counts).toMatchObject({ unchanged: 1, changed: 0, missing: 1, hashedFiles: 0 });
    expect(live(sb).get('b.txt')!.status).toBe('missing');
    expect(full.counts).toMatchObject({ changed: 1, hashedFiles: 1 });
  });

  it('--shallow still hashes files whose size or mtime moved, and touches the rest', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    index(sb);
    fs.writeFileSync(path.join(sb.volumePath, 'b.txt'), 'beta, longer');
    // act
    const shallow = index(sb, '--shallow').report;
    // expect
    expect(shallow.counts).toMatchObject({ unchanged: 1, changed: 1, hashedFiles: 1 });
    expect(live(sb).get('a.txt')!.lastSeenRunId).toBe(shallow.runId);
  });

  it('on a volume large enough for the walk thread, --shallow and a full index agree on every file, and a missing one is found', () => {
    // setup: past the size where the walk runs on its own thread, with folder names that
    // prefix their neighbours ('a' < 'a-b' yet 'a-b/…' < 'a/…'), one file changed in place
    // (size kept, mtime moved) and one removed
    const files: Record<string, string> = {};
    for (let i = 0; i < 20_500; i++) files[`${['a', 'a-b', 'a/a', 'a.d', 'é'][i % 5]}/${Math.floor(i / 500)}/f${i}`] = `file ${i}`;
    const sb = makeSandbox(files);
    expect(index(sb).report.counts).toMatchObject({ new: 20_500, errors: 0 });
    fs.writeFileSync(path.join(sb.volumePath, 'a-b/0/f1'), 'FILE 1');
    fs.utimesSync(path.join(sb.volumePath, 'a-b/0/f1'), new Date(2001, 0, 1), new Date(2001, 0, 1));
    fs.rmSync(path.join(sb.volumePath, 'é/40/f20004'));
    // act
    const shallow = index(sb, '--shallow').report;
    const full = index(sb).report;
    // expect
    expect(shallow.counts).toMatchObject({ unchanged: 20_498, changed: 1, missing: 1, hashedFiles: 1, errors: 0 });
    expect(full.counts).toMatchObject({ unchanged: 20_499, changed: 0, missing: 0, hashedFiles: 20_499, errors: 0 });
    expect(live(sb).get('a-b/0/f1')!.lastSeenRunId).toBe(full.runId);
  });

  it('--dry-run before any index reports and writes nothing: no database, no marker, no run', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    // act
    const result = index(sb, '--dry-run');
    // expect
    expect(result.code).toBe(0);
    expect(result.report).toMatchObject({ runId: null, status: 'dry-run' });
    expect(result.report.counts).toMatchObject({ new: 1 });
    expect(fs.existsSync(sb.dbPath)).toBe(false);
    expect(fs.existsSync(path.join(sb.volumePath, '.squirrel-volume'))).toBe(false);
  });

  it('--dry-run on an indexed volume reports changes and leaves every row and run as it was', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', 'b.txt': 'beta', 'c.txt': 'gamma' });
    index(sb);
    fs.writeFileSync(path.join(sb.volumePath, 'a.txt'), 'changed');
    fs.rmSync(path.join(sb.volumePath, 'b.txt'));
    fs.writeFileSync(path.join(sb.volumePath, 'd.txt'), 'new');
    const rowsBefore = [...live(sb).values()];
    // act
    const result = index(sb, '--dry-run');
    // expect
    expect(result.report.counts).toMatchObject({ new: 1, changed: 1, unchanged: 1, missing: 1 });
    expect([...live(sb).values()]).toEqual(rowsBefore);
    expect(withStore(sb, (store) => store.runs.list({ limit: 10 }).length)).toBe(1);
  });
});

describe('index: the volume root must be this volume', () => {
  it('writes a .squirrel-volume marker naming the volume', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    // act
    const result = index(sb);
    // expect
    expect(result.report.markerWritten).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(sb.volumePath, '.squirrel-volume'), 'utf8'))).toMatchObject({ volume: 'photos', node: 'laptop' });
    expect(index(sb).report.markerWritten).toBe(false);
  });

  it('refuses (exit 1) when the root does not exist, and marks nothing missing', () => {
    // setup: an unmounted drive
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    index(sb);
    fs.renameSync(sb.volumePath, `${sb.volumePath}.away`);
    // act
    const result = bin(withConfig(sb, 'index', 'photos'));
    // expect
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('does not exist. Is the drive mounted?');
    expect(live(sb).get('a.txt')!.status).toBe('present');
    expect(withStore(sb, (store) => store.runs.list({ limit: 10 }).length)).toBe(1);
  });

  it('refuses (exit 1) when the root is not a directory', () => {
    // setup
    const sb = makeSandbox({});
    fs.rmSync(sb.volumePath, { recursive: true });
    fs.writeFileSync(sb.volumePath, 'a file');
    // act
    const result = bin(withConfig(sb, 'index', 'photos'));
    // expect
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is not a directory');
  });

  it('refuses (exit 1) an empty mount point whose marker is gone, until --restore-marker', () => {
    // setup: the drive is unmounted and its empty mount point directory remains
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    index(sb);
    fs.renameSync(sb.volumePath, `${sb.volumePath}.away`);
    fs.mkdirSync(sb.volumePath);
    // act
    const refused = bin(withConfig(sb, 'index', 'photos'));
    // expect
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('has no .squirrel-volume marker');
    expect(refused.stderr).toContain('--restore-marker');
    expect(live(sb).get('a.txt')!.status).toBe('present');

    // act: the user checked, this really is the volume now
    const restored = index(sb, '--restore-marker');
    // expect
    expect(restored.code).toBe(0);
    expect(restored.report.markerWritten).toBe(true);
    expect(live(sb).get('a.txt')!.status).toBe('missing');
  });

  it('refuses (exit 2) when the marker names another volume', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    fs.writeFileSync(path.join(sb.volumePath, '.squirrel-volume'), JSON.stringify({ format: 1, volume: 'music', node: 'laptop' }));
    // act
    const result = bin(withConfig(sb, 'index', 'photos'));
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("belongs to volume 'music'");
    expect(fs.existsSync(sb.dbPath) ? withStore(sb, (store) => store.runs.list({ limit: 10 }).length) : 0).toBe(0);
  });

  it('refuses (exit 2) when the config points the volume at another root than the index', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    index(sb);
    const elsewhere = path.join(sb.dir, 'elsewhere');
    fs.cpSync(sb.volumePath, elsewhere, { recursive: true });
    sb.writeConfig({ volumes: { photos: { path: elsewhere, sync_to: ['nas', 'offsite'], offload_requires: ['nas', 'offsite'] } } });
    // act
    const result = bin(withConfig(sb, 'index', 'photos'));
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`was indexed at ${sb.volumePath}`);
  });
});

describe('index: runs', () => {
  it('refuses a second index of the same volume while one is running, naming it', async () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const pauseFile = path.join(sb.dir, 'pause');
    const first = binSpawn(withConfig(sb, 'index', 'photos'), { env: { SQUIRREL_TEST_PAUSE_AT: 'index.after-begin', SQUIRREL_TEST_PAUSE_FILE: pauseFile } });
    const exited = new Promise<number | null>((resolve) => first.on('exit', resolve));
    const pid = Number((await waitForFile(pauseFile)).split(' ')[0]);
    // act
    const second = bin(withConfig(sb, 'index', 'photos'));
    fs.rmSync(pauseFile);
    const firstCode = await exited;
    // expect
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`volume 'photos' is busy: index run 1 \\(pid ${pid} on [^)]+\\) has been running since \\d{4}-`));
    expect(firstCode).toBe(0);
    const runs = withStore(sb, (store) => store.runs.list({ limit: 10 }));
    expect(runs.map((r) => `${r.id}:${r.status}`)).toEqual(['1:success']);
  });

  it('a SIGKILL after a committed batch leaves that batch whole and right; the next index completes', async () => {
    // setup: more files than one batch (8192), so the index commits a batch mid-walk
    const count = APPLY_BATCH_FILES + 300;
    const files = Object.fromEntries(Array.from({ length: count }, (_, i) => [`d${String(Math.floor(i / 100)).padStart(3, '0')}/f${i}.txt`, `bytes of ${i}`]));
    const sb = makeSandbox(files);
    const pauseFile = path.join(sb.dir, 'pause');
    const victim = binSpawn(withConfig(sb, 'index', 'photos'), { env: { SQUIRREL_TEST_PAUSE_AT: 'index.after-batch', SQUIRREL_TEST_PAUSE_FILE: pauseFile } });
    const exited = new Promise((resolve) => victim.on('exit', resolve));
    await waitForFile(pauseFile, 120_000);
    // act
    victim.kill('SIGKILL');
    await exited;
    // expect: the first batch is in, every row of it names its file's bytes, the rest is not
    const db = new Database(sb.dbPath, { readonly: true });
    const committed = db.prepare('SELECT f.path, f.status, c.blake3 FROM files f JOIN contents c ON c.id = f.content_id').all() as { path: string; status: string; blake3: Buffer }[];
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    expect(committed).toHaveLength(APPLY_BATCH_FILES);
    for (const row of committed) {
      expect(row.status).toBe('present');
      expect(blake3Hex(row.blake3), row.path).toBe(blake3Hex(hashBytes(Buffer.from(files[row.path]))));
    }
    // act: the next index picks up the rest
    const next = index(sb);
    // expect
    expect(next.code).toBe(0);
    expect(next.report.counts).toMatchObject({ new: count - APPLY_BATCH_FILES, unchanged: APPLY_BATCH_FILES, errors: 0, missing: 0 });
    expect(run(sb, 1)).toMatchObject({ status: 'aborted' });
    const statuses = Object.values(rowStatuses(sb));
    expect(statuses).toHaveLength(count);
    expect(statuses.every((status) => status === 'present')).toBe(true);
  }, 180_000);

  it('marks a SIGKILLed index aborted at the next command, and the next index proceeds', async () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const pauseFile = path.join(sb.dir, 'pause');
    const victim = binSpawn(withConfig(sb, 'index', 'photos'), { env: { SQUIRREL_TEST_PAUSE_AT: 'index.after-begin', SQUIRREL_TEST_PAUSE_FILE: pauseFile } });
    const exited = new Promise((resolve) => victim.on('exit', resolve));
    await waitForFile(pauseFile);
    victim.kill('SIGKILL');
    await exited;
    // act
    const next = index(sb);
    // expect
    expect(next.code).toBe(0);
    expect(next.stderr).toContain('run 1 was interrupted');
    expect(run(sb, 1)).toMatchObject({ status: 'aborted' });
    expect(run(sb, 1).note).toContain('no longer running');
    expect(run(sb, next.report.runId!)).toMatchObject({ status: 'success' });
  });
});
