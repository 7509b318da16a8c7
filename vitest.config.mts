import * as os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-tmp.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // A worker keeps the modules one test file imported for the next (each file imported them anew:
    // 93 s of the suite's work). Tests that set module state (table width, row view) set it themselves.
    isolate: false,
    // Test files wait on the child processes they start (exflow, tshark) as much as they
    // compute: two files per core keeps a small machine busy. VITEST_MAX_WORKERS overrides.
    maxWorkers: Number(process.env.VITEST_MAX_WORKERS) || Math.max(2, os.availableParallelism()),
  },
});
