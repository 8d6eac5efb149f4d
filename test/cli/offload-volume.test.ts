// Offload through the real binary, SPEC §6 scenarios 8-12: the index around offloaded files
// (re-index, missing and superseded rows, reserved paths) and the refusals that come before
// any work (a busy volume, a root or marker that is not the indexed volume's).

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, makeSandbox, rowStatuses, runList, tempDir, withConfig, withStore } from '../helpers.js';
import { expectDurableEverywhere, killChildren, local, NOW, offload, offloadJson, seeded, setup, spawnPaused, TARGETS, totalsOf } from '../scenarios.js';

afterEach(() => {
  killChildren();
  cleanupTempDirs();
});

describe('scenarios 8-10: the index around offloaded files', () => {
  it('8: re-index keeps offloaded rows offloaded; bytes put back become present with the original first_seen_run_id', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    const firstSeen = withStore(sb, (store, volumeId) => store.files.livePath(volumeId, 'a.jpg')!.firstSeenRunId);
    expect(offload(sb, 'a.jpg').code).toBe(0);
    // act
    const reindexed = bin(withConfig(sb, 'index', 'photos'), { nowNs: NOW });
    // expect
    expect(reindexed.code, reindexed.stderr).toBe(0);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'b.jpg': 'present' });

    // act: the same bytes come back
    fs.writeFileSync(local(sb, 'a.jpg'), 'alpha');
    const back = bin(withConfig(sb, 'index', 'photos'), { nowNs: NOW });
    // expect
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toMatch(/reappeared=1/);
    const row = withStore(sb, (store, volumeId) => store.files.livePath(volumeId, 'a.jpg')!);
    expect(row.status).toBe('present');
    expect(row.firstSeenRunId).toBe(firstSeen);
  });

  it('9: missing and superseded rows are never candidates; changed content waits for a push that covers it', async () => {
    // setup: b.jpg vanishes, c.jpg gets new bytes after the vector was recorded
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo', 'c.jpg': 'charlie' });
    fs.rmSync(local(sb, 'b.jpg'));
    fs.writeFileSync(local(sb, 'c.jpg'), 'charlie v2');
    await setup(sb, ['index', 'photos']);
    // act
    const result = offloadJson(sb, '.');
    // expect
    expect(result.result.code, result.result.stderr).toBe(0);
    expect(result.report.candidates).toBe(2);
    expect(result.report.execution!.offloaded).toEqual(['a.jpg']);
    expect(result.report.refusals.map((r) => [r.target, r.reason, r.paths])).toEqual([
      ['nas', 'evidence-behind', ['c.jpg']],
      ['offsite', 'evidence-behind', ['c.jpg']],
    ]);
    expect(fs.readFileSync(local(sb, 'c.jpg'), 'utf8')).toBe('charlie v2');
    const history = withStore(sb, (store, volumeId) => store.files.pathHistory(volumeId, 'c.jpg').map((f) => f.status));
    expect(history).toEqual(['superseded', 'present']);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'b.jpg': 'missing', 'c.jpg': 'present' });

    // act: a push covering the new content clears it
    for (const dest of TARGETS) await setup(sb, ['sync', 'photos', '--to', dest]);
    const after = offload(sb, 'c.jpg');
    // expect
    expect(totalsOf(after)).toMatchObject({ offloaded: '1', not_durable: '0' });
    expect(fs.existsSync(local(sb, 'c.jpg'))).toBe(false);
    expectDurableEverywhere(sb, 'c.jpg', 'charlie v2');
    expect(rowStatuses(sb)['b.jpg']).toBe('missing');
  });

  it('10: reserved .squirrel-* subtrees are never offloaded, even with a row that would pass the gate', async () => {
    // setup: restore history on disk, which index walks so it is backed up (issue 19): its
    // row is present with fully backed-up content, and the plan itself must skip it
    const sb = await seeded({ 'a.jpg': 'alpha', '.squirrel-restore-history/run-1/a.jpg': 'alpha', 'keep/.squirrel-x/n.jpg': 'november' });
    expect(rowStatuses(sb)['.squirrel-restore-history/run-1/a.jpg']).toBe('present');
    // act
    const all = offload(sb, '.');
    const named = offload(sb, '.squirrel-restore-history');
    // expect
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^offloaded a\.jpg$/m);
    expect(all.stdout).toMatch(/skipped 1 file\(s\) under reserved '\.squirrel-\*' paths \(never offloaded\)/);
    expect(totalsOf(all)).toMatchObject({ offloaded: '1' });
    expect(fs.readFileSync(local(sb, '.squirrel-restore-history/run-1/a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(local(sb, 'keep/.squirrel-x/n.jpg'), 'utf8')).toBe('november');
    expect(rowStatuses(sb)['.squirrel-restore-history/run-1/a.jpg']).toBe('present');
    expect(named.code).toBe(2);
    expect(named.stderr).toMatch(/names squirrel's own reserved '\.squirrel-\*' files, which are never offloaded/);
  });
});

describe('scenarios 11-12: refusals before any work', () => {
  it('11: another writing run in flight on the volume -> refused, naming it (exit 1)', async () => {
    // setup: a sync paused right after it took the volume's writer slot
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const sync = await spawnPaused(sb, ['sync', 'photos', '--to', 'nas'], 'sync.after-begin');
    const pid = sync.pid;
    const syncRunId = withStore(sb, (store) => store.runs.list({ limit: 1 })[0]);
    expect(syncRunId).toMatchObject({ kind: 'sync', status: 'running', pid });
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`volume 'photos' is busy: sync run ${syncRunId.id} (pid ${pid} on `);
    expect(result.stderr).toMatch(/wait for it to finish and try again/);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(runList(sb).filter((r) => r.startsWith('offload'))).toEqual([]);
    // the sync finishes normally once released; then the volume is free again
    expect(await sync.resume(), sync.stderr()).toBe(0);
    expect(totalsOf(offload(sb, '.'))).toMatchObject({ offloaded: '1' });
  });

  it('12: the configured root differs from the indexed root -> refused (exit 2), nothing touched', async () => {
    // setup: the config now points at a copy of the volume (marker and all)
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const elsewhere = path.join(tempDir(), 'photos-copy');
    fs.cpSync(sb.volumePath, elsewhere, { recursive: true });
    sb.writeConfig({ volumes: { photos: { path: elsewhere, sync_to: TARGETS, offload_requires: TARGETS } } });
    const runsBefore = runList(sb);
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`volume 'photos' was indexed at ${sb.volumePath}, but the config now says ${elsewhere}; nothing was changed`);
    expect(fs.readFileSync(path.join(elsewhere, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(runList(sb)).toEqual(runsBefore);
  });

  it('12: the .squirrel-volume marker names another volume -> refused (exit 2), nothing touched', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const marker = local(sb, '.squirrel-volume');
    fs.writeFileSync(marker, JSON.stringify({ ...JSON.parse(fs.readFileSync(marker, 'utf8')), volume: 'music' }));
    const runsBefore = runList(sb);
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${sb.volumePath} belongs to volume 'music' (its .squirrel-volume marker says so), not 'photos'; nothing was changed`);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(runList(sb)).toEqual(runsBefore);
  });

  it('a volume configured through a symlinked root (a mount alias, which index follows) offloads normally', async () => {
    // setup
    const sb = makeSandbox({ 'a.jpg': 'alpha' });
    const alias = path.join(sb.dir, 'photos-alias');
    fs.symlinkSync(sb.volumePath, alias);
    sb.writeConfig({ volumes: { photos: { path: alias, sync_to: TARGETS, offload_requires: TARGETS } } });
    await setup(sb, ['index', 'photos']);
    for (const dest of TARGETS) await setup(sb, ['sync', 'photos', '--to', dest, '--init']);
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code, result.stderr).toBe(0);
    expect(totalsOf(result)).toMatchObject({ offloaded: '1', drift: '0' });
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
    expect(fs.lstatSync(alias).isSymbolicLink()).toBe(true);
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
  });

  it('12: no marker at all (an unmounted drive with an empty mount point) -> refused (exit 1)', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha' });
    fs.rmSync(local(sb, '.squirrel-volume'));
    // act
    const result = offload(sb, '.');
    // expect
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/has no \.squirrel-volume marker.*Is the drive mounted\?/);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
  });
});
