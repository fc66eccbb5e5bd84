import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { S3Event, S3EventRecord, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterEach } from 'vitest';
import { type EnqueueRuntime, processUploadEvent } from '../../functions/enqueue.ts';
import { processWorkerEvent } from '../../functions/worker.ts';
import { ensureResultsTable } from '../../local-cloud/results-table.ts';
import { objectCreatedRecord as localObjectCreatedRecord } from '../../local-cloud/s3-notifications.ts';
import { deliverOneBatch, type SqsQueueRef } from '../../local-cloud/sqs-event-source.ts';
import type { StartSandboxOptions } from '../../sandbox/server.ts';
import { type RunningSandbox, startSandbox } from '../../sandbox/server.ts';
import { createDocumentClient, createS3Client, createSqsClient } from '../../shared/aws-clients.ts';
import { handlerEnvSchema } from '../../shared/config.ts';
import type { LivenessCaller } from '../../shared/liveness/client.ts';
import { createLogger, createMetrics } from '../../shared/observability.ts';
import { AttemptLog } from '../../shared/results/attempts.ts';
import { SelfieLifecycle } from '../../shared/results/selfie-lifecycle.ts';
import { SpendBudget } from '../../shared/results/spend-budget.ts';
import { pipelineSettings } from '../../shared/settings.ts';
import { VendorBreaker } from '../../shared/verification/vendor-breaker.ts';
import { buildWorkerRuntime, type WorkerRuntime } from '../../shared/verification/worker-runtime.ts';
import { emulatorEndpoints, uniqueName } from './emulators.ts';

/** The ObjectCreated record S3 sends for an upload, built by the same code the local cloud uses. */
export function objectCreatedRecord(bucket: string, key: string, size: number): S3EventRecord {
  return localObjectCreatedRecord(bucket, { key, size, eTag: 'etag' });
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<SqsQueueRef> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { queueUrl: QueueUrl ?? '', queueArn: attrs.Attributes?.QueueArn ?? '' };
}

export interface PipelineFixtureOptions {
  sandbox?: StartSandboxOptions;
  maxReceiveCount?: number;
  maxAttempts?: number;
  /** Seconds before a failed message is received again (short, so retry tests run quickly). */
  visibilityTimeoutSeconds?: number;
  env?: Record<string, string>;
  /** How long the vendor circuit stays open before a probe (the policy's 30 s makes outage tests slow). */
  breakerOpenMs?: number;
  /** The vendor the worker calls (default: an HTTP client of the fixture's sandbox). */
  vendor?: (sandbox: RunningSandbox) => LivenessCaller;
}

/**
 * A whole pipeline against the real emulators and the sandbox over HTTP: bucket, work queue with
 * DLQ, results table, and the handlers' runtimes as the local host builds them.
 */
/**
 * One pipeline per test, stopped after each: `const startPipeline = pipelinePerTest()` in a
 * describe block, then `const pipeline = await startPipeline(options)` in a test.
 */
export function pipelinePerTest(): (options?: PipelineFixtureOptions) => Promise<PipelineFixture> {
  let current: PipelineFixture | undefined;
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  return async (options) => {
    current = await createPipelineFixture(options);
    return current;
  };
}

export async function createPipelineFixture(options: PipelineFixtureOptions = {}) {
  const endpoints = emulatorEndpoints();
  const s3 = createS3Client(endpoints);
  const sqs = createSqsClient(endpoints);
  const db = createDocumentClient(endpoints);
  const bucket = uniqueName('selfies');
  const tableName = uniqueName('results');
  const maxReceiveCount = options.maxReceiveCount ?? pipelineSettings.workQueue.maxReceiveCount;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const dlq = await createQueue(sqs, uniqueName('dlq'), {});
  const workQueue = await createQueue(sqs, uniqueName('work'), {
    VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 1),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount }),
  });
  await ensureResultsTable(db, tableName);
  const sandbox: RunningSandbox = await startSandbox({ port: 0, seed: 'pipeline-tests', ...options.sandbox });
  const repository = new SelfieLifecycle(db, tableName);
  const attempts = new AttemptLog(db, tableName);
  const budget = new SpendBudget(db, tableName);
  const logger = createLogger('test');
  const metrics = createMetrics('test');

  const enqueueRuntime: EnqueueRuntime = {
    repository,
    sqs,
    workQueueUrl: workQueue.queueUrl,
    uploadPrefix: pipelineSettings.uploadPrefix,
    logger,
    metrics,
  };
  const env = handlerEnvSchema.parse({
    RESULTS_TABLE_NAME: tableName,
    VENDOR_URL: sandbox.endpointUrl,
    VENDOR_USER_ID: 'sandbox-user',
    VENDOR_API_KEY: 'sandbox-key',
    VENDOR_TIMEOUT_MS: '2000',
    VENDOR_MAX_ATTEMPTS: String(options.maxAttempts ?? 3),
    MAX_RECEIVE_COUNT: String(maxReceiveCount),
    ...options.env,
  });
  const built = await buildWorkerRuntime(
    env,
    {
      s3,
      sqs,
      db,
      secrets: () => {
        throw new Error('no Secrets Manager in tests');
      },
      ...(options.vendor ? { vendor: options.vendor(sandbox) } : {}),
    },
    { logger, metrics },
  );
  // Waits are re-queued as new messages as on AWS; every delay is capped at 1 s so tests run in seconds.
  const workerRuntime: WorkerRuntime = {
    ...built,
    workQueueUrl: workQueue.queueUrl,
    delayCapSeconds: 1,
    ...(options.breakerOpenMs === undefined
      ? {}
      : { verification: { ...built.verification, breaker: new VendorBreaker(options.breakerOpenMs) } }),
  };

  return {
    s3,
    sqs,
    db,
    bucket,
    tableName,
    workQueue,
    dlq,
    sandbox,
    repository,
    attempts,
    budget,
    enqueueRuntime,
    workerRuntime,
    /** Uploads an object and returns the ObjectCreated record S3 would send for it. */
    async upload(key: string, bytes: Buffer): Promise<S3EventRecord> {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
      return objectCreatedRecord(bucket, key, bytes.length);
    },
    enqueue(records: S3EventRecord[]) {
      return processUploadEvent({ Records: records } satisfies S3Event, enqueueRuntime);
    },
    invokeWorker(event: SQSEvent): Promise<SQSBatchResponse> {
      return processWorkerEvent(event, { getRemainingTimeInMillis: () => 60_000 }, workerRuntime);
    },
    /** One poll of the work queue by the worker, as the Lambda event source does it. */
    deliver(batchSize = 10) {
      return deliverOneBatch(sqs, workQueue, batchSize, (event) => this.invokeWorker(event));
    },
    /**
     * Delivers until the work queue stays empty, waiting out visibility timeouts and delays. Throws when
     * messages are still there after `maxRounds`, so a test never goes on as if the queue had drained.
     */
    async drain(maxRounds = 40) {
      let idle = 0;
      for (let round = 0; round < maxRounds; round++) {
        const { received } = await this.deliver();
        idle = received === 0 ? idle + 1 : 0;
        if (idle >= 3 && (await queueIsEmpty(sqs, workQueue.queueUrl))) return;
        if (received === 0) await sleep(500);
      }
      throw new Error(`drain: the work queue still holds messages after ${maxRounds} rounds`);
    },
    paidReferences(): string[] {
      return sandbox
        .ledger()
        .filter((e) => e.charged)
        .map((e) => e.transactionReference ?? '');
    },
    async stop() {
      await sandbox.stop();
    },
  };
}

async function queueIsEmpty(sqs: SQSClient, queueUrl: string): Promise<boolean> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return Object.values(Attributes ?? {}).every((count) => Number(count) === 0);
}

export type PipelineFixture = Awaited<ReturnType<typeof createPipelineFixture>>;

/** Collects what the process writes to stdout and stderr (Powertools logs and EMF metrics) while `fn` runs. */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<{ result: T; output: string }> {
  let output = '';
  const restore = [process.stdout, process.stderr].map((stream) => {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      output += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    return () => {
      stream.write = original;
    };
  });
  try {
    return { result: await fn(), output };
  } finally {
    for (const undo of restore) undo();
  }
}
