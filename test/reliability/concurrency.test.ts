// Concurrency, quick version: six kinds of real squirrel processes at once on one volume for a
// few seconds, a few of them SIGKILLed along the way, then the checks (no crash or SQLITE_BUSY, busy refusals name a real run, no lost
// vector update, invariants); and the race the offload gate exists for, at both points between
// plan and unlink. The soak script runs more rounds and races.

import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs } from '../helpers.js';
import { GATE_RACE_POINTS, runConcurrencyRounds, runGateRaces } from './concurrency.js';
import { seedFromEnv } from './seed.js';

afterAll(cleanupTempDirs);

describe('concurrency', () => {
  it('index, sync, verify, offload --dry-run, offload and restore at once, some SIGKILLed: no crash, busy refusals name the blocker, no lost vector update, invariants hold', async () => {
    // setup
    const seed = seedFromEnv(0xc0c0);
    // act
    const summary = await runConcurrencyRounds({ rounds: 1, roundMs: 9_000, seed, killEveryMs: 1_500 });
    // expect
    expect(summary.violations, `replay with SQUIRREL_RELIABILITY_SEED=${seed}`).toEqual([]);
    expect(summary.commands).toBeGreaterThan(12);
    expect(summary.vectorWrites).toBeGreaterThan(0);
  }, 120_000);

  it('a verify that records a bad copy between an offload plan and its unlink stops that unlink', async () => {
    // setup
    const seed = seedFromEnv(0x9a7e);
    // act
    const summary = await runGateRaces({ trials: 4, seed });
    // expect
    expect(summary.violations, `replay with SQUIRREL_RELIABILITY_SEED=${seed}`).toEqual([]);
    expect(summary.races).toBe(4);
    for (const point of GATE_RACE_POINTS) expect(summary.byPoint[point], point).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
