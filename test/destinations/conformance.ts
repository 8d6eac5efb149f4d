// The one conformance suite every destination passes: root states, durable no-clobber puts,
// round trips of awkward files, move-aside that never deletes, "absent" versus "could not
// check", and path escapes. A destination type plugs in a harness (how to make a fresh one,
// how to give it an unmarked root, how to make it unreachable) and calls runConformance.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DESTINATION_MARKER,
  Destination,
  DestinationUnavailableError,
  LocalSourceError,
  UnsafeDestinationPathError,
  historyPathOf,
  stagingPathOf,
} from '../../src/destinations/destination.js';
import { READ_CHUNK_BYTES, hashBytes } from '../../src/hash.js';
import { compareByCodePoint } from '../../src/paths.js';
import { cleanupTempDirs, tempDir } from '../helpers.js';

export interface ConformanceHarness {
  /** A fresh destination whose root does not exist yet. */
  destination: Destination;
  /** Another destination object, under another name, on the same root. */
  sameRoot(name: string): Destination;
  /** Make the root exist without a marker (an empty directory, a mount point). */
  createUnmarkedRoot(): void | Promise<void>;
}

export interface ConformanceSubject<H extends ConformanceHarness> {
  make(name: string): H | Promise<H>;
  /** Ways to make a working destination impossible to check, by description. */
  unreachableWays: Record<string, (harness: H) => void | Promise<void>>;
}

const VOLUME = 'vol';

/** Deterministic, incompressible-looking bytes. */
export function pseudoRandomBytes(sizeBytes: number, seed = 1): Buffer {
  const bytes = Buffer.allocUnsafe(sizeBytes);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < sizeBytes; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

/** Files every destination must round-trip: sizes around the read chunk, awkward names. */
export const SAMPLES: Record<string, Buffer> = {
  [`${VOLUME}/empty.bin`]: Buffer.alloc(0),
  [`${VOLUME}/one-byte.bin`]: Buffer.from([0x2a]),
  [`${VOLUME}/three-mib-and-a-bit.bin`]: pseudoRandomBytes(3 * READ_CHUNK_BYTES + 17, 7),
  [`${VOLUME}/exactly-one-chunk.bin`]: pseudoRandomBytes(READ_CHUNK_BYTES, 11),
  [`${VOLUME}/a/b/c/nested.txt`]: Buffer.from('deep\n'),
  [`${VOLUME}/with space/ünïcödé ñame.txt`]: Buffer.from('unicode\n'),
  [`${VOLUME}/-leading-dash`]: Buffer.from('dash\n'),
  [`${VOLUME}/日本語/ファイル.txt`]: Buffer.from('ファイル\n'),
};

const UNSAFE_PATHS = ['../outside', `${VOLUME}/../../outside`, '/etc/passwd', `${VOLUME}/nul\0byte`, '', `${VOLUME}//double`, `./${VOLUME}/x`, `${VOLUME}/./x`, `${VOLUME}/x/..`];

function relativeToVolume(remotePath: string): string {
  return remotePath.slice(VOLUME.length + 1);
}

export function stagingFor(remotePath: string, runId = 1): string {
  return stagingPathOf(VOLUME, runId, relativeToVolume(remotePath));
}

export function historyFor(remotePath: string, runId = 1): string {
  return historyPathOf(VOLUME, runId, relativeToVolume(remotePath));
}

let localFileCount = 0;

/** A local file holding these bytes, to put. */
export function localFile(bytes: Buffer): string {
  const file = path.join(tempDir('squirrel-source-'), `source-${++localFileCount}`);
  fs.writeFileSync(file, bytes);
  return file;
}

export async function putBytes(destination: Destination, remotePath: string, bytes: Buffer): Promise<void> {
  await destination.put(remotePath, localFile(bytes), stagingFor(remotePath));
}

export async function readAll(destination: Destination, remotePath: string): Promise<{ bytes: Buffer; largestChunkBytes: number }> {
  const chunks: Buffer[] = [];
  for await (const chunk of destination.read(remotePath)) chunks.push(Buffer.from(chunk));
  return { bytes: Buffer.concat(chunks), largestChunkBytes: Math.max(0, ...chunks.map((chunk) => chunk.length)) };
}

export async function listAll(destination: Destination, prefix: string): Promise<{ path: string; sizeBytes: number }[]> {
  const files: { path: string; sizeBytes: number }[] = [];
  for await (const file of destination.list(prefix)) files.push({ path: file.path, sizeBytes: file.sizeBytes });
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function listedPaths(destination: Destination, prefix: string): Promise<string[]> {
  return (await listAll(destination, prefix)).map((file) => file.path);
}

export function runConformance<H extends ConformanceHarness>(label: string, subject: ConformanceSubject<H>): void {
  describe(`${label} destination: conformance`, () => {
    let harness: H;
    let destination: Destination;

    beforeEach(async () => {
      harness = await subject.make('nas');
      destination = harness.destination;
    });
    afterEach(() => cleanupTempDirs());

    describe('root state', () => {
      it('a root that does not exist is missing, refuses every write and "absent" answer, and is not created by them', async () => {
        // setup: a fresh destination, never initialised

        // act + expect
        expect(await destination.rootState()).toBe('missing');
        await expect(putBytes(destination, `${VOLUME}/a.txt`, Buffer.from('a'))).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(destination.stat(`${VOLUME}/a.txt`)).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(destination.hash(`${VOLUME}/a.txt`)).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(readAll(destination, `${VOLUME}/a.txt`)).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(listAll(destination, '')).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(destination.moveAside(`${VOLUME}/a.txt`, historyFor(`${VOLUME}/a.txt`))).rejects.toBeInstanceOf(DestinationUnavailableError);
        expect(await destination.rootState()).toBe('missing');
      });

      it('an existing root without a marker is unmarked, and refuses writes and "absent" answers', async () => {
        // setup
        await harness.createUnmarkedRoot();

        // act + expect
        expect(await destination.rootState()).toBe('unmarked');
        await expect(putBytes(destination, `${VOLUME}/a.txt`, Buffer.from('a'))).rejects.toThrow(/marker/);
        await expect(destination.stat(`${VOLUME}/a.txt`)).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(destination.hash(`${VOLUME}/a.txt`)).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(listAll(destination, VOLUME)).rejects.toBeInstanceOf(DestinationUnavailableError);
        expect(await destination.rootState()).toBe('unmarked');
      });

      it('init marks a missing root', async () => {
        // act
        await destination.init();

        // expect
        expect(await destination.rootState()).toBe('ok');
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER]);
      });

      it('init marks an unmarked root', async () => {
        // setup
        await harness.createUnmarkedRoot();

        // act
        await destination.init();

        // expect
        expect(await destination.rootState()).toBe('ok');
      });

      it('init is idempotent and keeps what is stored', async () => {
        // setup
        await destination.init();
        await putBytes(destination, `${VOLUME}/kept.txt`, Buffer.from('kept'));

        // act
        await destination.init();
        await destination.init();

        // expect
        expect(await destination.rootState()).toBe('ok');
        expect((await readAll(destination, `${VOLUME}/kept.txt`)).bytes.toString()).toBe('kept');
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER, `${VOLUME}/kept.txt`]);
      });

      it('a root marked for another destination is refused, and init does not re-mark it', async () => {
        // setup
        await destination.init();
        const other = harness.sameRoot('offsite');

        // act + expect
        await expect(other.rootState()).rejects.toThrow(/marked as destination 'nas'/);
        await expect(other.init()).rejects.toBeInstanceOf(DestinationUnavailableError);
        expect(await destination.rootState()).toBe('ok');
      });
    });

    describe('round trip', () => {
      beforeEach(async () => {
        await destination.init();
      });

      it.each(Object.keys(SAMPLES))('put then stat, hash, read and list agree: %s', async (remotePath) => {
        // setup
        const bytes = SAMPLES[remotePath];

        // act
        await putBytes(destination, remotePath, bytes);

        // expect
        expect(await destination.stat(remotePath)).toMatchObject({ kind: 'present', sizeBytes: bytes.length });
        const hashed = await destination.hash(remotePath);
        expect(hashed.kind).toBe('present');
        if (hashed.kind === 'present') {
          expect(hashed.blake3.equals(hashBytes(bytes))).toBe(true);
          expect(hashed.sizeBytes).toBe(bytes.length);
          expect(hashed.method).toMatch(/\S/);
        }
        const read = await readAll(destination, remotePath);
        expect(read.bytes.equals(bytes)).toBe(true);
        expect(read.largestChunkBytes).toBeLessThanOrEqual(READ_CHUNK_BYTES);
        expect(await listAll(destination, VOLUME)).toContainEqual({ path: remotePath, sizeBytes: bytes.length });
      });

      it('list is recursive and root-relative, and its prefix is a directory, not a string prefix', async () => {
        // setup
        for (const [remotePath, bytes] of Object.entries(SAMPLES)) await putBytes(destination, remotePath, bytes);
        await putBytes(destination, `${VOLUME}-extra/x.txt`, Buffer.from('x'));

        // act + expect
        const samplePaths = Object.keys(SAMPLES).sort();
        expect(await listedPaths(destination, VOLUME)).toEqual(samplePaths);
        expect(await listedPaths(destination, `${VOLUME}/`)).toEqual(samplePaths);
        expect(await listedPaths(destination, `${VOLUME}/a`)).toEqual([`${VOLUME}/a/b/c/nested.txt`]);
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER, ...samplePaths, `${VOLUME}-extra/x.txt`].sort());
        expect(await listedPaths(destination, `${VOLUME}/no-such-dir`)).toEqual([]);
        expect(await listedPaths(destination, `${VOLUME}/one-byte.bin`)).toEqual([]);
      });

      it('list comes in code point order of the path, a folder sorting as its name and a slash', async () => {
        // setup: '-' and '.' sort before '/', and U+FF21 before U+1F600 though not in UTF-16 units
        const names = ['a-b.txt', 'a/b.txt', 'a.txt', 'a0/c.txt', 'B.txt', 'é.txt', '\uFF21.txt', '\u{1F600}.txt', 'a/b/c.txt', 'a/b-c.txt'];
        for (const name of names) await putBytes(destination, `${VOLUME}/${name}`, Buffer.from(name));

        // act
        const listed: string[] = [];
        for await (const file of destination.list(VOLUME)) listed.push(file.path);

        // expect
        expect(listed).toEqual(names.map((name) => `${VOLUME}/${name}`).sort(compareByCodePoint));
      });

      it('a put leaves no staging file behind, and a staging path can be reused', async () => {
        // setup
        const stagingPath = stagingFor(`${VOLUME}/first.txt`);

        // act
        await destination.put(`${VOLUME}/first.txt`, localFile(Buffer.from('first')), stagingPath);
        await destination.put(`${VOLUME}/second.txt`, localFile(Buffer.from('second')), stagingPath);

        // expect
        expect(await listedPaths(destination, VOLUME)).toEqual([`${VOLUME}/first.txt`, `${VOLUME}/second.txt`]);
        expect((await readAll(destination, `${VOLUME}/first.txt`)).bytes.toString()).toBe('first');
        expect((await readAll(destination, `${VOLUME}/second.txt`)).bytes.toString()).toBe('second');
      });

      it('a local file that cannot be read is a LocalSourceError, and nothing lands', async () => {
        // setup
        const gone = path.join(tempDir(), 'gone.txt');

        // act + expect
        await expect(destination.put(`${VOLUME}/gone.txt`, gone, stagingFor(`${VOLUME}/gone.txt`))).rejects.toBeInstanceOf(LocalSourceError);
        expect(await destination.stat(`${VOLUME}/gone.txt`)).toEqual({ kind: 'absent' });
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER]);
      });

      it('a source that is a symlink, a FIFO, or not the inode the caller checked is a LocalSourceError, at once, and nothing lands', async () => {
        // setup
        const dir = tempDir();
        const target = localFile(Buffer.from('outside'));
        fs.symlinkSync(target, path.join(dir, 'link'));
        spawnSync('mkfifo', [path.join(dir, 'fifo')]);
        const swapped = localFile(Buffer.from('swapped in'));

        // act + expect
        await expect(destination.put(`${VOLUME}/link`, path.join(dir, 'link'), stagingFor(`${VOLUME}/link`))).rejects.toBeInstanceOf(LocalSourceError);
        await expect(destination.put(`${VOLUME}/fifo`, path.join(dir, 'fifo'), stagingFor(`${VOLUME}/fifo`))).rejects.toBeInstanceOf(LocalSourceError);
        await expect(destination.put(`${VOLUME}/swapped`, swapped, stagingFor(`${VOLUME}/swapped`), { identity: '1:2' })).rejects.toThrow(/took its place/);
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER]);
      });
    });

    describe('small files (markers)', () => {
      beforeEach(async () => {
        await destination.init();
      });

      it("'create' writes once and never replaces; 'replace' swaps the bytes; an absent one reads as null", async () => {
        // act
        const absent = await destination.readSmall(`${VOLUME}/.squirrel-namespace`);
        const first = await destination.writeSmall(`${VOLUME}/.squirrel-namespace`, Buffer.from('first'), 'create');
        const second = await destination.writeSmall(`${VOLUME}/.squirrel-namespace`, Buffer.from('second'), 'create');
        const afterCreate = await destination.readSmall(`${VOLUME}/.squirrel-namespace`);
        await destination.writeSmall(`${VOLUME}/.squirrel-namespace`, Buffer.from('third'), 'replace');

        // expect
        expect(absent).toBeNull();
        expect([first, second]).toEqual([true, false]);
        expect(afterCreate?.toString()).toBe('first');
        expect((await destination.readSmall(`${VOLUME}/.squirrel-namespace`))?.toString()).toBe('third');
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER, `${VOLUME}/.squirrel-namespace`]);
      });

      it('removeCatalogFile removes a catalog snapshot, and refuses any other path before touching anything', async () => {
        // setup
        await putBytes(destination, '.squirrel-catalog/laptop/run-1.db.gz', Buffer.from('old snapshot'));
        await putBytes(destination, `${VOLUME}/kept.jpg`, Buffer.from('a user file'));

        // act
        await destination.removeCatalogFile('.squirrel-catalog/laptop/run-1.db.gz');
        await destination.removeCatalogFile('.squirrel-catalog/laptop/absent.db.gz');

        // expect
        await expect(destination.removeCatalogFile(`${VOLUME}/kept.jpg`)).rejects.toBeInstanceOf(UnsafeDestinationPathError);
        await expect(destination.removeCatalogFile(`${VOLUME}/.squirrel-history/run-1/kept.jpg`)).rejects.toBeInstanceOf(UnsafeDestinationPathError);
        await expect(destination.removeCatalogFile('.squirrel-catalog/../vol/kept.jpg')).rejects.toBeInstanceOf(UnsafeDestinationPathError);
        await expect(destination.removeCatalogFile(`${VOLUME}/.squirrel-staging/run-1/x`)).rejects.toBeInstanceOf(UnsafeDestinationPathError);
        await expect(destination.removeCatalogFile('.squirrel-catalog/laptop/deeper/run-1.db.gz')).rejects.toBeInstanceOf(UnsafeDestinationPathError);
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER, `${VOLUME}/kept.jpg`]);
      });

      it('refuse to write under a missing root', async () => {
        // setup
        const fresh = (await subject.make('fresh')).destination;

        // act + expect
        await expect(fresh.writeSmall('x/.squirrel-namespace', Buffer.from('x'), 'create')).rejects.toBeInstanceOf(DestinationUnavailableError);
      });
    });

    describe('never clobbers', () => {
      beforeEach(async () => {
        await destination.init();
      });

      it('put onto an existing path throws and leaves the stored bytes untouched', async () => {
        // setup
        await putBytes(destination, `${VOLUME}/photo.jpg`, Buffer.from('original'));

        // act
        const second = putBytes(destination, `${VOLUME}/photo.jpg`, Buffer.from('replacement'));

        // expect
        await expect(second).rejects.toBeInstanceOf(DestinationUnavailableError);
        expect((await readAll(destination, `${VOLUME}/photo.jpg`)).bytes.toString()).toBe('original');
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER, `${VOLUME}/photo.jpg`]);
      });

      it('put onto a directory, or below a file, throws and changes nothing', async () => {
        // setup
        await putBytes(destination, `${VOLUME}/dir/file.txt`, Buffer.from('file'));

        // act + expect
        await expect(putBytes(destination, `${VOLUME}/dir`, Buffer.from('x'))).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(putBytes(destination, `${VOLUME}/dir/file.txt/below`, Buffer.from('x'))).rejects.toBeInstanceOf(DestinationUnavailableError);
        expect(await listAll(destination, VOLUME)).toEqual([{ path: `${VOLUME}/dir/file.txt`, sizeBytes: 4 }]);
      });

      it('a directory where a file is expected is not "present" and not "absent"', async () => {
        // setup
        await putBytes(destination, `${VOLUME}/dir/file.txt`, Buffer.from('file'));

        // act + expect
        await expect(destination.stat(`${VOLUME}/dir`)).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(destination.hash(`${VOLUME}/dir`)).rejects.toBeInstanceOf(DestinationUnavailableError);
        await expect(readAll(destination, `${VOLUME}/dir`)).rejects.toBeInstanceOf(DestinationUnavailableError);
      });
    });

    describe('moveAside', () => {
      beforeEach(async () => {
        await destination.init();
      });

      it('moves the bytes into history and never deletes them; the path is free for new bytes', async () => {
        // setup
        const remotePath = `${VOLUME}/notes/today.txt`;
        await putBytes(destination, remotePath, Buffer.from('version 1'));

        // act
        await destination.moveAside(remotePath, historyFor(remotePath, 2));
        await putBytes(destination, remotePath, Buffer.from('version 2'));

        // expect
        expect((await readAll(destination, historyFor(remotePath, 2))).bytes.toString()).toBe('version 1');
        expect((await readAll(destination, remotePath)).bytes.toString()).toBe('version 2');
        expect(await listedPaths(destination, VOLUME)).toEqual([historyFor(remotePath, 2), remotePath].sort());
      });

      it('a folder moves whole where the destination has folders; on s3 (none) it is a no-op', async () => {
        // setup
        await putBytes(destination, `${VOLUME}/dir/x.txt`, Buffer.from('x'));
        await putBytes(destination, `${VOLUME}/dir/sub/y.txt`, Buffer.from('y'));
        const history = historyFor(`${VOLUME}/dir`, 3);

        // act
        await destination.moveAside(`${VOLUME}/dir`, history);

        // expect
        const expected = destination.type === 's3' ? [`${VOLUME}/dir/sub/y.txt`, `${VOLUME}/dir/x.txt`] : [`${history}/sub/y.txt`, `${history}/x.txt`];
        expect(await listedPaths(destination, VOLUME)).toEqual(expected.sort());
        if (destination.type !== 's3') {
          expect((await readAll(destination, `${history}/x.txt`)).bytes.toString()).toBe('x');
          await putBytes(destination, `${VOLUME}/dir`, Buffer.from('a file now'));
          expect((await readAll(destination, `${VOLUME}/dir`)).bytes.toString()).toBe('a file now');
        }
      });

      it('an absent path is a no-op', async () => {
        // act
        await destination.moveAside(`${VOLUME}/nothing.txt`, historyFor(`${VOLUME}/nothing.txt`));

        // expect
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER]);
      });

      it('an existing history path is never overwritten, and nothing moves', async () => {
        // setup
        const remotePath = `${VOLUME}/a.txt`;
        await putBytes(destination, remotePath, Buffer.from('current'));
        await putBytes(destination, historyFor(remotePath), Buffer.from('older'));

        // act
        const move = destination.moveAside(remotePath, historyFor(remotePath));

        // expect
        await expect(move).rejects.toBeInstanceOf(DestinationUnavailableError);
        expect((await readAll(destination, remotePath)).bytes.toString()).toBe('current');
        expect((await readAll(destination, historyFor(remotePath))).bytes.toString()).toBe('older');
      });
    });

    describe('removeStaging', () => {
      beforeEach(async () => {
        await destination.init();
      });

      it("removes a staging run's files (and the run folder) and nothing else", async () => {
        // setup: what a killed sync leaves behind, next to real copies and history
        await putBytes(destination, `${VOLUME}/kept.txt`, Buffer.from('kept'));
        await putBytes(destination, historyFor(`${VOLUME}/old.txt`), Buffer.from('old'));
        await destination.writeSmall(stagingFor(`${VOLUME}/a.txt`, 7), Buffer.from('half a file'), 'create');
        await destination.writeSmall(stagingFor(`${VOLUME}/b.txt`, 7), Buffer.from('another'), 'create');
        await destination.writeSmall(stagingFor(`${VOLUME}/c.txt`, 8), Buffer.from('a live run'), 'create');

        // act
        const removed = await destination.removeStaging(`${VOLUME}/.squirrel-staging/run-7`);
        const again = await destination.removeStaging(`${VOLUME}/.squirrel-staging/run-7`);

        // expect
        expect(removed).toBe(2);
        expect(again).toBe(0);
        expect(await listedPaths(destination, VOLUME)).toEqual([historyFor(`${VOLUME}/old.txt`), stagingFor(`${VOLUME}/c.txt`, 8), `${VOLUME}/kept.txt`].sort());
      });

      it.each([`${VOLUME}/kept.txt`, `${VOLUME}/.squirrel-staging`, `${VOLUME}/.squirrel-history/run-1`, `.squirrel-staging/run-1`, `${VOLUME}/sub/.squirrel-staging/run-1`, `${VOLUME}/.squirrel-staging/../kept.txt`, DESTINATION_MARKER])(
        'refuses %j, touching nothing',
        async (notStaging) => {
          // setup
          await putBytes(destination, `${VOLUME}/kept.txt`, Buffer.from('kept'));
          const before = await listAll(destination, '');

          // act
          const outcome = await destination.removeStaging(notStaging).then(
            () => 'removed',
            (error: unknown) => (error instanceof UnsafeDestinationPathError ? 'refused' : String(error)),
          );

          // expect
          expect(outcome).toBe('refused');
          expect(await listAll(destination, '')).toEqual(before);
        },
      );
    });

    describe('absent', () => {
      beforeEach(async () => {
        await destination.init();
        await putBytes(destination, `${VOLUME}/present.txt`, Buffer.from('here'));
      });

      it.each([`${VOLUME}/absent.txt`, `${VOLUME}/no/such/directory/file.txt`, 'other-volume/x'])(
        'stat and hash of %s say absent; read throws',
        async (remotePath) => {
          // act + expect
          expect(await destination.stat(remotePath)).toEqual({ kind: 'absent' });
          expect(await destination.hash(remotePath)).toEqual({ kind: 'absent' });
          await expect(readAll(destination, remotePath)).rejects.toBeInstanceOf(DestinationUnavailableError);
        },
      );
    });

    describe('could not check', () => {
      for (const [way, makeUnreachable] of Object.entries(subject.unreachableWays)) {
        it(`${way}: every operation throws DestinationUnavailableError, never "present" or "absent"`, async () => {
          // setup
          await destination.init();
          const stored = `${VOLUME}/stored.txt`;
          await putBytes(destination, stored, Buffer.from('stored'));

          // act
          await makeUnreachable(harness);

          // expect
          const refusals: [string, () => Promise<unknown>][] = [
            ['rootState', () => destination.rootState()],
            ['init', () => destination.init()],
            ['stat of a stored file', () => destination.stat(stored)],
            ['hash of a stored file', () => destination.hash(stored)],
            ['read of a stored file', () => readAll(destination, stored)],
            ['stat of an absent file', () => destination.stat(`${VOLUME}/absent.txt`)],
            ['hash of an absent file', () => destination.hash(`${VOLUME}/absent.txt`)],
            ['list of everything', () => listAll(destination, '')],
            ['list of a volume', () => listAll(destination, VOLUME)],
            ['put', () => putBytes(destination, `${VOLUME}/new.txt`, Buffer.from('new'))],
            ['moveAside', () => destination.moveAside(stored, historyFor(stored))],
          ];
          for (const [operation, call] of refusals) {
            const outcome = await call().then(
              (value) => ({ value }),
              (error: unknown) => ({ error }),
            );
            expect({ operation, refused: 'error' in outcome && outcome.error instanceof DestinationUnavailableError }).toEqual({ operation, refused: true });
          }
        });
      }
    });

    describe('path escapes', () => {
      beforeEach(async () => {
        await destination.init();
      });

      it.each(UNSAFE_PATHS)('%j is refused by every operation before anything is touched', async (unsafe) => {
        // setup
        const source = localFile(Buffer.from('x'));
        const safe = `${VOLUME}/safe.txt`;

        // act
        const calls: [string, () => Promise<unknown>][] = [
          ['stat', () => destination.stat(unsafe)],
          ['hash', () => destination.hash(unsafe)],
          ['read', () => readAll(destination, unsafe)],
          ['put target', () => destination.put(unsafe, source, stagingFor(safe))],
          ['put staging', () => destination.put(safe, source, unsafe)],
          ['moveAside source', () => destination.moveAside(unsafe, historyFor(safe))],
          ['moveAside history', () => destination.moveAside(safe, unsafe)],
        ];
        if (unsafe !== '') calls.push(['list', () => listAll(destination, unsafe)]);

        // expect
        for (const [operation, call] of calls) {
          const outcome = await call().then(
            () => ({ refused: false }),
            (error: unknown) => ({ refused: error instanceof UnsafeDestinationPathError }),
          );
          expect({ operation, ...outcome }).toEqual({ operation, refused: true });
        }
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER]);
      });

      it('a staging path outside a reserved .squirrel-* directory, or equal to the target, is refused', async () => {
        // setup
        const source = localFile(Buffer.from('x'));

        // act + expect
        await expect(destination.put(`${VOLUME}/a.txt`, source, `${VOLUME}/tmp/a.txt`)).rejects.toBeInstanceOf(UnsafeDestinationPathError);
        await expect(destination.put(`${VOLUME}/a.txt`, source, `${VOLUME}/a.txt`)).rejects.toBeInstanceOf(UnsafeDestinationPathError);
        await expect(destination.put(`${VOLUME}/a.txt`, source, `${VOLUME}/.squirrel-staging`)).rejects.toBeInstanceOf(UnsafeDestinationPathError);
        expect(await listedPaths(destination, '')).toEqual([DESTINATION_MARKER]);
      });
    });
  });
}
