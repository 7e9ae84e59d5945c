import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // One PostgreSQL server for the run (or TEST_DATABASE_URL's); the run fails if there is none.
    globalSetup: ['test/helpers/postgres-server.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
