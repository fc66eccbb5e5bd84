import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /**
   * Long-poll wait of each ReceiveMessage (seconds, default 20 as Lambda's pollers use; fauxqs
   * answers a waiting receive as soon as a message arrives). An idle poller then costs one request
   * per 20 s instead of one per second; stop() aborts the waiting receives.
   */
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
  const stopping = new AbortController();
  // Every poller's waiting receive listens to this one signal.
  setMaxListeners(0, stopping.signal);

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
          options.waitTimeSeconds ?? 20,
          stopping.signal,
        );
        stats.received += received;
        stats.failedItems += failed;
        if (received > 0) stats.lastActivityAt = Date.now();
      } catch (error) {
        if (stopped) return;
        options.onError(error);
        await sleep(1000);
      }
    }
  };
  const loops = Array.from({ length: options.pollers }, poll);

  return {
    stats,
    /**
     * Stops polling (waiting receives are abandoned); invocations already running finish unless
     * `graceMs` passes first. True when every poller had ended by then.
     */
    async stop(graceMs = 5000): Promise<boolean> {
      stopped = true;
      stopping.abort();
      return Promise.race([
        Promise.all(loops).then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
    },
  };
}

export type WorkerPool = ReturnType<typeof startWorkerPool>;
