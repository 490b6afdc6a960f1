import { defineConfig } from 'vitest/config';

/**
 * The integration suite: `npm run test:integration` (CI runs it from .ci/run after `npm test`). What it runs is
 * slow by nature rather than large: pages in a real Chromium, the packed tarball installed into a fresh project,
 * every example of the README and docs/ run against the built package, processes killed mid-write, and a
 * 65 536-member archive against np.savez. Kept out of `npm test` so that the everyday run stays a few minutes.
 */
export const INTEGRATION = [
  'test/browser/corpus.test.ts',
  'test/browser/http.test.ts',
  'test/browser/save.test.ts',
  'test/view/page.test.ts',
  'test/view/static.test.ts',
  'test/package.test.ts',
  'test/readme-examples.test.ts',
  'test/readme-cli.test.ts',
  'test/hostile/writer-faults.test.ts',
  'test/npz/save-zip64.test.ts',
];

export default defineConfig({
  test: {
    include: INTEGRATION,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 3,
    globalSetup: ['test/helpers/oracle-setup.ts'],
  },
});
