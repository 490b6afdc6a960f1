import { defineConfig } from 'vitest/config';

/**
 * The integration suite: `npm run test:integration` (CI runs it from .ci/run after `npm test`). What it runs is
 * slow by nature rather than large: pages in a real Chromium, the packed tarball installed into a fresh project,
 * every example of the README and docs/ run against the built package, processes killed mid-write, a 65 536-member
 * archive against np.savez, and the built CLI end to end over stdin, HTTP servers (send, nginx) and object stores.
 * Kept out of `npm test` so that the everyday run stays under four minutes on two vCPUs.
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
  'test/hostile/concurrency.test.ts',
  'test/npz/save-zip64.test.ts',
  // The built CLI end to end (its pure parts stay in npm test: test/cli/units.test.ts, test/cli/hugepages.test.ts).
  'test/cli/basics.test.ts',
  'test/cli/cat.test.ts',
  'test/cli/convert.test.ts',
  'test/cli/extract-pack.test.ts',
  'test/cli/ls-verify.test.ts',
  'test/cli/stats-diff.test.ts',
  'test/slice/cli.test.ts',
  'test/view/command.test.ts',
  'test/stream/cli.test.ts',
  'test/remote/cli.test.ts',
  'test/remote/static-servers.test.ts',
  'test/objectstore/cli.test.ts',
  'test/safetensors/convert-cli.test.ts',
  'test/cli/demo.test.ts',
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
