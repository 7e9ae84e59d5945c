import { defineConfig } from 'vitest/config';

/** The suites that run on both engines: everything that reads or writes through the database. */
const BOTH_ENGINES = ['test/services/**/*.test.ts', 'test/jobs/**/*.test.ts', 'test/security/**/*.test.ts', 'test/github/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/drills/**/*.test.ts'];

export default defineConfig({
  test: {
    environment: 'node',
    // One PostgreSQL server for the run (or TEST_DATABASE_URL's); the run fails if there is none.
    globalSetup: ['test/helpers/postgres-server.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'postgres', include: BOTH_ENGINES, env: { JAMJET_TEST_ENGINE: 'postgres' } } },
    ],
  },
});
