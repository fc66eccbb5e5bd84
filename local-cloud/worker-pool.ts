import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { deliverOneBatch, type SqsQueueRef } from './sqs-event-source.ts';

export interface WorkerPoolOptions {
  sqs: SQSClient;
  queue: SqsQueueRef;
  /** SQS messages per invocation (the event source's batch size). */
  batchSize: number;
  /** Invocations at once (the event source's maximum concurrency): one poller each. */
  pollers: number;
  /** The function timeout: each invocation's getRemainingTimeInMillis counts down from it. */
  timeoutMs: number;
  invoke: (event: SQSEvent, context: { getRemainingTimeInMillis(): number }) => Promise<SQSBatchResponse>;
  onError: (error: unknown) => void;
  /** Long-poll wait of each ReceiveMessage (seconds; fauxqs honours WaitTimeSeconds). */
  waitTimeSeconds?: number;
}

export interface WorkerPoolStats {
  invocations: number;
  running: number;
  received: number;
  failedItems: number;
  /** Date.now() of the last message received or invocation ended. */
  lastActivityAt: number;
}

/**
 * The SQS event-source mapping for the worker: `pollers` loops, each receiving up to `batchSize`
 * messages and invoking the handler with a Lambda-shaped event, deleting what succeeded and leaving
 * reported failures to their visibility timeout (partial batch response). Redrive to the DLQ at
 * maxReceiveCount is the queue's own (fauxqs applies the redrive policy on receive).
 */
export function startWorkerPool(options: WorkerPoolOptions) {
  const stats: WorkerPoolStats = {
    invocations: 0,
    running: 0,
    received: 0,
    failedItems: 0,
    lastActivityAt: Date.now(),
  };
  let stopped = false;

  const invoke = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const startedAt = Date.now();
    stats.invocations += 1;
    stats.running += 1;
    try {
      return await options.invoke(event, {
        getRemainingTimeInMillis: () => Math.max(0, startedAt + options.timeoutMs - Date.now()),
      });
    } finally {
      stats.running -= 1;
      stats.lastActivityAt = Date.now();
    }
  };

  const poll = async () => {
    while (!stopped) {
      try {
        const { received, failed } = await deliverOneBatch(
          options.sqs,
          options.queue,
          options.batchSize,
          invoke,
          options.waitTimeSeconds ?? 1,
        );
        stats.received += received;
        stats.failedItems += failed;
        if (received > 0) stats.lastActivityAt = Date.now();
      } catch (error) {
        if (stopped) return;
        options.onError(error);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  };
  const loops = Array.from({ length: options.pollers }, poll);

  return {
    stats,
    /** Stops polling; invocations already running finish unless `graceMs` passes first. */
    async stop(graceMs = 5000): Promise<void> {
      stopped = true;
      await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, graceMs).unref())]);
    },
  };
}

export type WorkerPool = ReturnType<typeof startWorkerPool>;
