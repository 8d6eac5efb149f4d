// Errors a user can cause (issue 19, item 5), through the real binary: each is one clear
// message with the right exit code, errno names are said in words, and no run is left
// `running` for the next command to reap.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, runList, Sandbox, withConfig, withStore } from '../helpers.js';
import { bindMount, mountSupport, unmountAll } from '../mounts.js';
import { NOW, offloaded, seeded } from '../scenarios.js';

afterEach(() => {
  unmountAll();
  cleanupTempDirs();
});

function squirrel(sb: Sandbox, ...args: string[]) {
  return bin(withConfig(sb, '--no-progress', ...args), { nowNs: NOW });
}

/** No run of the sandbox is left `running`, and nothing had to be reaped. */
function expectNoRunLeftOpen(sb: Sandbox): void {
  expect(runList(sb).filter((r) => r.endsWith(':running') || r.endsWith(':aborted'))).toEqual([]);
}

describe('a command that stops on an error', () => {
  it('ends the runs it began as failed at once (the store closes what its connection began)', async () => {
    // setup: a run begun, as a command would, and the command then failing
    const sb = await seeded({ 'a.jpg': 'alpha' }, { seed: [] });
    const runId = withStore(sb, (store, volumeId) => {
      const id = store.runs.begin({ kind: 'sync', volumeId, destination: 'nas', nodeId: store.ensureNode('laptop'), pid: process.pid, host: 'here', nowNs: NOW }, () => true);
      // act
      expect(store.runs.failUnfinished(NOW, 'failed: boom')).toEqual([id]);
      expect(store.runs.failUnfinished(NOW, 'failed: again')).toEqual([]);
      return id;
    });
    // expect
    expect(withStore(sb, (store) => store.runs.get(runId))).toMatchObject({ status: 'failed', note: 'failed: boom' });
  });
});

describe('restore --to a place that cannot take files', () => {
  it.each([
    ['an existing file', (dir: string) => fs.writeFileSync(dir, 'not a folder'), 2, /--to .* is a file, not a folder/],
    ['a dangling symbolic link', (dir: string) => fs.symlinkSync(path.join(path.dirname(dir), 'nowhere'), dir), 2, /is a symbolic link to .*nowhere, which does not exist/],
  ])('%s: a usage error, no run begun', async (_what, make, code, message) => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha' }, ['a.jpg']);
    const target = path.join(sb.dir, 'target');
    make(target);
    const runsBefore = runList(sb);
    // act
    const result = squirrel(sb, 'restore', 'photos', 'a.jpg', '--to', target);
    // expect
    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/internal error/);
    expect(runList(sb)).toEqual(runsBefore);
  });

  it('/proc/self: a clear error at once, no spinning, no run left running', async () => {
    // setup
    const sb = await offloaded({ 'a.jpg': 'alpha' }, ['a.jpg']);
    // act
    const started = performance.now();
    const result = squirrel(sb, 'restore', 'photos', 'a.jpg', '--to', '/proc/self');
    // expect
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot restore into \/proc\/self: .*\((EPERM|EACCES|ENOENT)\)|failed a\.jpg/);
    expect(result.stderr + result.stdout).not.toMatch(/internal error/);
    expectNoRunLeftOpen(sb);
  });
});

describe('errno names are said in words', () => {
  it('a config or database path that is a folder', async () => {
    // setup
    const sb = await seeded({ 'a.jpg': 'alpha' }, { seed: [] });
    // act
    const config = bin(['--config', sb.dir, 'config', 'check']);
    const database = squirrel(sb, '--db', sb.dir, 'status');
    // expect
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/cannot read .*: it is a folder, not a file \(EISDIR\)/);
    expect(database.code).toBe(2);
    expect(database.stderr).toMatch(/cannot read the database .*: it is a folder, not a file \(EISDIR\)/);
  });

  it.skipIf(mountSupport().bind !== null)('a read-only destination says read-only (EROFS), not ENOENT', async () => {
    // setup: the offsite destination is a mount, marked and synced while writable; then a copy
    // is gone and it is remounted read-only
    const sb = await seeded({ 'a.jpg': 'alpha' }, { seed: ['nas'] });
    const backing = path.join(sb.dir, 'backing');
    fs.mkdirSync(backing);
    bindMount(backing, sb.destinations.offsite);
    expect(squirrel(sb, 'sync', 'photos', '--to', 'offsite', '--init').code).toBe(0);
    fs.rmSync(path.join(backing, 'photos', 'a.jpg'));
    expect(spawnSync('mount', ['-o', 'remount,ro,bind', sb.destinations.offsite]).status).toBe(0);
    // act
    const result = squirrel(sb, 'sync', 'photos', '--to', 'offsite');
    // expect
    expect(result.code).toBe(1);
    expect(result.stdout + result.stderr).toMatch(/the file system is read-only \(EROFS\)/);
    expect(result.stdout + result.stderr).not.toMatch(/ENOENT/);
    expectNoRunLeftOpen(sb);
  });
});
