// The local (directory) destination: the conformance suite, plus what only a real directory
// can show: the bytes and the marker on disk, crash leftovers in staging, filesystems without
// hard links, symlinks planted in the destination, and roots that cannot be checked.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { DESTINATION_MARKER, DestinationUnavailableError } from '../../src/destinations/destination.js';
import { FileHasher, LocalDestination } from '../../src/destinations/local/local.js';
import { createPutPool, PutPool } from '../../src/destinations/local/put-pool.js';
import { hashBytes } from '../../src/hash.js';
import { cleanupTempDirs, tempDir } from '../helpers.js';
import { ConformanceHarness, historyFor, listAll, localFile, pseudoRandomBytes, putBytes, readAll, runConformance, stagingFor } from './conformance.js';

interface LocalHarness extends ConformanceHarness {
  root: string;
}

// The compiled worker pool verify hands to local destinations: real threads, as in the CLI.
const { createHasher } = (await import('../../dist/core/index/hash-pool.js' as string)) as { createHasher: () => FileHasher & { close(): Promise<void> } };
const pool = createHasher();
afterAll(() => pool.close());
// The compiled put worker the CLI's local destinations hand their puts to.
const putPool = createPutPool({ workerUrl: new URL('../../dist/destinations/local/put-worker.js', import.meta.url) })!;
afterAll(() => putPool.close());

function makeLocal(name: string, fileHasher: FileHasher | null = null, puts: PutPool | null = null): LocalHarness {
  // Two levels down, so a test can replace the parent and still leave cleanup to tempDir.
  const root = path.join(tempDir('squirrel-dest-'), 'mnt', 'root');
  // The mount point exists (init creates the root folder, never the folders above it).
  fs.mkdirSync(path.dirname(root), { recursive: true });
  return {
    root,
    destination: new LocalDestination(name, root, fileHasher, puts),
    sameRoot: (other) => new LocalDestination(other, root, fileHasher, puts),
    createUnmarkedRoot: () => void fs.mkdirSync(root, { recursive: true }),
  };
}

/** Move the real root aside and put something unusable at its path. */
function replaceRoot(root: string, replace: (root: string) => void): void {
  fs.renameSync(root, `${root}.moved`);
  replace(root);
}

const unreachableWays: Record<string, (harness: LocalHarness) => void> = {
  'the root path is a regular file (ENOTDIR)': ({ root }) => replaceRoot(root, () => fs.writeFileSync(root, 'not a directory')),
  'the root is a symlink loop (ELOOP)': ({ root }) => replaceRoot(root, () => fs.symlinkSync(path.basename(root), root)),
  'a parent of the root is a regular file (ENOTDIR)': ({ root }) => {
    const parent = path.dirname(root);
    fs.renameSync(parent, `${parent}.moved`);
    fs.writeFileSync(parent, 'not a directory');
  },
};
// Root reads through any permission bits, so the classic unreadable-directory case only
// means something for an ordinary user.
if (process.getuid?.() !== 0) {
  unreachableWays['the root is unreadable (EACCES)'] = ({ root }) => fs.chmodSync(root, 0o000);
}

runConformance('local', { make: makeLocal, unreachableWays });
runConformance('local (hashing on the worker pool)', { make: (name) => makeLocal(name, pool), unreachableWays });
runConformance('local (puts on worker threads)', { make: (name) => makeLocal(name, null, putPool), unreachableWays });

describe('local destination: puts on worker threads', () => {
  it('the put pool runs the compiled worker (not the in-thread fallback), so the suite above tested it', () => {
    expect(putPool?.constructor.name).toBe('WorkerPutPool');
    expect(makeLocal('nas', null, putPool).destination.concurrentPuts).toBe(putPool.threads * 16);
  });
});

describe('local destination: on disk', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    cleanupTempDirs();
  });

  it('a copy is never more readable than its source, and folders squirrel creates are private', async () => {
    // setup
    const { root, destination } = makeLocal('nas');
    await destination.init();
    const secret = localFile(Buffer.from('dear diary'));
    fs.chmodSync(secret, 0o600);
    const shared = localFile(Buffer.from('a public photo'));
    fs.chmodSync(shared, 0o644);

    // act
    await destination.put('vol/private/diary.txt', secret, stagingFor('vol/private/diary.txt'));
    await destination.put('vol/public/photo.jpg', shared, stagingFor('vol/public/photo.jpg'));

    // expect
    expect(fs.statSync(path.join(root, 'vol/private/diary.txt')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(root, 'vol/public/photo.jpg')).mode & 0o077).toBe(0o044 & ~process.umask());
    expect(fs.statSync(path.join(root, 'vol/private')).mode & 0o077).toBe(0);
    expect(fs.statSync(path.join(root, 'vol')).mode & 0o077).toBe(0);
  });

  it('init writes the JSON marker naming the destination, and no temporary file', async () => {
    // setup
    const { root, destination } = makeLocal('nas');

    // act
    await destination.init();

    // expect
    expect(JSON.parse(fs.readFileSync(path.join(root, DESTINATION_MARKER), 'utf8'))).toEqual({ squirrel: 2, name: 'nas', id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(fs.readdirSync(root)).toEqual([DESTINATION_MARKER]);
  });

  it('put places the bytes at <root>/<path> and removes the staging file', async () => {
    // setup
    const { root, destination } = makeLocal('nas');
    await destination.init();

    // act
    await putBytes(destination, 'vol/sub/photo.jpg', Buffer.from('jpeg bytes'));

    // expect
    expect(fs.readFileSync(path.join(root, 'vol/sub/photo.jpg'), 'utf8')).toBe('jpeg bytes');
    expect(fs.existsSync(path.join(root, stagingFor('vol/sub/photo.jpg')))).toBe(false);
    expect(fs.statSync(path.join(root, 'vol/sub/photo.jpg')).nlink).toBe(1);
  });

  it('put fsyncs the staged bytes, the new directories and the target directory before it returns', async () => {
    // setup
    const { root, destination } = makeLocal('nas');
    await destination.init();
    const pathOfFd = new Map<number, string>();
    const openSync = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation((file, flags, mode) => {
      const fd = openSync(file, flags, mode);
      pathOfFd.set(fd, String(file));
      return fd;
    });
    const fsynced: string[] = [];
    const fsyncSync = fs.fsyncSync;
    vi.spyOn(fs, 'fsyncSync').mockImplementation((fd) => {
      fsynced.push(path.relative(root, pathOfFd.get(fd) ?? '?') || '.');
      fsyncSync(fd);
    });
    // put's flushes wait on libuv's pool
    const fsync = fs.fsync;
    vi.spyOn(fs, 'fsync').mockImplementation((fd, callback) => {
      fsynced.push(path.relative(root, pathOfFd.get(fd) ?? '?') || '.');
      fsync(fd, callback);
    });

    // act
    await putBytes(destination, 'vol/new/dir/photo.jpg', Buffer.from('jpeg'));

    // expect: the data, then every directory entry that leads to it
    expect(fsynced[0]).toBe(stagingFor('vol/new/dir/photo.jpg'));
    expect(new Set(fsynced.slice(1))).toEqual(new Set(['.', 'vol', 'vol/new', 'vol/new/dir']));
  });

  it.each([
    ['EINVAL', 'a filesystem that cannot flush a directory: put lands', true],
    ['EIO', 'a directory flush that fails: put is "could not check", never landed', false],
  ])('directory fsync %s: %s', async (code, _, lands) => {
    // setup
    const { root, destination } = makeLocal('nas');
    await destination.init();
    const directories = new Set<number>();
    const openSync = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation((file, flags, mode) => {
      const fd = openSync(file, flags, mode);
      if (typeof flags === 'number' && flags & fs.constants.O_DIRECTORY) directories.add(fd);
      return fd;
    });
    const fsync = fs.fsync;
    vi.spyOn(fs, 'fsync').mockImplementation((fd, callback) => {
      if (directories.has(fd)) callback(Object.assign(new Error(`${code}: directory fsync`), { code }));
      else fsync(fd, callback);
    });

    // act
    const put = putBytes(destination, 'vol/photo.jpg', Buffer.from('jpeg'));

    // expect
    if (lands) {
      await put;
      expect(fs.readFileSync(path.join(root, 'vol/photo.jpg'), 'utf8')).toBe('jpeg');
    } else {
      await expect(put).rejects.toBeInstanceOf(DestinationUnavailableError);
      await expect(put).rejects.toThrow(/EIO/);
    }
  });

  it('puts in flight into one directory share its flushes, each returning only after a flush that began after its own link', async () => {
    // setup: the directory exists, so each put needs exactly the flush of it
    const { root, destination } = makeLocal('nas');
    await destination.init();
    await putBytes(destination, 'vol/shared/first.jpg', Buffer.from('first'));
    const events: string[] = [];
    const pathOfFd = new Map<number, string>();
    const openSync = fs.openSync;
    vi.spyOn(fs, 'openSync').mockImplementation((file, flags, mode) => {
      const fd = openSync(file, flags, mode);
      pathOfFd.set(fd, path.relative(root, String(file)));
      return fd;
    });
    const linkSync = fs.linkSync;
    vi.spyOn(fs, 'linkSync').mockImplementation((from, to) => {
      linkSync(from, to);
      events.push(`link ${path.relative(root, String(to))}`);
    });
    const fsync = fs.fsync;
    vi.spyOn(fs, 'fsync').mockImplementation((fd, callback) => {
      const flushed = pathOfFd.get(fd);
      events.push(`start ${flushed}`);
      fsync(fd, (err) => {
        events.push(`end ${flushed}`);
        callback(err);
      });
    });
    const names = Array.from({ length: 8 }, (_, i) => `vol/shared/photo-${i}.jpg`);

    // act
    await Promise.all(names.map((name, i) => putBytes(destination, name, Buffer.from(`photo ${i}`)).then(() => void events.push(`done ${name}`))));

    // expect: for every put, a flush of vol/shared that started after its link ended before it returned
    for (const name of names) {
      const linked = events.indexOf(`link ${name}`);
      const done = events.indexOf(`done ${name}`);
      const covering = events.some((event, i) => event === 'start vol/shared' && i > linked && events.indexOf('end vol/shared', i) < done && events.indexOf('end vol/shared', i) !== -1);
      expect({ name, covering }).toEqual({ name, covering: true });
    }
    // ... and they shared them: fewer directory flushes than puts
    expect(events.filter((event) => event === 'start vol/shared').length).toBeLessThan(names.length);
  });

  it('puts in flight together, into the same new directories, each land with their own bytes and leave no staging behind', async () => {
    // setup: more puts at once than the destination advertises, sharing directories none of them found
    const { root, destination } = makeLocal('nas');
    await destination.init();
    const files = Array.from({ length: 3 * (destination.concurrentPuts ?? 1) }, (_, i) => ({ remote: `vol/new/dir-${i % 3}/file-${i}.bin`, bytes: pseudoRandomBytes(4096 + i, i + 1) }));

    // act
    await Promise.all(files.map((f) => putBytes(destination, f.remote, f.bytes)));

    // expect
    for (const f of files) expect(fs.readFileSync(path.join(root, f.remote)).equals(f.bytes), f.remote).toBe(true);
    expect(fs.readdirSync(path.join(root, 'vol/.squirrel-staging/run-1'))).toEqual([]);
    expect((await listAll(destination, 'vol')).length).toBe(files.length);
  });

  it('a missing root (an unmounted drive) is never created by put, list or stat', async () => {
    // setup
    const { root, destination } = makeLocal('nas');

    // act
    await expect(putBytes(destination, 'vol/a.txt', Buffer.from('a'))).rejects.toThrow(/does not exist \(is the drive mounted\?\)/);
    await expect(destination.stat('vol/a.txt')).rejects.toBeInstanceOf(DestinationUnavailableError);
    await expect(listAll(destination, 'vol')).rejects.toBeInstanceOf(DestinationUnavailableError);

    // expect
    expect(fs.existsSync(root)).toBe(false);
  });

  it('a staging leftover hard-linked to a placed file (a crash after the link) is replaced, never truncated', async () => {
    // setup: a put that crashed after linking, before unlinking its staging name
    const { root, destination } = makeLocal('nas');
    await destination.init();
    await putBytes(destination, 'vol/a.txt', Buffer.from('placed bytes'));
    fs.mkdirSync(path.dirname(path.join(root, stagingFor('vol/a.txt'))), { recursive: true });
    fs.linkSync(path.join(root, 'vol/a.txt'), path.join(root, stagingFor('vol/a.txt')));

    // act: the retry, with other bytes, through the same staging path
    const retry = destination.put('vol/a.txt', localFile(Buffer.from('other bytes!')), stagingFor('vol/a.txt'));

    // expect
    await expect(retry).rejects.toThrow(/already exists/);
    expect(fs.readFileSync(path.join(root, 'vol/a.txt'), 'utf8')).toBe('placed bytes');
    expect(fs.existsSync(path.join(root, stagingFor('vol/a.txt')))).toBe(false);
  });

  it('without hard links, put and moveAside fall back to rename and still never clobber', async () => {
    // setup: a filesystem that refuses link() (FAT, some network mounts)
    const { root, destination } = makeLocal('nas');
    await destination.init();
    const link = vi.spyOn(fs, 'linkSync').mockImplementation(() => {
      throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM', syscall: 'link' });
    });

    // act
    await putBytes(destination, 'vol/a.txt', Buffer.from('first'));
    // put awaits its flushes: settled before the next step, so the moveAside below cannot overtake it
    const clobber = await putBytes(destination, 'vol/a.txt', Buffer.from('second')).then(() => 'placed', (err: Error) => err.message);
    await putBytes(destination, historyFor('vol/b.txt'), Buffer.from('older b'));
    await putBytes(destination, 'vol/b.txt', Buffer.from('b'));
    const moveOntoHistory = destination.moveAside('vol/b.txt', historyFor('vol/b.txt'));
    await destination.moveAside('vol/a.txt', historyFor('vol/a.txt'));

    // expect
    expect(link).toHaveBeenCalled();
    expect(clobber).toMatch(/already exists/);
    await expect(moveOntoHistory).rejects.toThrow(/already exists/);
    expect(fs.readFileSync(path.join(root, historyFor('vol/a.txt')), 'utf8')).toBe('first');
    expect(fs.existsSync(path.join(root, 'vol/a.txt'))).toBe(false);
    expect(fs.readFileSync(path.join(root, 'vol/b.txt'), 'utf8')).toBe('b');
    expect(fs.readFileSync(path.join(root, historyFor('vol/b.txt')), 'utf8')).toBe('older b');
    expect((await listAll(destination, 'vol')).map((file) => file.path).filter((p) => p.includes('.squirrel-staging'))).toEqual([]);
  });

  it('hash reads the bytes back from disk every time (a change on disk shows)', async () => {
    // setup
    const { root, destination } = makeLocal('nas');
    await destination.init();
    await putBytes(destination, 'vol/a.bin', Buffer.from('abcdef'));
    const before = await destination.hash('vol/a.bin');

    // act: bit rot of the same size
    fs.writeFileSync(path.join(root, 'vol/a.bin'), 'abcdeX');
    const after = await destination.hash('vol/a.bin');

    // expect
    expect(before).toMatchObject({ kind: 'present', blake3: hashBytes(Buffer.from('abcdef')), method: 'blake3-readback' });
    expect(after).toMatchObject({ kind: 'present', blake3: hashBytes(Buffer.from('abcdeX')), sizeBytes: 6 });
  });

  it('a symlink planted in the destination is never followed: not present, not listed', async () => {
    // setup
    const { root, destination } = makeLocal('nas');
    await destination.init();
    const outside = tempDir('squirrel-outside-');
    fs.writeFileSync(path.join(outside, 'secret.txt'), 'outside the root');
    fs.mkdirSync(path.join(root, 'vol'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'vol/link.txt'));
    fs.symlinkSync(outside, path.join(root, 'vol/linkdir'));

    // act + expect
    await expect(destination.stat('vol/link.txt')).rejects.toThrow(/symbolic link/);
    await expect(destination.hash('vol/link.txt')).rejects.toThrow(/symbolic link/);
    await expect(readAll(destination, 'vol/link.txt')).rejects.toThrow(/symbolic link/);
    await expect(listAll(destination, 'vol/linkdir')).rejects.toThrow(/symbolic link/);
    expect(await listAll(destination, '')).toEqual([{ path: DESTINATION_MARKER, sizeBytes: fs.statSync(path.join(root, DESTINATION_MARKER)).size }]);
  });

  it('on the worker pool, a large copy is hashed off-thread, its rot is seen, and a symlink to a large file is still refused', async () => {
    // setup
    const { root, destination } = makeLocal('nas', pool);
    await destination.init();
    const bytes = pseudoRandomBytes(1 << 20, 3);
    await putBytes(destination, 'vol/big.bin', bytes);
    const outside = tempDir('squirrel-outside-');
    fs.writeFileSync(path.join(outside, 'big.bin'), bytes);
    fs.symlinkSync(path.join(outside, 'big.bin'), path.join(root, 'vol/link.bin'));
    const offThread = vi.spyOn(pool, 'hash');

    // act
    const before = await destination.hash('vol/big.bin');
    const rotted = Buffer.from(bytes);
    rotted[12345] ^= 1;
    fs.chmodSync(path.join(root, 'vol/big.bin'), 0o644);
    fs.writeFileSync(path.join(root, 'vol/big.bin'), rotted);
    const after = await destination.hash('vol/big.bin');

    // expect
    expect(offThread).toHaveBeenCalledTimes(2);
    expect(before).toMatchObject({ kind: 'present', blake3: hashBytes(bytes), sizeBytes: bytes.length, method: 'blake3-readback' });
    expect(after).toMatchObject({ kind: 'present', blake3: hashBytes(rotted), sizeBytes: bytes.length });
    await expect(destination.hash('vol/link.bin')).rejects.toThrow(/symbolic link/);
    expect(await destination.hash('vol/gone.bin')).toEqual({ kind: 'absent' });
    expect(destination.concurrentHashes).toBeGreaterThan(1);
  });

  it('a root reached through a symlink (a mount behind a link) works', async () => {
    // setup
    const { root } = makeLocal('nas');
    fs.mkdirSync(root, { recursive: true });
    const linked = path.join(path.dirname(root), 'linked-root');
    fs.symlinkSync(root, linked);
    const destination = new LocalDestination('nas', linked);

    // act
    await destination.init();
    await putBytes(destination, 'vol/a.txt', Buffer.from('through the link'));

    // expect
    expect(fs.readFileSync(path.join(root, 'vol/a.txt'), 'utf8')).toBe('through the link');
    expect(await destination.stat('vol/a.txt')).toMatchObject({ kind: 'present', sizeBytes: 16 });
  });

  it('a path escape never reaches a file outside the root', async () => {
    // setup
    const { root, destination } = makeLocal('nas');
    await destination.init();
    fs.writeFileSync(path.join(path.dirname(root), 'outside.txt'), 'outside');

    // act + expect
    await expect(destination.stat('../outside.txt')).rejects.toThrow(/refusing path/);
    await expect(destination.moveAside('../outside.txt', historyFor('vol/x'))).rejects.toThrow(/refusing path/);
    expect(fs.readFileSync(path.join(path.dirname(root), 'outside.txt'), 'utf8')).toBe('outside');
  });

  it('a marker that is not ours is "could not check", with what to do', async () => {
    // setup
    const { root, destination } = makeLocal('nas');
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(path.join(root, DESTINATION_MARKER), 'garbage');

    // act + expect
    await expect(destination.rootState()).rejects.toThrow(/is not a squirrel marker/);
    await expect(destination.init()).rejects.toBeInstanceOf(DestinationUnavailableError);
    expect(fs.readFileSync(path.join(root, DESTINATION_MARKER), 'utf8')).toBe('garbage');
  });
});
