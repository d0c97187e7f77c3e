import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The chaos runs take minutes: `npm run test:chaos` (and .ci/run) runs them.
    exclude: ['test/chaos/**', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real ffmpeg and brokers share two cores: keep file-level parallelism modest.
    maxWorkers: 2,
  },
});
