import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { onceUntilFailed } from '../../shared/cold-start.ts';
import { keys } from '../../shared/results/records.ts';
import { NO_CALLS } from '../../shared/results/selfie-lifecycle.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { pipelinePerTest } from '../support/pipeline.ts';

const face = (seed: number) => syntheticFace({ seed, width: 240, height: 320 });

describe('waits, conflicts and cold starts', () => {
  const startPipeline = pipelinePerTest();

  it('waiting for a slow twin never uses up the selfie’s deliveries: it is verified once the twin lets go', async () => {
    // Prepare: two deliveries allowed; a twin holds the image's content claim for a long time.
    const pipeline = await startPipeline({ maxReceiveCount: 2 });
    const bytes = await face(51);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await pipeline.db.send(
      new UpdateCommand({
        TableName: pipeline.tableName,
        Key: { pk: keys.content(sha256), sk: keys.contentSk },
        UpdateExpression: 'SET ownerSelfieId = :twin, claimState = :claimed, expiresAt = :later',
        ExpressionAttributeValues: {
          ':twin': 's3://elsewhere/uploads/twin.jpg',
          ':claimed': 'CLAIMED',
          ':later': Math.floor(Date.now() / 1000) + 3600,
        },
      }),
    );
    await pipeline.enqueue([await pipeline.upload('uploads/waiter/face.jpg', bytes)]);
    const selfieId = selfieIdOf({ bucket: pipeline.bucket, key: 'uploads/waiter/face.jpg' });

    // Act: five looks at the twin (more than the two deliveries allowed), then the twin releases its claim.
    const fixture = pipeline;
    await expect
      .poll(
        async () => {
          await fixture.deliver();
          return (await fixture.repository.getResult(selfieId))?.lastErrorCode;
        },
        { timeout: 30_000, interval: 1_100 },
      )
      .toBe('DUPLICATE_IN_PROGRESS');
    for (let look = 0; look < 4; look++) {
      await sleep(1_100); // the re-queued wait arrives after its (test-capped) 1 s delay
      await fixture.deliver();
    }
    const whileWaiting = await fixture.repository.getResult(selfieId);
    await fixture.db.send(
      new UpdateCommand({
        TableName: fixture.tableName,
        Key: { pk: keys.content(sha256), sk: keys.contentSk },
        UpdateExpression: 'SET claimState = :released',
        ExpressionAttributeValues: { ':released': 'RELEASED' },
      }),
    );
    await fixture.drain();

    // Assess
    expect(whileWaiting?.state).toBe('PROCESSING');
    const result = await fixture.repository.getResult(selfieId);
    expect(result?.decision === 'VERIFIED' || result?.decision === 'NOT_VERIFIED').toBe(true);
    expect(result?.paidCalls).toBe(1);
  });

  it('64 concurrent decisions on one batch all commit, and the batch counts are exact', async () => {
    // Prepare: 64 selfies of one batch, each leased by its own delivery.
    const pipeline = await startPipeline();
    const fixture = pipeline;
    const ids = Array.from({ length: 64 }, (_, i) => `s3://b/uploads/hot/${i}.jpg`);
    for (const selfieId of ids) {
      await fixture.repository.recordReceived({
        selfieId,
        bucket: 'b',
        key: selfieId.slice(7),
        batchId: 'hot',
        receivedAt: new Date().toISOString(),
      });
      await fixture.repository.acquireLease(selfieId, {
        id: `lease-${selfieId}`,
        until: Date.now() + 60_000,
        receiveCount: 1,
        at: new Date().toISOString(),
      });
    }

    // Act: every decision at once, each writing the same batch summary item.
    const written = await Promise.all(
      ids.map((selfieId) =>
        fixture.repository.recordDecision(
          { selfieId, batchId: 'hot', leaseId: `lease-${selfieId}` },
          {
            decision: 'VERIFIED',
            reason: { code: 'VENDOR_VERDICT', detail: 'test' },
            decidedAt: new Date().toISOString(),
            totals: { calls: 1, paid: 1, uncertain: 0 },
            summarized: NO_CALLS,
          },
        ),
      ),
    );

    // Assess
    expect(written.every(Boolean)).toBe(true);
    expect(await fixture.repository.getBatchSummary('hot')).toMatchObject({
      total: 64,
      VERIFIED: 64,
      paidCalls: 64,
      retries: 0,
    });
  });
});

describe('the worker runtime built once per container (no emulator: the build is a stand-in, as named)', () => {
  it('a failed cold-start build is retried by the next invocation, and a good one is shared', async () => {
    // Prepare: a build that fails once (Secrets Manager unreachable), then succeeds.
    let builds = 0;
    const runtime = onceUntilFailed(async () => {
      builds += 1;
      if (builds === 1) throw new Error('Secrets Manager unreachable');
      return { build: builds };
    });

    // Act
    const first = await runtime().catch((error: Error) => error.message);
    const [second, third] = await Promise.all([runtime(), runtime()]);

    // Assess
    expect(first).toBe('Secrets Manager unreachable');
    expect(second).toEqual({ build: 2 });
    expect(third).toBe(second);
    expect(builds).toBe(2);
  });
});
