import { defineConfig } from 'vitest/config';

// The API suite runs twice: on the embedded SQLite and on the local PostgreSQL (a fresh database per server).
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'test/*.test.ts',
            'test/engine/**/*.test.ts',
            'test/apple/**/*.test.ts',
            'test/events/**/*.test.ts',
            'test/store/**/*.test.ts',
            'test/http/**/*.test.ts',
            'test/actions/**/*.test.ts',
            'test/client/**/*.test.ts',
            'test/cli/**/*.test.ts',
            'test/google/**/*.test.ts',
          ],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          // the web app in headless Chromium (Debian's chromium, driven by playwright-core), on SQLite
          name: 'browser',
          include: ['test/web/**/*.test.ts'],
          env: { PASSSLOT_TEST_DB: 'sqlite' },
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'api-sqlite',
          include: ['test/api/**/*.test.ts'],
          env: { PASSSLOT_TEST_DB: 'sqlite' },
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'api-postgres',
          include: ['test/api/**/*.test.ts'],
          env: { PASSSLOT_TEST_DB: 'postgres' },
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
