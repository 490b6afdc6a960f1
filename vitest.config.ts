import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/slow/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Provisions the Python oracle (a pinned venv under node_modules/.cache) before any test file runs.
    globalSetup: ['test/helpers/oracle-setup.ts'],
  },
});
