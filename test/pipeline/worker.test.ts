import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it, vi } from 'vitest';
import { sandboxOptionsSchema } from '../../sandbox/options.ts';
import { faultFor, statusFor } from '../../sandbox/outcomes.ts';
import { transactionReferenceFor } from '../../shared/liveness/reference.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { expressionOf, injectWriteFaults } from '../support/faults.ts';
import { captureOutput, type PipelineFixture, pipelinePerTest } from '../support/pipeline.ts';

const face = (seed: number) => syntheticFace({ seed, width: 240, height: 320 });

describe('worker handler (SQS → preflight → vendor → results table)', () => {
  const startPipeline = pipelinePerTest();

  it('records the vendor outcome with scores, debit status and the attempt, paying once', async () => {
    // Prepare
    const pipeline = await startPipeline();
    const record = await pipeline.upload('uploads/happy/face.jpg', await face(1));
    await pipeline.enqueue([record]);
    const attemptReads = vi.spyOn(pipeline.workerRuntime.verification.attempts, 'list');

    // Act
    await pipeline.drain();

    // Assess
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/happy/face.jpg' });
    const result = await pipeline.repository.getResult(selfieId);
    expect(result?.decision).toBe(expectedDecision(pipeline));
    expect(result?.liveScore).toEqual(expect.any(Number));
    expect(result?.debitStatus).toBe('SUCCESSFUL');
    expect(result?.vendorResponse).toMatchObject({ responseCode: '00' });
    expect(await pipeline.attempts.list(selfieId)).toMatchObject([{ attempt: 1, outcome: 'completed' }]);
    expect(pipeline.paidReferences()).toEqual([transactionReferenceFor(selfieId, 1)]);
    expect(await pipeline.repository.getBatchSummary('happy')).toMatchObject({ total: 1, paidCalls: 1 });
    // No earlier delivery held a lease, so there were no attempts to resume and none were read.
    expect(attemptReads).not.toHaveBeenCalled();
  });

  it('knows whether an earlier delivery held a lease, which is when attempts may exist to resume', async () => {
    // Prepare
    const pipeline = await startPipeline();
    const record = await pipeline.upload('uploads/leases/face.jpg', await face(12));
    await pipeline.enqueue([record]);
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/leases/face.jpg' });
    const lease = (id: string) => ({
      id,
      until: Date.now() + 60_000,
      receiveCount: 1,
      at: new Date().toISOString(),
    });

    // Act
    const first = await pipeline.repository.acquireLease(selfieId, lease('lease-1'));
    await pipeline.repository.releaseLease(selfieId, 'lease-1');
    const second = await pipeline.repository.acquireLease(selfieId, lease('lease-2'));

    // Assess
    expect(first).toMatchObject({ status: 'acquired', earlierLease: false });
    expect(second).toMatchObject({ status: 'acquired', earlierLease: true });
  });

  it('pays once for a duplicated S3 event and a duplicated SQS delivery', async () => {
    // Prepare
    const pipeline = await startPipeline();
    const record = await pipeline.upload('uploads/dups/face.jpg', await face(2));
    await pipeline.enqueue([record]);
    await pipeline.enqueue([record]);
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/dups/face.jpg' });
    const body = JSON.stringify({
      selfieId,
      bucket: pipeline.bucket,
      key: 'uploads/dups/face.jpg',
      batchId: 'dups',
      receivedAt: new Date().toISOString(),
    });
    await pipeline.sqs.send(
      new SendMessageCommand({ QueueUrl: pipeline.workQueue.queueUrl, MessageBody: body }),
    );

    // Act
    await pipeline.drain();

    // Assess
    expect(pipeline.paidReferences()).toHaveLength(1);
    expect(pipeline.sandbox.ledger()).toHaveLength(1);
    expect(await pipeline.repository.getBatchSummary('dups')).toMatchObject({ total: 1, paidCalls: 1 });
  });

  it('writes a paid answer with in-process retries when its first write fails, so the vendor is called once', async () => {
    // Prepare: the first write of the attempt's answer fails (a DynamoDB hiccup the SDK does not retry).
    const pipeline = await startPipeline();
    await pipeline.enqueue([await pipeline.upload('uploads/crash/face.jpg', await face(3))]);
    const faults = injectWriteFaults(pipeline.db, (w) => expressionOf(w).includes('SET outcome = :outcome'), {
      times: 1,
    });

    // Act
    await pipeline.drain();

    // Assess
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/crash/face.jpg' });
    expect(faults()).toBe(1);
    expect(pipeline.sandbox.ledger().map((e) => e.transactionReference)).toEqual([
      transactionReferenceFor(selfieId, 1),
    ]);
    expect(await pipeline.attempts.list(selfieId)).toMatchObject([
      { attempt: 1, outcome: 'completed', charge: 'paid' },
    ]);
    expect(await pipeline.repository.getResult(selfieId)).toMatchObject({
      attempts: 1,
      paidCalls: 1,
      uncertainCalls: 0,
    });
  });

  it('records PENDING then success as two attempts, the second paid', async () => {
    // Prepare: pick a key whose first reference the seeded sandbox answers PENDING and whose second it completes.
    const sandbox = { pendingRate: 0.5, seed: 'pending-then-success' };
    const faults = sandboxOptionsSchema.parse(sandbox);
    const pipeline = await startPipeline({ sandbox });
    const bucket = pipeline.bucket;
    const key = Array.from({ length: 200 }, (_, i) => `uploads/pending/face-${i}.jpg`).find((k) => {
      const id = selfieIdOf({ bucket, key: k });
      return (
        faultFor(transactionReferenceFor(id, 1), 0, faults) === 'pending' &&
        faultFor(transactionReferenceFor(id, 2), 0, faults) === null
      );
    });
    if (!key) throw new Error('no key found for the PENDING-then-success scenario');
    await pipeline.enqueue([await pipeline.upload(key, await face(4))]);

    // Act
    await pipeline.drain();

    // Assess
    const selfieId = selfieIdOf({ bucket, key });
    expect(await pipeline.attempts.list(selfieId)).toMatchObject([
      { attempt: 1, outcome: 'pending' },
      { attempt: 2, outcome: 'completed' },
    ]);
    expect(pipeline.paidReferences()).toEqual([transactionReferenceFor(selfieId, 2)]);
    expect(await pipeline.repository.getResult(selfieId)).toMatchObject({ attempts: 2, paidCalls: 1 });
    expect(await pipeline.repository.getBatchSummary('pending')).toMatchObject({ retries: 1, paidCalls: 1 });
  });

  it('ends FAILED with the last code when the vendor answers 500 until the last receive, then the message goes to the DLQ', async () => {
    // Prepare
    const pipeline = await startPipeline({ sandbox: { errorRate: 1 }, maxReceiveCount: 2, maxAttempts: 2 });
    await pipeline.enqueue([await pipeline.upload('uploads/down/face.jpg', await face(5))]);

    // Act
    await pipeline.drain();

    // Assess
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/down/face.jpg' });
    const result = await pipeline.repository.getResult(selfieId);
    expect(result?.state).toBe('FAILED');
    expect(result?.reason).toMatch(/^RETRIES_EXHAUSTED: after 2 deliveries.*500/);
    expect(result?.reasonCode).toBe('RETRIES_EXHAUSTED');
    expect(await pipeline.attempts.list(selfieId)).toHaveLength(4);
    expect(pipeline.paidReferences()).toEqual([]);
    const dlq = await pipeline.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: pipeline.dlq.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(dlq.Attributes?.ApproximateNumberOfMessages).toBe('1');
  });

  it('reports a 401 loudly (error log and metric) and stops calling the vendor for the rest of the batch', async () => {
    // Prepare: the sandbox expects other credentials than the worker sends.
    const pipeline = await startPipeline({
      sandbox: { apiKey: 'the-real-key' },
      env: { RECORD_CONCURRENCY: '1' },
    });
    const records = await Promise.all(
      [6, 7, 8].map(async (seed) => pipeline?.upload(`uploads/badkey/face-${seed}.jpg`, await face(seed))),
    );
    await pipeline.enqueue(records.filter((r) => r !== undefined));
    const worker = pipeline;

    // Act: one invocation over the whole batch, records one at a time (RECORD_CONCURRENCY 1) so the
    // first 401 is seen first.
    const { result, output } = await captureOutput(() => worker.deliver());

    // Assess
    expect(result.received).toBe(3);
    expect(worker.sandbox.ledger().map((e) => e.httpStatus)).toEqual([401]);
    expect(output).toMatch(/"level":"ERROR".*HTTP 401/);
    expect(output).toMatch(/"VendorUnauthorized":1/);
    expect(output).not.toContain('sandbox-key');
    const results = await Promise.all(
      [6, 7, 8].map((seed) =>
        worker.repository.getResult(
          selfieIdOf({ bucket: worker.bucket, key: `uploads/badkey/face-${seed}.jpg` }),
        ),
      ),
    );
    // Nobody's selfie fails for the vendor's refusal: each waits for the paused vendor, undecided.
    expect(results.map((r) => [r?.state, r?.lastErrorCode])).toEqual(
      results.map(() => ['PROCESSING', 'VENDOR_PAUSED']),
    );
  });

  it('pays once for identical bytes under two keys; the second is marked duplicateOf the first', async () => {
    // Prepare
    const pipeline = await startPipeline();
    const bytes = await face(9);
    await pipeline.enqueue([await pipeline.upload('uploads/twins/a.jpg', bytes)]);
    await pipeline.drain();
    await pipeline.enqueue([await pipeline.upload('uploads/twins/b.jpg', bytes)]);

    // Act
    await pipeline.drain();

    // Assess
    const first = await pipeline.repository.getResult(
      selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/twins/a.jpg' }),
    );
    const second = await pipeline.repository.getResult(
      selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/twins/b.jpg' }),
    );
    expect(pipeline.paidReferences()).toHaveLength(1);
    expect(second?.duplicateOf).toBe(first?.selfieId);
    expect(second?.decision).toBe(first?.decision);
    expect(second?.paidCalls).toBe(0);
    expect(await pipeline.repository.getBatchSummary('twins')).toMatchObject({
      total: 2,
      paidCalls: 1,
      duplicatesReused: 1,
    });
  });

  it('pays once for identical bytes processed in the same batch', async () => {
    // Prepare
    const pipeline = await startPipeline();
    const bytes = await face(10);
    await pipeline.enqueue([
      await pipeline.upload('uploads/same-batch/a.jpg', bytes),
      await pipeline.upload('uploads/same-batch/b.jpg', bytes),
    ]);

    // Act
    await pipeline.drain();

    // Assess
    expect(pipeline.paidReferences()).toHaveLength(1);
    const summary = await pipeline.repository.getBatchSummary('same-batch');
    expect(summary).toMatchObject({ total: 2, paidCalls: 1, duplicatesReused: 1 });
  });

  it('rejects bad input in preflight with the reason and never calls the vendor', async () => {
    // Prepare
    const pipeline = await startPipeline();
    await pipeline.enqueue([
      await pipeline.upload('uploads/bad/not-an-image.jpg', Buffer.from('hello, I am text')),
      await pipeline.upload('uploads/bad/empty.jpg', Buffer.alloc(0)),
    ]);

    // Act
    await pipeline.drain();

    // Assess
    const text = await pipeline.repository.getResult(
      selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/bad/not-an-image.jpg' }),
    );
    const empty = await pipeline.repository.getResult(
      selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/bad/empty.jpg' }),
    );
    expect(text).toMatchObject({
      decision: 'REJECTED',
      reason: expect.stringMatching(/^UNSUPPORTED_FORMAT: .*text/i),
    });
    expect(empty).toMatchObject({ decision: 'REJECTED', reason: expect.stringMatching(/^EMPTY/) });
    expect(pipeline.sandbox.ledger()).toEqual([]);
    expect(await pipeline.repository.getBatchSummary('bad')).toMatchObject({
      total: 2,
      REJECTED: 2,
      paidCalls: 0,
    });
  });
});

describe('worker handler after a crash between the vendor answer and the decision', () => {
  const startPipeline = pipelinePerTest();

  it('decides from the completed attempt on redelivery, without calling the vendor again', async () => {
    // Prepare: the attempt is recorded as completed, then the decision write "crashes" once.
    const pipeline = await startPipeline();
    await pipeline.enqueue([await pipeline.upload('uploads/answered/face.jpg', await face(11))]);
    const faults = injectWriteFaults(pipeline.db, (w) => expressionOf(w).includes('decision = :decision'), {
      times: 1,
    });

    // Act
    await pipeline.drain();

    // Assess
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/answered/face.jpg' });
    const result = await pipeline.repository.getResult(selfieId);
    expect(faults()).toBe(1);
    expect(pipeline.sandbox.ledger()).toHaveLength(1);
    expect(result).toMatchObject({
      attempts: 1,
      paidCalls: 1,
      transactionReference: transactionReferenceFor(selfieId, 1),
    });
    expect(result?.decision).toBe(expectedDecision(pipeline));
    expect(await pipeline.repository.getBatchSummary('answered')).toMatchObject({ total: 1, paidCalls: 1 });
  });

  it('a twin reuses the outcome decided from the completed attempt, so identical bytes are paid for once', async () => {
    // Prepare: A's answer is recorded, its decision write "crashes" once, the redelivery decides from the
    // attempt (not from a fresh claim of its bytes); then B arrives with the same bytes.
    const pipeline = await startPipeline();
    const bytes = await face(12);
    await pipeline.enqueue([await pipeline.upload('uploads/twins/a.jpg', bytes)]);
    injectWriteFaults(pipeline.db, (w) => expressionOf(w).includes('decision = :decision'), { times: 1 });
    await pipeline.drain();

    // Act
    await pipeline.enqueue([await pipeline.upload('uploads/twins/b.jpg', bytes)]);
    await pipeline.drain(8);

    // Assess: B is a duplicate of A, and the vendor was called once for both.
    const a = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/twins/a.jpg' });
    const b = await pipeline.repository.getResult(
      selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/twins/b.jpg' }),
    );
    expect(pipeline.sandbox.ledger()).toHaveLength(1);
    expect(b).toMatchObject({
      decision: expectedDecision(pipeline),
      duplicateOf: a,
      reasonCode: 'DUPLICATE_OF',
      paidCalls: 0,
    });
    expect(await pipeline.repository.getBatchSummary('twins')).toMatchObject({
      total: 2,
      paidCalls: 1,
      duplicatesReused: 1,
    });
  });
});

/**
 * The decision the sandbox's deterministic outcome gives the one image it was sent (its ledger holds
 * the SHA-256 of the bytes it received), with no thresholds configured: VERIFIED or NOT_VERIFIED.
 */
function expectedDecision(fixture: PipelineFixture): 'VERIFIED' | 'NOT_VERIFIED' {
  const [sent] = fixture.sandbox.ledger();
  if (!sent?.sha256) throw new Error('the sandbox received no image');
  return statusFor(sent.sha256, fixture.sandbox.options) === 'VERIFIED' ? 'VERIFIED' : 'NOT_VERIFIED';
}
