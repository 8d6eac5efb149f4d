// Crash injection, quick version: at least 50 SIGKILLs of real squirrel processes, every named
// step boundary among them, each followed by the next command and the invariant checker. Two
// worlds run side by side (2 cores); the soak script runs the same generator with a thousand
// kills and more.

import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs } from '../helpers.js';
import { PAUSE_POINTS, runCrashTrials } from './crash.js';
import { seedFromEnv } from './seed.js';

afterAll(cleanupTempDirs);

describe('crash injection', () => {
  it('kills index, sync, verify, offload and restore at every step and at random; the next command leaves every invariant intact', async () => {
    // setup
    const seed = seedFromEnv(0x5eed01);
    // act
    const halves = await Promise.all([runCrashTrials({ kills: 26, seed }), runCrashTrials({ kills: 26, seed: seed + 1 })]);
    // expect
    expect(halves.flatMap((h) => h.violations), `replay with SQUIRREL_RELIABILITY_SEED=${seed}`).toEqual([]);
    expect(halves[0].kills + halves[1].kills).toBeGreaterThanOrEqual(50);
    for (const point of Object.values(PAUSE_POINTS).flat()) {
      expect(halves[0].boundaryKills[point] ?? 0, `kills at ${point}`).toBeGreaterThanOrEqual(1);
    }
    expect(halves.reduce((n, h) => n + h.jitterKills + h.randomKills, 0)).toBeGreaterThanOrEqual(8);
  }, 240_000);
});
