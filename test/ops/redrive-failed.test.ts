import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRedrive } from '../../cli/redrive.ts';
import { AuditQueries } from '../../operations/audit-queries.ts';
import { OperatorHistory } from '../../operations/selfie-history.ts';
import { parseVerifySelfieMessage } from '../../shared/messages.ts';
import { NO_CALLS } from '../../shared/results/selfie-lifecycle.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { reason } from '../../shared/verification/reasons.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { createPipelineFixture, type PipelineFixture } from '../support/pipeline.ts';
import { captureIo, describePipelineAsRunningHost } from './support.ts';

let pipeline: PipelineFixture;
let stateDir: string;
let host: { stop(): void };

const keysOf = (batch: string, n: number) =>
  Array.from({ length: n }, (_, i) => `uploads/${batch}/face-${i + 1}.jpg`);
const FAILED_BATCH = keysOf('rf', 3);
const OTHER_BATCH = keysOf('rf-other', 1);
const CUT_BATCH = keysOf('rf-cut', 1);
const idOf = (key: string) => selfieIdOf({ bucket: pipeline.bucket, key });

/**
 * Uploads and enqueues faces, then records each FAILED through the lifecycle the worker uses (lease,
 * then the decision transaction): the same items and counts a vendor outage leaves, without depending
 * on which vendor answers end a selfie FAILED.
 */
async function failedSelfies(keys: string[], seed: number) {
  const records = [];
  for (const [i, key] of keys.entries()) {
    records.push(
      await pipeline.upload(key, await syntheticFace({ seed: seed + i, width: 240, height: 320 })),
    );
  }
  await pipeline.enqueue(records);
  for (const key of keys) {
    const selfieId = idOf(key);
    const at = new Date().toISOString();
    const lease = await pipeline.repository.acquireLease(selfieId, {
      id: `test-${selfieId}`,
      until: Date.now() + 60_000,
      receiveCount: 1,
      at,
    });
    if (lease.status !== 'acquired') throw new Error(`no lease on ${selfieId}`);
    const result = await pipeline.repository.getResult(selfieId);
    await pipeline.repository.recordDecision(
      { selfieId, batchId: result?.batchId ?? '', leaseId: `test-${selfieId}` },
      {
        decision: 'FAILED',
        reason: reason('VENDOR_ERROR', 'the vendor answered 403 (test)'),
        decidedAt: at,
        totals: NO_CALLS,
        summarized: NO_CALLS,
      },
    );
  }
  // The enqueued messages find their results FAILED: the worker skips and deletes them.
  await pipeline.drain();
}

async function workMessages() {
  const out = await pipeline.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: pipeline.workQueue.queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      VisibilityTimeout: 0,
    }),
  );
  return (out.Messages ?? []).map((m) => parseVerifySelfieMessage(m.Body ?? ''));
}

const redrive = async (...argv: string[]) => {
  const io = captureIo();
  const code = await runRedrive([...argv, '--state-dir', stateDir], io);
  return { code, out: io.out() };
};

beforeAll(async () => {
  pipeline = await createPipelineFixture();
  await failedSelfies(FAILED_BATCH, 1300);
  await failedSelfies(OTHER_BATCH, 1400);
  await failedSelfies(CUT_BATCH, 1500);
  stateDir = mkdtempSync(join(tmpdir(), 'redrive-failed-'));
  host = describePipelineAsRunningHost(stateDir, pipeline);
}, 120_000);

afterAll(async () => {
  host?.stop();
  await pipeline?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('liveness-batch redrive --failed against the local host', () => {
  it('--dry-run lists the batch FAILED results and changes nothing', async () => {
    // Act
    const { code, out } = await redrive('--failed', '--batch', 'rf', '--dry-run');

    // Assess
    expect(code).toBe(0);
    expect(out).toContain('3 result(s) found; nothing reopened or queued (dry run)');
    for (const key of FAILED_BATCH) {
      expect(out).toContain(`${idOf(key)}: would be reopened and queued (was VENDOR_ERROR: `);
      expect((await pipeline.repository.getResult(idOf(key)))?.state).toBe('FAILED');
    }
    expect(out).not.toContain(idOf(OTHER_BATCH[0] as string));
    expect(await workMessages()).toEqual([]);
    expect(await pipeline.repository.getBatchSummary('rf')).toMatchObject({ total: 3, FAILED: 3 });
  });

  it('--batch reopens each FAILED result with a REDRIVE history item, queues a message rebuilt from it, and the worker decides it', async () => {
    // Act
    const { code, out } = await redrive('--failed', '--batch', 'rf');
    const reopened = await Promise.all(FAILED_BATCH.map((key) => pipeline.repository.getResult(idOf(key))));
    const summaryAfterRedrive = await pipeline.repository.getBatchSummary('rf');
    const messages = await workMessages();
    await pipeline.drain();

    // Assess
    expect(code).toBe(0);
    expect(out).toContain('Queued 3 selfie(s) for the worker');
    for (const result of reopened)
      expect(result).toMatchObject({ state: 'RECEIVED', redrivenAt: expect.any(String) });
    expect(summaryAfterRedrive).toMatchObject({ total: 3, FAILED: 0, redriven: 3 });
    expect(messages.sort((a, b) => a.key.localeCompare(b.key))).toEqual(
      reopened.map((r) => ({
        selfieId: r?.selfieId,
        bucket: pipeline.bucket,
        key: r?.key,
        batchId: 'rf',
        receivedAt: r?.receivedAt,
      })),
    );
    const queries = new AuditQueries(pipeline.db, pipeline.tableName);
    for (const key of FAILED_BATCH) {
      const audit = await queries.selfie(idOf(key));
      expect(['VERIFIED', 'NOT_VERIFIED', 'REVIEW']).toContain(audit.result?.decision);
      expect(audit.history).toMatchObject([
        {
          what: 'REDRIVE',
          previousDecision: 'FAILED',
          previousReason: expect.stringMatching(/^VENDOR_ERROR/),
        },
      ]);
    }
    const summary = await pipeline.repository.getBatchSummary('rf');
    expect((summary?.VERIFIED ?? 0) + (summary?.NOT_VERIFIED ?? 0) + (summary?.REVIEW ?? 0)).toBe(3);
    expect(summary?.FAILED).toBe(0);
    // The other batch was not touched.
    expect((await pipeline.repository.getResult(idOf(OTHER_BATCH[0] as string)))?.state).toBe('FAILED');
  });

  it('--batch sends again a result an interrupted redrive reopened but never queued', async () => {
    // Prepare: the reopen committed, then the run stopped before sending the message.
    const cutId = idOf(CUT_BATCH[0] as string);
    await new OperatorHistory(pipeline.db, pipeline.tableName).reopenForRedrive(
      cutId,
      new Date().toISOString(),
    );

    // Act
    const { out } = await redrive('--failed', '--batch', 'rf-cut');
    const messages = await workMessages();
    await pipeline.drain();

    // Assess
    expect(out).toContain(`${cutId}: reopened earlier; queued again`);
    expect(messages.map((m) => m.selfieId)).toEqual([cutId]);
    expect(['VERIFIED', 'NOT_VERIFIED', 'REVIEW']).toContain(
      (await pipeline.repository.getResult(cutId))?.decision,
    );
  });

  it('without --batch finds FAILED decisions by date (index byDecisionDate): none before today, the other batch in the last 14 days', async () => {
    // Prepare
    const otherId = idOf(OTHER_BATCH[0] as string);

    // Act
    const before = await redrive('--failed', '--from', '2020-01-01', '--to', '2020-01-31');
    const byDefault = await redrive('--failed');
    const messages = await workMessages();
    await pipeline.drain();

    // Assess
    expect(before.out).toContain('Queued 0 selfie(s)');
    expect((await pipeline.repository.getResult(otherId))?.redrivenAt).toBeDefined();
    expect(byDefault.out).toContain(`${otherId}: reopened and queued`);
    expect(byDefault.out).toContain('Queued 1 selfie(s) for the worker');
    expect(messages.map((m) => m.selfieId)).toEqual([otherId]);
    expect(['VERIFIED', 'NOT_VERIFIED', 'REVIEW']).toContain(
      (await pipeline.repository.getResult(otherId))?.decision,
    );
  });

  it('refuses flags that do not fit, saying what goes with what', async () => {
    // Act / Assess
    await expect(redrive('--batch', 'rf')).rejects.toThrow(/go with --failed/);
    await expect(
      redrive('--failed', '--batch', 'rf', '--from', '2026-01-01', '--to', '2026-01-02'),
    ).rejects.toThrow(/exclude each other/);
    await expect(redrive('--failed', '--from', '2026-01-01')).rejects.toThrow(
      /both --from DATE and --to DATE/,
    );
  });
});
