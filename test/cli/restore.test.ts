// restore end to end through the real binary: offloaded bytes come back BLAKE3-checked, a
// different file at the path is moved into restore history (never clobbered), a bad copy is
// never placed, and a restored file is not offloaded again until a sync covers it.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hashBytes, hashFile } from '../../src/hash.js';
import { bin, cleanupTempDirs, CliResult, json, makeSandbox, RestoreReport, rowStatuses, runList, Sandbox, tempDir, withConfig, withStore } from '../helpers.js';
import { copyAt, killChildren, local, NOW, offloaded, setup, spawnPaused, TARGETS } from '../scenarios.js';

afterEach(() => {
  killChildren();
  cleanupTempDirs();
});

function restore(sb: Sandbox, ...args: string[]): CliResult {
  return bin(withConfig(sb, '--no-progress', 'restore', 'photos', ...args), { nowNs: NOW });
}

/** Every file under dir (relative paths), reserved ones included, but not the catalog commands publish. */
function listTree(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((p) => !p.split(path.sep).includes('.squirrel-catalog'))
    .sort();
}

function sameBytes(file: string, bytes: string): boolean {
  return hashFile(file).hash.equals(hashBytes(Buffer.from(bytes)));
}

describe('restore', () => {
  it('brings offloaded bytes back, hash-checked, with the indexed mtime; the row is present again', async () => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha', 'sub/b.jpg': 'bravo', 'c.jpg': 'charlie' }, ['a.jpg', 'sub']);
    const indexedMtimeNs = withStore(sb, (store, volumeId) => store.files.livePath(volumeId, 'sub/b.jpg')!.mtimeNs);
    const destinationsBefore = listTree(path.join(sb.dir, 'dest'));
    // act
    const result = restore(sb, 'sub');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(listTree(path.join(sb.dir, 'dest'))).toEqual(destinationsBefore);
    expect(result.stdout).toMatch(/^restored sub\/b\.jpg from nas$/m);
    expect(result.stdout).toMatch(/^restored=1 failed=0 run=\d+$/m);
    expect(sameBytes(local(sb, 'sub/b.jpg'), 'bravo')).toBe(true);
    // utimes takes (double) seconds: the mtime comes back to within a few microseconds, and
    // the row records exactly what is on disk
    const mtimeNs = fs.statSync(local(sb, 'sub/b.jpg'), { bigint: true }).mtimeNs;
    expect(Math.abs(Number(mtimeNs - indexedMtimeNs))).toBeLessThan(10_000);
    expect(withStore(sb, (store, volumeId) => store.files.livePath(volumeId, 'sub/b.jpg')!.mtimeNs)).toBe(mtimeNs);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'c.jpg': 'present', 'sub/b.jpg': 'present' });
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
    expect(runList(sb).at(-1)).toBe('restore:success');
    // no temp file is left next to it
    expect(listTree(local(sb, 'sub'))).toEqual(['b.jpg']);
  });

  it('never clobbers a different file at the path: it is moved to .squirrel-restore-history/run-<id>/', async () => {
    // setup: someone put new bytes where an offloaded file was
    const sb = await offloaded({ 'a.jpg': 'alpha' }, ['a.jpg']);
    fs.writeFileSync(local(sb, 'a.jpg'), 'a different picture');
    // act
    const result = bin(withConfig(sb, '--json', 'restore', 'photos', 'a.jpg'), { nowNs: NOW });
    // expect
    expect(result.code, result.stderr).toBe(0);
    const report = json<RestoreReport>(result);
    const movedAside = `.squirrel-restore-history/run-${report.runId}/a.jpg`;
    expect(report.restored).toEqual([{ path: 'a.jpg', from: 'nas', movedAside, offloadedVersion: false }]);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(local(sb, movedAside), 'utf8')).toBe('a different picture');

    // act: the next index backs the moved-aside file up like any other (issue 19: it used
    // to be skipped as reserved, so those bytes were never backed up)
    const indexed = bin(withConfig(sb, 'index', 'photos'), { nowNs: NOW });
    // expect
    expect(indexed.code, indexed.stderr).toBe(0);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present', [movedAside]: 'present' });
  });

  it('the same bytes already in place are kept as they are, nothing moved aside', async () => {
    // setup: the user copied the file back by hand
    const sb = await offloaded({ 'a.jpg': 'alpha' }, ['a.jpg']);
    fs.writeFileSync(local(sb, 'a.jpg'), 'alpha');
    const inode = fs.statSync(local(sb, 'a.jpg')).ino;
    // act
    const result = restore(sb, 'a.jpg');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^restored a\.jpg from nas$/m);
    expect(fs.statSync(local(sb, 'a.jpg')).ino).toBe(inode);
    expect(fs.existsSync(local(sb, '.squirrel-restore-history'))).toBe(false);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present' });
  });

  it('a restored file is blocked by the gate until the next sync to each target, then offloads cleanly', async () => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha' }, ['a.jpg']);
    expect(restore(sb, 'a.jpg').code).toBe(0);
    // act
    const blocked = bin(withConfig(sb, 'offload', 'photos', '.'), { nowNs: NOW });
    // expect
    expect(blocked.code, blocked.stderr).toBe(0);
    expect(blocked.stdout).toContain('refused on nas: not-pushed-since-appeared, 1 file(s)');
    expect(blocked.stdout).toContain('refused on offsite: not-pushed-since-appeared, 1 file(s)');
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');

    // act: sync both (nothing to send: the copies are there), then offload, with no re-index
    for (const dest of TARGETS) await setup(sb, ['sync', 'photos', '--to', dest]);
    const allowed = bin(withConfig(sb, 'offload', 'photos', '.'), { nowNs: NOW });
    // expect: the restored file is exactly what the index says (mtime included), so no drift
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(allowed.stdout).toMatch(/^offloaded=1 not_durable=0 drift=0 errors=0 /m);
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
  });

  it('a copy whose bytes are wrong is never placed: the next destination serves it, or the file fails', async () => {
    // setup: the nas copy rotted after the last verify, so the ledger still calls it ok
    const sb = await offloaded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, ['.']);
    fs.writeFileSync(copyAt(sb, 'nas', 'a.jpg'), 'alphX');
    // act: only nas allowed
    const onlyNas = restore(sb, '.', '--from', 'nas');
    // expect: b.jpg restored, a.jpg failed with nothing placed and no temp file left
    expect(onlyNas.code).toBe(1);
    expect(onlyNas.stdout).toMatch(/^restored b\.jpg from nas$/m);
    expect(onlyNas.stdout).toMatch(/^failed a\.jpg: no good copy: nas:photos\/a\.jpg bytes do not match the index$/m);
    expect(onlyNas.stdout).toMatch(/^restored=1 failed=1 run=\d+$/m);
    expect(listTree(sb.volumePath)).toEqual(['.squirrel-volume', 'b.jpg']);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'b.jpg': 'present' });
    expect(runList(sb).at(-1)).toBe('restore:partial');

    // act: default order (sync_to): nas fails the hash, offsite serves it
    const fallback = restore(sb, 'a.jpg');
    // expect
    expect(fallback.code, fallback.stderr).toBe(0);
    expect(fallback.stdout).toMatch(/^restored a\.jpg from offsite$/m);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(copyAt(sb, 'nas', 'a.jpg'), 'utf8')).toBe('alphX');
  });

  it('when no recorded copy is good, bytes sitting in a history folder the ledger does not name are found and restored', async () => {
    // setup: another index's sync moved the offloaded a.jpg aside at both destinations and put its own a.jpg there
    const sb = await offloaded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, ['a.jpg']);
    for (const dest of TARGETS) {
      const history = path.join(sb.destinations[dest], 'photos', '.squirrel-history', 'run-7-abc123', 'a.jpg');
      fs.mkdirSync(path.dirname(history), { recursive: true });
      fs.renameSync(copyAt(sb, dest, 'a.jpg'), history);
      fs.writeFileSync(copyAt(sb, dest, 'a.jpg'), 'other');
    }
    // act
    const result = restore(sb, 'a.jpg');
    // expect: restored from the history copy, which the ledger now records
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stderr).toMatch(/found its bytes at nas:photos\/\.squirrel-history\/run-7-abc123\/a\.jpg/);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(rowStatuses(sb)['a.jpg']).toBe('present');
    expect(withStore(sb, (store, volumeId) => store.evidence.copiesOf(volumeId, 'nas', store.files.livePath(volumeId, 'a.jpg')!.contentId).map((c) => `${c.path} ${c.state}`))).toContain('photos/.squirrel-history/run-7-abc123/a.jpg ok');
  });

  it('--to DIR restores elsewhere and leaves the volume and its rows as they are', async () => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha', 'sub/b.jpg': 'bravo' }, ['.']);
    const elsewhere = path.join(tempDir(), 'out');
    // act
    const result = restore(sb, '.', '--to', elsewhere);
    // expect
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(fs.readFileSync(path.join(elsewhere, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(path.join(elsewhere, 'sub/b.jpg'), 'utf8')).toBe('bravo');
    expect(listTree(sb.volumePath)).toEqual(['.squirrel-volume']);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'sub/b.jpg': 'offloaded' });
  });

  it('--dry-run says what would come back from where, and changes nothing', async () => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha' }, ['a.jpg']);
    const runsBefore = runList(sb);
    // act
    const result = restore(sb, '.', '--dry-run');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^would restore a\.jpg from nas$/m);
    expect(result.stdout).toMatch(/^restored=0 failed=0 run=-$/m);
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
    expect(runList(sb)).toEqual(runsBefore);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded' });
  });

  it('no selector is a usage error; a selector with nothing offloaded says so', async () => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, ['a.jpg']);
    // act
    const none = restore(sb);
    const nothing = restore(sb, 'b.jpg');
    // expect
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/needs at least one path/);
    expect(nothing.code).toBe(0);
    expect(nothing.stdout).toMatch(/nothing to restore/);
  });

  it('refuses to write into a directory that is not the volume (no marker: an unmounted drive), placing nothing', async () => {
    // setup: the drive is gone; its empty mount point is left
    const sb = await offloaded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, ['a.jpg']);
    fs.rmSync(sb.volumePath, { recursive: true });
    fs.mkdirSync(sb.volumePath);
    const runsBefore = runList(sb);
    // act
    const result = restore(sb, '.');
    // expect
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/has no \.squirrel-volume marker.*Is the drive mounted\?/);
    expect(fs.readdirSync(sb.volumePath)).toEqual([]);
    expect(runList(sb)).toEqual(runsBefore);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'b.jpg': 'present' });
  });

  it('restores into a volume configured through a symlinked root (a mount alias)', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    const alias = path.join(sb.dir, 'photos-alias');
    fs.symlinkSync(sb.volumePath, alias);
    sb.writeConfig({ volumes: { photos: { path: alias, sync_to: TARGETS, offload_requires: TARGETS } } });
    await setup(sb, ['index', 'photos']);
    for (const dest of TARGETS) await setup(sb, ['sync', 'photos', '--to', dest, '--init']);
    await setup(sb, ['offload', 'photos', '.']);
    // act
    const result = restore(sb, '.');
    // expect
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present' });
  });

  it('killed just before placing: nothing half-written at the path, the row unchanged; the next restore completes', async () => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha' }, ['a.jpg']);
    const child = await spawnPaused(sb, ['restore', 'photos', 'a.jpg'], 'restore.before-place');
    // act
    await child.kill();
    // expect
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded' });

    // act
    const again = restore(sb, 'a.jpg');
    // expect
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/run \d+ was interrupted \(its process is gone\); marked aborted/);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(runList(sb).slice(-2)).toEqual(['restore:aborted', 'restore:success']);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present' });
  });
});
