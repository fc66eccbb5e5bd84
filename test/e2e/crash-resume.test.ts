import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed, vi } from 'vitest';
import {
  decidedTotal,
  doubleCharges,
  readEvents,
  readLedger,
  runArgs,
  runToCompletion,
  startCli,
  stopDynamoDbServing,
} from '../support/cli-runs.ts';
import { type Corpus, sandboxFaults, writeCorpus } from './support.ts';

/** A child run takes 40-50 s here (a duplicate waits out its 30 s redelivery); leave room for a busy machine. */
const E2E_TIMEOUT_MS = 180_000;

const BATCH = 'e2e-crash';

/**
 * The runs file every log at INFO in <state>/logs/pipeline.log (why each selfie waited, which twin
 * it waited for). A failed run keeps its folder and prints where, so the cause can be read afterwards.
 */
const CHILD_ENV = { POWERTOOLS_LOG_LEVEL: 'INFO' };

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('liveness-batch run killed with SIGKILL mid-run, then run again (child processes)', () => {
  let root: string;
  let corpusDir: string;
  let stateDir: string;
  let corpus: Corpus;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lb-e2e-crash-'));
    corpusDir = join(root, 'corpus');
    stateDir = join(root, 'state');
    corpus = await writeCorpus(corpusDir, 40);
  }, E2E_TIMEOUT_MS);

  let keepForDiagnosis = false;

  afterAll(async () => {
    stopDynamoDbServing(stateDir);
    if (keepForDiagnosis) {
      console.error(
        `crash-resume failed: its corpus and state are kept in ${root} (see state/logs/pipeline.log)`,
      );
      return;
    }
    await rm(root, { recursive: true, force: true });
  });

  it(
    'resumes to every file decided, with no reference charged twice and one event per selfie',
    async () => {
      onTestFailed(() => {
        keepForDiagnosis = true;
      });
      // Prepare: a slow vendor and few slots, so the kill lands while calls are in flight. The vendor
      // deduplicates repeated references here: this test is about the resume resending the open
      // references (the reliability suite also covers a vendor that charges every request).
      const args = runArgs(corpusDir, BATCH, stateDir, '--seed', 'e2e-crash', '--dedupe-references', 'on');
      const slow = [...sandboxFaults.slice(0, 4), '--latency-ms', '150-400', '--concurrency', '4'];
      const first = startCli([...args, ...slow], CHILD_ENV);
      await vi.waitFor(
        async () => {
          // The run to kill mid-way must still be running (waitFor reports this if it never is).
          if (first.child.exitCode !== null)
            throw new Error(`the first run ended early:\n${(await first.done).stderr}`);
          expect(readLedger(stateDir).filter((e) => e.charged).length).toBeGreaterThanOrEqual(6);
        },
        { timeout: 60_000, interval: 100 },
      );

      // Act: kill the CLI process only (its DynamoDB Local is orphaned, as after a real crash), then rerun
      first.child.kill('SIGKILL');
      const killed = await first.done;
      const orphanPid = Number(readFileSync(join(stateDir, 'dynamodb.pid'), 'utf8'));
      const result = await runToCompletion([...args, ...slow], CHILD_ENV);

      // Assess: the crash happened mid-run and the rerun recovered from it
      expect(killed.signal).toBe('SIGKILL');
      expect(killed.stdout).toBe('');
      expect(isAlive(orphanPid)).toBe(false);
      expect(existsSync(join(stateDir, 'dynamodb.pid'))).toBe(false);
      expect(result.recovered?.unfinished).toBeGreaterThan(0);

      // Assess: every file terminal
      expect(result.total).toBe(corpus.files.length);
      expect(decidedTotal(result)).toBe(corpus.files.length);
      expect(result.decidedThisRun).toBeGreaterThan(0);

      // Assess: money and events
      const ledger = readLedger(stateDir);
      expect(doubleCharges(ledger)).toEqual([]);
      const events = readEvents(stateDir);
      expect(new Set(events.map((e) => e.selfieId)).size).toBe(corpus.files.length);
      expect(events).toHaveLength(corpus.files.length);
    },
    E2E_TIMEOUT_MS,
  );
});
