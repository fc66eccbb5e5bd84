import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/** The Lambda event Amazon SQS hands a function, built from messages received from the emulator. */
export function toSqsEvent(messages: readonly Message[], queueArn: string, region = 'us-east-1'): SQSEvent {
  return {
    Records: messages.map(
      (message): SQSRecord => ({
        messageId: message.MessageId ?? '',
        receiptHandle: message.ReceiptHandle ?? '',
        body: message.Body ?? '',
        attributes: {
          ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1',
          SentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
          SenderId: message.Attributes?.SenderId ?? 'local',
          ApproximateFirstReceiveTimestamp:
            message.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: message.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: region,
      }),
    ),
  };
}

export interface SqsQueueRef {
  queueUrl: string;
  queueArn: string;
}

/**
 * One poll of the event-source mapping: receive up to `batchSize` messages, invoke the handler,
 * delete what succeeded and leave the reported failures to their visibility timeout, as Lambda does
 * with `reportBatchItemFailures`. A handler that throws fails the whole batch.
 * Returns the number of messages received (0 when the queue was empty).
 */
export async function deliverOneBatch(
  sqs: SQSClient,
  queue: SqsQueueRef,
  batchSize: number,
  handler: (event: SQSEvent) => Promise<SQSBatchResponse>,
  waitTimeSeconds = 0,
  /** Ends a waiting receive (a long poll) early, e.g. when the event source stops. */
  abortSignal?: AbortSignal,
): Promise<{ received: number; failed: number }> {
  const messages = await receiveBatch(sqs, queue, batchSize, waitTimeSeconds, abortSignal);
  if (messages.length === 0) return { received: 0, failed: 0 };
  return invokeAndDelete(sqs, queue, messages, handler);
}

/** Receives up to `batchSize` messages, waiting up to `waitTimeSeconds` for the first (a long poll). */
export async function receiveBatch(
  sqs: SQSClient,
  queue: SqsQueueRef,
  batchSize: number,
  waitTimeSeconds = 0,
  abortSignal?: AbortSignal,
): Promise<Message[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queue.queueUrl,
      MaxNumberOfMessages: batchSize,
      WaitTimeSeconds: waitTimeSeconds,
      MessageSystemAttributeNames: ['All'],
    }),
    abortSignal ? { abortSignal } : {},
  );
  return out.Messages ?? [];
}

/**
 * Invokes the handler with received messages, deletes what succeeded and leaves the reported failures
 * to their visibility timeout (`reportBatchItemFailures`); a handler that throws fails the whole batch.
 */
export async function invokeAndDelete(
  sqs: SQSClient,
  queue: SqsQueueRef,
  messages: readonly Message[],
  handler: (event: SQSEvent) => Promise<SQSBatchResponse>,
): Promise<{ received: number; failed: number }> {
  let failedIds: Set<string>;
  try {
    const response = await handler(toSqsEvent(messages, queue.queueArn));
    failedIds = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  } catch {
    return { received: messages.length, failed: messages.length };
  }
  const done = messages.filter((m) => !failedIds.has(m.MessageId ?? ''));
  if (done.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queue.queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  return { received: messages.length, failed: failedIds.size };
}
