import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Subprocess-heavy end-to-end tests share 2 cores; keep parallelism modest.
    maxWorkers: 2,
  },
});
