// Offload through the real binary, SPEC §6 scenarios 19-20: another process changing the
// evidence between the plan and an unlink, and a SIGKILL at each step of execute. The binary
// pauses at a test hook point while the test acts; afterwards nothing is gone without copies.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, DAY_NS, json, OffloadReport, rowStatuses, runList, withConfig, withStore } from '../helpers.js';
import { copyAt, expectDurableEverywhere, killChildren, local, NOW, offload, runCounts, seeded, spawnPaused } from '../scenarios.js';

afterEach(() => {
  killChildren();
  cleanupTempDirs();
});

describe('scenario 19: evidence changed by another process between plan and unlink', () => {
  it('a verify finds the copy corrupt while offload is paused -> the fresh rows refuse, nothing deleted', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    // the plan allowed both; offload is paused before its first (a.jpg) decision is committed
    const child = await spawnPaused(sb, ['--json', 'offload', 'photos', '.'], 'offload.after-disk-check');
    // act: the nas copy goes bad, and a cron verify in another process finds it
    fs.writeFileSync(copyAt(sb, 'nas', 'a.jpg'), 'alphX');
    const verify = bin(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: NOW });
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/CORRUPT: photos\/a\.jpg/);
    const code = await child.resume();
    // expect
    expect(code, child.stderr()).toBe(0);
    const report = json<OffloadReport>({ stdout: child.stdout(), stderr: child.stderr() });
    expect(report.allowed.paths).toEqual(['a.jpg', 'b.jpg']);
    expect(report.execution!.offloaded).toEqual(['b.jpg']);
    expect(report.execution!.drift).toEqual([{ path: 'a.jpg', reason: expect.stringMatching(/nas: lost-at-destination/) }]);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(copyAt(sb, 'nas', 'a.jpg'), 'utf8')).toBe('alphX');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present', 'b.jpg': 'offloaded' });
    expectDurableEverywhere(sb, 'b.jpg', 'bravo');
  });

  it('a verify finds the copy corrupt after the intent was committed -> judged again before the unlink, nothing deleted', async () => {
    // setup: paused between the committed intent and the unlink of a.jpg
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const child = await spawnPaused(sb, ['--json', 'offload', 'photos', '.'], 'offload.after-intent');
    // act
    fs.writeFileSync(copyAt(sb, 'nas', 'a.jpg'), 'alphX');
    expect(bin(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: NOW }).code).toBe(1);
    // expect
    expect(await child.resume(), child.stderr()).toBe(0);
    const report = json<OffloadReport>({ stdout: child.stdout(), stderr: child.stderr() });
    expect(report.execution!.offloaded).toEqual([]);
    expect(report.execution!.drift).toEqual([{ path: 'a.jpg', reason: expect.stringMatching(/nas: lost-at-destination/) }]);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present' });
    expect(withStore(sb, (store) => store.intents.listOpen())).toEqual([]);
  });

  it('a component weakened after the intent was committed -> the unlink step reads it afresh, nothing deleted', async () => {
    // setup: paused between the committed intent (judged on the sound nas component) and the unlink
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const child = await spawnPaused(sb, ['--json', 'offload', 'photos', '.'], 'offload.after-intent');
    // act: another writer rewrites the nas component to rest on size alone
    withStore(sb, (store, volumeId) =>
      store.immediate(() => {
        const laptop = store.ensureNode('laptop');
        const sound = store.evidence.component(volumeId, 'nas', laptop)!;
        const write = { ...sound, volumeId, destination: 'nas', originNodeId: laptop, verifyMethod: 'size-only', nowNs: NOW, runId: null, expectedVersion: sound.version };
        expect(store.evidence.writeComponent(write).applied).toBe(true);
      }),
    );
    // expect
    expect(await child.resume(), child.stderr()).toBe(0);
    const report = json<OffloadReport>({ stdout: child.stdout(), stderr: child.stderr() });
    expect(report.execution!.offloaded).toEqual([]);
    expect(report.execution!.drift).toEqual([{ path: 'a.jpg', reason: expect.stringMatching(/nas: not-content-verified/) }]);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present' });
    expect(withStore(sb, (store) => store.intents.listOpen())).toEqual([]);
  });

  it('while the unlinks run, the write lock is held: no evidence write can land between a judgement and its unlink', async () => {
    // setup: paused right after the first unlink of the batch, its judgement made under the lock
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    const child = await spawnPaused(sb, ['--json', 'offload', 'photos', '.'], 'offload.after-unlink');
    // act: another writer (as a verify recording a bad copy would) asks for the write lock
    const other = new Database(sb.dbPath, { timeout: 0 });
    const tryWrite = () => other.prepare('BEGIN IMMEDIATE').run();
    // expect: refused while the unlinks run; granted once the batch is done
    expect(tryWrite).toThrow(/database is locked/);
    expect(await child.resume(), child.stderr()).toBe(0);
    tryWrite();
    other.prepare('ROLLBACK').run();
    other.close();
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'b.jpg': 'offloaded' });
  });

  it('a component rewritten meanwhile (version bumped, still sound) is re-judged on fresh rows and still offloads', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const versionBefore = withStore(sb, (store, volumeId) => store.evidence.component(volumeId, 'nas', store.ensureNode('laptop'))!.version);
    const child = await spawnPaused(sb, ['--json', 'offload', 'photos', '.'], 'offload.after-disk-check');
    // act: a verify a day later re-stamps the nas component (a new version)
    expect(bin(withConfig(sb, 'verify', 'photos', '--to', 'nas'), { nowNs: NOW + DAY_NS }).code).toBe(0);
    const versionAfter = withStore(sb, (store, volumeId) => store.evidence.component(volumeId, 'nas', store.ensureNode('laptop'))!.version);
    expect(versionAfter).toBe(versionBefore + 1);
    // expect
    expect(await child.resume(), child.stderr()).toBe(0);
    const report = json<OffloadReport>({ stdout: child.stdout(), stderr: child.stderr() });
    expect(report.execution!.offloaded).toEqual(['a.jpg']);
    expect(runCounts(sb, report.totals.run!)).toMatchObject({ offloaded: 1, reevaluated: 1 });
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(false);
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
  });
});

describe('scenario 20: SIGKILL at each step of execute', () => {
  it.each([
    ['offload.after-disk-check', false],
    ['offload.after-intent', false],
    ['offload.after-unlink', true],
  ])('killed at %s -> the next command reconciles; offloaded iff gone; every gone file is on every target', async (point, firstGone) => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' });
    const child = await spawnPaused(sb, ['offload', 'photos', '.'], point);
    // act
    await child.kill();
    const next = bin(withConfig(sb, 'offload', 'photos', '.', '--dry-run'), { nowNs: NOW });
    // expect: the interrupted run is aborted, an open intent is settled from what is on disk
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/warning: run 4 was interrupted \(its process is gone\); marked aborted/);
    if (point === 'offload.after-disk-check') expect(next.stderr).not.toMatch(/reconciled/);
    else {
      expect(next.stderr).toContain(
        `reconciled an interrupted offload of 'a.jpg' (run 4): ${firstGone ? 'file was removed; marked offloaded' : 'file still on disk, nothing deleted'}`,
      );
    }
    expect(withStore(sb, (store) => store.intents.listOpen())).toEqual([]);
    expect(runList(sb)).toEqual(['index:success', 'sync:success', 'sync:success', 'offload:aborted']);
    const statuses = rowStatuses(sb);
    for (const [relative, bytes] of [
      ['a.jpg', 'alpha'],
      ['b.jpg', 'bravo'],
    ]) {
      const gone = !fs.existsSync(local(sb, relative));
      expect(statuses[relative], relative).toBe(gone ? 'offloaded' : 'present');
      if (gone) expectDurableEverywhere(sb, relative, bytes);
      else expect(fs.readFileSync(local(sb, relative), 'utf8')).toBe(bytes);
    }
    expect(fs.existsSync(local(sb, 'a.jpg'))).toBe(!firstGone);
    // Unlinks run a few at once: killed after the first, the second may be gone as well.
    if (!firstGone) expect(fs.existsSync(local(sb, 'b.jpg'))).toBe(true);
    const left = ['a.jpg', 'b.jpg'].filter((relative) => fs.existsSync(local(sb, relative))).length;
    if (left > 0) expect(next.stdout).toMatch(new RegExp(`would offload ${left} of ${left} file`));

    // act: the job can simply be run again
    const rerun = offload(sb, '.');
    // expect
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'offloaded', 'b.jpg': 'offloaded' });
    expectDurableEverywhere(sb, 'a.jpg', 'alpha');
    expectDurableEverywhere(sb, 'b.jpg', 'bravo');
  });
});

describe('scenario 20: reconciling needs the volume mounted', () => {
  it('killed after the intent, then the drive unmounted -> the intent waits, no row is guessed offloaded; settled once mounted', async () => {
    // setup: killed with an open intent for a.jpg, which is still on disk
    const sb = await seeded({ 'a.jpg': 'alpha' });
    const child = await spawnPaused(sb, ['offload', 'photos', '.'], 'offload.after-intent');
    await child.kill();
    // the drive goes away: an empty mount point is left where the volume was
    const unmounted = path.join(sb.dir, 'unmounted');
    fs.renameSync(sb.volumePath, unmounted);
    fs.mkdirSync(sb.volumePath);
    // act
    const whileUnmounted = bin(withConfig(sb, 'status', 'photos'), { nowNs: NOW });
    // expect
    expect(whileUnmounted.stderr).toMatch(/offload intent \d+ for 'a\.jpg' left open: .* has no \.squirrel-volume marker for volume 'photos' right now \(is the drive mounted\?\)/);
    expect(withStore(sb, (store) => store.intents.listOpen()).map((i) => i.path)).toEqual(['a.jpg']);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present' });

    // act: mounted again
    fs.rmdirSync(sb.volumePath);
    fs.renameSync(unmounted, sb.volumePath);
    const mounted = bin(withConfig(sb, 'status', 'photos'), { nowNs: NOW });
    // expect
    expect(mounted.stderr).toMatch(/reconciled an interrupted offload of 'a\.jpg' \(run 4\): file still on disk, nothing deleted/);
    expect(withStore(sb, (store) => store.intents.listOpen())).toEqual([]);
    expect(rowStatuses(sb)).toEqual({ 'a.jpg': 'present' });
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('alpha');
  });
});
