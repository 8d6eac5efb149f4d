// Hostile configuration: hundreds of generated mutations of config.example.yaml (wrong types,
// unknown keys, bad durations and names, dangling references, unset env secrets, overlaps,
// YAML syntax errors). Each must be exit 2 naming its key path, never a stack trace, never a
// secret's value. Most run in-process; a sample runs through the real binary.

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, cleanupTempDirs, cli, tempDir } from '../helpers.js';
import { configMutations, judgeConfigError, runConfigMutations, SECRET_ENV } from './hostile.js';
import { seedFromEnv } from './seed.js';

afterAll(cleanupTempDirs);

describe('hostile configuration', () => {
  it('refuses 520 generated broken configs with exit 2 and the key path, never a crash or a secret', async () => {
    // setup
    const seed = seedFromEnv(0xc0f16);
    // act
    const summary = await runConfigMutations({ seed, count: 520, cli });
    // expect
    expect(summary.violations, `replay with SQUIRREL_RELIABILITY_SEED=${seed}`).toEqual([]);
    expect(summary.inputs).toBeGreaterThanOrEqual(500);
  });

  it('covers every kind of mutation', () => {
    // act
    const kinds = new Set(configMutations(seedFromEnv(0xc0f16), 520).map((m) => m.kind));
    // expect
    expect([...kinds].sort()).toEqual(['bad-name', 'env', 'missing-required', 'overlap', 'reference', 'top-level', 'unknown-key', 'wrong-type', 'yaml-syntax']);
  });

  it('answers the same through the real binary for a sample of them', () => {
    // setup
    const dir = tempDir();
    const file = path.join(dir, 'config.yaml');
    const sample = configMutations(seedFromEnv(0xb1a), 6);
    const unset = Object.fromEntries(Object.keys(SECRET_ENV).map((k) => [k, undefined]));
    for (const m of sample) {
      fs.writeFileSync(file, m.text);
      // act
      const result = bin(['--config', file, 'config', 'check'], { env: { ...unset, ...m.env } });
      // expect
      expect(judgeConfigError(m, result, false)).toBeNull();
    }
  });
});
