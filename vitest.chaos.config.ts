import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: the chaos runs, minutes each, kept out of `npm test` (CI runs both). */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 900_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
});
