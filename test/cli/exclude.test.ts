// `exclude:` patterns (issue 19, item 1), through the real binary: what they match is never
// indexed, pushed or offloaded, index counts it, a bad pattern is a config error naming its
// key path, and rows indexed before a pattern was added leave the backup set without anything
// being deleted anywhere.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, IndexReport, json, makeSandbox, rowStatuses, Sandbox, snapshotTree, withConfig } from '../helpers.js';
import { copyAt, local, NOW, offload, setup, totalsOf } from '../scenarios.js';

afterEach(cleanupTempDirs);

const PATTERNS = ['.DS_Store', 'Thumbs.db', '*.swp', 'node_modules/', '*.lrdata/'];

function run(sb: Sandbox, ...args: string[]) {
  return bin(withConfig(sb, '--no-progress', ...args), { nowNs: NOW });
}

function excluding(sb: Sandbox, exclude: string[]): void {
  const volumes = sb.config.volumes as Record<string, Record<string, unknown>>;
  sb.writeConfig({ volumes: { photos: { ...volumes.photos, exclude } } });
}

const TREE = {
  'a.jpg': 'alpha',
  '.DS_Store': 'finder',
  'trip/Thumbs.db': 'thumbs',
  'trip/.b.jpg.swp': 'vim',
  'trip/b.jpg': 'bravo',
  'code/node_modules/x/index.js': 'module',
  'Catalog Previews.lrdata/0/1.lrprev': 'preview',
};

describe('exclude: patterns', () => {
  it('matching files and folders are never indexed, pushed or offloaded; index counts them', async () => {
    // setup
    const sb = makeSandbox(TREE);
    excluding(sb, PATTERNS);
    // act
    const indexed = run(sb, 'index', 'photos');
    const report = json<IndexReport>(run(sb, '--json', 'index', 'photos'));
    await setup(sb, ['sync', 'photos', '--to', 'nas', '--init']);
    await setup(sb, ['sync', 'photos', '--to', 'offsite', '--init']);
    const offloaded = offload(sb, '.');
    // expect
    expect(indexed.code, indexed.stderr).toBe(0);
    expect(indexed.stdout).toMatch(/skipped 5 excluded by patterns/);
    expect(report.counts).toMatchObject({ new: 0, unchanged: 2, excluded: 5 });
    expect(Object.keys(rowStatuses(sb)).sort()).toEqual(['a.jpg', 'trip/b.jpg']);
    expect(Object.keys(snapshotTree(path.join(sb.destinations.nas, 'photos'))).filter((p) => !p.startsWith('.squirrel-')).sort()).toEqual(['a.jpg', 'trip/b.jpg']);
    expect(totalsOf(offloaded)).toMatchObject({ offloaded: '2' });
    for (const kept of ['.DS_Store', 'trip/Thumbs.db', 'code/node_modules/x/index.js', 'Catalog Previews.lrdata/0/1.lrprev']) expect(fs.existsSync(local(sb, kept)), kept).toBe(true);
  });

  it('a bad pattern is a configuration error naming its key path', () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    excluding(sb, ['ok/', '#comment', 'a/../b', '[z-a].jpg', 'ok/']);
    // act
    const result = run(sb, 'index', 'photos');
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/volumes\.photos\.exclude\[1\]: "#comment" starts with '#'/);
    expect(result.stderr).toMatch(/volumes\.photos\.exclude\[2\]: "a\/\.\.\/b" contains a '\.' or '\.\.' segment/);
    expect(result.stderr).toMatch(/volumes\.photos\.exclude\[3\]: "\[z-a\]\.jpg" has the range \[z-a\]/);
    expect(result.stderr).toMatch(/volumes\.photos\.exclude\[4\]: "ok\/" is listed twice/);
    expect(fs.existsSync(sb.dbPath)).toBe(false);
  });

  it('a pattern added later: rows leave the backup set (missing), nothing is deleted, and come back when it is removed', async () => {
    // setup: everything indexed and pushed to both destinations
    const sb = makeSandbox(TREE);
    await setup(sb, ['index', 'photos']);
    for (const dest of ['nas', 'offsite']) await setup(sb, ['sync', 'photos', '--to', dest, '--init']);
    const destinationsBefore = snapshotTree(path.join(sb.dir, 'dest'));
    excluding(sb, PATTERNS);

    // act: an offload before the next index leaves the newly excluded files alone
    const early = json<{ excludedSkipped: number; totals: { offloaded: number } }>(run(sb, '--json', 'offload', 'photos', 'trip'));
    // expect
    expect(early).toMatchObject({ excludedSkipped: 2, totals: { offloaded: 1 } });
    expect(fs.existsSync(local(sb, 'trip/Thumbs.db'))).toBe(true);

    // act: the next index
    const indexed = run(sb, 'index', 'photos');
    // expect: rows missing, files and copies untouched, restore leaves them alone
    expect(indexed.code, indexed.stderr).toBe(0);
    expect(indexed.stdout).toMatch(/5 indexed file\(s\) now match volumes\.photos\.exclude: marked missing/);
    expect(rowStatuses(sb)).toMatchObject({ '.DS_Store': 'missing', 'code/node_modules/x/index.js': 'missing', 'a.jpg': 'present', 'trip/b.jpg': 'offloaded' });
    expect(fs.readFileSync(local(sb, '.DS_Store'), 'utf8')).toBe('finder');
    expect(snapshotTree(path.join(sb.dir, 'dest'))).toMatchObject(Object.fromEntries(Object.entries(destinationsBefore).filter(([p]) => !p.includes('.squirrel-'))));
    expect(fs.existsSync(copyAt(sb, 'nas', '.DS_Store'))).toBe(true);
    const restored = run(sb, 'restore', 'photos', '.', '--dry-run');
    expect(restored.stdout).not.toMatch(/DS_Store|node_modules/);
    expect(restored.stdout).toMatch(/would restore trip\/b\.jpg/);

    // act: the pattern goes away again
    excluding(sb, []);
    const back = json<IndexReport>(run(sb, '--json', 'index', 'photos'));
    // expect
    expect(back.counts).toMatchObject({ reappeared: 5 });
    expect(rowStatuses(sb)['.DS_Store']).toBe('present');
  });

  it('a sync after a pattern was added (before any index) does not push what it matches', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha', 'cache/x.tmp': 'scratch' });
    await setup(sb, ['index', 'photos']);
    excluding(sb, ['cache/']);
    // act
    const synced = run(sb, 'sync', 'photos', '--to', 'nas', '--init');
    // expect
    expect(synced.code, synced.stdout + synced.stderr).toBe(0);
    expect(synced.stderr).toMatch(/1 indexed file\(s\) now match volumes\.photos\.exclude/);
    expect(fs.existsSync(copyAt(sb, 'nas', 'cache/x.tmp'))).toBe(false);
    expect(fs.existsSync(copyAt(sb, 'nas', 'a.jpg'))).toBe(true);
    expect(rowStatuses(sb)['cache/x.tmp']).toBe('missing');
  });
});

describe('reserved .squirrel-* names', () => {
  it('are skipped and counted, and named so a user file among them can be found', () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha', '.squirrel-notes.txt': 'mine', 'sub/.squirrel-tmp': 'x' });
    // act
    const result = run(sb, 'index', 'photos');
    const report = json<IndexReport>(run(sb, '--json', 'index', 'photos'));
    // expect
    expect(result.stdout).toMatch(/skipped 2 reserved \.squirrel-\* names/);
    expect(result.stdout).toMatch(/\.squirrel-notes\.txt/);
    expect(report.counts.skippedReserved).toBe(2);
    expect(report.reservedSkipped).toEqual(['.squirrel-notes.txt', 'sub/.squirrel-tmp']);
  });
});
