import { defineConfig } from 'vitest/config';

// Every test file removes the temporary folders it made (test/support/temp.ts).
const setupFiles = ['./test/support/temp-cleanup.ts'];
const withServers = { globalSetup: ['./test/support/global-setup.ts'], setupFiles, testTimeout: 60_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], setupFiles } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], ...withServers } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], ...withServers, testTimeout: 120_000 } },
    ],
  },
});
