import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ChangeMessageVisibilityCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createDocumentClient, createS3Client, createSqsClient } from '../shared/aws-clients.ts';
import { onceUntilFailed } from '../shared/cold-start.ts';
import { concurrencyLimit } from '../shared/concurrency.ts';
import { readHandlerEnv } from '../shared/config.ts';
import {
  parseVerifySelfieMessage,
  serializeVerifySelfieMessage,
  type VerifySelfieMessage,
} from '../shared/messages.ts';
import { createLogger, createMetrics } from '../shared/observability.ts';
import { MAX_MESSAGE_DELAY_SECONDS, redeliveryDelaySeconds } from '../shared/verification/policy.ts';
import { verifySelfie } from '../shared/verification/verify-selfie.ts';
import { buildWorkerRuntime, type WorkerRuntime } from '../shared/verification/worker-runtime.ts';

/** Time kept back from the Lambda timeout to record the outcome after the last vendor call. */
const RECORDING_MARGIN_MS = 10_000;

/**
 * A record that is not done and must come back (a retry later, a wait that could not be re-queued) or
 * go to the dead-letter queue: the batch processor reports it as failed, without an error log.
 */
class RecordNotDone extends Error {}

/**
 * Verifies a batch of selfies from the work queue. Each record succeeds or fails on its own
 * (Powertools' partial batch response), at most `recordConcurrency` at once; a record that must wait
 * is re-queued as a new message, or gets a longer visibility so retries back off.
 */
export async function processWorkerEvent(
  event: SQSEvent,
  context: Pick<Context, 'getRemainingTimeInMillis'>,
  runtime: WorkerRuntime,
): Promise<SQSBatchResponse> {
  const deadline = Date.now() + context.getRemainingTimeInMillis() - RECORDING_MARGIN_MS;
  const { logger } = runtime.verification;
  const inTurn = concurrencyLimit(runtime.recordConcurrency);
  const verifyRecord = async (record: SQSRecord): Promise<void> => {
    try {
      await inTurn(() => verifyOneRecord(record, deadline, runtime));
    } catch (error) {
      if (!(error instanceof RecordNotDone)) {
        logger.error('Record failed; it will be retried', {
          messageId: record.messageId,
          error: error as Error,
        });
        // An unexpected error (a table timeout on a busy host, say) is retried like an unfinished
        // delivery, 30 s doubling, rather than after the queue's whole visibility timeout.
        const receiveCount = Number(record.attributes.ApproximateReceiveCount);
        await delayRedelivery(
          runtime,
          record,
          Math.min(redeliveryDelaySeconds(receiveCount), runtime.delayCapSeconds ?? Number.POSITIVE_INFINITY),
        );
      }
      throw error;
    }
  };
  try {
    // One processor per invocation: it keeps the batch's state, and the local host runs invocations side by side.
    return await processPartialResponse(event, verifyRecord, new BatchProcessor(EventType.SQS), {
      // A batch whose every record failed is still a partial response (each record is retried on its own).
      throwOnFullBatchFailure: false,
    });
  } finally {
    runtime.verification.metrics.publishStoredMetrics();
  }
}

async function verifyOneRecord(record: SQSRecord, deadline: number, runtime: WorkerRuntime): Promise<void> {
  const message = parseVerifySelfieMessage(record.body);
  const outcome = await verifySelfie(
    message,
    { receiveCount: Number(record.attributes.ApproximateReceiveCount), deadline },
    runtime.verification,
  );
  const delaySeconds =
    outcome.kind === 'wait' || outcome.kind === 'retry-later'
      ? Math.min(outcome.delaySeconds, runtime.delayCapSeconds ?? Number.POSITIVE_INFINITY)
      : 0;
  if (outcome.kind === 'wait' && (await requeue(runtime, message, delaySeconds))) {
    // The copy carries the selfie on; this message is done (a wait never uses up a delivery).
    return;
  }
  if (outcome.kind === 'retry-later' || outcome.kind === 'wait') {
    await delayRedelivery(runtime, record, delaySeconds);
    throw new RecordNotDone(`${outcome.kind}: redelivered after ${delaySeconds} s`);
  }
  if (outcome.kind === 'decided' && outcome.toDeadLetterQueue) {
    throw new RecordNotDone('decided; the message goes on to the dead-letter queue');
  }
}

/**
 * Sends the selfie back to the work queue as a new message that arrives after `delaySeconds`, so a wait
 * (a twin in progress, a paused vendor, the spend cap) starts its receive count afresh. False when it
 * cannot, and the caller falls back to a delayed redelivery of this message.
 */
async function requeue(
  runtime: WorkerRuntime,
  message: VerifySelfieMessage,
  delaySeconds: number,
): Promise<boolean> {
  if (!runtime.workQueueUrl) return false;
  try {
    await runtime.sqs.send(
      new SendMessageCommand({
        QueueUrl: runtime.workQueueUrl,
        MessageBody: serializeVerifySelfieMessage({ ...message, waits: (message.waits ?? 0) + 1 }),
        DelaySeconds: Math.min(MAX_MESSAGE_DELAY_SECONDS, Math.max(0, Math.round(delaySeconds))),
      }),
    );
    return true;
  } catch (error) {
    runtime.verification.logger.warn('Could not re-queue a waiting selfie; it will be redelivered instead', {
      selfieId: message.selfieId,
      error: error as Error,
    });
    return false;
  }
}

async function delayRedelivery(runtime: WorkerRuntime, record: SQSRecord, seconds: number): Promise<void> {
  if (!runtime.workQueueUrl) return;
  try {
    await runtime.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: runtime.workQueueUrl,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  } catch (error) {
    // The queue's own visibility timeout still applies; a failed extension only retries sooner.
    runtime.verification.logger.warn('Could not delay redelivery', {
      messageId: record.messageId,
      error: error as Error,
    });
  }
}

const tracer = new Tracer({ serviceName: 'worker' });
/** Clients and the vendor secret, read once per cold start (and again after a failed build). */
const workerRuntime = onceUntilFailed(() =>
  buildWorkerRuntime(
    readHandlerEnv(),
    {
      s3: tracer.captureAWSv3Client(createS3Client()),
      sqs: tracer.captureAWSv3Client(createSqsClient()),
      db: tracer.captureAWSv3Client(createDocumentClient()),
      secrets: () => tracer.captureAWSv3Client(new SecretsManagerClient({})),
    },
    { logger: createLogger('worker'), metrics: createMetrics('worker') },
  ),
);

/** The Lambda entry point. */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  processWorkerEvent(event, context, await workerRuntime());
