// The walk (what is listed, skipped or reported, in which order) and the compiled worker pool
// (loaded from dist/, as the binary does: build first) hashing a tree exactly like hashBytes.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WalkEvent, walkVolume } from '../../src/core/index/walk.js';
import { walkOnThread, WalkRequest } from '../../src/core/index/walk-thread.js';
import { excludeMatcher } from '../../src/config/exclude.js';
import type * as HashPool from '../../src/core/index/hash-pool.js';
import { blake3Hex, hashBytes } from '../../src/hash.js';
import { REPO_ROOT, cleanupTempDirs, makeVolume, tempDir } from '../helpers.js';

afterEach(cleanupTempDirs);

async function walk(root: string, exclude: string[] = []): Promise<WalkEvent[]> {
  const events: WalkEvent[] = [];
  for await (const batch of walkVolume({ root, excludeAbsolutePaths: new Set(exclude) })) events.push(...batch);
  return events;
}

function summary(events: WalkEvent[]): string[] {
  return events.map((e) => (e.kind === 'file' ? e.relativePath : e.kind === 'skipped' ? `${e.relativePath} (${e.reason})` : `${e.relativePath} ERROR`));
}

describe('walkVolume', () => {
  it('lists regular files depth first in byte order of the whole path', async () => {
    // setup
    const root = makeVolume({ 'b.txt': 'b', 'a/z.txt': 'z', 'a/b/c.txt': 'c', 'A.txt': 'A', 'a.txt': 'a', 'c/d.txt': 'd' });
    // act
    const events = await walk(root);
    // expect
    expect(summary(events)).toEqual(['A.txt', 'a.txt', 'a/b/c.txt', 'a/z.txt', 'b.txt', 'c/d.txt']);
    const first = events[0];
    expect(first.kind === 'file' && first).toMatchObject({ relativePath: 'A.txt', sizeBytes: 1 });
  });

  it('yields paths in the order SQLite sorts them, where a folder name is a prefix of its neighbours', async () => {
    // setup: '-' and '.' sort before '/', '0' and 'é' after it; 'a' < 'a-b' yet 'a-b/x' < 'a/x'
    const names = ['a/x', 'a-b/x', 'a.txt', 'a0', 'a/a-b/y', 'a/a/y', 'a/a.y', 'é/z', 'e/z', 'ab', 'a-', 'Z/z/z'];
    const root = makeVolume(Object.fromEntries(names.map((n) => [n, n])));
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (p TEXT PRIMARY KEY)');
    for (const n of names) db.prepare('INSERT INTO t VALUES (?)').run(n);
    // act
    const events = await walk(root);
    // expect
    expect(summary(events)).toEqual(db.prepare('SELECT p FROM t ORDER BY p').pluck().all());
    db.close();
  });

  it('skips reserved names at any depth, excluded paths, symlinks and other non-regular files', async () => {
    // setup
    const root = makeVolume({ 'keep.txt': 'k', '.squirrel-volume': '{}', 'sub/.squirrel-tmp/x': 'x', 'db.sqlite': 'not really' });
    fs.symlinkSync(tempDir(), path.join(root, 'outside'));
    fs.symlinkSync('keep.txt', path.join(root, 'alias.txt'));
    // act
    const events = await walk(root, [path.join(root, 'db.sqlite')]);
    // expect
    // the volume's own marker at the root is not news, so not even reported as skipped
    expect(summary(events)).toEqual(['alias.txt (symlink)', 'db.sqlite (excluded)', 'keep.txt', 'outside (symlink)', 'sub/.squirrel-tmp (reserved)']);
  });

  it('reports a name that is not valid UTF-8 with its directory and goes on', async () => {
    // setup
    const root = makeVolume({ 'dir/fine.txt': 'f' });
    fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/dir/`), Buffer.from([0xc3, 0x28])]), 'bad');
    // act
    const events = await walk(root);
    // expect
    expect(summary(events)).toEqual(['dir/fine.txt', 'dir ERROR']);
    const error = events[1];
    expect(error.kind === 'error' && error.message).toContain(`directory ${path.join(root, 'dir')} holds a name that is not valid UTF-8 ('\\xc3(')`);
  });

  it('follows a root that is itself a symlink, and nothing below it', async () => {
    // setup
    const real = makeVolume({ 'a.txt': 'a' });
    const alias = path.join(tempDir(), 'alias');
    fs.symlinkSync(real, alias);
    // act
    const events = await walk(alias);
    // expect
    expect(summary(events)).toEqual(['a.txt']);
  });
});

describe('the compiled worker pool', () => {
  it('hashes every file like hashBytes, across batches and workers', async () => {
    // setup
    const poolModule = path.join(REPO_ROOT, 'dist', 'core', 'index', 'hash-pool.js');
    expect(fs.existsSync(poolModule), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const { createHasher } = (await import(pathToFileURL(poolModule).href)) as typeof HashPool;
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 150; i++) files[`f${i}.bin`] = Buffer.alloc((i * 9973) % 300_000, i);
    const root = makeVolume(files);
    const hasher = createHasher({ threads: 2 });
    // act
    const outcomes = await Promise.all(
      Object.keys(files).map(async (name) => {
        const stat = fs.lstatSync(path.join(root, name), { bigint: true });
        return [name, await hasher.hash({ absolutePath: path.join(root, name), ino: stat.ino, dev: stat.dev, sizeBytes: Number(stat.size) })] as const;
      }),
    );
    await hasher.close();
    // expect
    expect(hasher.constructor.name).toBe('WorkerPoolHasher');
    for (const [name, outcome] of outcomes) {
      expect(outcome.ok).toBe(true);
      expect(outcome.ok && blake3Hex(outcome.hash)).toBe(blake3Hex(hashBytes(files[name])));
    }
  });
});

describe('the walk on its worker thread (compiled, as the CLI runs it)', () => {
  const WORKER = new URL('../../dist/core/index/walk-worker.js', import.meta.url);

  async function walkThreaded(request: WalkRequest): Promise<WalkEvent[]> {
    const events: WalkEvent[] = [];
    for await (const batch of walkOnThread(request, WORKER)!) events.push(...batch);
    return events;
  }

  it('yields exactly the events of the in-thread walk: files, skips, patterns and errors, over several pages', async () => {
    // setup
    expect(fs.existsSync(WORKER), 'build first: npm run build').toBe(true);
    const files: Record<string, string> = { 'keep.txt': 'k', 'sub/.squirrel-tmp/x': 'x', 'db.sqlite': 'db', 'raw/a.cr2': 'raw', 'a-b/x': 'x', 'a.txt': 'a' };
    for (let i = 0; i < 2300; i++) files[`many/${i % 7}/f${i}.bin`] = String(i);
    const root = makeVolume(files);
    fs.symlinkSync('keep.txt', path.join(root, 'alias.txt'));
    fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/many/`), Buffer.from([0xc3, 0x28])]), 'bad');
    const request: WalkRequest = { root, excludeAbsolutePaths: [path.join(root, 'db.sqlite')], exclude: ['raw/'] };
    const inThread: WalkEvent[] = [];
    for await (const batch of walkVolume({ root, excludeAbsolutePaths: new Set(request.excludeAbsolutePaths), excludes: excludeMatcher(request.exclude) })) inThread.push(...batch);
    // act
    const threaded = await walkThreaded(request);
    // expect
    expect(threaded.length).toBeGreaterThan(2300);
    expect(threaded).toEqual(inThread);
    expect(summary(threaded)).toEqual(expect.arrayContaining(['alias.txt (symlink)', 'db.sqlite (excluded)', 'raw (pattern)', 'many ERROR']));
  });

  it('fails as the in-thread walk does when the root is gone', async () => {
    // setup
    const root = path.join(tempDir(), 'gone');
    // act
    const failure = await walkThreaded({ root, excludeAbsolutePaths: [], exclude: [] }).catch((err: unknown) => err as NodeJS.ErrnoException);
    // expect
    expect(failure).toBeInstanceOf(Error);
    expect((failure as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect((failure as Error).message).toContain(root);
  });
});
