import { defineConfig } from 'vitest/config';

// Opt-in suite for multi-GiB files: `npm run test:slow`. Never part of `npm test`.
export default defineConfig({
  test: {
    include: ['test/slow/**/*.test.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 30 * 60_000,
    pool: 'forks',
    globalSetup: ['test/helpers/oracle-setup.ts'],
    fileParallelism: false,
  },
});
