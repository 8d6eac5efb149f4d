// The in-memory destination passes the same conformance suite as a real directory, so unit
// tests written against it hold on a drive too.

import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDestination, memoryStore } from '../../src/destinations/memory.js';
import { cleanupTempDirs } from '../helpers.js';
import { ConformanceHarness, putBytes, runConformance } from './conformance.js';

interface MemoryHarness extends ConformanceHarness {
  destination: MemoryDestination;
}

function makeMemory(name: string): MemoryHarness {
  const store = memoryStore();
  return {
    destination: new MemoryDestination(name, store),
    sameRoot: (other) => new MemoryDestination(other, store),
    createUnmarkedRoot: () => void (store.rootExists = true),
  };
}

runConformance('memory', {
  make: makeMemory,
  unreachableWays: {
    'the destination stops answering': ({ destination }) => destination.setUnreachable('simulated outage'),
  },
});

describe('memory destination', () => {
  afterEach(() => cleanupTempDirs());

  it('stores a copy of the bytes, not the caller buffer', async () => {
    // setup
    const { destination } = makeMemory('nas');
    await destination.init();
    const bytes = Buffer.from('original');

    // act
    await putBytes(destination, 'vol/a.txt', bytes);
    bytes.write('mutated!');

    // expect
    expect(destination.bytesAt('vol/a.txt')?.toString()).toBe('original');
  });
});
