// Runs: the monotonic sequence, the per-volume writer slot (verify takes none), dead runs
// reaped as aborted, terminal states that never change, and `squirrel runs` listing them.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { beginRun, finishRun, isProcessAlive } from '../../src/core/runs.js';
import { VolumeBusyError } from '../../src/errors.js';
import { Store } from '../../src/store/store.js';
import { RunKind } from '../../src/store/types.js';
import { RunsReport, TEST_NOW_NS, bin, binSpawn, cleanupTempDirs, cli, json, makeSandbox, tempDir, waitForFile, withConfig } from '../helpers.js';

afterEach(cleanupTempDirs);

const HOST = os.hostname();

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): number {
  const pid = spawnSync('true').pid!;
  expect(isProcessAlive(pid)).toBe(false);
  return pid;
}

function freshStore() {
  const store = Store.open(path.join(tempDir(), 'index.db'), { create: true });
  const nodeId = store.ensureNode('laptop');
  const photos = store.ensureVolume('photos', '/data/photos').id;
  const music = store.ensureVolume('music', '/data/music').id;
  const begin = (kind: RunKind, volumeId: number | null, who: { pid?: number; host?: string } = {}) =>
    beginRun(store, { kind, volumeId, destination: null, nodeId, pid: who.pid ?? process.pid, host: who.host ?? HOST, nowNs: TEST_NOW_NS });
  return { store, photos, music, begin };
}

describe('the writer slot', () => {
  it('refuses a second writer on a volume, naming the blocking run, its kind, pid and start', () => {
    // setup
    const { store, photos, begin } = freshStore();
    const first = begin('sync', photos);
    // act
    const attempt = () => begin('index', photos);
    // expect
    expect(attempt).toThrow(VolumeBusyError);
    expect(attempt).toThrow(`volume 'photos' is busy: sync run ${first} (pid ${process.pid} on ${HOST}) has been running since 2026-06-01T00:00:00.000Z`);
    expect(store.runs.list({ limit: 10 }).map((r) => r.id)).toEqual([first]);
    store.close();
  });

  it.each(['index', 'sync', 'offload', 'restore'] as RunKind[])('%s holds the slot against every other writer', (holder) => {
    // setup
    const { store, photos, begin } = freshStore();
    begin(holder, photos);
    // act + expect
    for (const kind of ['index', 'sync', 'offload', 'restore'] as RunKind[]) expect(() => begin(kind, photos)).toThrow(VolumeBusyError);
    store.close();
  });

  it('verify takes no slot: it neither blocks nor is blocked', () => {
    // setup
    const { store, photos, begin } = freshStore();
    const verify = begin('verify', photos);
    // act
    const index = begin('index', photos);
    const verifyAgain = begin('verify', photos);
    // expect
    expect([verify, index, verifyAgain]).toEqual([1, 2, 3]);
    store.close();
  });

  it('another volume is not blocked', () => {
    // setup
    const { store, photos, music, begin } = freshStore();
    begin('index', photos);
    // act + expect
    expect(begin('index', music)).toBe(2);
    store.close();
  });

  it('a running row whose process is gone is aborted with a note instead of blocking', () => {
    // setup
    const { store, photos, begin } = freshStore();
    const crashed = begin('index', photos, { pid: deadPid() });
    // act
    const next = begin('index', photos);
    // expect
    expect(store.runs.get(crashed)).toMatchObject({ status: 'aborted', endedAtNs: TEST_NOW_NS });
    expect(store.runs.get(crashed)!.note).toMatch(/^aborted: process \d+ on .+ is no longer running$/);
    expect(store.runs.get(next)!.status).toBe('running');
    store.close();
  });

  it('a process killed but not yet reaped (a zombie) holds no slot', async () => {
    // setup: a child whose parent never waits for it stays a zombie once it ends
    const holder = spawn('bash', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number((await new Promise<Buffer>((resolve) => holder.stdout.once('data', resolve))).toString().trim());
      await new Promise((resolve) => setTimeout(resolve, 500));
      // act / expect
      expect(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/\) Z /);
      expect(isProcessAlive(pid)).toBe(false);
    } finally {
      holder.kill();
    }
  });

  it("another host's running row is never judged dead from here: it blocks", () => {
    // setup
    const { store, photos, begin } = freshStore();
    begin('sync', photos, { pid: deadPid(), host: 'nas-box' });
    // act + expect
    expect(() => begin('index', photos)).toThrow(/sync run 1 \(pid \d+ on nas-box\)/);
    expect(store.runs.reapDead(HOST, isProcessAlive, TEST_NOW_NS)).toEqual([]);
    store.close();
  });
});

describe('run lifecycle', () => {
  it('reapDead aborts only dead runs of this host', () => {
    // setup
    const { store, photos, music, begin } = freshStore();
    const alive = begin('index', photos);
    const dead = begin('index', music, { pid: deadPid() });
    const verifyDead = begin('verify', photos, { pid: deadPid() });
    // act
    const reaped = store.runs.reapDead(HOST, isProcessAlive, TEST_NOW_NS + 1n);
    // expect
    expect(reaped).toEqual([dead, verifyDead]);
    expect(store.runs.get(alive)!.status).toBe('running');
    expect(store.runs.get(dead)).toMatchObject({ status: 'aborted', endedAtNs: TEST_NOW_NS + 1n });
    store.close();
  });

  it('a terminal state never changes: a reaped run finishing late stays aborted', () => {
    // setup
    const { store, photos, begin } = freshStore();
    const done = begin('index', photos);
    finishRun(store, done, 'success', { new: 1 }, TEST_NOW_NS + 5n);
    const reaped = begin('index', photos, { pid: deadPid() });
    store.runs.reapDead(HOST, isProcessAlive, TEST_NOW_NS);
    // act
    finishRun(store, done, 'failed', {}, TEST_NOW_NS + 9n, 'late');
    finishRun(store, reaped, 'success', { new: 3 }, TEST_NOW_NS + 9n);
    // expect
    expect(store.runs.get(done)).toMatchObject({ status: 'success', endedAtNs: TEST_NOW_NS + 5n, counts: '{"new":1}', note: null });
    expect(store.runs.get(reaped)).toMatchObject({ status: 'aborted', counts: '{}' });
    store.close();
  });

  it('run ids only grow, even after the newest run row is gone', () => {
    // setup
    const { store, photos, begin } = freshStore();
    const first = begin('verify', photos);
    store.db.prepare('DELETE FROM runs WHERE id = ?').run(first);
    // act
    const second = begin('verify', photos);
    // expect
    expect(second).toBe(first + 1);
    store.close();
  });
});

describe('squirrel runs', () => {
  async function threeRuns() {
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const music = path.join(sb.dir, 'music');
    fs.mkdirSync(music);
    fs.writeFileSync(path.join(music, 'song.flac'), 'la');
    sb.writeConfig({
      volumes: {
        photos: { path: sb.volumePath, sync_to: ['nas'], offload_requires: ['nas'] },
        music: { path: music, sync_to: ['nas'] },
      },
    });
    for (const volume of ['photos', 'music', 'photos']) expect((await cli(withConfig(sb, 'index', volume))).code).toBe(0);
    return sb;
  }

  it('lists runs newest first with their counts', async () => {
    // setup
    const sb = await threeRuns();
    // act
    const text = await cli(withConfig(sb, 'runs'));
    const doc = json<RunsReport>(await cli(withConfig(sb, '--json', 'runs')));
    // expect
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^RUN +KIND +VOLUME +DEST +STATUS +STARTED +COUNTS$/);
    expect(text.stdout).toMatch(/^3 +index +photos +- +success +2026-06-01T00:00:00.000Z +new=0 changed=0 unchanged=1 /m);
    expect(doc.runs.map((r) => `${r.id}:${r.volume}:${r.status}`)).toEqual(['3:photos:success', '2:music:success', '1:photos:success']);
    expect(doc.runs[2].counts).toMatchObject({ new: 1, errors: 0 });
    expect(doc.runs[0].pid).toBe(process.pid);
  });

  it('--volume, --limit and --since narrow the list', async () => {
    // setup
    const sb = await threeRuns();
    // act
    const ids = async (...flags: string[]) => json<RunsReport>(await cli(withConfig(sb, '--json', 'runs', ...flags))).runs.map((r) => r.id);
    // expect
    expect(await ids('--volume', 'photos')).toEqual([3, 1]);
    expect(await ids('--limit', '1')).toEqual([3]);
    expect(await ids('--since', '1')).toEqual([3, 2]);
    expect(await ids('--since', '3')).toEqual([]);
  });

  it('rejects bad flag values with exit 2', async () => {
    // setup
    const sb = await threeRuns();
    // act + expect
    expect((await cli(withConfig(sb, 'runs', '--limit', '0'))).code).toBe(2);
    expect((await cli(withConfig(sb, 'runs', '--since', 'yesterday'))).code).toBe(2);
    expect((await cli(withConfig(sb, 'runs', '--volume', 'nope'))).code).toBe(2);
  });

  it('shows a SIGKILLed run as aborted, with the audit note, at the next command', async () => {
    // setup
    const sb = makeSandbox({ 'a.txt': 'alpha' });
    const pauseFile = path.join(sb.dir, 'pause');
    const victim = binSpawn(withConfig(sb, 'index', 'photos'), { env: { SQUIRREL_TEST_PAUSE_AT: 'index.after-begin', SQUIRREL_TEST_PAUSE_FILE: pauseFile } });
    const exited = new Promise((resolve) => victim.on('exit', resolve));
    const pid = Number((await waitForFile(pauseFile)).split(' ')[0]);
    victim.kill('SIGKILL');
    await exited;
    // act
    const result = await cli(withConfig(sb, '--json', 'runs'));
    // expect
    expect(result.stderr).toContain('run 1 was interrupted (its process is gone); marked aborted');
    const [run] = json<RunsReport>(result).runs;
    expect(run).toMatchObject({ id: 1, kind: 'index', status: 'aborted', pid });
    expect(run.note).toBe(`aborted: process ${pid} on ${HOST} is no longer running`);
  });

  it('every kind of run ends after it starts when the clock moves: the real binary, the real clock', async () => {
    // setup: one destination; each command pauses mid-run (test hook) so the clock surely moves
    const sb = makeSandbox({ 'a.txt': 'alpha', 'b/c.txt': 'gamma' }, { destinations: ['nas'] });
    const pauseFile = path.join(sb.dir, 'pause');
    const run = async (point: string, ...args: string[]) => {
      const child = binSpawn(withConfig(sb, ...args), { env: { SQUIRREL_TEST_PAUSE_AT: point, SQUIRREL_TEST_PAUSE_FILE: pauseFile, SQUIRREL_TEST_NOW_NS: '' } });
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      await waitForFile(pauseFile);
      await new Promise((resolve) => setTimeout(resolve, 20));
      fs.rmSync(pauseFile);
      expect({ args, code: await exited, stderr }).toMatchObject({ code: 0 });
    };

    // act
    await run('index.after-begin', 'index', 'photos');
    await run('sync.after-begin', 'sync', 'photos', '--init');
    await run('verify.before-read', 'verify', 'photos');
    await run('offload.after-intent', 'offload', 'photos', '.');
    await run('restore.before-place', 'restore', 'photos', '.');
    const result = bin(withConfig(sb, '--json', 'runs'));

    // expect
    const runs = json<RunsReport>(result).runs;
    expect(runs.map((r) => `${r.kind}:${r.status}`)).toEqual(['restore:success', 'offload:success', 'verify:success', 'sync:success', 'index:success']);
    expect(runs.filter((r) => r.endedAtNs === null || BigInt(r.endedAtNs) <= BigInt(r.startedAtNs)).map((r) => r.kind)).toEqual([]);
  });
});
