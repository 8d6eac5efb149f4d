// One test per bug the reliability suites found, each replaying the exact situation the
// generator hit, so the fix cannot quietly come undone.

import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, json, OffloadReport } from '../helpers.js';
import { squirrelAsNobody } from '../other-user.js';
import { formatViolations } from './invariants.js';
import { pushedWorld } from './pushed-world.js';
import { VOLUME } from './world.js';

afterEach(cleanupTempDirs);

/** This suite's seed for pushedWorld. */
const SEED = 1;

describe('regressions found by the reliability suites', () => {
  it('gate race: a verify that records a bad copy after the offload committed its intent stops the unlink', async () => {
    // setup: the offload has judged a.bin and committed its intent, and waits there
    const world = await pushedWorld({ 'a.bin': 'alpha', 'b.bin': 'bravo' }, SEED);
    const offload = world.start(['offload', VOLUME, '.', '--json'], { pauseAt: ['offload.after-intent'] });
    expect(await offload.paused()).toBe('offload.after-intent');
    // act: the nas copy of a.bin rots and a cron verify records it
    fs.writeFileSync(path.join(world.destinations.nas, VOLUME, 'a.bin'), 'alphX');
    const verify = await world.run(['verify', VOLUME, '--to', 'nas']);
    offload.resume();
    const finished = await offload.done;
    // expect: a.bin kept (drift), b.bin offloaded, nothing left open
    expect(verify.code).toBe(1);
    expect(finished.code, finished.stderr).toBe(0);
    const report = json<OffloadReport>(finished);
    expect(report.execution!.offloaded).toEqual(['b.bin']);
    expect(report.execution!.drift).toEqual([{ path: 'a.bin', reason: expect.stringMatching(/nas: lost-at-destination/) }]);
    expect(fs.readFileSync(path.join(world.root, 'a.bin'), 'utf8')).toBe('alpha');
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a copy that rots while its file is missing locally is still verified, so a later sync re-sends it before offload', async () => {
    // setup: a.bin leaves the volume for a while (index sees it missing) and its nas copy rots meanwhile
    const world = await pushedWorld({ 'a.bin': 'alpha', 'b.bin': 'bravo' }, SEED);
    const aside = path.join(world.dir, 'a.bin.aside');
    fs.renameSync(path.join(world.root, 'a.bin'), aside);
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    fs.writeFileSync(path.join(world.destinations.nas, VOLUME, 'a.bin'), 'alphX');
    // act: verify while a.bin is missing, then a.bin comes back, index, sync, offload
    const verify = await world.cli(['verify', VOLUME, '--to', 'nas']);
    fs.renameSync(aside, path.join(world.root, 'a.bin'));
    for (const args of [['index', VOLUME], ['sync', VOLUME]]) {
      const result = await world.cli(args);
      expect(result.code, result.stderr).toBe(0);
    }
    const offload = await world.cli(['offload', VOLUME, '.']);
    // expect: verify recorded the rot; sync re-sent a.bin; whatever offload removed has good copies
    expect(verify.code).toBe(1);
    expect(verify.stdout + verify.stderr).toMatch(/a\.bin/);
    expect(offload.code, offload.stderr).toBe(0);
    expect(fs.readFileSync(path.join(world.destinations.nas, VOLUME, 'a.bin'), 'utf8')).toBe('alpha');
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a database file truncated to 0 bytes is refused (exit 2), not silently replaced by an empty index', async () => {
    // setup
    const world = await pushedWorld({ 'a.bin': 'alpha' }, SEED);
    fs.truncateSync(world.dbPath, 0);
    for (const suffix of ['-wal', '-shm']) fs.rmSync(world.dbPath + suffix, { force: true });
    // act
    const index = await world.run(['index', VOLUME]);
    // expect
    expect(index.code).toBe(2);
    expect(index.stderr).toMatch(/is empty \(0 bytes\): it was truncated/);
    expect(fs.statSync(world.dbPath).size).toBe(0);
  });

  it('damage found in the middle of a command is a clear database error (exit 2), not an internal error', async () => {
    // setup: the files table's root page overwritten, the header intact
    const world = await pushedWorld({ 'a.bin': 'alpha' }, SEED);
    const db = new Database(world.dbPath);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const rootPage = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'files'").get() as { rootpage: number }).rootpage;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const fd = fs.openSync(world.dbPath, 'r+');
    fs.writeSync(fd, Buffer.alloc(200, 0x0d), 0, 200, (rootPage - 1) * pageSize + 8);
    fs.closeSync(fd);
    // act
    const offload = await world.run(['--json', 'offload', VOLUME, '.']);
    // expect
    expect(offload.code).toBe(2);
    expect(offload.stderr).toMatch(/the database .* is damaged \((database disk image is malformed|file row \d+ vanished, and file rows are never deleted)\)/);
    expect(offload.stderr).not.toMatch(/internal error/);
    expect(JSON.parse(offload.stdout).error.code).toBe('database-damaged');
    expect(fs.readFileSync(path.join(world.root, 'a.bin'), 'utf8')).toBe('alpha');
  });

  it('a read-only database file is a clear error (exit 2), not an internal error', async (ctx) => {
    // setup: the sandbox open to "nobody", the database file read-only
    if (process.getuid?.() !== 0) return ctx.skip('needs root to run squirrel as another user');
    const nobody = squirrelAsNobody();
    if ('skip' in nobody) return ctx.skip(nobody.skip);
    const world = await pushedWorld({ 'a.bin': 'alpha' }, SEED);
    spawnSync('chmod', ['-R', 'a+rwX', world.dir]);
    fs.chmodSync(world.dbPath, 0o444);
    // act
    const status = nobody.run(['--config', world.configPath, 'status']);
    // expect
    expect(status.status, status.stderr).toBe(2);
    expect(status.stderr).toMatch(/cannot write the database .*attempt to write a readonly database/);
    expect(status.stderr).not.toMatch(/internal error/);
  });

  it('index runs killed after writing the marker, twice in a row, leave a volume the next index accepts', async () => {
    // setup: a pushed volume; two index runs each killed just after writing the volume marker
    const world = await pushedWorld({ 'a.bin': 'alpha' }, SEED);
    for (let i = 0; i < 2; i++) {
      const index = world.start(['index', VOLUME], { pauseAt: ['index.before-missing'] });
      expect(await index.paused()).toBe('index.before-missing');
      expect(await index.kill()).toBe(true);
      await index.done;
    }
    // act
    const next = await world.cli(['index', VOLUME]);
    // expect: the marker is still this index's own, one generation ahead, so the run goes ahead
    expect(next.code, next.stderr).toBe(0);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a crashed run whose pid now belongs to an unrelated process does not hold the volume forever', async () => {
    // setup: a sync "running" under the pid of a live process that is not the one that began it
    const world = await pushedWorld({ 'a.bin': 'alpha' }, SEED);
    const stranger = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const db = new Database(world.dbPath);
      const runId = Number(
        db.prepare(`INSERT INTO runs (kind, volume_id, destination, status, started_at_ns, pid, process_start, host, node_id)
          SELECT 'sync', id, 'nas', 'running', 1, ?, 'another-boot:1', ?, 1 FROM volumes`).run(stranger.pid, os.hostname()).lastInsertRowid,
      );
      db.close();
      // act
      const index = await world.run(['index', VOLUME]);
      // expect
      expect(index.code, index.stderr).toBe(0);
      expect(index.stderr).toMatch(new RegExp(`run ${runId} was interrupted`));
      const check = new Database(world.dbPath, { readonly: true });
      expect(check.prepare('SELECT status FROM runs WHERE id = ?').get(runId)).toEqual({ status: 'aborted' });
      check.close();
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  it('a live squirrel run still holds its volume: its start token matches', async () => {
    // setup: a sync paused after it took the slot
    const world = await pushedWorld({ 'a.bin': 'alpha' }, SEED);
    const sync = world.start(['sync', VOLUME], { pauseAt: ['sync.after-begin'] });
    expect(await sync.paused()).toBe('sync.after-begin');
    // act
    const index = await world.run(['index', VOLUME]);
    sync.resume();
    await sync.done;
    // expect
    expect(index.code).toBe(1);
    expect(index.stderr).toMatch(/volume 'photos' is busy: sync run \d+ \(pid \d+ on /);
  });
});
