process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

import { defineConfig } from 'vitest/config';

/**
 * The reliability suite (`npm run test:reliability`): the CLI as a child process over a hostile
 * corpus, under sandbox faults, killed with SIGKILL and restarted. Slow by nature, so it is kept out
 * of `npm test`; one file at a time, since each run owns the machine's two cores.
 */
export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'WARN' },
  },
});
