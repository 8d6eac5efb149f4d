// Things left behind (issue 19, item 7), through the real binary: a sync removes the staging
// files of runs known dead (finished or aborted) and leaves those of a running run alone; what
// restore moves aside is indexed and backed up like any file, and status says it is there.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, json, Sandbox, StatusReport, withConfig, withStore } from '../helpers.js';
import { copyAt, local, NOW, offloaded, seeded } from '../scenarios.js';

afterEach(cleanupTempDirs);

function stagingFile(sb: Sandbox, runId: number, name: string): string {
  const file = path.join(sb.destinations.nas, 'photos', '.squirrel-staging', `run-${runId}`, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, 'half a copy');
  return file;
}

describe('staging left by killed syncs', () => {
  it('is removed for runs known dead; a running run and an unknown run keep theirs', async () => {
    // setup: run 2 (the first sync) is finished; a verify run is running in a live process
    const sb = await seeded({ 'a.jpg': 'alpha' }, { seed: ['nas'] });
    const liveRunId = withStore(sb, (store, volumeId) =>
      store.runs.begin({ kind: 'verify', volumeId, destination: 'nas', nodeId: store.ensureNode('laptop'), pid: process.pid, host: os.hostname(), nowNs: NOW }, () => true),
    );
    const dead = [stagingFile(sb, 2, 'aaaa'), stagingFile(sb, 2, 'bbbb')];
    const live = stagingFile(sb, liveRunId, 'cccc');
    const unknown = stagingFile(sb, 999, 'dddd');
    fs.writeFileSync(local(sb, 'b.jpg'), 'bravo');
    expect(bin(withConfig(sb, 'index', 'photos'), { nowNs: NOW }).code).toBe(0);
    // act
    const synced = bin(withConfig(sb, '--json', 'sync', 'photos', '--to', 'nas'), { nowNs: NOW });
    // expect
    expect(synced.code, synced.stderr).toBe(0);
    expect(JSON.stringify(json(synced))).toMatch(/removed 2 leftover staging file\(s\) of interrupted run\(s\) 2/);
    for (const file of dead) expect(fs.existsSync(file), file).toBe(false);
    expect(fs.existsSync(path.dirname(dead[0]))).toBe(false);
    expect(fs.readFileSync(live, 'utf8')).toBe('half a copy');
    expect(fs.readFileSync(unknown, 'utf8')).toBe('half a copy');
    expect(fs.readFileSync(copyAt(sb, 'nas', 'b.jpg'), 'utf8')).toBe('bravo');
    // this sync's own staging folder is gone too
    const stagingRuns = fs.readdirSync(path.join(sb.destinations.nas, 'photos', '.squirrel-staging')).sort();
    expect(stagingRuns).toEqual([`run-${liveRunId}`, 'run-999'].sort());
  });
});

describe("restore's displaced files", () => {
  it('are indexed, backed up and offloaded never; status is amber until they are dealt with', async () => {
    // setup: a.jpg was offloaded, then a new a.jpg appeared; restore puts the old bytes back
    const sb = await offloaded({ 'a.jpg': 'alpha', 'b.jpg': 'bravo' }, ['a.jpg']);
    fs.writeFileSync(local(sb, 'a.jpg'), 'a newer picture');
    const restored = bin(withConfig(sb, '--json', 'restore', 'photos', 'a.jpg'), { nowNs: NOW });
    expect(restored.code, restored.stderr).toBe(0);
    const movedAside = json<{ restored: { movedAside: string }[] }>(restored).restored[0].movedAside;
    const status = () => json<StatusReport>(bin(withConfig(sb, '--json', 'status', 'photos'), { nowNs: NOW }));
    // act + expect: status says so at once, before any index
    const before = status();
    expect(before.volumes[0].displaced).toMatchObject({ notIndexedYet: true });
    expect(before.volumes[0].light).not.toBe('green');
    // act: index and sync back it up
    expect(bin(withConfig(sb, 'index', 'photos'), { nowNs: NOW }).code).toBe(0);
    for (const dest of ['nas', 'offsite']) expect(bin(withConfig(sb, 'sync', 'photos', '--to', dest), { nowNs: NOW }).code).toBe(0);
    const text = bin(withConfig(sb, 'status', 'photos'), { nowNs: NOW });
    const offload = json<{ reservedSkipped: number; totals: { offloaded: number } }>(bin(withConfig(sb, '--json', 'offload', 'photos', '.'), { nowNs: NOW }));
    // expect
    expect(fs.readFileSync(copyAt(sb, 'nas', movedAside), 'utf8')).toBe('a newer picture');
    expect(fs.readFileSync(copyAt(sb, 'offsite', movedAside), 'utf8')).toBe('a newer picture');
    expect(text.stdout).toMatch(/! 1 file\(s\) restore moved aside are in .*\.squirrel-restore-history \(backed up like any file\): look at them/);
    expect(text.stdout).toMatch(/^photos: AMBER/m);
    expect(offload.reservedSkipped).toBe(1);
    expect(fs.readFileSync(local(sb, movedAside), 'utf8')).toBe('a newer picture');
    // act: the user moves it where it belongs; status is green again after the next index
    fs.renameSync(local(sb, movedAside), local(sb, 'a-newer.jpg'));
    fs.rmSync(local(sb, '.squirrel-restore-history'), { recursive: true });
    expect(bin(withConfig(sb, 'index', 'photos'), { nowNs: NOW }).code).toBe(0);
    expect(status().volumes[0].displaced).toBeNull();
  });
});
