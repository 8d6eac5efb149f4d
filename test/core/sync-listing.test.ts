// A sync with nothing to send compares the ledger with one listing of the namespace instead of
// asking the destination about every recorded copy (SPEC §10). The listing only ever spares a
// request: a copy it does not show, or shows with another size, is re-checked and re-sent; a
// listing that fails or comes out of order falls back to a stat per recorded copy.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/clock.js';
import type { VolumeConfig } from '../../src/config/types.js';
import { pushVolume } from '../../src/core/push.js';
import { noHooks, silentReporter } from '../../src/core/reporter.js';
import type { ListedFile, PutHint, SourceExpectation } from '../../src/destinations/destination.js';
import { compareByCodePoint } from '../../src/paths.js';
import { Fault, FaultyDestination } from '../../src/destinations/faulty.js';
import { LocalDestination } from '../../src/destinations/local/local.js';
import { Store } from '../../src/store/store.js';
import { cleanupTempDirs, TEST_NOW_NS } from '../helpers.js';
import { formatViolations } from '../reliability/invariants.js';
import { TARGETS, VOLUME, World } from '../reliability/world.js';

afterEach(() => cleanupTempDirs());

/** Counts what is asked about the volume's copies (the marker probes of the namespace check aside), and which puts were told the path is clear. */
class Recording extends FaultyDestination {
  readonly statted: string[] = [];
  readonly clearPuts: string[] = [];

  override stat(relativePath: string) {
    if (relativePath.startsWith(`${VOLUME}/`)) this.statted.push(relativePath);
    return super.stat(relativePath);
  }

  override put(relativePath: string, localFile: string, stagingPath: string, expected?: SourceExpectation, hint?: PutHint) {
    if (hint?.listedClear === true) this.clearPuts.push(relativePath);
    return super.put(relativePath, localFile, stagingPath, expected, hint);
  }
}

/** A listing sorted within pages of two but not across them, as some S3-compatible services list: the pages come last first. */
class PagedOutOfOrder extends Recording {
  override list(prefix: string): AsyncIterable<ListedFile> {
    const inner = super.list(prefix);
    return (async function* () {
      const all: ListedFile[] = [];
      for await (const file of inner) all.push(file);
      const pages: ListedFile[][] = [];
      for (let i = 0; i < all.length; i += 2) pages.push(all.slice(i, i + 2));
      for (const page of pages.reverse()) yield* page;
    })();
  }
}

/** A destination whose listing comes in reverse order, as no listing should (but one might). */
class ReversedListing extends Recording {
  override list(prefix: string): AsyncIterable<ListedFile> {
    const inner = super.list(prefix);
    return (async function* () {
      const all: ListedFile[] = [];
      for await (const file of inner) all.push(file);
      yield* all.reverse();
    })();
  }
}

function nas(world: World, faults: Fault[] = []): Recording {
  return new Recording(new LocalDestination('nas', world.destinations.nas), faults);
}

async function sync(world: World, destination: FaultyDestination, init = false) {
  const store = Store.open(world.dbPath);
  try {
    const volume: VolumeConfig = { name: VOLUME, path: world.root, syncTo: TARGETS, offloadRequires: TARGETS, offloadMaxEvidenceAgeMs: null, namespaces: new Map(TARGETS.map((t) => [t, VOLUME])), exclude: [] };
    const identity = { nodeId: store.ensureNode('laptop'), pid: process.pid, host: os.hostname() };
    return await pushVolume(store, { volume, destination, node: 'laptop', init, dryRun: false, clock: fixedClock(TEST_NOW_NS), nowNs: TEST_NOW_NS, identity, reporter: silentReporter, hooks: noHooks });
  } finally {
    store.close();
  }
}

/** A world of `files` files, indexed and synced once to nas. */
async function syncedWorld(seed: number, files = 24): Promise<World> {
  const world = new World({ seed, files });
  expect((await world.cli(['index', VOLUME])).code).toBe(0);
  const first = await sync(world, nas(world), true);
  expect(first.status).toBe('success');
  expect(first.sentFiles).toBe(world.onDisk().length);
  return world;
}

function copyAt(world: World, relativePath: string): string {
  return path.join(world.destinations.nas, VOLUME, relativePath);
}

describe('a first sync', () => {
  it('puts what the listing shows free without reading the path first: one hash per file, its read-back', async () => {
    // setup
    const world = new World({ seed: 60, files: 12 });
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    const destination = nas(world);

    // act
    const result = await sync(world, destination, true);

    // expect
    expect(result.status).toBe('success');
    expect(result.sentFiles).toBe(12);
    expect(destination.callCounts.get('put')).toBe(12);
    expect(destination.callCounts.get('hash')).toBe(12);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });
});

describe('sync with nothing new', () => {
  it('asks the destination nothing per file: no stat, hash or put, only listings', async () => {
    // setup
    const world = await syncedWorld(61, 40);
    const destination = nas(world);

    // act
    const result = await sync(world, destination);

    // expect
    expect(result.status).toBe('success');
    expect(result.alreadyThereFiles).toBe(40);
    expect(result.sentFiles).toBe(0);
    expect(destination.statted).toEqual([]);
    expect(destination.callCounts.get('hash') ?? 0).toBe(0);
    expect(destination.callCounts.get('put') ?? 0).toBe(0);
    expect(destination.callCounts.get('list')).toBeGreaterThanOrEqual(1);
  });

  it('re-sends a copy deleted or truncated behind its back, and counts the others as there', async () => {
    // setup
    const world = await syncedWorld(62);
    const [deleted, truncated] = world.onDisk().filter((p) => fs.statSync(path.join(world.root, p)).size >= 2);
    fs.rmSync(copyAt(world, deleted));
    fs.truncateSync(copyAt(world, truncated), 1);

    // act
    const result = await sync(world, nas(world));

    // expect
    expect(result.status).toBe('success');
    expect(result.sentFiles).toBe(2);
    expect(result.movedAsideFiles).toBe(1);
    expect(result.alreadyThereFiles).toBe(world.onDisk().length - 2);
    for (const relativePath of [deleted, truncated]) expect(fs.readFileSync(copyAt(world, relativePath))).toEqual(fs.readFileSync(path.join(world.root, relativePath)));
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a listing that fails: each recorded copy is stat()ed as before, and a deleted one is still re-sent', async () => {
    // setup
    const world = await syncedWorld(63);
    const [deleted] = world.onDisk();
    fs.rmSync(copyAt(world, deleted));
    const destination = nas(world, [{ kind: 'fail', method: 'list', path: VOLUME }]);

    // act
    const result = await sync(world, destination);

    // expect
    expect(result.status).toBe('success');
    expect(result.sentFiles).toBe(1);
    expect(destination.statted.length).toBe(world.onDisk().length);
    expect(fs.existsSync(copyAt(world, deleted))).toBe(true);
  });

  it('a listing out of order is not trusted past the first misstep: nothing is counted there that is not', async () => {
    // setup
    const world = await syncedWorld(64);
    const paths = world.onDisk().sort();
    const last = paths[paths.length - 1];
    fs.rmSync(copyAt(world, last));
    const destination = new ReversedListing(new LocalDestination('nas', world.destinations.nas));

    // act
    const result = await sync(world, destination);

    // expect: the deleted copy (listed first in reverse, so never reached in order) is re-sent
    expect(result.status).toBe('success');
    expect(result.sentFiles).toBe(1);
    expect(result.alreadyThereFiles).toBe(paths.length - 1);
    expect(destination.statted.length).toBeGreaterThan(0);
    expect(fs.existsSync(copyAt(world, last))).toBe(true);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a path the listing shows free but is taken after all: put refuses, the bytes there are moved aside, the file is sent', async () => {
    // setup: a listing blind to a file placed behind its back
    const world = new World({ seed: 65, files: 6 });
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    const destination = nas(world, [{ kind: 'stale-list' }]);
    await destination.init();
    for await (const file of destination.list('')) expect(file.path).not.toMatch(/^photos\//);
    const [taken] = world.onDisk();
    fs.mkdirSync(path.dirname(copyAt(world, taken)), { recursive: true });
    fs.writeFileSync(copyAt(world, taken), 'foreign bytes');

    // act
    const result = await sync(world, destination, true);

    // expect
    expect(result.status).toBe('success');
    expect(result.sentFiles).toBe(6);
    expect(result.movedAsideFiles).toBe(1);
    expect(fs.readFileSync(copyAt(world, taken))).toEqual(fs.readFileSync(path.join(world.root, taken)));
    const history = fs.readdirSync(path.join(world.destinations.nas, VOLUME, '.squirrel-history'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(history.map((e) => fs.readFileSync(path.join(e.parentPath, e.name), 'utf8'))).toEqual(['foreign bytes']);
  });
});

describe('a put the listing shows clear (put may skip its own checks of the path)', () => {
  it('a first sync: every file that sorts after the last listed one is put as clear', async () => {
    // setup
    const world = new World({ seed: 66, files: 16 });
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    const destination = nas(world);
    await destination.init();

    // act
    const result = await sync(world, destination, true);

    // expect: the namespace holds only its marker, which sorts before every file here
    expect(result.status).toBe('success');
    expect(destination.clearPuts.sort()).toEqual(world.onDisk().map((p) => `${VOLUME}/${p}`));
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a listed file sorting after a path: that path is merely free, and still sent', async () => {
    // setup
    const world = new World({ seed: 67, files: 8 });
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    const destination = nas(world);
    await destination.init();
    await sync(world, destination, true);
    world.write('zz-new.bin', Buffer.from('added'));
    world.write('zzz-later-than-all.bin', Buffer.from('later'));
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    fs.writeFileSync(copyAt(world, 'zzzz-stray.bin'), 'a stray file there');
    const again = nas(world);

    // act
    const result = await sync(world, again);

    // expect
    expect(result.status).toBe('success');
    expect(result.sentFiles).toBe(2);
    expect(again.clearPuts).toEqual([]);
  });

  it('a file there where a folder of the path must be: not clear, moved aside, the file sent', async () => {
    // setup
    const world = new World({ seed: 68, files: 4 });
    world.write('zfolder/inside.bin', Buffer.from('in a folder'));
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    const destination = nas(world);
    await destination.init();
    fs.mkdirSync(path.join(world.destinations.nas, VOLUME), { recursive: true });
    fs.writeFileSync(copyAt(world, 'zfolder'), 'a file where the folder goes');

    // act
    const result = await sync(world, destination, true);

    // expect
    expect(result.status).toBe('success');
    expect(destination.clearPuts).not.toContain(`${VOLUME}/zfolder/inside.bin`);
    expect(fs.readFileSync(copyAt(world, 'zfolder/inside.bin'), 'utf8')).toBe('in a folder');
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });

  it('a listing sorted only within its pages: no path is called clear that the destination holds', async () => {
    // setup: files the destination already holds, other bytes, at paths this volume sends
    const world = new World({ seed: 69, files: 10 });
    expect((await world.cli(['index', VOLUME])).code).toBe(0);
    const destination = new PagedOutOfOrder(new LocalDestination('nas', world.destinations.nas));
    await destination.init();
    const taken = world.onDisk().filter((_, i) => i % 3 === 0);
    for (const p of taken) {
      fs.mkdirSync(path.dirname(copyAt(world, p)), { recursive: true });
      fs.writeFileSync(copyAt(world, p), `foreign bytes at ${p}`);
    }

    // act
    const result = await sync(world, destination, true);

    // expect: the taken paths were never put as clear; their bytes went to history
    expect(result.status).toBe('success');
    for (const p of taken) expect(destination.clearPuts).not.toContain(`${VOLUME}/${p}`);
    const lastTaken = `${VOLUME}/${taken.sort().at(-1)}`;
    for (const p of destination.clearPuts) expect(compareByCodePoint(p, lastTaken)).toBeGreaterThan(0);
    expect(result.movedAsideFiles).toBe(taken.length);
    expect(formatViolations(world.check({ settled: true }))).toBe('');
  });
});
