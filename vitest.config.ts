import { defineConfig } from 'vitest/config';
import { INTEGRATION } from './vitest.integration.config.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/slow: multi-GiB files, `npm run test:slow`. The bench harness runs: `npm run test:bench`. Browser pages,
    // the packed tarball, the docs' examples and process kills: `npm run test:integration`. CI (.ci/run) runs
    // npm test, the integration suite and the bench runs.
    exclude: ['test/slow/**', 'test/bench/**', ...INTEGRATION, 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most test files spend their time waiting for a child process (the CLI, the Python oracle, a server), so
    // files run three at a time even on two CPUs; vitest's default (CPUs - 1) would run them one at a time there.
    maxWorkers: 3,
    // Provisions the Python oracle (a pinned venv under node_modules/.cache) before any test file runs.
    globalSetup: ['test/helpers/oracle-setup.ts'],
  },
});
