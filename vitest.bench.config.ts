import { defineConfig } from 'vitest/config';

// The benchmark harnesses (bench/run.ts, bench/one-shot.ts, bench/slices.ts) run end to end at the smallest scale:
// `npm run test:bench` (CI runs it after `npm test`). Kept out of `npm test` because they spend their time running
// the benchmark cases, not checking the library.
export default defineConfig({
  test: {
    include: ['test/bench/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    globalSetup: ['test/helpers/oracle-setup.ts'],
  },
});
