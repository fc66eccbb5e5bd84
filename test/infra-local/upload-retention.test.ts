import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decidedCount } from '../../cli/progress.ts';
import { type LocalCloud, startLocalCloud } from '../../local-cloud/host.ts';
import {
  type DroppedReviewImages,
  LocalUploadRetention,
  type UploadRetentionOptions,
} from '../../local-cloud/upload-retention.ts';
import { createS3Client } from '../../shared/aws-clients.ts';
import type { Decision } from '../../shared/decision.ts';
import { toEventEnvelope } from '../../shared/events/outcome-event.ts';
import type { SelfieLifecycle } from '../../shared/results/selfie-lifecycle.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { outcomeDetail } from '../events/support.ts';
import { emulatorEndpoints, uniqueName } from '../support/emulators.ts';

const HOST_TIMEOUT_MS = 120_000;

async function keysIn(s3: S3Client, bucket: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  await expect.poll(check, { timeout: timeoutMs, interval: 100, message: `waiting for ${what}` }).toBe(true);
}

describe('the local bucket keeps an upload only until its selfie is decided', () => {
  let root: string;
  let host: LocalCloud;
  let s3: S3Client;

  beforeAll(async () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    root = await mkdtemp(join(tmpdir(), 'lb-retention-'));
    host = await startLocalCloud({
      stateDir: join(root, 'state'),
      mode: 'run',
      concurrency: 2,
      sandbox: { latencyMs: 0, seed: 'retention' },
      bucketPollMs: 100,
    });
    s3 = createS3Client({ ...host.endpoints, localCredentials: true });
  }, HOST_TIMEOUT_MS);

  afterAll(async () => {
    vi.unstubAllEnvs();
    await host?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it(
    'deletes decided uploads once their outcome is published, and a decided selfie uploaded again',
    async () => {
      // Prepare
      const bucket = host.resources.bucket;
      const face = await syntheticFace({ seed: 4101 });
      const uploads = [
        ['uploads/keep/a.jpg', face],
        ['uploads/keep/b.jpg', await syntheticFace({ seed: 4102 })],
        ['uploads/keep/notes.txt', Buffer.from('not an image')],
      ] as const;

      // Act: a run, then the same file again (as a rerun of the folder does).
      for (const [key, body] of uploads) await host.upload(key, body);
      await eventually(
        async () => decidedCount(await host.repository.getBatchSummary('keep')) === uploads.length,
        'three decisions',
      );
      expect(await host.drainEvents()).toBe(true);
      const afterRun = await keysIn(s3, bucket);
      await host.upload('uploads/keep/a.jpg', face);
      const afterRerun = await keysIn(s3, bucket);

      // Assess: verified, not verified and rejected uploads are gone; the batch still has its 3 results.
      expect(afterRun).toEqual([]);
      expect(afterRerun).toEqual([]);
      const summary = await host.repository.getBatchSummary('keep');
      expect(summary).toMatchObject({ total: 3, REJECTED: 1 });
      expect(decidedCount(summary)).toBe(3);
    },
    HOST_TIMEOUT_MS,
  );

  it(
    'delivers the same bytes put again by another S3 client, as S3 sends an event for every PUT',
    async () => {
      // Prepare: an upload by an outside client (as with `up`), decided and deleted.
      const bucket = host.resources.bucket;
      const put = () =>
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'uploads/watch/a.jpg', Body: face }));
      const face = await syntheticFace({ seed: 4103 });
      await put();
      await eventually(
        async () => decidedCount(await host.repository.getBatchSummary('watch')) === 1,
        'the decision',
      );
      await eventually(async () => (await keysIn(s3, bucket)).length === 0, 'the retention');

      // Act: the same key and bytes (the same ETag) again.
      await put();

      // Assess: delivered again (the watcher forgot the deleted key), found decided, deleted again.
      await eventually(async () => (await keysIn(s3, bucket)).length === 0, 'the second delete');
      expect(await host.repository.getBatchSummary('watch')).toMatchObject({ total: 1 });
    },
    HOST_TIMEOUT_MS,
  );
});

describe('LocalUploadRetention on its own', () => {
  const s3 = createS3Client(emulatorEndpoints());
  const noResults = {} as SelfieLifecycle;

  it('keeps the uploads of FAILED (for a redrive), REVIEW and NOT_VERIFIED (for a reviewer) selfies and deletes a final one', async () => {
    // Prepare
    const bucket = uniqueName('retention');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const key of [
      'uploads/b/failed.jpg',
      'uploads/b/review.jpg',
      'uploads/b/not-verified.jpg',
      'uploads/b/verified.jpg',
      'uploads/b/other.jpg',
    ]) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    }
    const retention = new LocalUploadRetention(s3, bucket, noResults);
    const context = { id: 'e-1', time: new Date(), account: '000000000000', region: 'us-east-1' };
    const outcome = (
      key: string,
      decision: 'FAILED' | 'REVIEW' | 'NOT_VERIFIED' | 'VERIFIED',
      inBucket = bucket,
    ) =>
      toEventEnvelope(
        outcomeDetail({ bucket: inBucket, key, selfieId: `${inBucket}/${key}`, decision }),
        context,
      );

    // Act
    await retention.onOutcome(outcome('uploads/b/failed.jpg', 'FAILED'));
    await retention.onOutcome(outcome('uploads/b/review.jpg', 'REVIEW'));
    await retention.onOutcome(outcome('uploads/b/not-verified.jpg', 'NOT_VERIFIED'));
    await retention.onOutcome(outcome('uploads/b/verified.jpg', 'VERIFIED'));
    await retention.onOutcome(outcome('uploads/b/other.jpg', 'VERIFIED', 'another-bucket'));

    // Assess
    expect(await keysIn(s3, bucket)).toEqual([
      'uploads/b/failed.jpg',
      'uploads/b/not-verified.jpg',
      'uploads/b/other.jpg',
      'uploads/b/review.jpg',
    ]);
  });
});

describe('the review-image budget of the local bucket', () => {
  const s3 = createS3Client(emulatorEndpoints());
  const noResults = {} as SelfieLifecycle;
  const context = { id: 'e-1', time: new Date(), account: '000000000000', region: 'us-east-1' };

  /** A bucket of 100-byte uploads and a retention over it; `deleted` is what onDeleted was told. */
  async function bucketWith(keys: string[], options: UploadRetentionOptions) {
    const bucket = uniqueName('budget');
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const key of keys) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(100, 1) }));
    }
    const deleted: string[] = [];
    const retention = new LocalUploadRetention(s3, bucket, noResults, {
      ...options,
      onDeleted: (key) => deleted.push(key),
    });
    const decide = (key: string, decision: Decision) =>
      retention.onOutcome(
        toEventEnvelope(outcomeDetail({ bucket, key, selfieId: `${bucket}/${key}`, decision }), context),
      );
    return { bucket, retention, deleted, decide };
  }

  it('drops the oldest NOT_VERIFIED image first, and REVIEW images only once no NOT_VERIFIED one is left', async () => {
    // Prepare: room for two and a half 100-byte images.
    const keys = ['uploads/b/nv1.jpg', 'uploads/b/rv1.jpg', 'uploads/b/nv2.jpg', 'uploads/b/rv2.jpg'];
    const { bucket, retention, deleted, decide } = await bucketWith([...keys, 'uploads/b/rv3.jpg'], {
      reviewImageBudgetBytes: 250,
    });

    // Act
    await decide('uploads/b/nv1.jpg', 'NOT_VERIFIED');
    await decide('uploads/b/rv1.jpg', 'REVIEW');
    const withinBudget = await keysIn(s3, bucket);
    await decide('uploads/b/nv2.jpg', 'NOT_VERIFIED');
    const afterThird = await keysIn(s3, bucket);
    await decide('uploads/b/rv2.jpg', 'REVIEW');
    const afterFourth = await keysIn(s3, bucket);
    await decide('uploads/b/rv3.jpg', 'REVIEW');

    // Assess: nv1 went before the older-kept rv1; nv2 before rv1 too; rv1 only once no NOT_VERIFIED was left.
    expect(withinBudget).toHaveLength(5);
    expect(afterThird).not.toContain('uploads/b/nv1.jpg');
    expect(afterThird).toContain('uploads/b/rv1.jpg');
    expect(afterFourth).not.toContain('uploads/b/nv2.jpg');
    expect(afterFourth).toContain('uploads/b/rv1.jpg');
    expect(await keysIn(s3, bucket)).toEqual(['uploads/b/rv2.jpg', 'uploads/b/rv3.jpg']);
    expect(deleted).toEqual(['uploads/b/nv1.jpg', 'uploads/b/nv2.jpg', 'uploads/b/rv1.jpg']);
    expect(retention.dropped).toEqual<DroppedReviewImages>({ images: 3, bytes: 300 });
  });

  it('never drops a FAILED upload (a redrive reads it again), nor counts it against the budget', async () => {
    // Prepare: room for one image; two FAILED uploads already over it.
    const { bucket, retention, decide } = await bucketWith(
      ['uploads/f/failed1.jpg', 'uploads/f/failed2.jpg', 'uploads/f/nv1.jpg', 'uploads/f/nv2.jpg'],
      { reviewImageBudgetBytes: 150 },
    );

    // Act
    await decide('uploads/f/failed1.jpg', 'FAILED');
    await decide('uploads/f/nv1.jpg', 'NOT_VERIFIED');
    await decide('uploads/f/failed2.jpg', 'FAILED');
    await decide('uploads/f/nv2.jpg', 'NOT_VERIFIED');

    // Assess: only the older NOT_VERIFIED image went; both FAILED uploads and the newer one stay.
    expect(await keysIn(s3, bucket)).toEqual([
      'uploads/f/failed1.jpg',
      'uploads/f/failed2.jpg',
      'uploads/f/nv2.jpg',
    ]);
    expect(retention.dropped).toEqual<DroppedReviewImages>({ images: 1, bytes: 100 });
  });
});

describe('a local cloud with a tiny review-image budget', () => {
  let root: string;
  let host: LocalCloud;
  let s3: S3Client;
  const warnings: string[] = [];
  let faces: { a: Buffer; b: Buffer };

  beforeAll(async () => {
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'ERROR');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
    faces = { a: await syntheticFace({ seed: 4201 }), b: await syntheticFace({ seed: 4202 }) };
    root = await mkdtemp(join(tmpdir(), 'lb-retention-budget-'));
    host = await startLocalCloud({
      stateDir: join(root, 'state'),
      mode: 'up',
      concurrency: 2,
      // Every face NOT VERIFIED, so every outcome is NOT_VERIFIED and its image kept for review.
      sandbox: { latencyMs: 0, seed: 'retention-budget', liveRatio: 0 },
      bucketPollMs: 100,
      // Room for either face alone, never for both.
      reviewImageBudgetBytes: Math.max(faces.a.length, faces.b.length),
      onWarning: (message) => warnings.push(message),
    });
    s3 = createS3Client({ ...host.endpoints, localCredentials: true });
  }, HOST_TIMEOUT_MS);

  afterAll(async () => {
    vi.unstubAllEnvs();
    await host?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it(
    'drops the older image beyond the budget, warns once, and takes the same bytes put again as a new upload',
    async () => {
      // Prepare: uploads by an outside S3 client (as with `up`), so delivery rests on the bucket watcher.
      const bucket = host.resources.bucket;
      const put = (key: string, body: Buffer) =>
        s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      const decided = async (n: number) =>
        (await host.repository.getBatchSummary('budget'))?.NOT_VERIFIED === n;
      await put('uploads/budget/a.jpg', faces.a);
      await eventually(() => decided(1), 'a decided');
      await host.drainEvents();
      const afterA = await keysIn(s3, bucket);

      // Act: b does not fit beside a; then a's same bytes (same ETag) again.
      await put('uploads/budget/b.jpg', faces.b);
      await eventually(
        async () => JSON.stringify(await keysIn(s3, bucket)) === '["uploads/budget/b.jpg"]',
        'a dropped for b',
      );
      await put('uploads/budget/a.jpg', faces.a);

      // Assess: delivered again (the drop told the watcher), found decided NOT_VERIFIED, kept, and
      // now b, the older kept image, went.
      await eventually(
        async () => JSON.stringify(await keysIn(s3, bucket)) === '["uploads/budget/a.jpg"]',
        'b dropped for a again',
      );
      expect(afterA).toEqual(['uploads/budget/a.jpg']);
      expect(host.reviewImagesDropped()).toMatchObject({ images: 2, bytes: faces.a.length + faces.b.length });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('NOT_VERIFIED first');
      expect(await host.repository.getBatchSummary('budget')).toMatchObject({ total: 2, NOT_VERIFIED: 2 });
    },
    HOST_TIMEOUT_MS,
  );
});
