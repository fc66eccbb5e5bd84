import { mkdirSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { outcomeRules } from '../infra/event-rules.ts';
import { requeueHeldSelfies } from '../operations/spend-cap.ts';
import type { SandboxOptions } from '../sandbox/options.ts';
import { SANDBOX_DEFAULT_API_KEY, SANDBOX_DEFAULT_USER_ID } from '../sandbox/options.ts';
import { type RunningSandbox, startSandbox } from '../sandbox/server.ts';
import { createDocumentClient, createS3Client, createSqsClient } from '../shared/aws-clients.ts';
import { type HandlerEnv, handlerEnvSchema } from '../shared/config.ts';
import { LivenessClient } from '../shared/liveness/client.ts';
import { createLogger, createMetrics } from '../shared/observability.ts';
import { SelfieLifecycle } from '../shared/results/selfie-lifecycle.ts';
import { selfieIdOf } from '../shared/selfie.ts';
import { pipelineSettings } from '../shared/settings.ts';
import { type TunableInput, tunablesToEnv } from '../shared/tunables.ts';
import type { BreakerStatus } from '../shared/verification/vendor-breaker.ts';
import { buildWorkerRuntime } from '../shared/verification/worker-runtime.ts';
import { SHORT_RUN_MAX_SELFIES } from './dynamodb-local.ts';
import { startFileBackedDynamoDb } from './dynamodb-process.ts';
import { jsonlArchive, LocalEventBus, sqsTarget } from './event-bus.ts';
import { startS3SqsEmulator } from './fauxqs.ts';
import { type HandlerSource, loadPipelineHandlers } from './handlers.ts';
import { LostWork } from './recovery.ts';
import { createLocalResources, type LocalResources } from './resources.ts';
import {
  type CreatedObject,
  DeliveredObjects,
  objectCreatedRecord,
  watchBucket,
} from './s3-notifications.ts';
import {
  type HostEndpoints,
  lockStateDir,
  type StatePaths,
  statePaths,
  writeHostEndpoints,
} from './state-dir.ts';
import { startStreamPoller } from './stream-poller.ts';
import {
  type DroppedReviewImages,
  LOCAL_REVIEW_IMAGE_BUDGET_BYTES,
  LocalUploadRetention,
} from './upload-retention.ts';
import { VendorSlots } from './vendor-slots.ts';
import { startWorkerPool } from './worker-pool.ts';

const REGION = 'us-east-1';
/** The local bus has one name; rules and targets are the shipped ones. */
const LOCAL_EVENT_BUS = 'liveness-batch';
/** S3 delivers up to this many records per notification event here (it sends one; batching saves invocations). */
const RECORDS_PER_UPLOAD_EVENT = 10;

export interface LocalCloudOptions {
  stateDir: string;
  mode: 'run' | 'up';
  /** Vendor calls in flight across the whole host. */
  concurrency: number;
  /** Another vendor endpoint; when absent, the sandbox starts with `sandbox` as its options. */
  vendor?: { url: string; userId: string; apiKey: string };
  sandbox?: Omit<SandboxOptions, 'port' | 'ledgerFile' | 'userId' | 'apiKey'>;
  /**
   * The worker's tunables (shared/tunables.ts): thresholds, spend cap, uncertain calls…; unset ones
   * take their defaults. recordConcurrency follows `concurrency` unless given.
   */
  tunables?: TunableInput;
  /** Worker function timeout (default: pipelineSettings.worker.timeoutSeconds). */
  workerTimeoutSeconds?: number;
  /**
   * The work queue's visibility timeout. AWS uses about six times the worker timeout; here the only
   * consumer is this process, so the default is the worker timeout plus 30 s: a record whose
   * invocation threw comes back in 2.5 minutes instead of 12. The worker's own retry delays use
   * ChangeMessageVisibility and are unaffected.
   */
  visibilityTimeoutSeconds?: number;
  /** How often the bucket is listed for uploads made by other clients (ms, default 1000)... */
  bucketPollMs?: number;
  /** The handler functions to drive (default: the source; `--bundled`: bundles built as the stack builds them). */
  handlers?: HandlerSource;
  /** ...backing off to this while listings find nothing new (ms, default 5 x bucketPollMs). */
  bucketMaxPollMs?: number;
  /**
   * Bytes of NOT_VERIFIED and REVIEW uploads the in-memory bucket keeps for the review page (default
   * LOCAL_REVIEW_IMAGE_BUDGET_BYTES, 64 MiB); beyond it the oldest go, NOT_VERIFIED before REVIEW.
   * See local-cloud/upload-retention.ts.
   */
  reviewImageBudgetBytes?: number;
  /**
   * Selfies this host is started for, when known (`run` of a folder): a short run gets a DynamoDB
   * Local that compiles with C1 only (local-cloud/dynamodb-local.ts, SHORT_RUN_MAX_SELFIES).
   */
  expectedSelfies?: number;
  /** Problems of the host itself (emulator calls failing, stream retries). */
  onError?: (message: string, error: unknown) => void;
  /** Something the user should know that is not a failure (once per host: review images dropped). */
  onWarning?: (message: string) => void;
}

export interface LocalCloud {
  paths: StatePaths;
  endpoints: HostEndpoints;
  resources: LocalResources;
  repository: SelfieLifecycle;
  sandbox?: RunningSandbox;
  vendor: VendorSlots;
  /** Worker invocations at once (the event source's maximum concurrency). */
  maxInvocations: number;
  /** Where the handler functions came from: "source", or the folder of their bundles. */
  handlersFrom: string;
  /** What the boot found left over by an earlier, crashed host. */
  recovered: { unfinished: number; leasesReleased: number; lostMessages: number };
  /** Uploads one object and delivers its ObjectCreated event to enqueue (resolves once enqueued). */
  /** Sends a batch's HELD selfies back to the work queue (after a cap was raised); returns how many. */
  requeueHeld(batchId: string): Promise<number>;
  /** The worker's vendor circuit: closed, or open since when and on what answer. */
  vendorCircuit(): BreakerStatus;
  /** Puts an object, with S3 user metadata when given (`subject-id`, `correlation-id`). */
  upload(key: string, body: Buffer, metadata?: Record<string, string>): Promise<void>;
  /** Review images the bucket dropped to stay within its budget, and that budget. */
  reviewImagesDropped(): DroppedReviewImages & { budgetBytes: number };
  /** Counters for progress and stall detection. */
  activity(): { invocations: number; running: number; received: number; lastActivityAt: number };
  /** True when no message is waiting, in flight or delayed and no invocation or upload is running. */
  isIdle(): Promise<boolean>;
  /** Waits until every outcome recorded so far has been published to the bus. */
  drainEvents(timeoutMs?: number): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * The local cloud: boots the S3+SQS emulator (in memory), DynamoDB Local (file-backed under the
 * state folder) and the liveness sandbox on loopback ports, creates the stack's resources, and
 * drives the same handlers Lambda runs, with emulated event sources:
 * S3 notifications -> enqueue, SQS -> worker (partial batches), DynamoDB Streams -> publish -> bus.
 */
/**
 * The handlers' environment on this host, built as the stack builds the Lambda environment (every
 * tunable through its env variable), so both hosts read their settings the same way.
 */
export function localHandlerEnv(
  wiring: {
    tableName: string;
    workQueueUrl: string;
    vendor: { url: string; userId: string; apiKey: string };
  },
  tunableValues: TunableInput,
): HandlerEnv {
  return handlerEnvSchema.parse({
    ...tunablesToEnv({ ...tunableValues, vendorUrl: wiring.vendor.url }),
    RESULTS_TABLE_NAME: wiring.tableName,
    WORK_QUEUE_URL: wiring.workQueueUrl,
    EVENT_BUS_NAME: LOCAL_EVENT_BUS,
    VENDOR_USER_ID: wiring.vendor.userId,
    VENDOR_API_KEY: wiring.vendor.apiKey,
  });
}

export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const paths = statePaths(options.stateDir);
  const lock = lockStateDir(paths);
  const stack: Array<() => Promise<void>> = [async () => lock.release()];
  const onError = options.onError ?? (() => undefined);
  try {
    mkdirSync(paths.logs, { recursive: true });
    // Bundling (when asked) runs while the emulators boot; a bundle that does not load stops the boot.
    const handlersLoading = loadPipelineHandlers(options.handlers ?? { kind: 'source' });
    handlersLoading.catch(() => undefined);
    // Started side by side; each is registered for stopping as soon as it is up, so one failing
    // (Java missing) does not leave the others running.
    const started = <T extends { stop(): Promise<void> }>(service: Promise<T>) =>
      service.then((running) => {
        stack.push(() => running.stop());
        return running;
      });
    const [emulator, dynamodb, sandbox] = await settleAll([
      started(startS3SqsEmulator(0)),
      started(
        startFileBackedDynamoDb(paths.dynamodb, paths.dynamodbPid, {
          // A long-lived `up`, or a run of unknown size, warms DynamoDB Local up with C2 as usual.
          shortRun: options.expectedSelfies !== undefined && options.expectedSelfies <= SHORT_RUN_MAX_SELFIES,
        }),
      ),
      options.vendor
        ? Promise.resolve(undefined)
        : started(startSandbox({ ...options.sandbox, port: 0, ledgerFile: paths.ledger })),
    ] as const);

    const { processUploadEvent, processWorkerEvent, processResultStream, origin } = await handlersLoading;
    const endpoints = {
      region: REGION,
      s3: emulator.endpoint,
      sqs: emulator.endpoint,
      dynamodb: dynamodb.endpoint,
    };
    const s3 = createS3Client({ ...endpoints, localCredentials: true });
    const sqs = createSqsClient({ ...endpoints, localCredentials: true });
    const db = createDocumentClient({ ...endpoints, localCredentials: true });
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    const rawDb = new DynamoDBClient({ region: REGION, endpoint: dynamodb.endpoint, credentials });
    const streams = new DynamoDBStreamsClient({ region: REGION, endpoint: dynamodb.endpoint, credentials });

    const workerTimeoutSeconds = options.workerTimeoutSeconds ?? pipelineSettings.worker.timeoutSeconds;
    const resources = await createLocalResources(
      { s3, sqs, db },
      options.visibilityTimeoutSeconds ?? workerTimeoutSeconds + 30,
    );
    const repository = new SelfieLifecycle(db, resources.tableName);
    const found = await LostWork.find(db, resources.tableName, sqs, resources.workQueue.queueUrl);

    const vendorUrl = options.vendor?.url ?? (sandbox as RunningSandbox).endpointUrl;
    const { maxInvocations, recordConcurrency } = workerConcurrency(options.concurrency);
    const env = localHandlerEnv(
      {
        tableName: resources.tableName,
        workQueueUrl: resources.workQueue.queueUrl,
        vendor: {
          url: vendorUrl,
          userId: options.vendor?.userId ?? SANDBOX_DEFAULT_USER_ID,
          apiKey: options.vendor?.apiKey ?? SANDBOX_DEFAULT_API_KEY,
        },
      },
      { recordConcurrency, ...options.tunables },
    );
    const vendor = new VendorSlots(
      new LivenessClient({
        endpointUrl: env.tunables.vendorUrl,
        timeoutMs: env.tunables.vendorTimeoutMs,
        userId: env.VENDOR_USER_ID ?? '',
        apiKey: env.VENDOR_API_KEY ?? '',
      }),
      options.concurrency,
    );
    const workerRuntime = await buildWorkerRuntime(
      env,
      {
        s3,
        sqs,
        db,
        secrets: () => {
          throw new Error('The local cloud passes vendor credentials directly; no Secrets Manager');
        },
        vendor,
      },
      { logger: createLogger('worker'), metrics: createMetrics('worker') },
    );
    const enqueueRuntime = {
      repository,
      sqs,
      workQueueUrl: resources.workQueue.queueUrl,
      uploadPrefix: env.UPLOAD_PREFIX,
      logger: createLogger('enqueue'),
      metrics: createMetrics('enqueue'),
    };
    // ObjectCreated delivery: one event per object version (key + ETag), whoever uploaded it.
    const delivered = new DeliveredObjects();
    const reviewImageBudgetBytes = options.reviewImageBudgetBytes ?? LOCAL_REVIEW_IMAGE_BUDGET_BYTES;
    let warnedOfDrops = false;
    const retention = new LocalUploadRetention(s3, resources.bucket, repository, {
      reviewImageBudgetBytes,
      onDeleted: (key) => delivered.forget(key),
      sizeOf: (key) => delivered.sizeOf(key),
      onDropped: () => {
        if (warnedOfDrops) return;
        warnedOfDrops = true;
        options.onWarning?.(reviewImagesDroppedWarning(reviewImageBudgetBytes));
      },
    });
    const archive = jsonlArchive(paths.events);
    const bus = new LocalEventBus({
      rules: outcomeRules,
      targets: {
        reviewQueue: sqsTarget(sqs, resources.reviewQueue.queueUrl),
        opsQueue: sqsTarget(sqs, resources.opsQueue.queueUrl),
      },
      // The local bucket's retention rides on the archive: it sees every outcome, once archived.
      archive: async (envelope) => {
        await archive(envelope);
        await retention.onOutcome(envelope);
      },
      region: REGION,
    });
    const publishRuntime = {
      publisher: bus,
      eventBusName: LOCAL_EVENT_BUS,
      logger: createLogger('publish'),
      metrics: createMetrics('publish'),
    };

    const streamPoller = startStreamPoller({
      db: rawDb,
      streams,
      tableName: resources.tableName,
      batchSize: pipelineSettings.publish.batchSize,
      maxRetryAttempts: pipelineSettings.publish.maxRetryAttempts,
      checkpointFile: paths.streamCheckpoint,
      handler: (event) => processResultStream(event, publishRuntime),
      onError: (error, context) => onError(context, error),
      region: REGION,
    });
    stack.push(() => streamPoller.stop());

    const batchSize = pipelineSettings.worker.batchSize;
    const workerPool = startWorkerPool({
      sqs,
      queue: resources.workQueue,
      batchSize,
      maxConcurrency: maxInvocations,
      timeoutMs: workerTimeoutSeconds * 1000,
      // Decisions are in the table's stream once an invocation ends: publish them now, not at the next poll.
      invoke: (event, context) =>
        processWorkerEvent(event, context, workerRuntime).finally(() => streamPoller.wake()),
      onError: (error) => onError('work queue poll failed', error),
    });
    stack.push(async () => {
      await workerPool.stop();
    });

    let notifying = 0;
    const notify = async (objects: CreatedObject[]): Promise<number> => {
      const fresh = delivered.takeFresh(objects);
      if (fresh.length === 0) return 0;
      notifying += 1;
      try {
        for (let start = 0; start < fresh.length; start += RECORDS_PER_UPLOAD_EVENT) {
          const group = fresh.slice(start, start + RECORDS_PER_UPLOAD_EVENT);
          try {
            const enqueued = await processUploadEvent(
              { Records: group.map((o) => objectCreatedRecord(resources.bucket, o, REGION)) },
              enqueueRuntime,
            );
            if (enqueued.alreadyKnown > 0) await retention.afterKnownUploads(group);
            await found.lostWork.requeue(
              group.map((o) => selfieIdOf({ bucket: resources.bucket, key: o.key })),
            );
          } catch (error) {
            // As S3 retries a failed invocation: forget these so the next bucket listing delivers them again.
            for (const o of group) delivered.forget(o.key, o.eTag);
            throw error;
          }
        }
      } finally {
        notifying -= 1;
      }
      return fresh.length;
    };
    const watcher = watchBucket({
      s3,
      bucket: resources.bucket,
      prefix: env.UPLOAD_PREFIX,
      intervalMs: options.bucketPollMs ?? 1000,
      maxIntervalMs: options.bucketMaxPollMs ?? 5 * (options.bucketPollMs ?? 1000),
      onObjects: async (objects, listingStartedAt) => {
        delivered.forgetMissing(objects, listingStartedAt);
        return notify(objects);
      },
      onError: (error) => onError('bucket listing or enqueue failed (retrying)', error),
    });
    stack.push(() => watcher.stop());

    const hostEndpoints: HostEndpoints = {
      pid: process.pid,
      mode: options.mode,
      startedAt: new Date().toISOString(),
      region: REGION,
      s3: emulator.endpoint,
      sqs: emulator.endpoint,
      dynamodb: dynamodb.endpoint,
      bucket: resources.bucket,
      uploadPrefix: env.UPLOAD_PREFIX,
      tableName: resources.tableName,
      queues: {
        work: resources.workQueue.queueUrl,
        deadLetter: resources.deadLetterQueue.queueUrl,
        review: resources.reviewQueue.queueUrl,
        ops: resources.opsQueue.queueUrl,
      },
      vendorUrl,
      ...(sandbox ? { sandbox: sandbox.baseUrl } : {}),
      concurrency: options.concurrency,
    };
    writeHostEndpoints(paths, hostEndpoints);

    let stopping: Promise<void> | undefined;
    return {
      paths,
      endpoints: hostEndpoints,
      resources,
      repository,
      ...(sandbox ? { sandbox } : {}),
      vendor,
      maxInvocations,
      handlersFrom: origin,
      recovered: {
        unfinished: found.unfinished,
        leasesReleased: found.leasesReleased,
        lostMessages: found.lostWork.size,
      },
      async upload(key, body, metadata) {
        const out = await s3.send(
          new PutObjectCommand({
            Bucket: resources.bucket,
            Key: key,
            Body: body,
            ...(metadata ? { Metadata: metadata } : {}),
          }),
        );
        // Every PUT is an event on S3, even of bytes the key already had.
        delivered.forget(key);
        await notify([{ key, size: body.length, eTag: out.ETag ?? '' }]);
      },
      vendorCircuit: () => workerRuntime.verification.breaker.status(),
      requeueHeld: (batchId) =>
        requeueHeldSelfies(
          { db, tableName: resources.tableName, sqs, workQueueUrl: resources.workQueue.queueUrl },
          batchId,
        ),
      reviewImagesDropped: () => ({ ...retention.dropped, budgetBytes: reviewImageBudgetBytes }),
      activity: () => ({ ...workerPool.stats }),
      async isIdle() {
        if (workerPool.stats.running > 0 || notifying > 0) return false;
        const out = await sqs.send(
          new GetQueueAttributesCommand({
            QueueUrl: resources.workQueue.queueUrl,
            AttributeNames: [
              'ApproximateNumberOfMessages',
              'ApproximateNumberOfMessagesNotVisible',
              'ApproximateNumberOfMessagesDelayed',
            ],
          }),
        );
        const counts = Object.values(out.Attributes ?? {}).map(Number);
        return counts.every((n) => n === 0) && workerPool.stats.running === 0;
      },
      drainEvents: (timeoutMs) => streamPoller.drained(timeoutMs),
      stop() {
        stopping ??= unwind(stack);
        return stopping;
      },
    };
  } catch (error) {
    await unwind(stack);
    throw error;
  }
}

/** The one line that tells the user, the first time, that the review page will miss some images. */
export function reviewImagesDroppedWarning(budgetBytes: number): string {
  return (
    `the in-memory bucket keeps ${formatMiB(budgetBytes)} of NOT_VERIFIED and REVIEW images for \`liveness-batch review\`; ` +
    'beyond that it now deletes the oldest (NOT_VERIFIED first) to bound memory, so the review page will miss them. ' +
    'To review them all, run smaller batches into a running `liveness-batch up` and review each before the next, ' +
    `or run on AWS (--stack), where the bucket keeps uploads ${pipelineSettings.selfieRetentionDays} days by default.`
  );
}

const formatMiB = (bytes: number) => `${Number((bytes / 2 ** 20).toFixed(1))} MiB`;

/** Above this many invocations, each invocation works on more records at once instead. */
const MAX_INVOCATIONS = 100;
/** Records competing for each vendor slot (4 measured no better than 2). */
const OVERSUBSCRIPTION = 2;

/**
 * How `--concurrency N` maps onto the worker's event source. N is a cap on vendor calls in flight
 * across the host (VendorSlots). To keep that cap reached, the host runs N + 1 concurrent
 * invocations (the event source's maximum concurrency), each working on 2 records of its
 * batch at a time (RECORD_CONCURRENCY), so about 2N records compete for N slots: when a call ends,
 * another record is already waiting for its slot, even while some invocations are held by a slow
 * call or received only a message or two. Oversubscribing more than 2x would only make records
 * wait longer for a slot (and retries compete with first attempts) without adding calls in flight.
 */
export function workerConcurrency(concurrency: number): {
  maxInvocations: number;
  recordConcurrency: number;
} {
  const maxInvocations = Math.min(concurrency + 1, MAX_INVOCATIONS);
  return {
    maxInvocations,
    recordConcurrency: Math.max(
      OVERSUBSCRIPTION,
      Math.ceil((OVERSUBSCRIPTION * concurrency) / maxInvocations),
    ),
  };
}

/** Like Promise.all, but waits for every promise to settle before rejecting with the first error. */
async function settleAll<T extends readonly unknown[]>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as {
    -readonly [K in keyof T]: Awaited<T[K]>;
  };
}

/** Stops what was started, last first; one failure does not keep the rest running. */
async function unwind(stack: Array<() => Promise<void>>): Promise<void> {
  while (stack.length > 0) {
    const stop = stack.pop() as () => Promise<void>;
    await stop().catch(() => undefined);
  }
}
