// Stuck states a user could not clear (issue 19, item 6), through the real binary: a file
// replaced by a folder of the same name (or the reverse) no longer makes every later sync fail;
// what stood in the way at the destination is moved into history, never deleted. And an
// offloaded file whose path now holds a new file can still be restored, beside it, with --to.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, json, makeSandbox, RestoreReport, Sandbox, StatusReport, withConfig } from '../helpers.js';
import { copyAt, local, NOW, offloaded, setup } from '../scenarios.js';

afterEach(cleanupTempDirs);

function run(sb: Sandbox, ...args: string[]) {
  return bin(withConfig(sb, '--no-progress', ...args), { nowNs: NOW });
}

function historyOf(sb: Sandbox, dest: string, runId: number, relative: string): string {
  const history = path.join(sb.destinations[dest], 'photos', '.squirrel-history');
  const folder = fs.readdirSync(history).find((name) => name.startsWith(`run-${runId}-`));
  return path.join(history, folder ?? `run-${runId}-?`, relative);
}

async function syncedTwice(sb: Sandbox): Promise<void> {
  await setup(sb, ['index', 'photos']);
  for (const dest of ['nas', 'offsite']) await setup(sb, ['sync', 'photos', '--to', dest, '--init']);
}

describe('sync moves aside what stands where a file or folder must go', () => {
  it.each([
    ['a file replaced by a folder of the same name', { trip: 'a file' }, 'trip/day1.jpg', 'trip', 'a file'],
    ['a folder replaced by a file of the same name', { 'trip/day1.jpg': 'in a folder' }, 'trip', 'trip/day1.jpg', 'in a folder'],
  ])('%s: the sync succeeds, the evidence advances, the old bytes are in history', async (_what, tree, newPath, movedPath, movedBytes) => {
    // setup
    const sb = makeSandbox(tree);
    await syncedTwice(sb);
    fs.rmSync(local(sb, 'trip'), { recursive: true });
    fs.mkdirSync(path.dirname(local(sb, newPath)), { recursive: true });
    fs.writeFileSync(local(sb, newPath), 'the new one');
    expect(run(sb, 'index', 'photos').code).toBe(0);
    // act
    const synced = run(sb, '--json', 'sync', 'photos', '--to', 'nas');
    const again = run(sb, 'sync', 'photos', '--to', 'nas');
    // expect
    expect(synced.code, synced.stdout + synced.stderr).toBe(0);
    expect(synced.stderr).toMatch(/stood in its way at 'nas'; moved into this run's history there/);
    const runId = json<{ results: { runId: number }[] }>(synced).results[0].runId;
    expect(fs.readFileSync(copyAt(sb, 'nas', newPath), 'utf8')).toBe('the new one');
    expect(fs.readFileSync(historyOf(sb, 'nas', runId, movedPath), 'utf8')).toBe(movedBytes);
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toMatch(/success sent=0/);
    const status = json<StatusReport>(run(sb, '--json', 'status', 'photos'));
    const nas = status.volumes[0].targets.find((t) => t.destination === 'nas')!;
    expect(nas.alarms).toEqual([]);
    expect(nas.components[0].behind).toBe(false);
  });
});

describe('restore of an offloaded file whose path now holds a new file', () => {
  it('plain restore says how; restore --to DIR brings the offloaded bytes back beside it', async () => {
    // setup: a.jpg offloaded, then a new a.jpg indexed (the offloaded row is superseded)
    const sb = await offloaded({ 'a.jpg': 'the original', 'b.jpg': 'bravo' }, ['a.jpg']);
    fs.writeFileSync(local(sb, 'a.jpg'), 'a new picture');
    expect(run(sb, 'index', 'photos').code).toBe(0);
    for (const dest of ['nas', 'offsite']) expect(run(sb, 'sync', 'photos', '--to', dest).code).toBe(0);
    const target = path.join(sb.dir, 'recovered');
    // act
    const plain = run(sb, 'restore', 'photos', 'a.jpg');
    const dryRun = run(sb, 'restore', 'photos', 'a.jpg', '--to', target, '--dry-run');
    const restored = run(sb, '--json', 'restore', 'photos', 'a.jpg', '--to', target);
    // expect
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/a\.jpg: the offloaded version was replaced by a new file \(indexed in run \d+\); bring it back beside it: squirrel restore photos a\.jpg --to DIR/);
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('a new picture');
    expect(dryRun.stdout).toMatch(/would restore a\.jpg \(the offloaded version\) from nas/);
    expect(restored.code, restored.stderr).toBe(0);
    expect(json<RestoreReport>(restored).restored).toMatchObject([{ path: 'a.jpg', from: 'nas' }]);
    expect(fs.readFileSync(path.join(target, 'a.jpg'), 'utf8')).toBe('the original');
    expect(fs.readFileSync(local(sb, 'a.jpg'), 'utf8')).toBe('a new picture');
  });
});
