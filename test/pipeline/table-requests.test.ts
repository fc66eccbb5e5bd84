import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { RequestCounter } from '../../bench/support/request-counter.ts';
import { serializeVerifySelfieMessage } from '../../shared/messages.ts';
import { NO_CALLS } from '../../shared/results/selfie-lifecycle.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { type PipelineFixture, pipelinePerTest } from '../support/pipeline.ts';

/**
 * What one selfie costs the results table on the common path (recorded, sent, leased, claimed, one
 * paid call, decided): the requests each repository call makes and the write units it spends in the
 * table and each index, as DynamoDB Local reports them (docs/benchmarks.md, "AWS cost").
 */
describe('results table requests per selfie', () => {
  const startPipeline = pipelinePerTest();

  it('reads nothing before the lease, and the lease leaves the byBatch key where it is', async () => {
    // Prepare
    const pipeline = await startPipeline();
    const counter = new RequestCounter();
    counter.instrument(pipeline.db, 'DynamoDB');
    const record = await pipeline.upload('uploads/table-requests/face.jpg', await syntheticFace({ seed: 7 }));

    // Act
    await pipeline.enqueue([record]);
    await pipeline.drain();

    // Assess
    const calls = Object.fromEntries(
      [...counter.unitsByMethod].map(([method, { requests, table, indexes }]) => [
        method,
        { requests, table, ...Object.fromEntries(indexes) },
      ]),
    );
    expect(calls).toEqual({
      'recordReceived (TransactWriteItems)': { requests: 1, table: 4, byBatch: 2 },
      'markEnqueued (UpdateItem)': { requests: 1, table: 1, byBatch: 1 },
      // The lease write returns the item it replaced (or, refused, the item as it is): no read before it.
      'acquireLease (UpdateItem)': { requests: 1, table: 1, byBatch: 1 },
      'ContentClaims.claim (PutItem)': { requests: 1, table: 1 },
      'AttemptLog.begin (PutItem)': { requests: 1, table: 1, byReference: 1 },
      'AttemptLog.end (UpdateItem)': { requests: 1, table: 1, byReference: 1 },
      'recordDecision (TransactWriteItems)': { requests: 1, table: 6, byBatch: 6, byDecisionDate: 4 },
    });
  });

  it('a refused lease says why from the item its write returned, without reading it again', async () => {
    // Prepare: one selfie decided, one leased by another delivery.
    const pipeline = await startPipeline();
    const decided = await pipeline.upload('uploads/refused/decided.jpg', await syntheticFace({ seed: 8 }));
    await pipeline.enqueue([decided]);
    await pipeline.drain();
    const busy = await pipeline.upload('uploads/refused/busy.jpg', await syntheticFace({ seed: 9 }));
    await pipeline.enqueue([busy]);
    const id = (key: string) => selfieIdOf({ bucket: pipeline.bucket, key });
    const lease = (leaseId: string) => ({
      id: leaseId,
      until: Date.now() + 60_000,
      receiveCount: 1,
      at: new Date().toISOString(),
    });
    await pipeline.repository.acquireLease(id('uploads/refused/busy.jpg'), lease('other-delivery'));
    const counter = new RequestCounter();
    counter.instrument(pipeline.db, 'DynamoDB');

    // Act
    const onDecided = await pipeline.repository.acquireLease(
      id('uploads/refused/decided.jpg'),
      lease('late'),
    );
    const onBusy = await pipeline.repository.acquireLease(id('uploads/refused/busy.jpg'), lease('second'));
    const onNothing = await pipeline.repository.acquireLease(id('uploads/refused/never.jpg'), lease('lost'));

    // Assess
    expect(onDecided).toEqual({ status: 'terminal', decision: expect.stringMatching(/VERIFIED/) });
    expect(onBusy).toEqual({ status: 'leased' });
    expect(onNothing).toEqual({ status: 'missing' });
    // Two refused writes answered by the items they returned; only the absent item is read to be sure.
    expect(Object.fromEntries(counter.requests)).toEqual({ 'DynamoDB UpdateItem': 3, 'DynamoDB GetItem': 1 });
  });

  it('records a selfie whose message came without a record, then verifies it once', async () => {
    // Prepare: an object and its work message, but no RECEIVED record (e.g. redriven into a fresh table).
    const pipeline = await startPipeline();
    const message = await uploadedSelfie(pipeline, 'unrecorded', 10);
    await pipeline.sqs.send(
      new SendMessageCommand({
        QueueUrl: pipeline.workQueue.queueUrl,
        MessageBody: serializeVerifySelfieMessage(message),
      }),
    );

    // Act
    await pipeline.drain();

    // Assess
    expect(await pipeline.repository.getResult(message.selfieId)).toMatchObject({
      state: expect.stringMatching(/^(VERIFIED|NOT_VERIFIED)$/),
      paidCalls: 1,
    });
    expect(await pipeline.repository.getBatchSummary('unrecorded')).toMatchObject({ total: 1, paidCalls: 1 });
    expect(pipeline.paidReferences()).toHaveLength(1);
  });

  it('a HELD selfie looking at its budget again reads its result, and writes nothing while the cap is reached', async () => {
    // Prepare: a selfie HELD with the batch's cap of one call spent, and its recheck message (it has waited).
    const pipeline = await startPipeline({ env: { MAX_PAID_CALLS_PER_BATCH: '1' } });
    const message = await uploadedSelfie(pipeline, 'held', 11);
    await pipeline.repository.recordReceived(message);
    const at = new Date().toISOString();
    await pipeline.repository.acquireLease(message.selfieId, {
      id: 'capped',
      until: Date.now() + 60_000,
      receiveCount: 1,
      at,
    });
    await pipeline.repository.hold({ ...message, leaseId: 'capped' }, at, NO_CALLS, {
      code: 'BUDGET_EXHAUSTED',
      detail: 'test',
    });
    await pipeline.budget.reserve({ kind: 'batch', batchId: 'held' }, 1);
    await pipeline.sqs.send(
      new SendMessageCommand({
        QueueUrl: pipeline.workQueue.queueUrl,
        MessageBody: serializeVerifySelfieMessage({ ...message, waits: 1 }),
      }),
    );
    const counter = new RequestCounter();
    counter.instrument(pipeline.db, 'DynamoDB');

    // Act
    await pipeline.deliver();

    // Assess: one read of the result, one of the budget; no refused lease write (that costs write units).
    expect(Object.fromEntries(counter.requests)).toEqual({ 'DynamoDB GetItem': 2 });
    expect(await pipeline.repository.getResult(message.selfieId)).toMatchObject({ state: 'HELD' });
  });
});

/** Uploads one face as `uploads/<batchId>/face.jpg` and returns the work message that names it. */
async function uploadedSelfie(pipeline: PipelineFixture, batchId: string, seed: number) {
  const key = `uploads/${batchId}/face.jpg`;
  await pipeline.upload(key, await syntheticFace({ seed }));
  return {
    bucket: pipeline.bucket,
    key,
    selfieId: selfieIdOf({ bucket: pipeline.bucket, key }),
    batchId,
    receivedAt: new Date().toISOString(),
  };
}
