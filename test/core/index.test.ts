// indexVolume in-process with injected hashers and hooks: the error paths that are hard to
// provoke from outside (a read that fails even for root, a file written while it is hashed,
// a root swapped under the walk, a database that refuses a batch) must end the run partial
// or failed and never mark rows missing or record a wrong hash.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.js';
import { VolumeConfig } from '../../src/config/types.js';
import { Hooks, Reporter } from '../../src/core/reporter.js';
import { HashOutcome, HashTask, hashListedFile } from '../../src/core/index/hash-file.js';
import { Hasher, InlineHasher } from '../../src/core/index/hash-pool.js';
import { IndexDeps, IndexOptions, indexVolume } from '../../src/core/index/index.js';
import { blake3Hex, hashBytes } from '../../src/hash.js';
import { Store } from '../../src/store/store.js';
import { TEST_NOW_NS, cleanupTempDirs, makeSandbox, Sandbox } from '../helpers.js';

afterEach(cleanupTempDirs);

interface World {
  sb: Sandbox;
  store: Store;
  warnings: string[];
  hookPoints: string[];
  options: IndexOptions;
  deps: (overrides?: Partial<IndexDeps>) => IndexDeps;
}

function world(files: Record<string, string>): World {
  const sb = makeSandbox(files);
  const store = Store.open(sb.dbPath, { create: true });
  const warnings: string[] = [];
  const hookPoints: string[] = [];
  const volume: VolumeConfig = { name: 'photos', path: sb.volumePath, syncTo: [], offloadRequires: null, offloadMaxEvidenceAgeMs: null, namespaces: new Map(), exclude: [] };
  const reporter: Reporter = { progress: () => {}, info: () => {}, warn: (message) => warnings.push(message) };
  const hooks: Hooks = { at: (point) => hookPoints.push(point) };
  return {
    sb,
    store,
    warnings,
    hookPoints,
    options: { volume, shallow: false, dryRun: false, restoreMarker: false, excludeAbsolutePaths: [] },
    deps: (overrides = {}) => ({
      store,
      identity: () => ({ nodeId: store.ensureNode('laptop'), pid: process.pid, host: os.hostname() }),
      nodeName: 'laptop',
      nowNs: TEST_NOW_NS,
      clock: fixedClock(TEST_NOW_NS),
      reporter,
      hooks,
      hasher: new InlineHasher(),
      ...overrides,
    }),
  };
}

/** The in-thread hasher, except that the named files fail the way an unreadable file does. */
function failingFor(names: string[]): Hasher {
  const inner = new InlineHasher();
  return {
    threads: 1,
    hash: (task: HashTask): Promise<HashOutcome> =>
      names.includes(path.basename(task.absolutePath)) ? Promise.resolve({ ok: false, message: 'cannot read: EIO' }) : inner.hash(task),
    close: () => inner.close(),
  };
}

function liveStatus(w: World): Record<string, string> {
  const volumeId = w.store.volume('photos')!.id;
  return Object.fromEntries(w.store.files.live(volumeId).map((r) => [r.path, r.status]));
}

describe('indexVolume error paths', () => {
  it('a file whose read fails: reported, not recorded, run partial, nothing marked missing', async () => {
    // setup
    const w = world({ 'a.txt': 'alpha', 'gone.txt': 'g' });
    await indexVolume(w.options, w.deps());
    fs.rmSync(path.join(w.sb.volumePath, 'gone.txt'));
    fs.writeFileSync(path.join(w.sb.volumePath, 'unreadable.txt'), 'bytes');
    // act
    const result = await indexVolume(w.options, w.deps({ hasher: failingFor(['unreadable.txt']) }));
    // expect
    expect(result.status).toBe('partial');
    expect(result.counts).toMatchObject({ errors: 1, unchanged: 1, new: 0, missing: 0 });
    expect(result.errors).toEqual([{ path: 'unreadable.txt', message: 'cannot read: EIO' }]);
    expect(w.warnings).toContain('unreadable.txt: cannot read: EIO');
    expect(liveStatus(w)).toEqual({ 'a.txt': 'present', 'gone.txt': 'present' });
    expect(w.store.runs.get(result.runId!)).toMatchObject({ status: 'partial' });
    expect(w.store.runs.get(result.runId!)!.note).toContain('nothing marked missing');
  });

  it('a hasher that throws (a crashed worker) counts as an error for that file', async () => {
    // setup
    const w = world({ 'a.txt': 'alpha' });
    const crashing: Hasher = { threads: 1, hash: () => Promise.reject(new Error('hashing worker exited with code 1')), close: async () => {} };
    // act
    const result = await indexVolume(w.options, w.deps({ hasher: crashing }));
    // expect
    expect(result.status).toBe('partial');
    expect(result.errors[0]).toEqual({ path: 'a.txt', message: 'cannot hash: hashing worker exited with code 1' });
  });

  it('a file written while it is hashed keeps its old row and is reported', async () => {
    // setup
    const w = world({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    await indexVolume(w.options, w.deps());
    const volumeId = w.store.volume('photos')!.id;
    const before = w.store.files.livePath(volumeId, 'b.txt')!;
    fs.writeFileSync(path.join(w.sb.volumePath, 'b.txt'), 'beta v2');
    const writer = new InlineHasher((task) => {
      if (task.absolutePath.endsWith('b.txt')) fs.appendFileSync(task.absolutePath, ' and more');
    });
    // act
    const result = await indexVolume(w.options, w.deps({ hasher: writer }));
    // expect
    expect(result.status).toBe('partial');
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0].path).toBe('b.txt');
    expect(result.errors[0].message).toContain('changed while being hashed');
    const after = w.store.files.livePath(volumeId, 'b.txt')!;
    expect(after).toMatchObject({ id: before.id, status: 'present', lastSeenRunId: before.lastSeenRunId });
    expect(blake3Hex(after.blake3)).toBe(blake3Hex(hashBytes(Buffer.from('beta'))));
    expect(w.store.files.content(hashBytes(Buffer.from('beta v2 and more')))).toBeUndefined();
  });

  it('a root swapped during the walk (an unmount): partial, nothing marked missing', async () => {
    // setup
    const w = world({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    await indexVolume(w.options, w.deps());
    fs.rmSync(path.join(w.sb.volumePath, 'b.txt'));
    const swapRoot: Hooks = {
      at: (point) => {
        if (point !== 'index.before-missing') return;
        fs.renameSync(w.sb.volumePath, `${w.sb.volumePath}.old`);
        fs.mkdirSync(w.sb.volumePath);
        fs.copyFileSync(path.join(`${w.sb.volumePath}.old`, '.squirrel-volume'), path.join(w.sb.volumePath, '.squirrel-volume'));
      },
    };
    // act
    const result = await indexVolume(w.options, w.deps({ hooks: swapRoot }));
    // expect
    expect(result.status).toBe('partial');
    expect(result.errors.map((e) => e.path)).toEqual(['.']);
    expect(result.errors[0].message).toContain('no longer the directory the walk started in');
    expect(liveStatus(w)).toEqual({ 'a.txt': 'present', 'b.txt': 'present' });
  });

  it('a batch the database refuses fails the run, and the error propagates', async () => {
    // setup: a hasher producing a 31-byte "hash" violates the contents CHECK constraint
    const w = world({ 'a.txt': 'alpha' });
    const broken: Hasher = {
      threads: 1,
      hash: async () => ({ ok: true, hash: Buffer.alloc(31), sizeBytes: 5, mtimeNs: 1n }),
      close: async () => {},
    };
    // act
    const attempt = indexVolume(w.options, w.deps({ hasher: broken }));
    // expect
    await expect(attempt).rejects.toThrow(/CHECK constraint failed/);
    const [run] = w.store.runs.list({ limit: 1 });
    expect(run).toMatchObject({ kind: 'index', status: 'failed' });
    expect(run.note).toContain('CHECK constraint failed');
    expect(w.store.files.live(w.store.volume('photos')!.id)).toEqual([]);
  });

  it('a shallow index marks re-seen rows in one statement, and names the one row that changed meanwhile', async () => {
    // setup: three files indexed; a shallow index reads their rows, then (before its batch
    // commits) another process offloads one of them
    const w = world({ 'a/1.txt': 'one', 'a/2.txt': 'two', 'a/3.txt': 'three' });
    const first = await indexVolume(w.options, w.deps());
    const volumeId = w.store.volume('photos')!.id;
    const idOf = (p: string) => w.store.files.livePath(volumeId, p)!.id;
    const hooks: Hooks = {
      at: (point) => {
        if (point === 'index.before-missing') w.store.immediate(() => w.store.files.setStatus(idOf('a/2.txt'), 'offloaded', first.runId!));
      },
    };
    // act
    const result = await indexVolume({ ...w.options, shallow: true }, w.deps({ hooks }));
    // expect: the two untouched rows were seen by this run; the changed one is reported, not touched
    expect(result.counts).toMatchObject({ unchanged: 2, errors: 1, hashedFiles: 0, missing: 0 });
    expect(result.errors).toEqual([{ path: 'a/2.txt', message: 'its index row changed while indexing; index again' }]);
    expect(w.store.files.livePath(volumeId, 'a/1.txt')!.lastSeenRunId).toBe(result.runId);
    expect(w.store.files.livePath(volumeId, 'a/3.txt')!.lastSeenRunId).toBe(result.runId);
    expect(w.store.files.livePath(volumeId, 'a/2.txt')).toMatchObject({ status: 'offloaded' });
    expect(w.store.files.livePath(volumeId, 'a/2.txt')!.lastSeenRunId).not.toBe(result.runId);
  });

  it('a shallow index finds unchanged files whatever their names hold (quotes, backslashes, tabs, non-ASCII, folder names that prefix others)', async () => {
    // setup: folder names that are prefixes of their neighbours ('a' < 'a-b' yet 'a-b/x' < 'a/x'),
    // so the walk and the rows read beside it must agree on the order of whole paths
    const names = ['we"ird\\name.txt', 'ünïcødé/日本.txt', 'tab\there.txt', 'emoji 📷.jpg', '[bracket],comma.txt', 'a/x', 'a-b/x', 'a.txt', 'a0', 'a/a/y', 'a/a.y', 'e/z', 'é/z'];
    const w = world(Object.fromEntries(names.map((name, i) => [name, `bytes ${i}`])));
    await indexVolume(w.options, w.deps());
    // act
    const result = await indexVolume({ ...w.options, shallow: true }, w.deps());
    // expect
    expect(result.counts).toMatchObject({ unchanged: names.length, hashedFiles: 0, new: 0, changed: 0, errors: 0 });
    expect(Object.keys(liveStatus(w)).sort()).toEqual([...names].sort());
  });

  it('a shallow index records a changed mode on a re-seen row', async () => {
    // setup
    const w = world({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    await indexVolume(w.options, w.deps());
    fs.chmodSync(path.join(w.sb.volumePath, 'a.txt'), 0o600);
    // act
    const result = await indexVolume({ ...w.options, shallow: true }, w.deps());
    // expect
    const volumeId = w.store.volume('photos')!.id;
    expect(result.counts).toMatchObject({ unchanged: 2, errors: 0, hashedFiles: 0 });
    expect(w.store.files.livePath(volumeId, 'a.txt')).toMatchObject({ mode: 0o600, lastSeenRunId: result.runId });
    expect(w.store.files.livePath(volumeId, 'b.txt')).toMatchObject({ lastSeenRunId: result.runId });
  });

  it('calls its pause points in order, the run already begun at the first', async () => {
    // setup
    const w = world({ 'a.txt': 'alpha' });
    let runningAtBegin = '';
    const hooks: Hooks = {
      at: (point) => {
        w.hookPoints.push(point);
        if (point === 'index.after-begin') runningAtBegin = w.store.runs.list({ limit: 1 })[0].status;
      },
    };
    // act
    await indexVolume(w.options, w.deps({ hooks }));
    // expect
    expect(w.hookPoints).toEqual(['index.after-begin', 'index.before-missing']);
    expect(runningAtBegin).toBe('running');
  });

  it('a dry run without a database hashes and counts, and writes nothing', async () => {
    // setup
    const w = world({ 'a.txt': 'alpha', 'b/c.txt': 'gamma' });
    // act
    const result = await indexVolume({ ...w.options, dryRun: true }, w.deps({ store: null, identity: () => { throw new Error('a dry run must not register the node'); } }));
    // expect
    expect(result).toMatchObject({ status: 'dry-run', runId: null, markerWritten: false });
    expect(result.counts).toMatchObject({ new: 2, hashedFiles: 2, hashedBytes: 10 });
    expect(fs.existsSync(path.join(w.sb.volumePath, '.squirrel-volume'))).toBe(false);
  });
});

describe('hashListedFile', () => {
  function listed(file: string): HashTask {
    const stat = fs.lstatSync(file, { bigint: true });
    return { absolutePath: file, ino: stat.ino, dev: stat.dev, sizeBytes: Number(stat.size) };
  }
  const buffer = Buffer.alloc(64 * 1024);

  it('hashes a regular file and reports its size and mtime', () => {
    // setup
    const sb = makeSandbox({ 'a.bin': Buffer.alloc(200_000, 9) });
    const file = path.join(sb.volumePath, 'a.bin');
    // act
    const outcome = hashListedFile(listed(file), buffer);
    // expect
    expect(outcome).toMatchObject({ ok: true, sizeBytes: 200_000, mtimeNs: fs.statSync(file, { bigint: true }).mtimeNs });
    expect(outcome.ok && blake3Hex(outcome.hash)).toBe(blake3Hex(hashBytes(Buffer.alloc(200_000, 9))));
  });

  it('refuses a path that now names another file than the walk listed', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    const task = listed(path.join(sb.volumePath, 'a.txt'));
    fs.renameSync(path.join(sb.volumePath, 'b.txt'), path.join(sb.volumePath, 'a.txt'));
    // act + expect
    expect(hashListedFile(task, buffer)).toEqual({ ok: false, message: 'replaced while indexing' });
  });

  it('refuses a path that became a symlink, without following it', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const file = path.join(sb.volumePath, 'a.txt');
    const task = listed(file);
    fs.rmSync(file);
    fs.symlinkSync('/etc/hostname', file);
    // act + expect
    expect(hashListedFile(task, buffer)).toEqual({ ok: false, message: 'replaced by a symlink while indexing' });
  });

  it('reports a file that vanished', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const task = listed(path.join(sb.volumePath, 'a.txt'));
    fs.rmSync(task.absolutePath);
    // act + expect
    expect(hashListedFile(task, buffer)).toEqual({ ok: false, message: 'vanished while indexing' });
  });

  it('refuses a file renamed over while it was being hashed', () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha', 'b.txt': 'beta' });
    const task = listed(path.join(sb.volumePath, 'a.txt'));
    // act
    const outcome = hashListedFile(task, buffer, () => fs.renameSync(path.join(sb.volumePath, 'b.txt'), task.absolutePath));
    // expect: the old inode's ctime moves when it is unlinked, so either check may catch it
    expect(outcome.ok).toBe(false);
    expect(!outcome.ok && outcome.message).toMatch(/^(changed|replaced) while being hashed; not recorded/);
  });
});
