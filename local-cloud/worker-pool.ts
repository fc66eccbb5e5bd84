import { setTimeout as sleep } from 'node:timers/promises';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { invokeAndDelete, receiveBatch, type SqsQueueRef } from './sqs-event-source.ts';

export interface WorkerPoolOptions {
  sqs: SQSClient;
  queue: SqsQueueRef;
  /** SQS messages per invocation (the event source's batch size). */
  batchSize: number;
  /** Invocations at once (the event source's maximum concurrency). */
  maxConcurrency: number;
  /** The function timeout: each invocation's getRemainingTimeInMillis counts down from it. */
  timeoutMs: number;
  invoke: (event: SQSEvent, context: { getRemainingTimeInMillis(): number }) => Promise<SQSBatchResponse>;
  onError: (error: unknown) => void;
  /**
   * Long-poll wait of each ReceiveMessage (seconds, default 20 as Lambda's pollers use; fauxqs
   * answers a waiting receive as soon as a message arrives). An idle pool then costs one request
   * per 20 s; stop() aborts the waiting receive.
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
 * The SQS event-source mapping for the worker: one poller receives up to `batchSize` messages
 * whenever fewer than `maxConcurrency` invocations run, and invokes the handler with a Lambda-shaped
 * event without waiting for it, deleting what succeeded and leaving reported failures to their
 * visibility timeout (partial batch response). Redrive to the DLQ at maxReceiveCount is the queue's
 * own (fauxqs applies the redrive policy on receive).
 *
 * One poller, not one per invocation: fauxqs wakes every waiting receive when a message arrives and
 * all but one come back empty, so N waiting pollers made about N receives per message (11.8 per
 * selfie measured at --concurrency 16, each a full SDK request through the emulator). Lambda's own
 * pollers are likewise separate from the function's concurrency.
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
  const running = new Set<Promise<void>>();
  /** Resolves the poller's wait for a free invocation slot. */
  let slotFreed: (() => void) | undefined;

  const invoke = async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const startedAt = Date.now();
    stats.invocations += 1;
    try {
      return await options.invoke(event, {
        getRemainingTimeInMillis: () => Math.max(0, startedAt + options.timeoutMs - Date.now()),
      });
    } finally {
      stats.lastActivityAt = Date.now();
    }
  };

  const startInvocation = (messages: Message[]) => {
    stats.running += 1;
    const invocation = invokeAndDelete(options.sqs, options.queue, messages, invoke)
      .then(({ failed }) => {
        stats.failedItems += failed;
      })
      .catch((error: unknown) => {
        if (!stopped) options.onError(error);
      })
      .finally(() => {
        stats.running -= 1;
        running.delete(invocation);
        slotFreed?.();
      });
    running.add(invocation);
  };

  const untilSlotFree = async () => {
    while (!stopped && stats.running >= options.maxConcurrency) {
      await new Promise<void>((resolve) => {
        slotFreed = resolve;
      });
    }
  };

  const poll = async () => {
    while (!stopped) {
      await untilSlotFree();
      if (stopped) return;
      try {
        const messages = await receiveBatch(
          options.sqs,
          options.queue,
          options.batchSize,
          options.waitTimeSeconds ?? 20,
          stopping.signal,
        );
        if (messages.length === 0) continue;
        stats.received += messages.length;
        stats.lastActivityAt = Date.now();
        startInvocation(messages);
      } catch (error) {
        if (stopped) return;
        options.onError(error);
        await sleep(1000);
      }
    }
  };
  const poller = poll();

  return {
    stats,
    /**
     * Stops polling (a waiting receive is abandoned); invocations already running finish unless
     * `graceMs` passes first. True when the poller and every invocation had ended by then.
     */
    async stop(graceMs = 5000): Promise<boolean> {
      stopped = true;
      stopping.abort();
      slotFreed?.();
      return Promise.race([
        Promise.all([poller, ...running]).then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref()),
      ]);
    },
  };
}

export type WorkerPool = ReturnType<typeof startWorkerPool>;
