import { createHash } from 'node:crypto';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { decidedCount } from '../../cli/progress.ts';
import { raiseSpendCap } from '../../operations/spend-cap.ts';
import { keys } from '../../shared/results/records.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { expressionOf, injectWriteFaults } from '../support/faults.ts';
import { pipelinePerTest } from '../support/pipeline.ts';

const face = (seed: number) => syntheticFace({ seed, width: 240, height: 320 });

describe('money rules of the verify flow (real deliveries, DynamoDB Local, fauxqs, sandbox over HTTP)', () => {
  const startPipeline = pipelinePerTest();

  it('a delivery that does not hold the lease cannot end a selfie another delivery is paying for', async () => {
    // Prepare: another delivery holds the lease (it is calling the vendor); a duplicate message finds the object gone.
    const pipeline = await startPipeline();
    const key = 'uploads/leased/face.jpg';
    await pipeline.enqueue([await pipeline.upload(key, await face(21))]);
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key });
    const other = await pipeline.repository.acquireLease(selfieId, {
      id: 'the-paying-delivery',
      until: Date.now() + 120_000,
      receiveCount: 1,
      at: new Date().toISOString(),
    });
    await pipeline.s3.send(new DeleteObjectCommand({ Bucket: pipeline.bucket, Key: key }));

    // Act
    await pipeline.deliver();

    // Assess: not REJECTED OBJECT_NOT_FOUND under the other delivery's feet; still its lease.
    const result = await pipeline.repository.getResult(selfieId);
    expect(other.status).toBe('acquired');
    expect(result).toMatchObject({ state: 'PROCESSING', leaseId: 'the-paying-delivery' });
    expect(result?.decision).toBeUndefined();
  });

  it('the decision transaction is idempotent across SDK retries: a committed FAILED still goes to the DLQ', async () => {
    // Prepare: one receive allowed; the vendor answers 500; the decision commits but its response is lost,
    // so the SDK sends the same transaction again.
    const pipeline = await startPipeline({ sandbox: { errorRate: 1 }, maxReceiveCount: 1, maxAttempts: 1 });
    await pipeline.enqueue([await pipeline.upload('uploads/idempotent/face.jpg', await face(22))]);
    const faults = injectWriteFaults(pipeline.db, (w) => expressionOf(w).includes('decision = :decision'), {
      times: 1,
      after: true,
      sdkRetries: true,
    });

    // Act
    await pipeline.drain();

    // Assess
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/idempotent/face.jpg' });
    expect(faults()).toBe(1);
    expect(await pipeline.repository.getResult(selfieId)).toMatchObject({
      decision: 'FAILED',
      reasonCode: 'RETRIES_EXHAUSTED',
    });
    const dlq = await pipeline.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: pipeline.dlq.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(dlq.Attributes?.ApproximateNumberOfMessages).toBe('1');
    expect(await pipeline.repository.getBatchSummary('idempotent')).toMatchObject({ total: 1, FAILED: 1 });
  });

  it('a selfie that holds its own paid answer decides from it before looking at a twin’s content claim', async () => {
    // Prepare: A is called and its answer recorded, but its decision write fails; meanwhile A's content
    // claim has run out and twin B (same bytes) has claimed the image.
    const pipeline = await startPipeline();
    const bytes = await face(23);
    await pipeline.enqueue([await pipeline.upload('uploads/own/a.jpg', bytes)]);
    const failDecision = injectWriteFaults(
      pipeline.db,
      (w) => expressionOf(w).includes('decision = :decision'),
      {
        times: 1,
      },
    );
    await pipeline.deliver();
    const a = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/own/a.jpg' });
    const b = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/own/b.jpg' });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await pipeline.db.send(
      new UpdateCommand({
        TableName: pipeline.tableName,
        Key: { pk: keys.content(sha256), sk: keys.contentSk },
        UpdateExpression: 'SET ownerSelfieId = :b, claimState = :claimed, expiresAt = :later',
        ExpressionAttributeValues: {
          ':b': b,
          ':claimed': 'CLAIMED',
          ':later': Math.floor(Date.now() / 1000) + 600,
        },
      }),
    );

    // Act: A's redelivery.
    await pipeline.drain();

    // Assess: A decided from its own answer, once paid, not as a duplicate of B and not waiting on B.
    expect(failDecision()).toBe(1);
    const result = await pipeline.repository.getResult(a);
    expect(result).toMatchObject({ paidCalls: 1, reasonCode: 'VENDOR_VERDICT' });
    expect(result?.duplicateOf).toBeUndefined();
    expect(pipeline.sandbox.ledger()).toHaveLength(1);
  });

  it('a late enqueue write cannot touch a decided selfie (so its outcome is never published twice)', async () => {
    // Prepare
    const pipeline = await startPipeline();
    await pipeline.enqueue([await pipeline.upload('uploads/late-enqueue/face.jpg', await face(24))]);
    await pipeline.drain();
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/late-enqueue/face.jpg' });
    const decided = await pipeline.repository.getResult(selfieId);

    // Act
    const written = await pipeline.repository.markEnqueued(selfieId, new Date().toISOString());

    // Assess
    expect(written).toBe(false);
    expect(await pipeline.repository.getResult(selfieId)).toEqual(decided);
  });

  it('holds the spend cap exactly under 32 concurrent calls: 50 paid of 200, 150 HELD, then a raised cap finishes the batch', {
    timeout: 180_000,
  }, async () => {
    // Prepare: 200 distinct selfies, a cap of 50 for the batch, 4 deliveries of 8 records side by side.
    const pipeline = await startPipeline({
      sandbox: { latencyMs: { min: 20, max: 60 } },
      // A generous vendor timeout: this test is about the cap, and 32 calls beside 32 image decodes on two
      // busy cores must not turn into calls without an answer.
      env: { MAX_PAID_CALLS_PER_BATCH: '50', VENDOR_TIMEOUT_MS: '15000', RECORD_CONCURRENCY: '8' },
    });
    const fixture = pipeline;
    const records = [];
    for (let i = 0; i < 200; i++) {
      records.push(await fixture.upload(`uploads/capped/face-${i}.jpg`, await face(1000 + i)));
    }
    for (let i = 0; i < records.length; i += 10) await fixture.enqueue(records.slice(i, i + 10));
    const summary = () => fixture.repository.getBatchSummary('capped');
    const decided = (s: Awaited<ReturnType<typeof summary>>) => decidedCount(s);
    // Held selfies keep coming back to look at the budget, so the queue never empties: deliver until the
    // batch summary says what the step waits for.
    const deliverUntil = async (done: (s: Awaited<ReturnType<typeof summary>>) => boolean) => {
      await vi.waitFor(
        async () => {
          await Promise.all([1, 2, 3, 4].map(() => fixture.deliver(10)));
          expect(done(await summary())).toBe(true);
        },
        { timeout: 90_000, interval: 0 },
      );
    };

    // Act
    await deliverUntil((s) => decided(s) + (s?.HELD ?? 0) === 200);
    const capped = await summary();
    const ledgerAtCap = fixture.sandbox.ledger().length;
    const { requeued } = await raiseSpendCap(
      {
        db: fixture.db,
        tableName: fixture.tableName,
        sqs: fixture.sqs,
        workQueueUrl: fixture.workQueue.queueUrl,
      },
      { kind: 'batch', batchId: 'capped' },
      200,
    );
    await deliverUntil((s) => decided(s) === 200);

    // Assess
    expect(capped).toMatchObject({ total: 200, HELD: 150 });
    expect((capped?.paidCalls ?? 0) + (capped?.uncertainCalls ?? 0)).toBe(50);
    expect(ledgerAtCap).toBe(50);
    expect(requeued).toBe(150);
    const finished = await fixture.repository.getBatchSummary('capped');
    expect(finished).toMatchObject({ total: 200, HELD: 0, paidCalls: 200 });
    expect((finished?.VERIFIED ?? 0) + (finished?.NOT_VERIFIED ?? 0)).toBe(200);
    expect(fixture.sandbox.ledger()).toHaveLength(200);
    expect((await fixture.budget.read({ kind: 'batch', batchId: 'capped' })).spent).toBe(200);
  });
});
