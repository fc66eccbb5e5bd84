/**
 * Estimated AWS cost per 1,000 selfies, from counts and durations measured by running the real
 * handlers in this process against DynamoDB Local, fauxqs and the sandbox: every AWS request the
 * handlers make is counted by SDK middleware (DynamoDB with the capacity units it consumed, table
 * and indexes), each invocation is timed, and every log line is weighed. Uploads arrive one S3
 * event per object (as S3 sends them); the worker gets batches of 10 with the stack's record
 * concurrency; the publish function reads the table's stream. Vendor fees are excluded.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { decidedCount } from '../cli/progress.ts';
import { processUploadEvent } from '../functions/enqueue.ts';
import { processResultStream } from '../functions/publish.ts';
import { processWorkerEvent } from '../functions/worker.ts';
import { objectCreatedRecord } from '../local-cloud/s3-notifications.ts';
import { deliverOneBatch } from '../local-cloud/sqs-event-source.ts';
import { startStreamPoller } from '../local-cloud/stream-poller.ts';
import { createDocumentClient } from '../shared/aws-clients.ts';
import { handlerEnvSchema } from '../shared/config.ts';
import { createLogger, createMetrics } from '../shared/observability.ts';
import { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { buildWorkerRuntime } from '../shared/verification/worker-runtime.ts';
import { syntheticFace } from '../testkit/images.ts';
import { startLocalServices } from './support/local-services.ts';
import { RequestCounter } from './support/request-counter.ts';
import { type BenchOptions, type BenchRow, fixed } from './table.ts';

/** What one vendor call is assumed to take on AWS (the worker is billed while it waits). */
export const ASSUMED_VENDOR_LATENCY_MS = 1000;
/** Lambda's START/END/REPORT lines per invocation, bytes (platform logs are ingested too). */
const PLATFORM_LOG_BYTES = 350;

/**
 * us-east-1 list prices in USD. Lambda and DynamoDB as published on the AWS pricing pages
 * (Lambda arm64; DynamoDB on-demand after the 1 Nov 2024 cut), seen via search on 2026-11-26;
 * the others are list prices as known in 2025, marked as assumptions. Free tiers ignored.
 */
export const prices = {
  date: 'us-east-1 list prices as of 2025 (Lambda, DynamoDB checked 2026-11-26; others assumed)',
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  sqsRequest: 0.4 / 1e6,
  s3Put: 0.005 / 1000,
  s3Get: 0.0004 / 1000,
  eventBridgeEvent: 1.0 / 1e6,
  logsIngestedGb: 0.5,
} as const;

interface Invocations {
  count: number;
  totalMs: number;
}

const timed = async <T>(into: Invocations, work: () => Promise<T>): Promise<T> => {
  const started = performance.now();
  try {
    return await work();
  } finally {
    into.count += 1;
    into.totalMs += performance.now() - started;
  }
};

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/** Swallows what the handlers log (Powertools writes JSON lines to stdout) and weighs it. */
function captureStdout() {
  const original = process.stdout.write.bind(process.stdout);
  let bytes = 0;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return true;
  }) as typeof process.stdout.write;
  return {
    bytes: () => bytes,
    restore: () => {
      process.stdout.write = original;
    },
  };
}

export async function benchAwsCost(options: BenchOptions): Promise<BenchRow[]> {
  const selfies = options.quick ? 40 : 100;
  const images: Buffer[] = [];
  for (let i = 0; i < selfies; i++) {
    images.push(await syntheticFace({ seed: 80_000 + i, width: 720, height: 960, grain: 0.5 }));
  }
  const services = await startLocalServices({ latencyMs: ASSUMED_VENDOR_LATENCY_MS });
  const scratch = mkdtempSync(join(tmpdir(), 'lb-bench-cost-'));
  const counter = new RequestCounter();
  counter.instrument(services.s3, 'S3');
  counter.instrument(services.sqs, 'SQS');
  counter.instrument(services.db, 'DynamoDB');
  const enqueueRuns: Invocations = { count: 0, totalMs: 0 };
  const workerRuns: Invocations = { count: 0, totalMs: 0 };
  const publishRuns: Invocations = { count: 0, totalMs: 0 };
  const events: PutEventsRequestEntry[] = [];
  // As on AWS: INFO logs (the stack's default) and EMF metric lines, both ingested by CloudWatch Logs.
  const saved = { level: process.env.POWERTOOLS_LOG_LEVEL, metrics: process.env.POWERTOOLS_METRICS_DISABLED };
  process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const stdout = captureStdout();
  let poller: ReturnType<typeof startStreamPoller> | undefined;
  try {
    const { resources } = services;
    const env = handlerEnvSchema.parse({
      RESULTS_TABLE_NAME: resources.tableName,
      WORK_QUEUE_URL: resources.workQueue.queueUrl,
      VENDOR_URL: services.sandbox.endpointUrl,
      VENDOR_USER_ID: 'sandbox-user',
      VENDOR_API_KEY: 'sandbox-key',
    });
    const worker = await buildWorkerRuntime(
      env,
      {
        s3: services.s3,
        sqs: services.sqs,
        db: services.db,
        secrets: () => {
          throw new Error('no Secrets Manager here');
        },
      },
      { logger: createLogger('worker'), metrics: createMetrics('worker') },
    );
    const enqueue = {
      repository: services.repository,
      sqs: services.sqs,
      workQueueUrl: resources.workQueue.queueUrl,
      uploadPrefix: env.UPLOAD_PREFIX,
      logger: createLogger('enqueue'),
      metrics: createMetrics('enqueue'),
    };
    const publish = {
      publisher: {
        async putEvents(entries: PutEventsRequestEntry[]) {
          events.push(...entries);
          return {
            failedEntryCount: 0,
            entries: entries.map((_, i) => ({ eventId: `e${events.length + i}` })),
          };
        },
      },
      eventBusName: 'bench',
      logger: createLogger('publish'),
      metrics: createMetrics('publish'),
    };

    // Uploads: one PutObject and one enqueue invocation per object.
    for (const [i, bytes] of images.entries()) {
      const key = `uploads/cost/face-${i}.jpg`;
      const out = await services.s3.send(
        new PutObjectCommand({ Bucket: resources.bucket, Key: key, Body: bytes }),
      );
      await timed(enqueueRuns, () =>
        processUploadEvent(
          {
            Records: [
              objectCreatedRecord(resources.bucket, { key, size: bytes.length, eTag: out.ETag ?? '' }),
            ],
          },
          enqueue,
        ),
      );
    }
    // The worker's event source: batches of 10, one invocation at a time so durations are not inflated.
    const context = { getRemainingTimeInMillis: () => pipelineSettings.worker.timeoutSeconds * 1000 };
    // Progress is read through a client of its own, so the harness's reads are not counted.
    const progress = new SelfieLifecycle(createDocumentClient(services.endpoints), resources.tableName);
    while (decidedCount(await progress.getBatchSummary('cost')) < selfies) {
      await deliverOneBatch(services.sqs, resources.workQueue, pipelineSettings.worker.batchSize, (event) =>
        timed(workerRuns, () => processWorkerEvent(event, context, worker)),
      );
    }
    // The stream: Lambda reads it for free; only the publish invocations and PutEvents count.
    const local = {
      region: 'us-east-1',
      endpoint: services.endpoints.dynamodb,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    poller = startStreamPoller({
      db: new DynamoDBClient(local),
      streams: new DynamoDBStreamsClient(local),
      tableName: resources.tableName,
      batchSize: pipelineSettings.publish.batchSize,
      maxRetryAttempts: pipelineSettings.publish.maxRetryAttempts,
      checkpointFile: join(scratch, 'checkpoint.json'),
      handler: (event) => timed(publishRuns, () => processResultStream(event, publish)),
      onError: () => undefined,
    });
    const deadline = Date.now() + 60_000;
    while (events.length < selfies && Date.now() < deadline) await sleep(100);
  } finally {
    stdout.restore();
    restoreEnv('POWERTOOLS_LOG_LEVEL', saved.level);
    restoreEnv('POWERTOOLS_METRICS_DISABLED', saved.metrics);
    await poller?.stop();
    await services.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
  if (events.length !== selfies) throw new Error(`expected ${selfies} events, got ${events.length}`);
  return costRows(
    {
      selfies,
      counter,
      enqueueRuns,
      workerRuns,
      publishRuns,
      logBytes: stdout.bytes(),
      events: events.length,
    },
    options,
  );
}

function costRows(
  m: {
    selfies: number;
    counter: RequestCounter;
    enqueueRuns: Invocations;
    workerRuns: Invocations;
    publishRuns: Invocations;
    logBytes: number;
    events: number;
  },
  options: BenchOptions,
): BenchRow[] {
  const per1000 = 1000 / m.selfies;
  const { counter } = m;
  const gbSeconds = (runs: Invocations, memoryMb: number) =>
    (runs.totalMs / 1000) * (memoryMb / 1024) * per1000;
  const lambdaGbS =
    gbSeconds(m.enqueueRuns, pipelineSettings.enqueue.memoryMb) +
    gbSeconds(m.workerRuns, pipelineSettings.worker.memoryMb) +
    gbSeconds(m.publishRuns, pipelineSettings.publish.memoryMb);
  const invocations = (m.enqueueRuns.count + m.workerRuns.count + m.publishRuns.count) * per1000;
  const sqs = counter.total('SQS') * per1000;
  const s3Puts = (counter.total('S3', 'PutObject') + counter.total('S3', 'ListObjectsV2')) * per1000;
  const s3Gets = counter.total('S3', 'GetObject') * per1000;
  const wru = counter.writeUnits * per1000;
  const rru = counter.readUnits * per1000;
  const logGb = (m.logBytes * per1000 + invocations * PLATFORM_LOG_BYTES) / 1024 ** 3;
  const events = m.events * per1000;
  const items: Array<[string, string, number]> = [
    [
      'Lambda duration',
      `${fixed(lambdaGbS, 1)} GB-s (worker ${fixed(m.workerRuns.totalMs / m.workerRuns.count, 0)} ms per batch of 10 at 1024 MB; enqueue ${fixed(m.enqueueRuns.totalMs / m.enqueueRuns.count, 0)} ms, publish ${fixed(m.publishRuns.totalMs / Math.max(1, m.publishRuns.count), 0)} ms at 256 MB)`,
      lambdaGbS * prices.lambdaArmGbSecond,
    ],
    ['Lambda requests', `${fixed(invocations, 0)} invocations`, invocations * prices.lambdaRequest],
    [
      'DynamoDB writes',
      `${fixed(wru, 0)} WRU (${fixed(wru / 1000, 1)} per selfie, indexes included)`,
      wru * prices.dynamoWriteUnit,
    ],
    [
      'DynamoDB reads',
      `${fixed(rru, 0)} RRU (${fixed(rru / 1000, 1)} per selfie)`,
      rru * prices.dynamoReadUnit,
    ],
    [
      'SQS requests',
      `${fixed(sqs, 0)} (${[...counter.requests]
        .filter(([k]) => k.startsWith('SQS'))
        .map(([k, n]) => `${k.slice(4)} ${fixed(n * per1000, 0)}`)
        .join(', ')})`,
      sqs * prices.sqsRequest,
    ],
    [
      'S3 requests',
      `${fixed(s3Puts, 0)} PUT, ${fixed(s3Gets, 0)} GET`,
      s3Puts * prices.s3Put + s3Gets * prices.s3Get,
    ],
    ['EventBridge', `${fixed(events, 0)} custom events`, events * prices.eventBridgeEvent],
    [
      'CloudWatch Logs',
      `${fixed(logGb * 1024 ** 2, 0)} KiB ingested (INFO logs, EMF metrics, platform lines)`,
      logGb * prices.logsIngestedGb,
    ],
  ];
  const total = items.reduce((sum, [, , usd]) => sum + usd, 0);
  options.log(
    `aws cost: DynamoDB requests per selfie: ${[...counter.requests]
      .filter(([k]) => k.startsWith('DynamoDB'))
      .map(([k, n]) => `${k.slice(9)} ${fixed(n / m.selfies, 2)}`)
      .join(', ')}`,
  );
  const byMethod = [...counter.unitsByMethod]
    .map(([method, { requests, units, table, indexes }]) => {
      const split = [
        `table ${fixed(table / m.selfies, 1)}`,
        ...[...indexes].map(([index, used]) => `${index} ${fixed(used / m.selfies, 1)}`),
      ].join(' + ');
      return `${method} ${fixed(units / m.selfies, 1)} = ${split} (${fixed(requests / m.selfies, 2)} req)`;
    })
    .join('; ');
  return [
    {
      section: 'AWS cost / 1,000 selfies',
      metric:
        "DynamoDB capacity units per selfie by repository call (DynamoDB Local's ConsumedCapacity, GSIs included)",
      value: byMethod,
    },
    ...items.map(([what, amount, usd]) => ({
      section: 'AWS cost / 1,000 selfies',
      metric: what,
      value: `$${usd.toFixed(4)}: ${amount}`,
    })),
    {
      section: 'AWS cost / 1,000 selfies',
      metric: `total, vendor fees excluded (${prices.date}; vendor latency assumed ${ASSUMED_VENDOR_LATENCY_MS} ms)`,
      value: `$${total.toFixed(3)}`,
    },
  ];
}
