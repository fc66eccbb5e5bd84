import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localResourceNames } from '../../local-cloud/resources.ts';
import { transactionReferenceFor } from '../../shared/liveness/reference.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import {
  decidedTotal,
  doubleCharges,
  readEvents,
  readLedger,
  runArgs,
  runToCompletion,
  stopDynamoDbServing,
} from '../support/cli-runs.ts';
import { type Corpus, sandboxFaults, writeCorpus } from './support.ts';

/** A child run takes 40-50 s here (a duplicate waits out its 30 s redelivery); leave room for a busy machine. */
const E2E_TIMEOUT_MS = 180_000;

const BATCH = 'e2e-faults';

describe('liveness-batch run over a faulty sandbox (child process, real emulators)', () => {
  let root: string;
  let corpusDir: string;
  let stateDir: string;
  let corpus: Corpus;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lb-e2e-faults-'));
    corpusDir = join(root, 'corpus');
    stateDir = join(root, 'state');
    corpus = await writeCorpus(corpusDir);
  }, E2E_TIMEOUT_MS);

  afterAll(async () => {
    stopDynamoDbServing(stateDir);
    await rm(root, { recursive: true, force: true });
  });

  it(
    'decides every file, charges each reference once, never charges a rejected file, archives one event per selfie',
    async () => {
      // Act
      const result = await runToCompletion(
        runArgs(corpusDir, BATCH, stateDir, '--seed', 'e2e-faults', ...sandboxFaults),
      );

      // Assess: every file terminal
      expect(result.total).toBe(corpus.files.length);
      expect(decidedTotal(result)).toBe(result.total);
      expect(result.decisions.REJECTED).toBeGreaterThanOrEqual(corpus.badFiles.length);
      expect(result.duplicatesReused).toBeGreaterThanOrEqual(1);

      // Assess: money
      const ledger = readLedger(stateDir);
      expect(doubleCharges(ledger)).toEqual([]);
      expect(ledger.filter((e) => e.charged)).toHaveLength(result.paidCalls);
      const sentReferences = new Set(ledger.map((e) => e.transactionReference));
      for (const file of corpus.badFiles) {
        const selfieId = selfieIdOf({ bucket: localResourceNames.bucket, key: `uploads/${BATCH}/${file}` });
        for (let attempt = 1; attempt <= 20; attempt++) {
          expect(sentReferences.has(transactionReferenceFor(selfieId, attempt))).toBe(false);
        }
      }

      // Assess: exactly one archived event per selfie, with the decision the summary counted
      const events = readEvents(stateDir);
      const selfieIds = new Set(events.map((e) => e.selfieId));
      expect(events).toHaveLength(result.total);
      expect(selfieIds.size).toBe(result.total);
      const byKey = new Map(events.map((e) => [e.key, e.decision]));
      for (const file of corpus.badFiles) expect(byKey.get(`uploads/${BATCH}/${file}`)).toBe('REJECTED');
      expect(
        byKey.has(`uploads/${BATCH}/face 7.webp`) ||
          byKey.has(`uploads/${BATCH}/face 7.jpg`) ||
          byKey.has(`uploads/${BATCH}/face 7.png`),
      ).toBe(true);
    },
    E2E_TIMEOUT_MS,
  );

  it(
    'pays for nothing again when the same folder is run a second time',
    async () => {
      // Prepare
      const paidBefore = readLedger(stateDir).filter((e) => e.charged).length;

      // Act
      const again = await runToCompletion(runArgs(corpusDir, BATCH, stateDir));

      // Assess
      expect(again.decidedThisRun).toBe(0);
      expect(readLedger(stateDir).filter((e) => e.charged)).toHaveLength(paidBefore);
      expect(readEvents(stateDir)).toHaveLength(corpus.files.length);
    },
    E2E_TIMEOUT_MS,
  );
});
