import { Tracer } from '@aws-lambda-powertools/tracer';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createDocumentClient, createS3Client, createSqsClient } from '../shared/aws-clients.ts';
import { forEachWithConcurrency } from '../shared/concurrency.ts';
import { readHandlerEnv } from '../shared/config.ts';
import { parseVerifySelfieMessage } from '../shared/messages.ts';
import { createLogger, createMetrics } from '../shared/observability.ts';
import { verifySelfie } from '../shared/verification/verify-selfie.ts';
import { buildWorkerRuntime, type WorkerRuntime } from '../shared/verification/worker-runtime.ts';

/** Time kept back from the Lambda timeout to record the outcome after the last vendor call. */
const RECORDING_MARGIN_MS = 10_000;

/**
 * Verifies a batch of selfies from the work queue. Each record succeeds or fails on its own
 * (partial batch response); a record that must wait gets a longer visibility so retries back off.
 */
export async function processWorkerEvent(
  event: SQSEvent,
  context: Pick<Context, 'getRemainingTimeInMillis'>,
  runtime: WorkerRuntime,
): Promise<SQSBatchResponse> {
  const deadline = Date.now() + context.getRemainingTimeInMillis() - RECORDING_MARGIN_MS;
  const { logger } = runtime.verification;
  const failed: string[] = [];
  await forEachWithConcurrency(event.Records, runtime.recordConcurrency, async (record) => {
    try {
      const outcome = await verifySelfie(
        parseVerifySelfieMessage(record.body),
        { receiveCount: Number(record.attributes.ApproximateReceiveCount), deadline },
        runtime.verification,
      );
      if (outcome.kind === 'retry-later') {
        await delayRedelivery(runtime, record, outcome.delaySeconds);
        failed.push(record.messageId);
      } else if (outcome.kind === 'decided' && outcome.toDeadLetterQueue) {
        failed.push(record.messageId);
      }
    } catch (error) {
      logger.error('Record failed; it will be retried', {
        messageId: record.messageId,
        error: error as Error,
      });
      failed.push(record.messageId);
    }
  });
  runtime.verification.metrics.publishStoredMetrics();
  return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
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
let runtime: Promise<WorkerRuntime> | undefined;

/** The Lambda entry point: builds clients and reads the secret once per cold start. */
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  runtime ??= buildWorkerRuntime(
    readHandlerEnv(),
    {
      s3: tracer.captureAWSv3Client(createS3Client()),
      sqs: tracer.captureAWSv3Client(createSqsClient()),
      db: tracer.captureAWSv3Client(createDocumentClient()),
      secrets: () => tracer.captureAWSv3Client(new SecretsManagerClient({})),
    },
    { logger: createLogger('worker'), metrics: createMetrics('worker') },
  );
  return processWorkerEvent(event, context, await runtime);
};
