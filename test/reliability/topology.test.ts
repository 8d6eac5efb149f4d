// Topologies, quick version: a handful of generated storage setups (links, bind mounts, an
// exFAT drive, two nodes on one NAS, hand-deleted history, places joined later), each run
// step by step through the real binary with the physical-copy invariant checker after every
// step. The soak runs the same generator with many more worlds.

import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs } from '../helpers.js';
import { seedFromEnv } from './seed.js';
import { runTopologyTrials } from './topology.js';

afterAll(cleanupTempDirs);

describe('topologies', () => {
  it('over generated storage setups, no offloaded file ever rests on fewer than its distinct physical copies', async () => {
    // setup
    const seed = seedFromEnv(0x7090);
    // act
    const summary = await runTopologyTrials({ trials: 6, seed, stepsPerTrial: 12 });
    // expect
    expect(summary.violations, `replay with SQUIRREL_RELIABILITY_SEED=${seed}`).toEqual([]);
    expect(summary.trials).toBe(6);
    expect(summary.offloaded).toBeGreaterThan(0);
  }, 240_000);
});
