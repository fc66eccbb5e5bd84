import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { CreateQueueCommand, GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
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
  it('ends its pollers at once when stopped, though their receives wait up to 20 s', async () => {
    // Prepare: an idle pool, its pollers waiting in 20-second receives.
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
      pollers: 3,
      timeoutMs: 60_000,
      waitTimeSeconds: 20,
      invoke: async () => ({ batchItemFailures: [] }),
      onError: () => undefined,
    });
    await new Promise((r) => setTimeout(r, 200)); // the pollers' first receives are waiting

    // Act
    const ended = await pool.stop(5_000);

    // Assess
    expect(ended).toBe(true);
  });
});
