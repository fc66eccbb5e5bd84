import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRepublish } from '../../cli/republish.ts';
import { readLiveHost, statePaths, writeHostEndpoints } from '../../local-cloud/state-dir.ts';
import { isTerminal } from '../../shared/decision.ts';
import { type OutcomeEventDetail, outcomeEventId } from '../../shared/events/outcome-event.ts';
import type { EventPublisher, PutEventsResult } from '../../shared/events/publisher.ts';
import { outcomeOf } from '../../shared/publish/publish-outcomes.ts';
import type { SelfieResult } from '../../shared/results/records.ts';
import { selfieIdOf } from '../../shared/selfie.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { emulatorEndpoints, uniqueName } from '../support/emulators.ts';
import { createPipelineFixture, type PipelineFixture } from '../support/pipeline.ts';
import { captureIo, describePipelineAsRunningHost } from './support.ts';

const BATCH = 'rp';
const FACES = [1, 2, 3, 4].map((n) => `uploads/${BATCH}/face-${n}.jpg`);
const JUNK = `uploads/${BATCH}/notes.jpg`;
const WAITING = `uploads/${BATCH}/waiting.jpg`;

let pipeline: PipelineFixture;
let stateDir: string;
let host: { stop(): void };
let reviewQueueUrl: string;
let opsQueueUrl: string;
let decided: SelfieResult[];

const idOf = (key: string) => selfieIdOf({ bucket: pipeline.bucket, key });

beforeAll(async () => {
  pipeline = await createPipelineFixture({ sandbox: { liveRatio: 0.6 }, env: { MIN_LIVE_SCORE: '90' } });
  const records = [];
  for (const [i, key] of FACES.entries()) {
    records.push(
      await pipeline.upload(key, await syntheticFace({ seed: 1600 + i, width: 240, height: 320 })),
    );
  }
  records.push(await pipeline.upload(JUNK, Buffer.from('meeting notes, not a selfie')));
  await pipeline.enqueue(records);
  await pipeline.drain();
  // One selfie recorded but never delivered: no decision, so no outcome to publish.
  await pipeline.repository.recordReceived({
    selfieId: idOf(WAITING),
    bucket: pipeline.bucket,
    key: WAITING,
    batchId: BATCH,
    receivedAt: new Date().toISOString(),
  });
  decided = (await Promise.all([...FACES, JUNK].map((k) => pipeline.repository.getResult(idOf(k))))).filter(
    (r): r is SelfieResult => r !== undefined && isTerminal(r.state),
  );

  const queue = async (name: string) =>
    (await pipeline.sqs.send(new CreateQueueCommand({ QueueName: uniqueName(name) }))).QueueUrl as string;
  reviewQueueUrl = await queue('review');
  opsQueueUrl = await queue('ops');
  stateDir = mkdtempSync(join(tmpdir(), 'republish-'));
  host = describePipelineAsRunningHost(stateDir, pipeline);
  const paths = statePaths(stateDir);
  const running = readLiveHost(paths);
  if (!running) throw new Error('the stand-in host is not running');
  writeHostEndpoints(paths, {
    ...running,
    queues: { ...running.queues, review: reviewQueueUrl, ops: opsQueueUrl },
  });
}, 120_000);

afterAll(async () => {
  host?.stop();
  await pipeline?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const republish = async (...argv: string[]) => {
  const io = captureIo();
  const code = await runRepublish([...argv, '--state-dir', stateDir], io);
  return { code, out: io.out(), err: io.err() };
};

function archived(): OutcomeEventDetail[] {
  const file = statePaths(stateDir).events;
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => (JSON.parse(line) as { detail: OutcomeEventDetail }).detail);
}

/** Every event a rule delivered to the queue, taken off it. */
async function drainQueue(queueUrl: string): Promise<OutcomeEventDetail[]> {
  const details: OutcomeEventDetail[] = [];
  for (;;) {
    const out = await pipeline.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    if (!out.Messages?.length) return details;
    for (const m of out.Messages) {
      details.push((JSON.parse(m.Body ?? '') as { detail: OutcomeEventDetail }).detail);
      await pipeline.sqs.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }),
      );
    }
  }
}

const eventIdOf = (r: SelfieResult) => outcomeEventId(r.selfieId, r.decidedAt as string);
const byDecision = (decisions: string[]) =>
  decided
    .filter((r) => decisions.includes(r.decision as string))
    .map(eventIdOf)
    .sort();

describe('liveness-batch republish onto the local host bus', () => {
  it('the scenario has decided selfies for both rules and one undecided', () => {
    // Assess
    expect(decided).toHaveLength(5);
    expect(byDecision(['REJECTED'])).toHaveLength(1);
    expect(byDecision(['NOT_VERIFIED', 'REVIEW']).length).toBeGreaterThan(0);
  });

  it('--dry-run lists each outcome with its event id and publishes nothing', async () => {
    // Act
    const { code, out } = await republish('--batch', BATCH, '--dry-run');

    // Assess
    expect(code).toBe(0);
    expect(out).toContain('5 outcome(s); nothing published (dry run)');
    for (const r of decided)
      expect(out).toContain(`${r.selfieId}: ${r.decision} would be published (eventId ${eventIdOf(r)})`);
    expect(out).toContain(`${idOf(WAITING)}: not decided yet; nothing to publish`);
    expect(archived()).toEqual([]);
    expect(await drainQueue(reviewQueueUrl)).toEqual([]);
  });

  it('--batch publishes every decided outcome through the rules and into the archive, with eventId = sha256(selfieId, decidedAt)', async () => {
    // Act
    const { code, out } = await republish('--batch', BATCH);
    const review = await drainQueue(reviewQueueUrl);
    const ops = await drainQueue(opsQueueUrl);

    // Assess
    expect(code).toBe(0);
    expect(out).toContain('Published 5 outcome event(s)');
    expect(
      archived()
        .map((d) => d.eventId)
        .sort(),
    ).toEqual(decided.map(eventIdOf).sort());
    for (const detail of archived()) {
      const result = decided.find((r) => r.selfieId === detail.selfieId);
      expect(detail).toMatchObject({
        decision: result?.decision,
        decidedAt: result?.decidedAt,
        key: result?.key,
      });
    }
    expect(review.map((d) => d.eventId).sort()).toEqual(byDecision(['NOT_VERIFIED', 'REVIEW']));
    expect(ops.map((d) => d.eventId).sort()).toEqual(byDecision(['REJECTED', 'FAILED']));
    // The stream's publish builds the same detail, so the first publish carried the same ids.
    for (const result of decided) {
      const fromStream = outcomeOf({
        eventName: 'MODIFY',
        dynamodb: { NewImage: marshall(result, { removeUndefinedValues: true }) as never },
      });
      expect(archived().find((d) => d.selfieId === result.selfieId)).toEqual(fromStream);
    }
  });

  it('publishing again delivers the same event ids (consumers drop the copies); the archive keeps one per outcome', async () => {
    // Act
    await republish('--batch', BATCH);
    const review = await drainQueue(reviewQueueUrl);
    const ops = await drainQueue(opsQueueUrl);

    // Assess
    expect(review.map((d) => d.eventId).sort()).toEqual(byDecision(['NOT_VERIFIED', 'REVIEW']));
    expect(ops.map((d) => d.eventId).sort()).toEqual(byDecision(['REJECTED', 'FAILED']));
    expect(archived()).toHaveLength(5);
  });

  it('--selfie publishes only the named selfies; an undecided or unknown one is listed', async () => {
    // Prepare
    const rejected = decided.find((r) => r.decision === 'REJECTED') as SelfieResult;

    // Act
    const { code, out } = await republish(
      '--selfie',
      rejected.selfieId,
      '--selfie',
      idOf(WAITING),
      '--selfie',
      idOf('uploads/rp/nobody.jpg'),
    );
    const ops = await drainQueue(opsQueueUrl);

    // Assess
    expect(code).toBe(0);
    expect(out).toContain('Published 1 outcome event(s)');
    expect(out).toContain(`${idOf(WAITING)}: not decided yet`);
    expect(out).toContain(`${idOf('uploads/rp/nobody.jpg')}: no result recorded`);
    expect(ops.map((d) => d.eventId)).toEqual([eventIdOf(rejected)]);
  });

  it('refuses unclear requests with what to pass instead', async () => {
    // Act / Assess
    await expect(republish()).rejects.toThrow(/Say what to republish/);
    await expect(republish('--batch', BATCH, '--selfie', 'x')).rejects.toThrow(/Say what to republish/);
  });
});

/** An io whose CloudFormation answers the stack outputs over the test resources, and whose EventBridge is `eventBridge`. */
function stackIo(extraOutputs: Record<string, string>, eventBridge: EventPublisher) {
  const cloudFormation = () => ({
    send: async (_: DescribeStacksCommand) => ({
      Stacks: [
        {
          Outputs: Object.entries({
            ResultsTableName: pipeline.tableName,
            EventBusName: 'liveness-outcomes',
            WorkQueueUrl: pipeline.workQueue.queueUrl,
            WorkDlqUrl: pipeline.dlq.queueUrl,
            ...extraOutputs,
          }).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
        },
      ],
    }),
  });
  return Object.assign(captureIo({ cloudFormation: cloudFormation as never }), {
    eventBridge: () => eventBridge,
  });
}

/** Runs `fn` with the SDK's endpoint variables pointing `--stack` clients at the emulators. */
async function withLocalAws<T>(fn: () => Promise<T>): Promise<T> {
  const endpoints = emulatorEndpoints();
  const saved = { ...process.env };
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_REGION: 'us-east-1',
  });
  try {
    return await fn();
  } finally {
    process.env = saved;
  }
}

describe('liveness-batch republish --stack (CloudFormation and EventBridge mocked: no emulator for them; the table is DynamoDB Local)', () => {
  it('sends PutEvents to the stack bus with the same details, and exits 1 naming the entries EventBridge kept refusing', async () => {
    // Prepare
    const sent: PutEventsRequestEntry[] = [];
    const refused = decided.find((r) => r.decision === 'REJECTED') as SelfieResult;
    const eventBridge: EventPublisher = {
      async putEvents(entries): Promise<PutEventsResult> {
        sent.push(...entries);
        const results = entries.map((e) =>
          JSON.parse(e.Detail ?? '{}').selfieId === refused.selfieId
            ? { errorCode: 'AccessDeniedException', errorMessage: 'not authorized' }
            : { eventId: 'aws-id' },
        );
        return { failedEntryCount: results.filter((r) => 'errorCode' in r).length, entries: results };
      },
    };
    const io = stackIo({}, eventBridge);

    // Act
    const code = await withLocalAws(() => runRepublish(['--batch', BATCH, '--stack', 'LivenessBatch'], io));

    // Assess
    expect(code).toBe(1);
    expect(io.out()).toContain('Published 4 outcome event(s), 1 failed');
    expect(io.out()).toContain(
      `${refused.selfieId}: REJECTED NOT published (eventId ${eventIdOf(refused)}) - AccessDeniedException`,
    );
    expect(new Set(sent.map((e) => e.EventBusName))).toEqual(new Set(['liveness-outcomes']));
    const firstRound = sent.slice(0, 5).map((e) => JSON.parse(e.Detail ?? '{}') as OutcomeEventDetail);
    expect(firstRound.map((d) => d.eventId).sort()).toEqual(decided.map(eventIdOf).sort());
    // The refused entry was resent (publishAll's rounds) before being reported.
    expect(
      sent.filter((e) => JSON.parse(e.Detail ?? '{}').selfieId === refused.selfieId).length,
    ).toBeGreaterThan(1);
  });
});

describe('liveness-batch republish --from-failures (CloudFormation and EventBridge mocked; the stream is DynamoDB Local, the queue fauxqs)', () => {
  it('replays the decided selfies a failure-queue pointer covers, deletes it, and keeps pointers it cannot read', async () => {
    // Prepare: find the REJECTED outcome's record in the table's real stream.
    const endpoints = emulatorEndpoints();
    const streams = new DynamoDBStreamsClient({
      region: 'us-east-1',
      endpoint: endpoints.dynamodb,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const raw = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: endpoints.dynamodb,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const streamArn = (await raw.send(new DescribeTableCommand({ TableName: pipeline.tableName }))).Table
      ?.LatestStreamArn as string;
    const shards =
      (await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }))).StreamDescription?.Shards ??
      [];
    const rejected = decided.find((r) => r.decision === 'REJECTED') as SelfieResult;
    let pointer: { shardId: string; sequenceNumber: string } | undefined;
    for (const shard of shards) {
      let iterator = (
        await streams.send(
          new GetShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: shard.ShardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      while (iterator && !pointer) {
        const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
        if (!page.Records?.length) break;
        const hit = page.Records.find(
          (r) =>
            r.dynamodb?.NewImage?.selfieId?.S === rejected.selfieId &&
            r.dynamodb?.NewImage?.state?.S === 'REJECTED',
        );
        if (hit)
          pointer = {
            shardId: shard.ShardId as string,
            sequenceNumber: hit.dynamodb?.SequenceNumber as string,
          };
        iterator = page.NextShardIterator;
      }
    }
    if (!pointer) throw new Error('the REJECTED decision is not in the stream');
    const failureQueueUrl = (
      await pipeline.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('publish-failures') }))
    ).QueueUrl as string;
    const onFailure = (shardId: string, sequenceNumber: string) =>
      JSON.stringify({
        requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
        version: '1.0',
        timestamp: '2026-12-01T10:00:05.000Z',
        DDBStreamBatchInfo: {
          shardId,
          startSequenceNumber: sequenceNumber,
          endSequenceNumber: sequenceNumber,
          approximateArrivalOfFirstRecord: '2026-12-01T10:00:00Z',
          approximateArrivalOfLastRecord: '2026-12-01T10:00:01Z',
          batchSize: 1,
          streamArn,
        },
      });
    for (const body of [
      onFailure(pointer.shardId, pointer.sequenceNumber),
      onFailure('shardId-00000001700000000000-0dead000', '000000000000000000001'),
      'not json',
    ]) {
      await pipeline.sqs.send(new SendMessageCommand({ QueueUrl: failureQueueUrl, MessageBody: body }));
    }
    const sent: PutEventsRequestEntry[] = [];
    const io = stackIo(
      { PublishFailureQueueUrl: failureQueueUrl },
      {
        async putEvents(entries) {
          sent.push(...entries);
          return { failedEntryCount: 0, entries: entries.map(() => ({ eventId: 'aws-id' })) };
        },
      },
    );
    // A stack target's SQS client sends to the queue URL's host, as on AWS; fauxqs's URLs name a host
    // that does not resolve here, so the failure queue is read with the emulator's client.
    Object.assign(io, { streams: () => streams, sqs: () => pipeline.sqs });

    // Act
    const code = await withLocalAws(() => runRepublish(['--from-failures', '--stack', 'LivenessBatch'], io));
    const left = await pipeline.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: failureQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );

    // Assess
    expect(code).toBe(1);
    expect(io.out()).toContain(`1 outcome(s) republished; message deleted: ${rejected.selfieId}`);
    expect(io.out()).toMatch(/expired, kept \(the stream no longer holds these records/);
    expect(io.out()).toContain('unreadable, kept');
    expect(io.out()).toContain('3 pointer(s) read; 1 replayed, 2 kept');
    expect(sent.map((e) => (JSON.parse(e.Detail ?? '{}') as OutcomeEventDetail).eventId)).toEqual([
      eventIdOf(rejected),
    ]);
    expect((left.Messages ?? []).map((m) => m.Body).sort()).toEqual(
      [onFailure('shardId-00000001700000000000-0dead000', '000000000000000000001'), 'not json'].sort(),
    );
  });
});
