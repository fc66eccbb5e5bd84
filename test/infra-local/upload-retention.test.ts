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
import { LocalUploadRetention } from '../../local-cloud/upload-retention.ts';
import { createS3Client } from '../../shared/aws-clients.ts';
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
