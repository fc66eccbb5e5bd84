import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decidedTotal,
  doubleCharges,
  parseRunResult,
  readEvents,
  readLedger,
  runArgs,
  runToCompletion,
  startCli,
  stopDynamoDbServing,
} from '../support/cli-runs.ts';
import { type Corpus, sandboxFaults, writeCorpus } from './support.ts';

/** Two child runs of 40-50 s each here, plus the build of the bundles; leave room for a busy machine. */
const E2E_TIMEOUT_MS = 300_000;

const BATCH = 'e2e-bundled';

/** Each file's decision, by key, from the events a run archived. */
function decisionsByKey(stateDir: string): Record<string, string> {
  return Object.fromEntries(
    readEvents(stateDir)
      .map((e) => [e.key, e.decision] as const)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

describe('liveness-batch run --bundled: the deployed bundles over the faulty corpus (child processes, real emulators)', () => {
  let root: string;
  let corpusDir: string;
  let corpus: Corpus;
  const sourceState = () => join(root, 'state-source');
  const bundledState = () => join(root, 'state-bundled');

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lb-e2e-bundled-'));
    corpusDir = join(root, 'corpus');
    corpus = await writeCorpus(corpusDir);
  }, E2E_TIMEOUT_MS);

  afterAll(async () => {
    stopDynamoDbServing(sourceState());
    stopDynamoDbServing(bundledState());
    await rm(root, { recursive: true, force: true });
  });

  it(
    'decides every file as the source run does, charges each reference once, one event per selfie',
    async () => {
      // Prepare: the same corpus, faults and seed through the source
      const faults = ['--seed', 'e2e-bundled', ...sandboxFaults];
      const fromSource = await runToCompletion(runArgs(corpusDir, BATCH, sourceState(), ...faults));

      // Act
      const run = startCli(runArgs(corpusDir, BATCH, bundledState(), '--bundled', ...faults));
      const exit = await run.done;

      // Assess: it ran the bundles, the worker's with sharp beside it
      expect(exit.code, exit.stderr).toBe(0);
      expect(exit.stderr).toContain('handlers bundled as deployed');
      expect(existsSync(join(bundledState(), 'bundles', 'worker', 'index.mjs'))).toBe(true);
      expect(existsSync(join(bundledState(), 'bundles', 'worker', 'node_modules', 'sharp'))).toBe(true);

      // Assess: the same outcomes as the source
      const bundled = parseRunResult(exit.stdout);
      expect(bundled.total).toBe(corpus.files.length);
      expect(decidedTotal(bundled)).toBe(bundled.total);
      expect(bundled.decisions).toEqual(fromSource.decisions);
      expect(decisionsByKey(bundledState())).toEqual(decisionsByKey(sourceState()));

      // Assess: money and events
      const ledger = readLedger(bundledState());
      expect(doubleCharges(ledger)).toEqual([]);
      expect(ledger.filter((e) => e.charged)).toHaveLength(bundled.paidCalls);
      expect(readEvents(bundledState())).toHaveLength(corpus.files.length);
    },
    E2E_TIMEOUT_MS,
  );
});
