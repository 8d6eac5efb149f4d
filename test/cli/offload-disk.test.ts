// Offload through the real binary, SPEC §6 scenarios 17-18: the disk as it is at the unlink.
// Content, size, mtime, inode or a symlinked path that no longer match the index are drift
// (nothing deleted, nothing outside the volume touched); a file that cannot be removed is an
// error that makes the run partial while the others proceed.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, json, makeSandbox, OffloadReport, rowStatuses, runList, Sandbox, snapshotTree, tempDir, Tree, withStore } from '../helpers.js';
import { expectDurableEverywhere, killChildren, local, NOW, offload, offloadJson, runCounts, seeded, setMtimeSeconds, setup, spawnPaused, TARGETS, totalsOf } from '../scenarios.js';

const undoers: (() => void)[] = [];
afterEach(() => {
  killChildren();
  for (const undo of undoers.splice(0)) undo();
  cleanupTempDirs();
});

describe('scenario 17: drift on disk after indexing', () => {
  it('changed content (mtime restored), size, mtime, a symlink, a symlinked parent, a missing file -> drift, nothing deleted anywhere', async () => {
    // setup: whole-second mtimes, so one can be put back exactly after rewriting the bytes
    const files: Tree = {
      'keep.jpg': 'kilo',
      'content.jpg': 'charlie',
      'size.jpg': 'sierra',
      'mtime.jpg': 'mike',
      'link.jpg': 'lima',
      'dir/inner.jpg': 'india',
      'gone.jpg': 'golf',
    };
    const sb = makeSandbox(files);
    const mtimeSeconds = Number(NOW / 1_000_000_000n) - 10 * 86_400;
    for (const relative of Object.keys(files)) setMtimeSeconds(local(sb, relative), mtimeSeconds);
    await setup(sb, ['index', 'photos']);
    for (const dest of TARGETS) await setup(sb, ['sync', 'photos', '--to', dest, '--init']);

    const outside = path.join(tempDir(), 'outside');
    fs.mkdirSync(outside);
    // same length, different bytes, mtime put back to the indexed value
    fs.writeFileSync(local(sb, 'content.jpg'), 'CHARLIE');
    setMtimeSeconds(local(sb, 'content.jpg'), mtimeSeconds);
    fs.appendFileSync(local(sb, 'size.jpg'), '!');
    setMtimeSeconds(local(sb, 'size.jpg'), mtimeSeconds);
    setMtimeSeconds(local(sb, 'mtime.jpg'), mtimeSeconds + 1);
    // a symlink to identical bytes outside: following it would delete the wrong file
    fs.writeFileSync(path.join(outside, 'lima.jpg'), 'lima');
    fs.rmSync(local(sb, 'link.jpg'));
    fs.symlinkSync(path.join(outside, 'lima.jpg'), local(sb, 'link.jpg'));
    // the parent directory moved outside and replaced by a symlink to it: the bytes, size and
    // mtime all still match through the link
    fs.renameSync(local(sb, 'dir'), path.join(outside, 'dir'));
    fs.symlinkSync(path.join(outside, 'dir'), local(sb, 'dir'));
    fs.rmSync(local(sb, 'gone.jpg'));
    const outsideBefore = snapshotTree(outside);
    // act
    const { result, report } = offloadJson(sb, '.');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(report.execution!.offloaded).toEqual(['keep.jpg']);
    const drift = Object.fromEntries(report.execution!.drift.map((d) => [d.path, d.reason]));
    expect(Object.keys(drift).sort()).toEqual(['content.jpg', 'dir/inner.jpg', 'gone.jpg', 'link.jpg', 'mtime.jpg', 'size.jpg']);
    expect(drift['content.jpg']).toMatch(/content changed since indexing \(BLAKE3 differs\)/);
    expect(drift['size.jpg']).toMatch(/size changed \(7 bytes, indexed 6\)/);
    expect(drift['mtime.jpg']).toMatch(/modification time changed since indexing/);
    expect(drift['link.jpg']).toMatch(/replaced by a symlink/);
    expect(drift['dir/inner.jpg']).toMatch(/'dir' is a symlink; refusing to act through it/);
    expect(drift['gone.jpg']).toMatch(/no longer on disk/);
    expect(report.totals).toMatchObject({ offloaded: 1, drift: 6, errors: 0 });
    expect(result.stderr).toMatch(/warning: drift content\.jpg: .*; nothing deleted/);
    // nothing but keep.jpg was deleted, inside or outside the volume
    expect(snapshotTree(outside)).toEqual(outsideBefore);
    expect(fs.readFileSync(local(sb, 'content.jpg'), 'utf8')).toBe('CHARLIE');
    expect(fs.readFileSync(local(sb, 'size.jpg'), 'utf8')).toBe('sierra!');
    expect(fs.readFileSync(local(sb, 'mtime.jpg'), 'utf8')).toBe('mike');
    expect(fs.lstatSync(local(sb, 'link.jpg')).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(path.join(outside, 'dir', 'inner.jpg'), 'utf8')).toBe('india');
    expect(fs.existsSync(local(sb, 'keep.jpg'))).toBe(false);
    expectDurableEverywhere(sb, 'keep.jpg', 'kilo');
    const statuses = rowStatuses(sb);
    expect(statuses['keep.jpg']).toBe('offloaded');
    for (const relative of Object.keys(drift)) expect(statuses[relative], relative).toBe('present');
    expect(runList(sb).at(-1)).toBe('offload:success');
    expect(runCounts(sb, report.totals.run!)).toMatchObject({ offloaded: 1, drift: 6, errors: 0 });
  });

  it.each([
    [
      'the file is replaced by identical bytes (a new inode)',
      'a.jpg',
      (sb: Sandbox) => {
        const stat = fs.statSync(local(sb, 'a.jpg'));
        fs.writeFileSync(local(sb, 'a.jpg.new'), 'alpha');
        fs.utimesSync(local(sb, 'a.jpg.new'), stat.atime, stat.mtime);
        fs.renameSync(local(sb, 'a.jpg.new'), local(sb, 'a.jpg'));
      },
      /changed or was replaced just before the unlink/,
    ],
    [
      'its parent directory is moved outside and replaced by a symlink to it',
      'dir/a.jpg',
      (sb: Sandbox, outside: string) => {
        fs.renameSync(local(sb, 'dir'), path.join(outside, 'dir'));
        fs.symlinkSync(path.join(outside, 'dir'), local(sb, 'dir'));
      },
      /changed or was replaced just before the unlink/,
    ],
  ])('after the intent is committed, %s -> drift at the last look, nothing deleted anywhere', async (_name, relative, swap, reason) => {
    // setup: offload paused after its disk check and intent for the file
    const sb = await seeded({ 'a.jpg': 'alpha', 'dir/a.jpg': 'alpha' });
    const outside = path.join(tempDir(), 'outside');
    fs.mkdirSync(outside);
    const child = await spawnPaused(sb, ['--json', 'offload', 'photos', relative], 'offload.after-intent');
    // act
    swap(sb, outside);
    const outsideBefore = snapshotTree(outside);
    // expect
    expect(await child.resume(), child.stderr()).toBe(0);
    const report = json<OffloadReport>({ stdout: child.stdout(), stderr: child.stderr() });
    expect(report.execution!.offloaded).toEqual([]);
    expect(report.execution!.drift).toEqual([{ path: relative, reason: expect.stringMatching(reason) }]);
    expect(snapshotTree(outside)).toEqual(outsideBefore);
    expect(fs.readFileSync(local(sb, relative), 'utf8')).toBe('alpha');
    expect(rowStatuses(sb)[relative]).toBe('present');
    expect(withStore(sb, (store) => store.intents.listOpen())).toEqual([]);
  });

  it('--strict exits 3 on drift as on refusals, and 0 when everything went', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    fs.appendFileSync(local(sb, 'a.jpg'), '!');
    // act
    const drifted = offload(sb, 'a.jpg', '--strict');
    const clean = offload(sb, 'b.jpg', '--strict');
    // expect
    expect(drifted.code).toBe(3);
    expect(totalsOf(drifted)).toMatchObject({ offloaded: '0', drift: '1' });
    expect(clean.code).toBe(0);
    expect(totalsOf(clean)).toMatchObject({ offloaded: '1', drift: '0' });
  });
});

/**
 * Make a directory refuse the removal of its entries, even for root: the immutable attribute
 * where the filesystem has it, otherwise (for an ordinary user) a read-only directory.
 * Returns null when neither works here.
 */
function makeUnremovable(dir: string): (() => void) | null {
  const chattr = spawnSync('chattr', ['+i', dir], { encoding: 'utf8' });
  if (chattr.status === 0) return () => void spawnSync('chattr', ['-i', dir]);
  if (process.getuid?.() !== 0) {
    fs.chmodSync(dir, 0o555);
    return () => fs.chmodSync(dir, 0o755);
  }
  return null;
}

describe('scenario 18: a file that cannot be removed', () => {
  it('-> error, run partial, exit 1, the file and its row kept; the others proceed', async (ctx) => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha', 'locked/b.jpg': 'bravo', 'z.jpg': 'zulu' });
    const undo = makeUnremovable(local(sb, 'locked'));
    if (!undo) return ctx.skip('no way to make a directory refuse unlink for root here (no chattr +i support)');
    undoers.push(undo);
    // act
    const { result, report } = offloadJson(sb, '.');
    // expect
    expect(result.code).toBe(1);
    expect(report.execution!.offloaded).toEqual(['a.jpg', 'z.jpg']);
    expect(report.execution!.errors).toEqual([{ path: 'locked/b.jpg', message: expect.stringMatching(/^cannot remove: (EPERM|EACCES) .*; kept$/) }]);
    expect(report.totals).toMatchObject({ offloaded: 2, errors: 1, drift: 0 });
    expect(fs.readFileSync(local(sb, 'locked/b.jpg'), 'utf8')).toBe('bravo');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'locked/b.jpg': 'present', 'z.jpg': 'offloaded' });
    expect(runList(sb).at(-1)).toBe('offload:partial');
    expect(withStore(sb, (store) => store.intents.listOpen())).toEqual([]);

    // act: once the directory allows it, the next offload takes it
    undo();
    const again = offload(sb, '.');
    // expect
    expect(again.code, again.stderr).toBe(0);
    expect(totalsOf(again)).toMatchObject({ offloaded: '1', errors: '0' });
    expectDurableEverywhere(sb, 'locked/b.jpg', 'bravo');
  });
});
