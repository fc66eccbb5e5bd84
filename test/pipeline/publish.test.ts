import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type PublishRuntime, processResultStream } from '../../functions/publish.ts';
import { EventBridgePublisher } from '../../shared/events/publisher.ts';
import { createLogger, createMetrics } from '../../shared/observability.ts';
import { syntheticFace } from '../../testkit/images.ts';
import { createPipelineFixture, type PipelineFixture } from '../support/pipeline.ts';

/** Stream records as Lambda receives them (NEW_IMAGE), one per item the pipeline wrote. */
async function streamRecordsOf(pipeline: PipelineFixture, batchId: string): Promise<DynamoDBRecord[]> {
  const items = await pipeline.db.send(
    new QueryCommand({
      TableName: pipeline.tableName,
      IndexName: 'byBatch',
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': `BATCH#${batchId}` },
    }),
  );
  const results = items.Items ?? [];
  // Each result also passed through RECEIVED; those images are in the stream too and must not publish.
  const earlier = results.map((item) => ({ ...item, state: 'RECEIVED', decision: undefined }));
  return [...earlier, ...results].map((item, index) => ({
    eventID: String(index),
    eventName: 'MODIFY',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    dynamodb: {
      NewImage: marshall(item, { removeUndefinedValues: true }) as never,
      SequenceNumber: String(1000 + index),
      StreamViewType: 'NEW_IMAGE',
    },
  }));
}

function publishRuntime(send: ReturnType<typeof vi.fn>): PublishRuntime {
  return {
    publisher: new EventBridgePublisher({ send } as unknown as EventBridgeClient),
    eventBusName: 'liveness-outcomes',
    maxResendRounds: 2,
    logger: createLogger('publish-test'),
    metrics: createMetrics('publish-test'),
  };
}

describe('publish handler (results stream → EventBridge; EventBridge client mocked: no emulator exists)', () => {
  let pipeline: PipelineFixture;
  let records: DynamoDBRecord[];
  beforeAll(async () => {
    pipeline = await createPipelineFixture();
    const uploads = await Promise.all(
      [1, 2, 3].map(async (seed) =>
        pipeline.upload(
          `uploads/publish/face-${seed}.jpg`,
          await syntheticFace({ seed: 900 + seed, width: 240, height: 320 }),
        ),
      ),
    );
    await pipeline.enqueue([
      ...uploads,
      await pipeline.upload('uploads/publish/bad.jpg', Buffer.from('text')),
    ]);
    await pipeline.drain();
    records = await streamRecordsOf(pipeline, 'publish');
  });
  afterAll(() => pipeline.stop());

  it('emits exactly one event per decided selfie, with the shared schema and no image data', async () => {
    // Prepare
    const send = vi.fn(async (command: PutEventsCommand) => ({
      FailedEntryCount: 0,
      Entries: (command.input.Entries ?? []).map((_, i) => ({ EventId: `e-${i}` })),
    }));

    // Act
    const response = await processResultStream(
      { Records: records } as DynamoDBStreamEvent,
      publishRuntime(send),
    );

    // Assess
    const entries = send.mock.calls.flatMap(([command]) => command.input.Entries ?? []);
    const details = entries.map((e) => JSON.parse(e.Detail ?? '{}'));
    expect(response.batchItemFailures).toEqual([]);
    expect(entries).toHaveLength(4);
    expect(new Set(details.map((d) => d.selfieId)).size).toBe(4);
    expect(details.map((d) => d.decision).filter((d) => d === 'REJECTED')).toHaveLength(1);
    expect(
      entries.every((e) => e.Source === 'liveness-batch' && e.EventBusName === 'liveness-outcomes'),
    ).toBe(true);
    expect(JSON.stringify(entries)).not.toMatch(/vendorResponse|base64|selfie":"/);
  });

  it('resends an entry PutEvents reported as failed, and reports the record when it keeps failing', async () => {
    // Prepare: the first call fails its second entry; every later call fails every entry for 'face-3'.
    let calls = 0;
    const failedInCall: string[][] = [];
    const send = vi.fn(async (command: PutEventsCommand) => {
      calls++;
      const entries = command.input.Entries ?? [];
      const results = entries.map((entry, i) => {
        const failFirst = calls === 1 && i === 1;
        const alwaysFail = (entry.Detail ?? '').includes('face-3.jpg');
        return failFirst || alwaysFail
          ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }
          : { EventId: `e-${calls}-${i}` };
      });
      failedInCall.push(
        entries.filter((_, i) => 'ErrorCode' in (results[i] ?? {})).map((e) => e.Detail ?? ''),
      );
      return { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results };
    });

    // Act
    const response = await processResultStream(
      { Records: records } as DynamoDBStreamEvent,
      publishRuntime(send),
    );

    // Assess
    const face3 = records.find(
      (r) =>
        r.dynamodb?.NewImage?.key?.S === 'uploads/publish/face-3.jpg' &&
        r.dynamodb?.NewImage?.state?.S !== 'RECEIVED',
    );
    expect(send.mock.calls.length).toBe(3);
    // Each resend carries exactly the entries the call before failed: the second entry and face-3's.
    const sent = (call: number) =>
      (send.mock.calls[call]?.[0].input.Entries ?? []).map((e) => e.Detail ?? '');
    expect(failedInCall[0]).toHaveLength(2);
    expect(sent(1)).toEqual(failedInCall[0]);
    expect(sent(2)).toEqual(failedInCall[1]);
    expect(sent(0).length).toBeGreaterThan(2);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: face3?.dynamodb?.SequenceNumber }]);
  });

  it('fails only the stream record of a decided item that does not fit the event schema', async () => {
    // Prepare: a decided result item without its bucket and key, beside the real ones.
    const send = vi.fn(async (command: PutEventsCommand) => ({
      FailedEntryCount: 0,
      Entries: (command.input.Entries ?? []).map((_, i) => ({ EventId: `e-${i}` })),
    }));
    const broken: DynamoDBRecord = {
      eventID: 'broken',
      eventName: 'MODIFY',
      dynamodb: {
        NewImage: marshall({
          pk: 'SELFIE#x',
          sk: 'RESULT',
          selfieId: 'x',
          state: 'VERIFIED',
          decision: 'VERIFIED',
        }) as never,
        SequenceNumber: '999',
        StreamViewType: 'NEW_IMAGE',
      },
    };

    // Act
    const response = await processResultStream(
      { Records: [broken, ...records] } as DynamoDBStreamEvent,
      publishRuntime(send),
    );

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '999' }]);
    expect(send.mock.calls.flatMap(([command]) => command.input.Entries ?? [])).toHaveLength(4);
  });
});
