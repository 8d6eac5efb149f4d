// The invariant checker is only worth running if it notices a broken promise. Each case builds
// a healthy world with the real commands, breaks one thing the way a bug would, and expects the
// checker to name it; the healthy world itself must pass.

import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs } from '../helpers.js';
import { checkInvariants, snapshotDb } from './invariants.js';
import { VOLUME, World } from './world.js';

afterEach(cleanupTempDirs);

/** A world indexed, pushed to both destinations and offloaded under 2019/. */
async function offloadedWorld(): Promise<World> {
  const world = new World({ seed: 11, files: 0 });
  world.write('2019/a.bin', Buffer.from('alpha bytes'));
  world.write('2019/b.bin', Buffer.from('bravo bytes'));
  world.write('docs/c.bin', Buffer.from('charlie bytes'));
  for (const args of [['index', VOLUME], ['sync', VOLUME, '--init'], ['offload', VOLUME, '2019']]) {
    const result = await world.cli(args);
    expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
  }
  expect(fs.existsSync(path.join(world.root, '2019/a.bin'))).toBe(false);
  return world;
}

function tamper(world: World, sql: string, ...params: unknown[]): void {
  const db = new Database(world.dbPath);
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

const names = (world: World, options = { settled: true }) => world.check(options).map((v) => v.invariant);

describe('the invariant checker', () => {
  it('passes a healthy world after index, sync and offload', async () => {
    // setup
    const world = await offloadedWorld();
    // act
    const violations = world.check({ settled: true });
    // expect
    expect(violations).toEqual([]);
  });

  it('reads the destination, not the ledger: an offloaded file whose copy rotted is a violation', async () => {
    // setup
    const world = await offloadedWorld();
    // act
    fs.writeFileSync(path.join(world.destinations.offsite, VOLUME, '2019/a.bin'), 'rotten');
    // expect
    const violations = world.check({ settled: true });
    expect(violations.map((v) => v.invariant)).toEqual(['offloaded-durable']);
    expect(violations[0].detail).toMatch(/2019\/a\.bin .* no file at 'offsite'/);
  });

  it("counts physical copies: a destination copy that is a link to the other destination's copy is a violation", async () => {
    // setup
    const world = await offloadedWorld();
    // act: offsite's copy replaced by a hard link to nas's (one inode, two names)
    const offsiteCopy = path.join(world.destinations.offsite, VOLUME, '2019/a.bin');
    fs.rmSync(offsiteCopy);
    fs.linkSync(path.join(world.destinations.nas, VOLUME, '2019/a.bin'), offsiteCopy);
    // expect
    const violations = world.check({ settled: true });
    expect(violations.map((v) => v.invariant)).toEqual(['offloaded-durable']);
    expect(violations[0].detail).toMatch(/only the volume's own file or another destination's copy has its bytes/);
  });

  it('notices a file gone from disk without an offloaded row or an open intent', async () => {
    // setup
    const world = await offloadedWorld();
    // act: a bug deletes a file squirrel never offloaded
    fs.rmSync(path.join(world.root, 'docs/c.bin'));
    // expect
    expect(names(world)).toEqual(['nothing-lost']);
  });

  it('notices an offloaded row whose bytes differ from what was on disk', async () => {
    // setup
    const world = await offloadedWorld();
    // act: the user rewrote a file, and it vanished as if the old row had been offloaded
    world.write('docs/c.bin', Buffer.from('new charlie bytes'));
    fs.rmSync(path.join(world.root, 'docs/c.bin'));
    tamper(world, "UPDATE files SET status = 'offloaded' WHERE path = 'docs/c.bin'");
    // expect
    expect(names(world)).toContain('nothing-lost');
  });

  it('accepts a file that restore moved aside instead of clobbering it', async () => {
    // setup
    const world = await offloadedWorld();
    const moved = path.join(world.root, '.squirrel-restore-history/run-9/docs/c.bin');
    fs.mkdirSync(path.dirname(moved), { recursive: true });
    fs.renameSync(path.join(world.root, 'docs/c.bin'), moved);
    // act
    const violations = world.check({ settled: false });
    // expect
    expect(violations).toEqual([]);
  });

  it('notices a vector version without its history row, and history that moved backwards', async () => {
    // setup
    const world = await offloadedWorld();
    // act
    tamper(world, "UPDATE destination_run_ids SET version = version + 1 WHERE destination = 'nas'");
    tamper(world, "UPDATE destination_run_ids_history SET origin_run_id = 0 WHERE destination = 'offsite' AND version = 2");
    // expect
    const violations = world.check({ settled: true });
    expect(violations.map((v) => v.invariant)).toEqual(expect.arrayContaining(['vector-history']));
    expect(violations.some((v) => /nas.*version \d+ but \d+ history row/.test(v.detail))).toBe(true);
  });

  it('notices a run left running and an intent left open after the next command', async () => {
    // setup
    const world = await offloadedWorld();
    // act
    tamper(world, "UPDATE runs SET status = 'running', ended_at_ns = NULL WHERE kind = 'offload'");
    tamper(world, "INSERT INTO offload_intents (run_id, file_id, volume_id, path, state, created_at_ns) SELECT 1, id, volume_id, path, 'open', 0 FROM files WHERE path = 'docs/c.bin'");
    // expect
    expect(names(world)).toEqual(expect.arrayContaining(['runs-settled', 'intents-settled']));
    expect(names(world, { settled: false })).toEqual([]);
  });

  it('notices a change to an append-only row', async () => {
    // setup
    const world = await offloadedWorld();
    const before = snapshotDb(world.dbPath);
    // act
    tamper(world, 'UPDATE contents SET size = size + 1 WHERE id = 1');
    // expect
    expect(world.check({ before }).map((v) => v.invariant)).toContain('append-only');
  });

  it('notices a damaged database file', async () => {
    // setup
    const world = await offloadedWorld();
    const db = new Database(world.dbPath);
    db.pragma('wal_checkpoint(TRUNCATE)');
    const rootPage = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'files_by_content'").get() as { rootpage: number }).rootpage;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    // act: an index page overwritten with other bytes
    const fd = fs.openSync(world.dbPath, 'r+');
    fs.writeSync(fd, Buffer.alloc(64, 0x0d), 0, 64, (rootPage - 1) * pageSize + 8);
    fs.closeSync(fd);
    // expect
    expect(checkInvariants(world.invariantWorld()).map((v) => v.invariant)).toContain('integrity');
  });
});
