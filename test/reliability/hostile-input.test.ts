// Hostile input on the volume side: awkward file names and deep trees, symlink loops, offload
// selectors built from dangerous pieces, a volume root that is a symlink or is swapped for
// another directory (between commands and in the middle of an offload), and database rows
// whose paths escape the volume. Nothing outside the volume may ever be touched, and every
// invariant must hold afterwards.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, json, OffloadReport, snapshotTree } from '../helpers.js';
import { runNameWorld, runSelectorFuzz } from './hostile.js';
import { formatViolations } from './invariants.js';
import { seedFromEnv } from './seed.js';
import { pushedWorld } from './pushed-world.js';
import { VOLUME, World } from './world.js';

afterEach(cleanupTempDirs);

/** This suite's seed for pushedWorld. */
const SEED = 2;

describe('awkward names and trees', () => {
  it('newlines, leading dashes, invalid UTF-8, NFC/NFD twins, 255-byte names, a deep tree and symlink loops: every valid file offloads durably and comes back', async () => {
    // act
    const summary = await runNameWorld(seedFromEnv(0x4a3e));
    // expect
    expect(summary.violations).toEqual([]);
    expect(summary.inputs).toBeGreaterThan(10);
  });

  it('a leading-dash name is a path after --, never an option', async () => {
    // setup
    const world = await pushedWorld({ '-rf': 'dash', 'keep.bin': 'keep' }, SEED);
    // act
    const asOption = await world.cli(['offload', VOLUME, '-rf']);
    const asPath = await world.cli(['offload', VOLUME, '--', '-rf']);
    // expect
    expect(asOption.code).toBe(2);
    expect(asPath.code, asPath.stderr).toBe(0);
    expect(fs.existsSync(path.join(world.root, '-rf'))).toBe(false);
    expect(fs.existsSync(path.join(world.root, 'keep.bin'))).toBe(true);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });
});

describe('hostile selectors', () => {
  it('refuses every selector with .., an absolute path, NUL, a line break or a reserved name (exit 2, nothing deleted) and keeps the rest inside their subtree', async () => {
    // act
    const summary = await runSelectorFuzz({ seed: seedFromEnv(0x5e1), count: 300 });
    // expect
    expect(summary.violations).toEqual([]);
    expect(summary.inputs).toBe(300);
    expect(summary.refused).toBeGreaterThanOrEqual(40);
  });
});

describe('the volume root', () => {
  it('a symlinked root (a mount alias): offload acts on the real directory and leaves the link alone', async () => {
    // setup
    const world = new World({ seed: 3, files: 0 });
    world.write('a.bin', Buffer.from('alpha'));
    world.write('sub/b.bin', Buffer.from('bravo'));
    const link = path.join(world.dir, 'photos-link');
    fs.symlinkSync(world.root, link);
    world.writeConfig({ path: link });
    // act
    const steps = [];
    for (const args of [['index', VOLUME], ['sync', VOLUME, '--init'], ['offload', VOLUME, '.']]) steps.push(await world.cli(args));
    // expect: whatever offload decided, nothing is lost and the link still points home
    for (const step of steps) expect(step.code, step.stderr).toBe(0);
    expect(fs.readlinkSync(link)).toBe(world.root);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a root swapped for another directory between commands: offload and index refuse, nothing in either directory changes', async () => {
    // setup: the real volume moved away, a look-alike without the marker in its place
    const world = await pushedWorld({ 'a.bin': 'alpha', 'sub/b.bin': 'bravo' }, SEED);
    const moved = path.join(world.dir, 'photos-moved');
    fs.renameSync(world.root, moved);
    fs.mkdirSync(world.root);
    fs.writeFileSync(path.join(world.root, 'a.bin'), 'alpha');
    const before = { moved: snapshotTree(moved), swapped: snapshotTree(world.root) };
    // act
    const offload = await world.cli(['offload', VOLUME, '.']);
    const index = await world.cli(['index', VOLUME]);
    // expect
    expect(offload.code).not.toBe(0);
    expect(offload.stderr).toMatch(/marker/);
    expect(index.code).not.toBe(0);
    expect({ moved: snapshotTree(moved), swapped: snapshotTree(world.root) }).toEqual(before);
  });

  it.each(['offload.after-disk-check', 'offload.after-intent'])('a root swapped for a perfect clone while offload waits at %s: drift, nothing deleted in either', async (point) => {
    // setup
    const world = await pushedWorld({ 'a.bin': 'alpha', 'sub/b.bin': 'bravo' }, SEED);
    const offload = world.start(['--json', 'offload', VOLUME, '.'], { pauseAt: [point] });
    expect(await offload.paused()).toBe(point);
    // act: the volume is renamed away and a byte-for-byte clone (marker, mtimes) takes its place
    const moved = path.join(world.dir, 'photos-moved');
    fs.renameSync(world.root, moved);
    fs.cpSync(moved, world.root, { recursive: true, preserveTimestamps: true });
    const before = { moved: snapshotTree(moved), clone: snapshotTree(world.root) };
    offload.resume();
    const finished = await offload.done;
    // expect
    expect(finished.code, finished.stderr).toBe(0);
    const report = json<OffloadReport>(finished);
    expect(report.execution!.offloaded).toEqual([]);
    expect(report.execution!.drift).toHaveLength(2);
    expect({ moved: snapshotTree(moved), clone: snapshotTree(world.root) }).toEqual(before);
  });
});

describe('database rows that escape the volume', () => {
  it('a present or offloaded row at ../x, a/../../x or /abs never makes offload or restore touch anything outside', async () => {
    // setup: rows pointing outside, with the very bytes of a synced file, so only the path check stands in the way
    const world = await pushedWorld({ 'a.bin': 'alpha', 'b.bin': 'bravo' }, SEED);
    const outside = path.join(world.dir, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(world.dir, 'victim.bin'), 'alpha');
    fs.writeFileSync(path.join(outside, 'victim.bin'), 'alpha');
    const mtime = fs.statSync(path.join(world.root, 'a.bin')).mtime;
    for (const file of [path.join(world.dir, 'victim.bin'), path.join(outside, 'victim.bin')]) fs.utimesSync(file, mtime, mtime);
    const db = new Database(world.dbPath);
    const insert = db.prepare(`INSERT INTO files (volume_id, path, content_id, mtime_ns, status, first_seen_run_id, last_seen_run_id, status_changed_run_id)
      SELECT volume_id, ?, content_id, mtime_ns, ?, 1, 1, 1 FROM files WHERE path = 'a.bin'`);
    insert.run('../victim.bin', 'present');
    insert.run('sub/../../victim.bin', 'present');
    insert.run(path.join(outside, 'victim.bin'), 'present');
    insert.run('../restored-outside.bin', 'offloaded');
    insert.run('../outside/restored.bin', 'offloaded');
    db.prepare(`INSERT INTO remote_copies (volume_id, destination, path, content_id, state, pushed_run_id, verified_at_ns, version)
      SELECT volume_id, 'nas', '../../victim.bin', content_id, 'ok', 2, 0, 1 FROM files WHERE path = 'b.bin'`).run();
    db.close();
    const outsideVolume = (file: string) => !file.startsWith(`${VOLUME}/`) && !file.startsWith('index.db') && !file.startsWith('dest/');
    const before = Object.fromEntries(Object.entries(snapshotTree(world.dir)).filter(([file]) => outsideVolume(file)));
    // act: offload, lose b.bin's good nas copy so restore walks the ledger to the escaping one, restore
    const offload = await world.cli(['--json', 'offload', VOLUME, '.']);
    fs.rmSync(path.join(world.destinations.nas, VOLUME, 'b.bin'));
    const restore = await world.cli(['restore', VOLUME, '.', '--from', 'nas']);
    const restoreAny = await world.cli(['restore', VOLUME, '.']);
    const after = Object.fromEntries(Object.entries(snapshotTree(world.dir)).filter(([file]) => outsideVolume(file)));
    // expect: the escaping rows drift or fail; a.bin and b.bin (inside) went and came back
    expect(offload.code, offload.stderr).toBe(0);
    const report = json<OffloadReport>(offload);
    expect(report.execution!.offloaded.sort()).toEqual(['a.bin', 'b.bin']);
    expect(report.execution!.drift.map((d) => d.path).sort()).toEqual(['../victim.bin', path.join(outside, 'victim.bin'), 'sub/../../victim.bin'].sort());
    expect(restore.stdout).toMatch(/failed \.\.\/restored-outside\.bin/);
    expect(restore.stdout).toMatch(/failed b\.bin: .*refusing path/);
    expect(restoreAny.stdout).toMatch(/restored b\.bin from offsite/);
    expect(after).toEqual(before);
    expect(fs.existsSync(path.join(world.dir, 'restored-outside.bin'))).toBe(false);
    expect(fs.readFileSync(path.join(world.root, 'a.bin'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(path.join(world.root, 'b.bin'), 'utf8')).toBe('bravo');
  });
});
