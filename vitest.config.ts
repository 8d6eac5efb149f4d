// Four lanes of tests, each runnable alone (`npm run test:unit`, ...): `unit` is in-process and
// fast; `cli` spawns bin/squirrel; `network` starts sshd and s3rver on loopback; `reliability`
// runs the generated crash, race and hostile-input suites. `npm test` runs them all. Every run
// first rebuilds dist/ when src/ is newer (test/global-setup.ts): the binary never runs stale code.

import { defineConfig } from 'vitest/config';

const NETWORK = ['test/destinations/sftp.test.ts', 'test/destinations/s3.test.ts', 'test/cli/network-e2e.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Subprocess-heavy end-to-end tests share 2 cores; keep parallelism modest.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/*.test.ts', 'test/config/**/*.test.ts', 'test/store/**/*.test.ts', 'test/core/**/*.test.ts', 'test/destinations/**/*.test.ts'],
          // bad-configs runs the binary once per config in its table.
          exclude: ['test/config/bad-configs.test.ts', ...NETWORK],
        },
      },
      {
        extends: true,
        test: {
          name: 'cli',
          include: ['test/cli/**/*.test.ts', 'test/config/bad-configs.test.ts'],
          exclude: NETWORK,
        },
      },
      { extends: true, test: { name: 'network', include: NETWORK } },
      { extends: true, test: { name: 'reliability', include: ['test/reliability/**/*.test.ts'] } },
    ],
  },
});
