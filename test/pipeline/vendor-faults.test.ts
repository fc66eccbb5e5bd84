import { createServer, type Server } from 'node:http';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { decidedCount } from '../../cli/progress.ts';
import { AuditQueries } from '../../operations/audit-queries.ts';
import { reconcileStatement } from '../../operations/reconcile.ts';
import { OperatorHistory } from '../../operations/selfie-history.ts';
import { outcomeOf } from '../../shared/publish/publish-outcomes.ts';
import { keys } from '../../shared/results/records.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { type PipelineFixture, pipelinePerTest } from '../support/pipeline.ts';

const face = (seed: number) => syntheticFace({ seed, width: 240, height: 320 });

/** A vendor statement (CSV lines) listing what the sandbox charged. */
async function* statementOf(pipeline: PipelineFixture) {
  yield { cells: ['reference', 'date', 'amount'], line: 1 };
  let line = 1;
  for (const entry of pipeline.sandbox.ledger().filter((e) => e.charged)) {
    line += 1;
    yield { cells: [entry.transactionReference ?? '', entry.at, '0.05'], line };
  }
}

describe('a misbehaving vendor and money (real deliveries against the sandbox over HTTP)', () => {
  const startPipeline = pipelinePerTest();
  let target: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (target ? target.close(resolve) : resolve(undefined)));
    target = undefined;
  });

  const lateVendor = (dedupeReferences: boolean) =>
    startPipeline({
      // The vendor charges, then answers only after our 500 ms timeout. Two uncertain calls allowed.
      sandbox: { lateRate: 1, lateAfterMs: 3_000, dedupeReferences },
      env: { VENDOR_TIMEOUT_MS: '500', MAX_UNCERTAIN_CALLS: '2' },
      maxAttempts: 4,
    });

  async function verifyAndReconcile(fixture: PipelineFixture, charged: number) {
    await fixture.enqueue([await fixture.upload('uploads/late/face.jpg', await face(31))]);
    await fixture.drain();
    // The sandbox records a late call's charge after it has decoded the image, which can come after
    // the client gave up and the selfie was decided: wait for it (expect.poll's default 1 s was a
    // wall-clock bound on a loaded machine; the late answers themselves come 3 s after the charge).
    await expect
      .poll(() => fixture.sandbox.ledger().filter((e) => e.charged).length, { timeout: 15_000 })
      .toBe(charged);
    const history = new OperatorHistory(fixture.db, fixture.tableName);
    const report = await reconcileStatement(
      statementOf(fixture),
      new AuditQueries(fixture.db, fixture.tableName),
      {
        batchId: 'late',
        settle: (call, as) =>
          history.settleUncertainCall(call, as, new Date().toISOString(), 'test statement'),
      },
    );
    const selfieId = selfieIdOf({ bucket: fixture.bucket, key: 'uploads/late/face.jpg' });
    return { report, selfieId, attempts: await fixture.attempts.list(selfieId) };
  }

  it('answers after we gave up, no dedupe: two uncertain calls under one reference, then REVIEW; reconcile settles both as paid', async () => {
    // Prepare
    const pipeline = await lateVendor(false);

    // Act
    const { report, selfieId, attempts } = await verifyAndReconcile(pipeline, 2);

    // Assess: one reference, sent twice; the selfie waits for a person instead of a third call.
    expect(attempts.map((a) => [a.outcome, a.charge])).toEqual([
      ['uncertain', 'uncertain'],
      ['uncertain', 'uncertain'],
    ]);
    expect(new Set(attempts.map((a) => a.transactionReference)).size).toBe(1);
    expect(report.settled.map((s) => [s.settledAs, s.written])).toEqual([
      ['paid', true],
      ['paid', true],
    ]);
    expect(report.mismatches).toEqual([]);
    // The money invariant: the vendor's charged lines = our paid calls once the uncertain ones are settled.
    expect(await pipeline.repository.getResult(selfieId)).toMatchObject({
      decision: 'REVIEW',
      reasonCode: 'UNCERTAIN_CHARGE',
      paidCalls: 2,
      uncertainCalls: 0,
    });
    expect(await pipeline.repository.getBatchSummary('late')).toMatchObject({
      paidCalls: 2,
      uncertainCalls: 0,
    });
    // Settling changed a decided item; its stream record is not a new outcome to publish.
    const settledItem = await pipeline.db.send(
      new GetCommand({ TableName: pipeline.tableName, Key: { pk: keys.selfie(selfieId), sk: keys.result } }),
    );
    const streamRecord = {
      eventName: 'MODIFY',
      dynamodb: { NewImage: marshall(settledItem.Item ?? {}, { removeUndefinedValues: true }) },
    } as unknown as DynamoDBRecord;
    expect(outcomeOf(streamRecord)).toBeUndefined();
  });

  it('answers after we gave up, vendor dedupes by reference: the resend gets the answer without a second charge; reconcile settles the first as not paid', async () => {
    // Prepare
    const pipeline = await lateVendor(true);

    // Act
    const { report, selfieId, attempts } = await verifyAndReconcile(pipeline, 1);

    // Assess
    expect(attempts.map((a) => [a.outcome, a.charge])).toEqual([
      ['uncertain', 'uncertain'],
      ['completed', 'paid'],
    ]);
    expect(new Set(attempts.map((a) => a.transactionReference)).size).toBe(1);
    expect(report.settled.map((s) => [s.settledAs, s.written])).toEqual([['not-paid', true]]);
    expect(report.mismatches).toEqual([]);
    const result = await pipeline.repository.getResult(selfieId);
    expect(result).toMatchObject({ reasonCode: 'VENDOR_VERDICT', paidCalls: 1, uncertainCalls: 0 });
  });

  it('counts a PENDING answer that debited the wallet as paid, and retries it under a new reference', async () => {
    // Prepare: every answer is PENDING with a successful debit; one receive of two calls.
    const pipeline = await startPipeline({
      sandbox: { pendingDebitRate: 1 },
      maxReceiveCount: 1,
      maxAttempts: 2,
    });
    await pipeline.enqueue([await pipeline.upload('uploads/pending-debit/face.jpg', await face(32))]);

    // Act
    await pipeline.drain();

    // Assess
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/pending-debit/face.jpg' });
    const attempts = await pipeline.attempts.list(selfieId);
    expect(attempts).toMatchObject([
      { outcome: 'pending', charge: 'paid', debitStatus: 'SUCCESSFUL' },
      { outcome: 'pending', charge: 'paid', debitStatus: 'SUCCESSFUL' },
    ]);
    expect(attempts[0]?.transactionReference).not.toBe(attempts[1]?.transactionReference);
    expect(pipeline.sandbox.ledger().filter((e) => e.charged)).toHaveLength(2);
    expect(await pipeline.repository.getResult(selfieId)).toMatchObject({ decision: 'FAILED', paidCalls: 2 });
    expect(await pipeline.repository.getBatchSummary('pending-debit')).toMatchObject({ paidCalls: 2 });
  });

  it('never follows a redirect: nothing reaches the redirect target, the Location query is never kept, and the selfie waits', async () => {
    // Prepare: a second server stands for wherever a hijacked gateway points.
    let requestsToTarget = 0;
    target = createServer((_req, res) => {
      requestsToTarget += 1;
      res.end('{}');
    });
    await new Promise<void>((resolve) => target?.listen(0, '127.0.0.1', resolve));
    const port = (target.address() as { port: number }).port;
    const pipeline = await startPipeline({
      sandbox: { redirectRate: 1, redirectTo: `http://127.0.0.1:${port}/steal?token=SECRET-QUERY` },
    });
    await pipeline.enqueue([await pipeline.upload('uploads/redirect/face.jpg', await face(33))]);

    // Act
    await pipeline.deliver();

    // Assess
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/redirect/face.jpg' });
    const attempts = await pipeline.attempts.list(selfieId);
    expect(requestsToTarget).toBe(0);
    expect(attempts).toMatchObject([{ outcome: 'permanent', charge: 'none', httpStatus: 307 }]);
    expect(attempts[0]?.detail).toContain(`127.0.0.1:${port}`);
    expect(JSON.stringify(attempts)).not.toContain('SECRET-QUERY');
    expect(await pipeline.repository.getResult(selfieId)).toMatchObject({
      state: 'PROCESSING',
      lastErrorCode: 'VENDOR_PAUSED',
    });
    expect(pipeline.workerRuntime.verification.breaker.status().state).toBe('open');
  });

  it('a window of firewall 403s pauses the vendor: every selfie is decided after recovery, none FAILED, none charged in the window', async () => {
    // Prepare: the vendor's WAF blocks us; the circuit probes again after 500 ms.
    const pipeline = await startPipeline({ maxReceiveCount: 2, breakerOpenMs: 500 });
    const fixture = pipeline;
    fixture.sandbox.setFaults({ forbiddenRate: 1 });
    const records = [];
    for (let i = 0; i < 6; i++)
      records.push(await fixture.upload(`uploads/waf/face-${i}.jpg`, await face(40 + i)));
    await fixture.enqueue(records);

    // Act: a few rounds while blocked, then the block lifts.
    for (let round = 0; round < 4; round++) await fixture.deliver();
    const blocked = fixture.sandbox.ledger();
    fixture.sandbox.setFaults({ forbiddenRate: 0 });
    await fixture.drain();

    // Assess
    const summary = await fixture.repository.getBatchSummary('waf');
    expect(blocked.length).toBeGreaterThan(0);
    expect(blocked.every((e) => !e.charged && e.httpStatus === 403)).toBe(true);
    expect(decidedCount(summary)).toBe(6);
    expect(summary?.FAILED).toBe(0);
    expect(summary?.paidCalls).toBe(fixture.sandbox.ledger().filter((e) => e.charged).length);
  });
});
