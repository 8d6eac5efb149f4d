// Hostile storage: a database truncated, emptied, overwritten or damaged in the middle, a
// read-only database (file and mount), a destination that fills up (a real tmpfs when this
// machine lets us mount one, the fault-injecting wrapper always), and destinations that lie:
// acknowledge writes they never made, answer from a stale listing, or return different bytes
// on a later read. Every case: a clear error or a refusal, nothing deleted, invariants intact.

import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.js';
import type { VolumeConfig } from '../../src/config/types.js';
import { pushVolume } from '../../src/core/push.js';
import { noHooks, silentReporter } from '../../src/core/reporter.js';
import { restoreFiles } from '../../src/core/restore.js';
import { verifyVolume } from '../../src/core/verify.js';
import type { Destination } from '../../src/destinations/destination.js';
import { Fault, FaultyDestination } from '../../src/destinations/faulty.js';
import { LocalDestination } from '../../src/destinations/local/local.js';
import { Store } from '../../src/store/store.js';
import { cleanupTempDirs, json, OffloadReport, TEST_NOW_NS } from '../helpers.js';
import { squirrelAsNobody } from '../other-user.js';
import { formatViolations } from './invariants.js';
import { pushedWorld } from './pushed-world.js';
import { TARGETS, VOLUME, World } from './world.js';

const mounts: string[] = [];

afterEach(() => {
  for (const dir of mounts.splice(0).reverse()) spawnSync('umount', ['-l', dir]);
  cleanupTempDirs();
});

/** Mount a filesystem for the test; null (with the reason) when this machine does not allow it. */
function mount(args: string[], target: string): string | null {
  const result = spawnSync('mount', [...args, target], { encoding: 'utf8' });
  if (result.error) return `mount is not available: ${result.error.message}`;
  if (result.status !== 0) return `cannot mount here: ${result.stderr.trim()}`;
  mounts.push(target);
  return null;
}

/** This suite's seed for pushedWorld. */
const SEED = 4;

function checkpoint(dbPath: string): void {
  const db = new Database(dbPath);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** The volume's files with their bytes (reserved names left out). */
function volumeFiles(world: World): Record<string, string> {
  return Object.fromEntries(world.onDisk().map((p) => [p, fs.readFileSync(path.join(world.root, p), 'hex')]));
}

function expectNoCrash(result: { stdout: string; stderr: string }): void {
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/internal error|^\s+at .+:\d+:\d+\)?$/m);
}

describe('a damaged database', () => {
  it.each([
    ['truncated mid-file', (db: string) => fs.truncateSync(db, Math.floor(fs.statSync(db).size / 2)), /database/],
    ['truncated to nothing', (db: string) => fs.truncateSync(db, 0), /is empty \(0 bytes\)/],
    ['overwritten with garbage', (db: string) => fs.writeFileSync(db, Buffer.alloc(fs.statSync(db).size, 0x5a)), /not a squirrel database/],
    [
      'damaged inside the files table (valid header)',
      (db: string) => {
        const handle = new Database(db, { readonly: true });
        const rootPage = (handle.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'files'").get() as { rootpage: number }).rootpage;
        const pageSize = handle.pragma('page_size', { simple: true }) as number;
        handle.close();
        const fd = fs.openSync(db, 'r+');
        fs.writeSync(fd, Buffer.alloc(200, 0x0d), 0, 200, (rootPage - 1) * pageSize + 8);
        fs.closeSync(fd);
      },
      /is damaged \((database disk image is malformed|file row \d+ vanished, and file rows are never deleted|quick_check: .*)\)/,
    ],
  ])('%s: a clear error, exit 2, nothing deleted, for every command', async (_name, damage, message) => {
    // setup
    const world = await pushedWorld({ 'a.bin': 'alpha', 'sub/b.bin': 'bravo' }, SEED);
    checkpoint(world.dbPath);
    for (const suffix of ['-wal', '-shm']) fs.rmSync(world.dbPath + suffix, { force: true });
    damage(world.dbPath);
    const files = volumeFiles(world);
    // act
    const results = [];
    for (const args of [['offload', VOLUME, '.'], ['restore', VOLUME, '.'], ['index', VOLUME], ['status'], ['--json', 'sync', VOLUME]]) results.push(await world.run(args));
    // expect
    for (const result of results) {
      expect(result.code, `${result.args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(message);
      expectNoCrash(result);
    }
    expect(JSON.parse(results[4].stdout).error.code).toMatch(/^database/);
    expect(volumeFiles(world)).toEqual(files);
  });

  it('read-only database file (an ordinary user): a clear error, exit 2, nothing deleted', async (ctx) => {
    // setup: everything readable and writable by "nobody" except the database file
    if (process.getuid?.() !== 0) return ctx.skip('needs root to run squirrel as another user');
    const nobody = squirrelAsNobody();
    if ('skip' in nobody) return ctx.skip(nobody.skip);
    const world = await pushedWorld({ 'a.bin': 'alpha' }, SEED);
    for (let dir = world.dir; dir !== path.dirname(dir); dir = path.dirname(dir)) {
      if (dir.startsWith(os.tmpdir()) && dir !== os.tmpdir()) fs.chmodSync(dir, 0o777);
    }
    spawnSync('chmod', ['-R', 'a+rwX', world.dir]);
    fs.chmodSync(world.dbPath, 0o444);
    const files = volumeFiles(world);
    // act
    const results = ['offload', 'status'].map((command) => nobody.run(['--config', world.configPath, command, ...(command === 'offload' ? [VOLUME, '.'] : [])]));
    // expect
    for (const result of results) {
      expect(result.status, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/cannot write the database .*(readonly|read-only)/);
      expectNoCrash(result);
    }
    expect(volumeFiles(world)).toEqual(files);
  });

  it('database on a read-only mount: a clear error, exit 2, nothing deleted', async (ctx) => {
    // setup
    const world = await pushedWorld({ 'a.bin': 'alpha' }, SEED);
    const dbDir = path.join(world.dir, 'db');
    fs.mkdirSync(dbDir);
    checkpoint(world.dbPath);
    fs.renameSync(world.dbPath, path.join(dbDir, 'index.db'));
    for (const suffix of ['-wal', '-shm']) fs.rmSync(world.dbPath + suffix, { force: true });
    const config = fs.readFileSync(world.configPath, 'utf8').replace(world.dbPath, path.join(dbDir, 'index.db'));
    fs.writeFileSync(world.configPath, config);
    const why = mount(['--bind', dbDir], dbDir) ?? mount(['-o', 'remount,bind,ro'], dbDir);
    if (why) return ctx.skip(why);
    const files = volumeFiles(world);
    // act
    const offload = await world.run(['offload', VOLUME, '.']);
    const status = await world.run(['status']);
    // expect
    for (const result of [offload, status]) {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/cannot write the database/);
      expectNoCrash(result);
    }
    expect(volumeFiles(world)).toEqual(files);
  });
});

describe('a destination that fills up', () => {
  it('a real tmpfs that runs out of space: sync fails clearly, the evidence stays put, offload refuses, nothing deleted', async (ctx) => {
    // setup: ~600 KiB of files, a 256 KiB nas
    const world = new World({ seed: 5, files: 0 });
    for (let i = 0; i < 6; i++) world.write(`big/f${i}.bin`, Buffer.alloc(100 * 1024, i + 1));
    fs.mkdirSync(world.destinations.nas, { recursive: true });
    const why = mount(['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs'], world.destinations.nas);
    if (why) return ctx.skip(why);
    // act
    const index = await world.cli(['index', VOLUME]);
    const sync = await world.cli(['--json', 'sync', VOLUME, '--init']);
    const offload = await world.cli(['--json', 'offload', VOLUME, '.']);
    // expect
    expect(index.code).toBe(0);
    expect(sync.code).toBe(1);
    const results = JSON.parse(sync.stdout).results as { destination: string; status: string }[];
    const nas = results.find((r) => r.destination === 'nas')!;
    expect(nas.status).not.toBe('success');
    expect(JSON.stringify(nas)).toMatch(/ENOSPC|no space/i);
    expect(results.find((r) => r.destination === 'offsite')!.status).toBe('success');
    const report = json<OffloadReport>(offload);
    expect(report.execution!.offloaded).toEqual([]);
    expect(report.refusals.map((r) => `${r.target}:${r.reason}`)).toEqual(['nas:no-evidence']);
    expect(world.onDisk()).toHaveLength(6);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a volume that fills up during restore: no partial file placed, the row stays offloaded, a later restore succeeds', async (ctx) => {
    // setup: a 512 KiB tmpfs volume, its files offloaded, then the disk filled up by other data
    const world = new World({ seed: 6, files: 0 });
    const why = mount(['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs'], world.root);
    if (why) return ctx.skip(why);
    for (let i = 0; i < 3; i++) world.write(`f${i}.bin`, Buffer.alloc(64 * 1024, i + 1));
    for (const args of [['index', VOLUME], ['sync', VOLUME, '--init'], ['offload', VOLUME, '.']]) expect((await world.cli(args)).code).toBe(0);
    const filler = path.join(world.root, 'filler.bin');
    fillDisk(filler);
    // act
    const full = await world.cli(['restore', VOLUME, '.']);
    fs.rmSync(filler);
    const later = await world.cli(['restore', VOLUME, '.']);
    // expect
    expect(full.code).toBe(1);
    expect(full.stdout).toMatch(/ENOSPC|no space/i);
    expect(fs.readdirSync(world.root).filter((n) => n.startsWith('.squirrel-restore-'))).toEqual([]);
    expect(later.code, later.stdout).toBe(0);
    expect(world.onDisk()).toHaveLength(3);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('fault-injected: a destination whose writes start failing midway leaves its evidence unchanged and offload refuses', async () => {
    // setup
    const world = new World({ seed: 7, files: 6 });
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    // act
    const outcome = await withStore(world, async (store, volume, identity) => {
      const nas = new FaultyDestination(new LocalDestination('nas', world.destinations.nas), [{ kind: 'fail', method: 'put', nth: 3 }, { kind: 'fail', method: 'put', nth: 4 }]);
      const pushed = await push(store, volume, identity, nas, true);
      const offsite = await push(store, volume, identity, new LocalDestination('offsite', world.destinations.offsite), true);
      return { pushed, offsite };
    });
    const offload = await world.cli(['--json', 'offload', VOLUME, '.']);
    // expect
    expect(outcome.pushed.status).toBe('partial');
    expect(outcome.pushed.vector).toEqual([]);
    expect(outcome.offsite.status).toBe('success');
    const report = json<OffloadReport>(offload);
    expect(report.execution!.offloaded).toEqual([]);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });
});

describe('a destination that lies', () => {
  it('acknowledges writes it never made: the read-back catches it, no evidence, offload refuses', async () => {
    // setup
    const world = new World({ seed: 8, files: 5 });
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    // act
    const pushed = await withStore(world, async (store, volume, identity) => {
      await push(store, volume, identity, new LocalDestination('offsite', world.destinations.offsite), true);
      return push(store, volume, identity, faulty(world, 'nas', [{ kind: 'lose' }]), true);
    });
    const offload = await world.cli(['--json', 'offload', VOLUME, '.']);
    // expect
    expect(pushed.status).toBe('failed');
    expect(pushed.failures[0].reason).toMatch(/not found .* right after it was written/);
    expect(json<OffloadReport>(offload).execution!.offloaded).toEqual([]);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('answers list() from a stale snapshot: verify still finds a copy gone, offload refuses that file, and the next sync re-sends it though the listing still shows it', async () => {
    // setup
    const world = new World({ seed: 9, files: 0 });
    world.write('a.bin', Buffer.from('alpha'));
    world.write('b.bin', Buffer.from('bravo'));
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    // act
    const verified = await withStore(world, async (store, volume, identity) => {
      const nas = faulty(world, 'nas', []);
      await push(store, volume, identity, nas, true);
      await push(store, volume, identity, new LocalDestination('offsite', world.destinations.offsite), true);
      // stale from here on: a push lists its staging folder, which would take the snapshot early
      nas.inject({ kind: 'stale-list' });
      const listed = async () => {
        const paths: string[] = [];
        for await (const file of nas.list(VOLUME)) paths.push(file.path);
        return paths.sort();
      };
      await listed();
      fs.rmSync(path.join(world.destinations.nas, VOLUME, 'a.bin'));
      const afterRemoval = await listed();
      return { nas, afterRemoval, verify: await verifyVolume(store, { volume, destination: nas, node: 'laptop', samplePercent: null, maxDurationMs: null, clock: fixedClock(TEST_NOW_NS), nowNs: TEST_NOW_NS, identity, reporter: silentReporter, hooks: noHooks }) };
    });
    const offload = await world.cli(['--json', 'offload', VOLUME, '.']);
    // sync judges by the listing, which still shows a.bin: the ledger's finding sends it anyway
    const resynced = await withStore(world, (store, volume, identity) => push(store, volume, identity, verified.nas, false));
    // expect
    expect(resynced.sentFiles).toBe(1);
    expect(fs.readFileSync(path.join(world.destinations.nas, VOLUME, 'a.bin'), 'utf8')).toBe('alpha');
    expect(verified.afterRemoval).toContain(`${VOLUME}/a.bin`);
    expect(verified.verify.problems.map((p) => `${p.state} ${p.path}`)).toEqual([`missing ${VOLUME}/a.bin`]);
    const report = json<OffloadReport>(offload);
    expect(report.execution!.offloaded).toEqual(['b.bin']);
    expect(fs.readFileSync(path.join(world.root, 'a.bin'), 'utf8')).toBe('alpha');
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('returns different bytes on a later read: a push never records it, a verify records the copy corrupt, offload refuses', async () => {
    // setup
    const world = new World({ seed: 10, files: 4 });
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    // act
    const outcome = await withStore(world, async (store, volume, identity) => {
      // a push whose own read-back already differs records nothing (a path the listing shows
      // free is put without a look first, so the first read, the true one, is spent here)
      const unstableNas = faulty(world, 'nas', [{ kind: 'reread-differs' }]);
      for (const relativePath of world.onDisk()) await unstableNas.hash(`${VOLUME}/${relativePath}`).catch(() => null);
      const unstable = await push(store, volume, identity, unstableNas, true);
      const honest = await push(store, volume, identity, new LocalDestination('nas', world.destinations.nas), false);
      await push(store, volume, identity, new LocalDestination('offsite', world.destinations.offsite), true);
      // a copy that read back fine once, then differs: verify's read is the later one
      const nas = faulty(world, 'nas', [{ kind: 'reread-differs' }]);
      for (const copy of store.evidence.copies(store.volume(VOLUME)!.id, 'nas')) await nas.hash(copy.path);
      const verify = await verifyVolume(store, { volume, destination: nas, node: 'laptop', samplePercent: null, maxDurationMs: null, clock: fixedClock(TEST_NOW_NS), nowNs: TEST_NOW_NS, identity, reporter: silentReporter, hooks: noHooks });
      return { unstable, honest, verify };
    });
    const offload = await world.cli(['--json', 'offload', VOLUME, '.']);
    // expect
    expect(outcome.unstable.status).toBe('failed');
    expect(outcome.unstable.vector).toEqual([]);
    expect(outcome.honest.status).toBe('success');
    expect(outcome.verify.problems.length).toBeGreaterThan(0);
    expect(outcome.verify.problems.every((p) => p.state === 'corrupt')).toBe(true);
    const report = json<OffloadReport>(offload);
    expect(report.execution!.offloaded).toEqual([]);
    expect(report.refusals.map((r) => `${r.target}:${r.reason}`)).toEqual(['nas:lost-at-destination']);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('restore never places bytes that do not hash to the index: a rotten or unstable copy is skipped for another destination', async () => {
    // setup: files offloaded with honest destinations
    const world = new World({ seed: 12, files: 0 });
    world.write('a.bin', Buffer.from('alpha'));
    world.write('b.bin', Buffer.from('bravo'));
    for (const args of [['index', VOLUME], ['sync', VOLUME, '--init'], ['offload', VOLUME, '.']]) expect((await world.cli(args)).code).toBe(0);
    // act: nas rots a.bin and gives unstable bytes for b.bin (true once, then different)
    const result = await withStore(world, async (store, volume, identity) => {
      const nas = faulty(world, 'nas', [{ kind: 'corrupt', path: `${VOLUME}/a.bin` }, { kind: 'reread-differs', path: `${VOLUME}/b.bin` }]);
      await nas.hash(`${VOLUME}/b.bin`);
      const onlyNas = await restoreFiles(store, { volume, matches: () => true, sources: [nas], node: 'laptop', toDir: null, dryRun: false, clock: fixedClock(TEST_NOW_NS), nowNs: TEST_NOW_NS, identity, reporter: silentReporter, hooks: noHooks });
      const placedAfterNas = world.onDisk();
      const withOffsite = await restoreFiles(store, { volume, matches: () => true, sources: [nas, new LocalDestination('offsite', world.destinations.offsite)], node: 'laptop', toDir: null, dryRun: false, clock: fixedClock(TEST_NOW_NS), nowNs: TEST_NOW_NS, identity, reporter: silentReporter, hooks: noHooks });
      return { onlyNas, placedAfterNas, withOffsite };
    });
    // expect
    expect(result.onlyNas.restored).toEqual([]);
    expect(result.onlyNas.failures.map((f) => f.reason).join('\n')).toMatch(/do not match the index/);
    expect(result.placedAfterNas).toEqual([]);
    expect(result.withOffsite.restored.map((r) => `${r.path}<-${r.from}`).sort()).toEqual(['a.bin<-offsite', 'b.bin<-offsite']);
    expect(fs.readFileSync(path.join(world.root, 'a.bin'), 'utf8')).toBe('alpha');
    expect(fs.readFileSync(path.join(world.root, 'b.bin'), 'utf8')).toBe('bravo');
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });
});

type Identity = { nodeId: number; pid: number; host: string };

async function withStore<T>(world: World, fn: (store: Store, volume: VolumeConfig, identity: Identity) => Promise<T>): Promise<T> {
  const store = Store.open(world.dbPath);
  try {
    const volume: VolumeConfig = { name: VOLUME, path: world.root, syncTo: TARGETS, offloadRequires: TARGETS, offloadMaxEvidenceAgeMs: null, namespaces: new Map(TARGETS.map((t) => [t, VOLUME])), exclude: [] };
    return await fn(store, volume, { nodeId: store.ensureNode('laptop'), pid: process.pid, host: os.hostname() });
  } finally {
    store.close();
  }
}

function push(store: Store, volume: VolumeConfig, identity: Identity, destination: Destination, init: boolean) {
  return pushVolume(store, { volume, destination, node: 'laptop', init, dryRun: false, clock: fixedClock(TEST_NOW_NS), nowNs: TEST_NOW_NS, identity, reporter: silentReporter, hooks: noHooks });
}

function faulty(world: World, name: string, faults: Fault[]): FaultyDestination {
  return new FaultyDestination(new LocalDestination(name, world.destinations[name]), faults);
}

/** Write zeros until the filesystem refuses (leaving almost nothing free). */
function fillDisk(file: string): void {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    fs.closeSync(fd);
  }
}
