// The fault-injecting wrapper: with no faults it is a transparent destination (it passes the
// conformance suite); each fault is then shown to be observable the way a caller would meet
// it, through stat(), hash(), read() and list().

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DestinationUnavailableError } from '../../src/destinations/destination.js';
import { FaultyDestination } from '../../src/destinations/faulty.js';
import { MemoryDestination, memoryStore } from '../../src/destinations/memory.js';
import { hashBytes } from '../../src/hash.js';
import { cleanupTempDirs } from '../helpers.js';
import { ConformanceHarness, listAll, pseudoRandomBytes, putBytes, readAll, runConformance } from './conformance.js';

interface FaultyHarness extends ConformanceHarness {
  destination: FaultyDestination;
}

function makeFaulty(name: string): FaultyHarness {
  const store = memoryStore();
  return {
    destination: new FaultyDestination(new MemoryDestination(name, store)),
    sameRoot: (other) => new FaultyDestination(new MemoryDestination(other, store)),
    createUnmarkedRoot: () => void (store.rootExists = true),
  };
}

runConformance('faulty (no faults, over memory)', {
  make: makeFaulty,
  unreachableWays: {
    "a 'fail every method' fault": ({ destination }) => destination.inject({ kind: 'fail', method: '*' }),
  },
});

describe('faulty destination: each fault is observable', () => {
  let destination: FaultyDestination;
  const truth = Buffer.from('the stored bytes');

  beforeEach(async () => {
    destination = makeFaulty('nas').destination;
    await destination.init();
    await putBytes(destination, 'vol/a.txt', truth);
  });
  afterEach(() => cleanupTempDirs());

  it('fail nth: only the nth matching call throws', async () => {
    // setup
    destination.inject({ kind: 'fail', method: 'stat', nth: 2 });

    // act
    const outcomes = [];
    for (let call = 1; call <= 3; call++) outcomes.push(await destination.stat('vol/a.txt').then((r) => r.kind, (e: unknown) => (e instanceof DestinationUnavailableError ? 'unavailable' : 'other')));

    // expect
    expect(outcomes).toEqual(['present', 'unavailable', 'present']);
    expect(destination.callCounts.get('stat')).toBe(3);
  });

  it('fail on one path: a put there throws and nothing lands; other paths are unaffected', async () => {
    // setup
    destination.inject({ kind: 'fail', method: 'put', path: 'vol/b.txt' });

    // act
    const failed = putBytes(destination, 'vol/b.txt', Buffer.from('b'));
    await putBytes(destination, 'vol/c.txt', Buffer.from('c'));

    // expect
    await expect(failed).rejects.toThrow(/injected fault/);
    expect(await destination.stat('vol/b.txt')).toEqual({ kind: 'absent' });
    expect(await destination.stat('vol/c.txt')).toEqual({ kind: 'present', sizeBytes: 1 });
  });

  it('fail a read after some bytes: the bytes before the error arrive, then it throws', async () => {
    // setup
    const big = pseudoRandomBytes(3 << 20, 3);
    await putBytes(destination, 'vol/big.bin', big);
    destination.inject({ kind: 'fail', method: 'read', path: 'vol/big.bin', afterBytes: (1 << 20) + 5 });
    const received: Buffer[] = [];

    // act
    const reading = (async () => {
      for await (const chunk of destination.read('vol/big.bin')) received.push(Buffer.from(chunk));
    })();

    // expect
    await expect(reading).rejects.toBeInstanceOf(DestinationUnavailableError);
    expect(Buffer.concat(received).equals(big.subarray(0, (1 << 20) + 5))).toBe(true);
  });

  it('fail list: iterating the listing throws', async () => {
    // setup
    destination.inject({ kind: 'fail', method: 'list' });

    // act + expect
    await expect(listAll(destination, 'vol')).rejects.toBeInstanceOf(DestinationUnavailableError);
  });

  it('corrupt: stat still says present with the right size; only hash shows the damage', async () => {
    // setup
    destination.inject({ kind: 'corrupt', path: 'vol/a.txt', offset: 3 });

    // act
    const stat = await destination.stat('vol/a.txt');
    const hashed = await destination.hash('vol/a.txt');
    const read = await readAll(destination, 'vol/a.txt');

    // expect
    expect(stat).toEqual({ kind: 'present', sizeBytes: truth.length });
    expect(hashed).toMatchObject({ kind: 'present', sizeBytes: truth.length, method: 'blake3-readback' });
    expect(hashed.kind === 'present' && hashed.blake3.equals(hashBytes(truth))).toBe(false);
    expect(read.bytes.length).toBe(truth.length);
    expect([...read.bytes].filter((byte, i) => byte !== truth[i]).length).toBe(1);
  });

  it('corrupt an empty file: it reads as one byte, so even its hash differs', async () => {
    // setup
    await putBytes(destination, 'vol/empty.bin', Buffer.alloc(0));
    destination.inject({ kind: 'corrupt', path: 'vol/empty.bin' });

    // act
    const hashed = await destination.hash('vol/empty.bin');

    // expect
    expect(hashed.kind === 'present' && hashed.blake3.equals(hashBytes(Buffer.alloc(0)))).toBe(false);
  });

  it('lose: put resolves, yet the file is absent to stat, hash and list (a destination that lies)', async () => {
    // setup
    destination.inject({ kind: 'lose' });

    // act
    await putBytes(destination, 'vol/lost.txt', Buffer.from('never stored'));

    // expect
    expect(await destination.stat('vol/lost.txt')).toEqual({ kind: 'absent' });
    expect(await destination.hash('vol/lost.txt')).toEqual({ kind: 'absent' });
    expect((await listAll(destination, 'vol')).map((file) => file.path)).toEqual(['vol/a.txt']);
  });

  it('stale-list: the listing misses a file that stat and hash see', async () => {
    // setup
    destination.inject({ kind: 'stale-list' });
    const before = await listAll(destination, 'vol');

    // act
    await putBytes(destination, 'vol/new.txt', Buffer.from('new'));
    const after = await listAll(destination, 'vol');

    // expect
    expect(after).toEqual(before);
    expect(after.map((file) => file.path)).not.toContain('vol/new.txt');
    expect(await destination.stat('vol/new.txt')).toEqual({ kind: 'present', sizeBytes: 3 });
    expect(await destination.hash('vol/new.txt')).toMatchObject({ kind: 'present', blake3: hashBytes(Buffer.from('new')) });
  });

  it('reread-differs: the first hash matches, the second read of the same path does not', async () => {
    // setup
    destination.inject({ kind: 'reread-differs', path: 'vol/a.txt' });

    // act
    const first = await destination.hash('vol/a.txt');
    const second = await destination.hash('vol/a.txt');
    const third = await readAll(destination, 'vol/a.txt');

    // expect
    expect(first.kind === 'present' && first.blake3.equals(hashBytes(truth))).toBe(true);
    expect(second.kind === 'present' && second.blake3.equals(hashBytes(truth))).toBe(false);
    expect(third.bytes.equals(truth)).toBe(false);
  });

  it('clearFaults makes the destination honest again', async () => {
    // setup
    destination.inject({ kind: 'corrupt' });
    destination.inject({ kind: 'fail', method: 'stat' });

    // act
    destination.clearFaults();

    // expect
    expect(await destination.stat('vol/a.txt')).toEqual({ kind: 'present', sizeBytes: truth.length });
    expect(await destination.hash('vol/a.txt')).toMatchObject({ blake3: hashBytes(truth) });
  });
});
