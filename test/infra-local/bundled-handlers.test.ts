import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BundleLoadError } from '../../local-cloud/handlers.ts';
import { startLocalCloud } from '../../local-cloud/host.ts';
import { readLiveHost, statePaths } from '../../local-cloud/state-dir.ts';
import { repoRoot } from '../support/cli-runs.ts';

const BUILD_TIMEOUT_MS = 120_000;
const MISSING_PACKAGE = 'liveness-batch-no-such-package';

/**
 * The worker, plus what breaks bundles in practice: a require() whose name esbuild cannot see, so
 * the package is neither bundled nor installed beside the bundle.
 */
function brokenWorkerSource(): string {
  return [
    `export * from ${JSON.stringify(join(repoRoot, 'functions', 'worker.ts'))};`,
    `const name = [${MISSING_PACKAGE.split('-')
      .map((p) => JSON.stringify(p))
      .join(', ')}].join('-');`,
    'require(name);',
    '',
  ].join('\n');
}

describe('the local cloud on bundles built as the stack builds them (--bundled)', () => {
  let root: string;
  let brokenEntry: string;

  beforeAll(async () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    root = await mkdtemp(join(tmpdir(), 'lb-bundled-'));
    brokenEntry = join(root, 'broken-worker.ts');
    await writeFile(brokenEntry, brokenWorkerSource());
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await rm(root, { recursive: true, force: true });
  });

  it(
    'a bundle with a dynamic require of a missing package stops the local cloud from starting, naming both, and leaves nothing running',
    async () => {
      // Prepare
      const stateDir = join(root, 'state');
      // Act
      const starting = startLocalCloud({
        stateDir,
        mode: 'run',
        concurrency: 2,
        sandbox: { seed: 'bundled' },
        handlers: { kind: 'bundled', dir: join(root, 'broken-host'), entries: { worker: brokenEntry } },
      });
      // Assess
      await expect(starting).rejects.toBeInstanceOf(BundleLoadError);
      await expect(starting).rejects.toThrow(
        new RegExp(
          `The worker bundle .* does not load.*Cannot find (module|package) '${MISSING_PACKAGE}'`,
          's',
        ),
      );
      expect(readLiveHost(statePaths(stateDir))).toBeUndefined();
      expect(existsSync(statePaths(stateDir).dynamodbPid)).toBe(false);
    },
    BUILD_TIMEOUT_MS,
  );
});
