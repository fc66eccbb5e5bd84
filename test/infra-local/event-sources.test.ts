import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureResultsTable } from '../../local-cloud/results-table.ts';
import { nextListingPause } from '../../local-cloud/s3-notifications.ts';
import { idlePause, startStreamPoller } from '../../local-cloud/stream-poller.ts';
import { startWorkerPool } from '../../local-cloud/worker-pool.ts';
import { createDocumentClient, createSqsClient } from '../../shared/aws-clients.ts';
import { emulatorEndpoints, uniqueName } from '../support/emulators.ts';

describe('the local event sources poll less while nothing happens', () => {
  it('lists the bucket every interval while listings find new objects, and backs off to the maximum otherwise', () => {
    // Act
    const pauses: number[] = [];
    let pause = 1000;
    for (const fresh of [0, 0, 0, 0, 3, 0]) {
      pause = nextListingPause(pause, fresh, 1000, 5000);
      pauses.push(pause);
    }

    // Assess
    expect(pauses).toEqual([2000, 4000, 5000, 5000, 1000, 2000]);
  });

  it('pauses the stream poller longer after each empty round, up to its maximum', () => {
    expect([1, 2, 3, 4, 5, 50].map((n) => idlePause(n, 200, 2000))).toEqual([
      200, 400, 800, 1600, 2000, 2000,
    ]);
  });
});

describe('the stream poller, woken by the host', () => {
  const endpoints = emulatorEndpoints();
  const local = {
    region: 'us-east-1',
    endpoint: endpoints.dynamodb,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  };
  const tableName = uniqueName('stream-wake');
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lb-stream-wake-'));
    await ensureResultsTable(createDocumentClient(endpoints), tableName);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('delivers a record written after it backed off as soon as wake() is called, not after the pause', async () => {
    // Prepare: a poller that pauses 10 minutes after an empty round, so a delivery within the poll
    // below can only come from wake(), however slowly a loaded machine runs the round it starts.
    const delivered: string[] = [];
    const poller = startStreamPoller({
      db: new DynamoDBClient(local),
      streams: new DynamoDBStreamsClient(local),
      tableName,
      batchSize: 10,
      maxRetryAttempts: 0,
      checkpointFile: join(root, 'checkpoint.json'),
      idleMs: 600_000,
      maxIdleMs: 600_000,
      handler: async (event) => {
        for (const record of event.Records) delivered.push(String(record.dynamodb?.Keys?.pk?.S));
        return { batchItemFailures: [] };
      },
      onError: () => undefined,
    });
    try {
      await poller.drained(); // an empty round has happened: the poller is pausing

      // Act
      await createDocumentClient(endpoints).send(
        new PutCommand({ TableName: tableName, Item: { pk: 'woken', sk: 'result' } }),
      );
      poller.wake();

      // Assess
      await expect.poll(() => delivered, { timeout: 30_000 }).toEqual(['woken']);
    } finally {
      await poller.stop();
    }
  });
});

describe('the worker pool long-polls the work queue', () => {
  async function queue(name: string) {
    const sqs = createSqsClient(emulatorEndpoints());
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName(name) })))
      .QueueUrl as string;
    const queueArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn as string;
    const receives = { count: 0 };
    sqs.middlewareStack.add(
      (next, context) => (args) => {
        if (context.commandName === 'ReceiveMessageCommand') receives.count += 1;
        return next(args);
      },
      { step: 'initialize', name: 'countReceives' },
    );
    return { sqs, queue: { queueUrl, queueArn }, receives };
  }

  it('receives once per message that arrives while it waits, however many invocations may run', async () => {
    // Prepare: room for 8 invocations; fauxqs wakes every waiting receive when a message arrives.
    const { sqs, queue: ref, receives } = await queue('pool-receives');
    const handled: string[] = [];
    const pool = startWorkerPool({
      sqs,
      queue: ref,
      batchSize: 10,
      maxConcurrency: 8,
      timeoutMs: 60_000,
      waitTimeSeconds: 20,
      invoke: async (event) => {
        handled.push(...event.Records.map((r) => r.body));
        return { batchItemFailures: [] };
      },
      onError: () => undefined,
    });

    try {
      // Act: one message at a time, each after the previous one was handled.
      for (let i = 0; i < 10; i++) {
        await sqs.send(new SendMessageCommand({ QueueUrl: ref.queueUrl, MessageBody: `m${i}` }));
        await expect.poll(() => handled.length, { timeout: 10_000 }).toBe(i + 1);
      }

      // Assess: the receive that got each message, and the one waiting now (8 per message when each
      // possible invocation had a receive of its own waiting).
      expect(handled).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
      expect(receives.count).toBeLessThanOrEqual(11);
    } finally {
      await pool.stop();
    }
  });

  it('runs at most maxConcurrency invocations at once, and receives again as each ends', async () => {
    // Prepare: 30 messages waiting, one per invocation (batch size 1), invocations held until released.
    const { sqs, queue: ref } = await queue('pool-cap');
    for (let i = 0; i < 30; i++) {
      await sqs.send(new SendMessageCommand({ QueueUrl: ref.queueUrl, MessageBody: `m${i}` }));
    }
    let running = 0;
    let most = 0;
    let done = 0;
    const held: Array<() => void> = [];
    const pool = startWorkerPool({
      sqs,
      queue: ref,
      batchSize: 1,
      maxConcurrency: 3,
      timeoutMs: 60_000,
      waitTimeSeconds: 1,
      invoke: async () => {
        running += 1;
        most = Math.max(most, running);
        await new Promise<void>((release) => held.push(release));
        running -= 1;
        done += 1;
        return { batchItemFailures: [] };
      },
      onError: () => undefined,
    });

    try {
      // Act: release the held invocations one at a time until all 30 are done.
      while (done < 30) {
        await expect.poll(() => held.length, { timeout: 10_000 }).toBeGreaterThan(0);
        held.shift()?.();
        await new Promise((r) => setImmediate(r));
      }

      // Assess
      expect(most).toBe(3);
      expect(pool.stats.received).toBe(30);
    } finally {
      await pool.stop();
    }
  });

  it('ends its poller at once when stopped, though its receive waits up to 20 s', async () => {
    // Prepare: an idle pool, its poller waiting in a 20-second receive.
    const sqs = createSqsClient(emulatorEndpoints());
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('pool-stop') })))
      .QueueUrl as string;
    const arn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn as string;
    const pool = startWorkerPool({
      sqs,
      queue: { queueUrl, queueArn: arn },
      batchSize: 10,
      maxConcurrency: 3,
      timeoutMs: 60_000,
      waitTimeSeconds: 20,
      invoke: async () => ({ batchItemFailures: [] }),
      onError: () => undefined,
    });
    await new Promise((r) => setTimeout(r, 200)); // the poller's first receive is waiting

    // Act
    const ended = await pool.stop(5_000);

    // Assess
    expect(ended).toBe(true);
  });
});
