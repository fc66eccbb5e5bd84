import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OperatorHistory } from '../../operations/selfie-history.ts';
import { NO_CALLS, SelfieLifecycle } from '../../shared/results/selfie-lifecycle.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { reason } from '../../shared/verification/reasons.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { createPipelineFixture, type PipelineFixture } from '../support/pipeline.ts';

/**
 * Operator writes share the batch summary item with every decision of the batch, so on AWS a redrive
 * or a settlement during a busy batch can be cancelled with `TransactionConflict`. DynamoDB Local
 * serialises transactions and never reports one, so these tests put a client in front of the real
 * one that cancels the first transaction the way AWS does, then lets every request through.
 */
function cancelsFirstTransaction(db: DynamoDBDocumentClient) {
  const seen = { transactions: 0 };
  const client = {
    send(command: unknown) {
      if (command instanceof TransactWriteCommand && seen.transactions++ === 0) {
        const items = command.input.TransactItems ?? [];
        return Promise.reject(
          new TransactionCanceledException({
            message: 'Transaction cancelled, please refer cancellation reasons for specific reasons',
            $metadata: {},
            // The summary item (second) conflicted; the others were not evaluated.
            CancellationReasons: items.map((_, i) => ({ Code: i === 1 ? 'TransactionConflict' : 'None' })),
          }),
        );
      }
      return db.send(command as Parameters<DynamoDBDocumentClient['send']>[0]);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, seen };
}

let pipeline: PipelineFixture;

beforeAll(async () => {
  pipeline = await createPipelineFixture();
});

afterAll(async () => {
  await pipeline?.stop();
});

/** A selfie decided through the worker's own lifecycle (lease, then the decision transaction). */
async function decidedSelfie(
  key: string,
  decision: 'FAILED' | 'REVIEW',
  calls: { paid: number; uncertain: number },
  lifecycle: SelfieLifecycle = pipeline.repository,
) {
  await pipeline.enqueue([
    await pipeline.upload(key, await syntheticFace({ seed: key.length, width: 240, height: 320 })),
  ]);
  const selfieId = selfieIdOf({ bucket: pipeline.bucket, key });
  const at = new Date().toISOString();
  const leaseId = `test-${selfieId}`;
  const lease = await pipeline.repository.acquireLease(selfieId, {
    id: leaseId,
    until: Date.now() + 60_000,
    receiveCount: 1,
    at,
  });
  if (lease.status !== 'acquired') throw new Error(`no lease on ${selfieId}`);
  const batchId = (await pipeline.repository.getResult(selfieId))?.batchId ?? '';
  const totals = { calls: calls.paid + calls.uncertain, ...calls };
  await lifecycle.recordDecision(
    { selfieId, batchId, leaseId },
    {
      decision,
      reason: reason(decision === 'FAILED' ? 'VENDOR_ERROR' : 'UNCERTAIN_CHARGE', 'test'),
      decidedAt: at,
      totals,
      // Nothing of this selfie is in the batch summary yet: the decision adds its calls.
      summarized: NO_CALLS,
    },
  );
  // The enqueued message finds its result decided: the worker skips and deletes it.
  await pipeline.drain();
  return { selfieId, batchId };
}

describe('the decision transaction cancelled for a conflict (a client that cancels the first one, as AWS can; DynamoDB Local never does)', () => {
  it('is retried and counts the decision in the batch summary once', async () => {
    // Prepare
    const { client, seen } = cancelsFirstTransaction(pipeline.db);

    // Act
    const { selfieId, batchId } = await decidedSelfie(
      'uploads/tc-decide/face.jpg',
      'REVIEW',
      { paid: 1, uncertain: 0 },
      new SelfieLifecycle(client, pipeline.tableName),
    );

    // Assess
    expect(seen.transactions).toBe(2);
    expect(await pipeline.repository.getResult(selfieId)).toMatchObject({ state: 'REVIEW', paidCalls: 1 });
    expect(await pipeline.repository.getBatchSummary(batchId)).toMatchObject({ REVIEW: 1, paidCalls: 1 });
  });
});

describe('operator transactions cancelled for a conflict (a client that cancels the first one, as AWS can; DynamoDB Local never does)', () => {
  it('a redrive retries the transaction and reopens the FAILED selfie once', async () => {
    // Prepare
    const { selfieId, batchId } = await decidedSelfie('uploads/tc-redrive/face.jpg', 'FAILED', NO_CALLS);
    const { client, seen } = cancelsFirstTransaction(pipeline.db);

    // Act
    const outcome = await new OperatorHistory(client, pipeline.tableName).reopenForRedrive(
      selfieId,
      new Date().toISOString(),
    );

    // Assess: sent twice, written once.
    expect(outcome).toBe('reopened');
    expect(seen.transactions).toBe(2);
    expect((await pipeline.repository.getResult(selfieId))?.state).toBe('RECEIVED');
    expect(await pipeline.repository.getBatchSummary(batchId)).toMatchObject({ FAILED: 0, redriven: 1 });
  });

  it('a settlement retries the transaction and moves the call from uncertain to paid once', async () => {
    // Prepare: a REVIEW selfie whose one call went unanswered.
    const { selfieId, batchId } = await decidedSelfie('uploads/tc-settle/face.jpg', 'REVIEW', {
      paid: 0,
      uncertain: 1,
    });
    const transactionReference = 'lb-test-conflict-1';
    await pipeline.attempts.begin({
      selfieId,
      attempt: 1,
      transactionReference,
      startedAt: new Date().toISOString(),
    });
    await pipeline.attempts.end({
      selfieId,
      attempt: 1,
      endedAt: new Date().toISOString(),
      outcome: 'uncertain',
      charge: 'uncertain',
    });
    const { client, seen } = cancelsFirstTransaction(pipeline.db);

    // Act
    const written = await new OperatorHistory(client, pipeline.tableName).settleUncertainCall(
      { selfieId, batchId, attempt: 1, transactionReference },
      'paid',
      new Date().toISOString(),
      'test statement',
    );

    // Assess
    expect(written).toBe(true);
    expect(seen.transactions).toBe(2);
    expect(await pipeline.repository.getResult(selfieId)).toMatchObject({ paidCalls: 1, uncertainCalls: 0 });
    expect(await pipeline.repository.getBatchSummary(batchId)).toMatchObject({
      paidCalls: 1,
      uncertainCalls: 0,
    });
  });
});
